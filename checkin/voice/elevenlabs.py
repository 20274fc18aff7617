"""ElevenLabs streaming text-to-speech over HTTP (httpx), mu-law 8 kHz straight into the call.

One ``POST /v1/text-to-speech/{voice_id}/stream?output_format=ulaw_8000`` per sentence
(PROTOCOLS.md section 4.1); the chunked body is raw G.711 mu-law at 8 kHz, Twilio's own format.
The adapter declares ``audio_format = "ulaw_8000"``, so the speaker only cuts the bytes into
20 ms frames: no decode, resample or encode between ElevenLabs and the caller.

Why HTTP per sentence and not the ``stream-input`` WebSocket: the call loop already hands TTS
whole sentences as the dialogue writes them, which is what the WebSocket's chunk schedule
would wait for; per-sentence requests on one kept-alive connection pool are simpler to cancel
(a barge-in closes the response) and to fail over sentence by sentence.

Errors become ``ProviderError``s at this boundary: 401/400/404/422 ``ProviderRejected``, 429
and 5xx ``ProviderUnavailable``, no first byte or a stall between chunks within ``read_s``
``ProviderTimeout``, a connection cut mid-body ``ProviderUnavailable`` (``tts-stream-broken``).
No retry here: ``FallbackTextToSpeech`` has the offline voice say the sentence at once, which
beats a caller waiting through a backoff. Text is never logged.
Imports ``checkin.errors`` and ``checkin.voice`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import structlog

from checkin.errors import ProviderRejected, ProviderTimeout, ProviderUnavailable
from checkin.voice.audio import ULAW_8K

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.elevenlabs.io"


class ElevenLabsTextToSpeech:
    """``TextToSpeech`` on ElevenLabs' HTTP streaming endpoint; one client per process."""

    audio_format = ULAW_8K

    def __init__(self, *, api_key: str, voice_id: str, base_url: str = "",
                 model_id: str = "eleven_flash_v2_5", optimize_streaming_latency: int = 3,
                 connect_s: float = 2.0, read_s: float = 2.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self._url = f"{(base_url or DEFAULT_BASE_URL).rstrip('/')}/v1/text-to-speech/" \
                    f"{voice_id}/stream"
        self._params = {"output_format": "ulaw_8000",
                        "optimize_streaming_latency": str(optimize_streaming_latency)}
        self._model_id = model_id
        self._headers = {"xi-api-key": api_key, "Accept": "audio/basic"}
        # read_s bounds the wait for the first byte *and* every gap between chunks: a stalled
        # stream is a failed sentence, and the fallback voice takes it over.
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(connect=connect_s, read=read_s, write=connect_s,
                                  pool=connect_s),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Yield 8 kHz mu-law for each sentence of ``text`` as ElevenLabs streams it."""
        async for sentence in text:
            if sentence.strip():
                async for chunk in self._sentence(sentence):
                    yield chunk

    async def _sentence(self, sentence: str) -> AsyncIterator[bytes]:
        body = {"text": sentence, "model_id": self._model_id}
        sent = 0
        try:
            async with self._client.stream("POST", self._url, params=self._params, json=body,
                                           headers=self._headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise _status_error(response.status_code)
                strip = _HeaderStripper()
                async for raw in response.aiter_raw():
                    chunk = strip.feed(raw)
                    if chunk:
                        sent += len(chunk)
                        yield chunk
        except httpx.TimeoutException:
            log.warning("tts_failed", engine="elevenlabs", code="tts-timeout", bytes=sent)
            raise ProviderTimeout("tts", code="tts-timeout") from None
        except httpx.HTTPError as err:  # connect refused, connection cut mid-body
            code = "tts-stream-broken" if sent else "tts-unreachable"
            log.warning("tts_failed", engine="elevenlabs", code=code, bytes=sent,
                        error_type=type(err).__name__)
            raise ProviderUnavailable("tts", code=code) from None
        if not sent:
            raise ProviderUnavailable("tts", code="tts-empty-audio")

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _status_error(status: int) -> ProviderRejected | ProviderUnavailable:
    log.warning("tts_failed", engine="elevenlabs", status=status)
    if status == 401:
        return ProviderRejected("tts", code="tts-auth-failed")
    if status == 429:  # concurrency limit or system busy: the offline voice, now
        return ProviderUnavailable("tts", code="tts-rate-limited")
    if 400 <= status < 500:
        return ProviderRejected("tts", code="tts-rejected")
    return ProviderUnavailable("tts", code="tts-failed")


class _HeaderStripper:
    """``ulaw_8000`` is headerless, but should a WAV header (``RIFF``) ever lead the body,
    drop it rather than play 44 bytes of noise (PROTOCOLS.md section 4.1 says to check)."""

    def __init__(self) -> None:
        self._head = b""
        self._done = False

    def feed(self, raw: bytes) -> bytes:
        if self._done:
            return raw
        self._head += raw
        if len(self._head) < 4:
            return b""
        if not self._head.startswith(b"RIFF"):
            self._done = True
            return self._head
        at = self._head.find(b"data")
        if at < 0 or len(self._head) < at + 8:
            return b"" if len(self._head) < 4096 else self._give_up()
        self._done = True
        return self._head[at + 8:]

    def _give_up(self) -> bytes:
        self._done = True
        return self._head
