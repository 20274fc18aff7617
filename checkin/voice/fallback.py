"""Fallback wrappers: when a cloud speech provider fails mid-call, the offline one takes over.

Fallback is a wrapper, not code in each adapter (STYLE 2). Once the primary has failed the call
stays on the fallback: flapping between engines mid-conversation sounds worse than either. The
phone channel makes one wrapper per call, so the next call tries the cloud engine again.

Formats: the wrapper declares the primary's ``audio_format``, so the call loop sees one format
for the whole call. When the fallback speaks another one (Whisper and flite: 16 kHz PCM;
Deepgram and ElevenLabs: 8 kHz mu-law) the wrapper converts at this seam, with the same
edge converters as the Twilio boundary. ``ProviderHealth`` keeps what ``/health`` shows.
Imports ``checkin.providers``, ``checkin.errors`` and ``checkin.voice.audio`` only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import structlog

from checkin.errors import ProviderError
from checkin.providers import SpeechEvent, SpeechToText, TextToSpeech
from checkin.voice.audio import PCM_16K, ULAW_8K, PcmToUlaw, PhoneDecoder, audio_format

log = structlog.get_logger(__name__)


@dataclass
class ProviderHealth:
    """One speech role's state for ``/health``: no text, no audio, no caller data.

    ``status``: ``ok`` (the chosen engine answered last), ``fallback`` (the last call that
    used it had to fail over to the offline engine), ``unknown`` (no call yet).
    """

    mode: str
    engine: str
    fallback: str = ""
    status: str = "unknown"
    failovers: int = 0
    last_error: str = ""
    last_error_at: float | None = None  # time.time()
    last_ok_at: float | None = None

    def ok(self) -> None:
        """The engine served a call (or a sentence)."""
        self.status = "ok"
        self.last_ok_at = time.time()

    def failed(self, code: str) -> None:
        """The engine failed and the fallback took over."""
        self.status = "fallback"
        self.failovers += 1
        self.last_error = code
        self.last_error_at = time.time()

    def snapshot(self) -> dict[str, Any]:
        """What ``/health`` shows for this role."""
        out: dict[str, Any] = {"mode": self.mode, "engine": self.engine, "status": self.status,
                               "failovers": self.failovers}
        if self.fallback:
            out["fallback"] = self.fallback
        if self.last_error:
            out["last_error"] = self.last_error
            out["last_error_at"] = _iso(self.last_error_at)
        if self.last_ok_at is not None:
            out["last_ok_at"] = _iso(self.last_ok_at)
        return out


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


class FallbackSpeechToText:
    """``primary`` until it raises ``ProviderError``, then ``fallback`` on the same audio."""

    def __init__(self, primary: SpeechToText, fallback: SpeechToText,
                 health: ProviderHealth | None = None) -> None:
        self._primary = primary
        self._fallback = fallback
        self._health = health
        self.audio_format = audio_format(primary)
        self.failed_over = False

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """Events from the primary; after its failure, from the fallback."""
        shared = _Resumable(audio)
        try:
            async for event in self._events(shared):
                yield event
        finally:
            await shared.aclose()

    async def _events(self, audio: _Resumable) -> AsyncIterator[SpeechEvent]:
        if not self.failed_over:
            try:
                async for event in self._primary.transcripts(audio):
                    if self._health is not None and self._health.status != "ok":
                        self._health.ok()
                    yield event
                return
            except ProviderError as err:
                log.warning("stt_failed_over", code=err.code)
                self.failed_over = True
                if self._health is not None:
                    self._health.failed(err.code)
        # The audio iterator is a queue: the fallback carries on from where the primary stopped.
        async for event in self._fallback.transcripts(
                _convert_in(audio, self.audio_format, audio_format(self._fallback))):
            yield event


class FallbackTextToSpeech:
    """``primary`` until it raises ``ProviderError``; the failed sentence is said again.

    If the primary broke mid-sentence, the fallback says that whole sentence again: a repeated
    half sentence is easier to follow than one that starts in the middle. The audio already
    queued at Twilio covers the switch (flite needs ~10 ms a sentence), so there is no gap.
    """

    def __init__(self, primary: TextToSpeech, fallback: TextToSpeech,
                 health: ProviderHealth | None = None) -> None:
        self._primary = primary
        self._fallback = fallback
        self._health = health
        self.audio_format = audio_format(primary)
        self.failed_over = False

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Audio from the primary; after its failure, the rest (from the failed sentence on)
        from the fallback, in the primary's format."""
        async for sentence in text:
            if not self.failed_over:
                try:
                    async for chunk in self._primary.speech(_one(sentence)):
                        yield chunk
                    if self._health is not None and self._health.status != "ok":
                        self._health.ok()
                    continue
                except ProviderError as err:
                    log.warning("tts_failed_over", code=err.code)
                    self.failed_over = True
                    if self._health is not None:
                        self._health.failed(err.code)
            async for chunk in _convert_out(self._fallback.speech(_one(sentence)),
                                            audio_format(self._fallback), self.audio_format):
                yield chunk


class _Resumable:
    """An audio iterator that survives a cancelled read, so the fallback gets every chunk.

    A cloud recogniser reads audio in its own task and cancels it when it fails. Cancelling a
    read of an async generator closes the generator for good; here the read runs as a task of
    its own, shielded, and the next reader (the fallback) picks up its result.
    """

    def __init__(self, audio: AsyncIterator[bytes]) -> None:
        self._audio = audio
        self._pending: asyncio.Future[bytes] | None = None

    def __aiter__(self) -> _Resumable:
        return self

    async def __anext__(self) -> bytes:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._audio.__anext__())
        pending = self._pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done():
                self._pending = None

    async def aclose(self) -> None:
        """Stop a read still in flight (the call is over)."""
        pending, self._pending = self._pending, None
        if pending is not None and not pending.done():
            pending.cancel()
            with suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        elif pending is not None and not pending.cancelled():
            pending.exception()  # retrieved, so no "never retrieved" warning at exit


async def _convert_in(audio: AsyncIterator[bytes], have: str,
                      want: str) -> AsyncIterator[bytes]:
    if have == want:
        async for chunk in audio:
            yield chunk
        return
    if have == ULAW_8K and want == PCM_16K:
        decoder = PhoneDecoder()
        async for chunk in audio:
            yield decoder.pcm(chunk)
        return
    raise ProviderError("stt", code="stt-format-unsupported")


async def _convert_out(audio: AsyncIterator[bytes], have: str,
                       want: str) -> AsyncIterator[bytes]:
    if have == want:
        async for chunk in audio:
            yield chunk
        return
    if have == PCM_16K and want == ULAW_8K:
        encoder = PcmToUlaw()
        async for chunk in audio:
            if out := encoder.convert(chunk):
                yield out
        return
    raise ProviderError("tts", code="tts-format-unsupported")


async def _one(sentence: str) -> AsyncIterator[str]:
    yield sentence
