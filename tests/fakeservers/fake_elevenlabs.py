"""A fake ElevenLabs streaming TTS API on 127.0.0.1: real HTTP, chunked mu-law bodies.

It answers ``POST /v1/text-to-speech/{voice_id}/stream`` as PROTOCOLS.md section 4.1 describes:
``xi-api-key`` is checked (401 ``invalid_api_key`` otherwise), the body is JSON with ``text``
and ``model_id``, and a 200 streams raw ``ulaw_8000`` audio (a tone, ``seconds_per_char`` of
audio per character) in ``chunk_bytes`` pieces: ``first_byte_s`` before the first, ``gap_s``
between the others. Scripted failures, one per request in order (``fail_next``): an HTTP
status (429 ``too_many_concurrent_requests``, 500...), ``"drop"`` (the connection is cut after
``drop_after_bytes``), or ``"stall"`` (it stops sending for ``stall_s``). Every request is
recorded. uvicorn in a daemon thread, port 0, stops by itself after ``lifetime_s``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from checkin.voice.audio import pcm16_to_ulaw

_ERRORS = {
    401: ("invalid_api_key", "Invalid API key"),
    429: ("too_many_concurrent_requests", "Too many concurrent requests"),
    500: ("internal_error", "Internal error"),
}


@dataclass
class Recorded:
    """One request as the fake saw it."""

    voice_id: str
    params: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200
    bytes_sent: int = 0


class FakeElevenLabs:
    """Scripted fake of ``https://api.elevenlabs.io``."""

    def __init__(self, *, api_key: str = "test-key", first_byte_s: float = 0.0,
                 gap_s: float = 0.0, chunk_bytes: int = 800, seconds_per_char: float = 0.05,
                 drop_after_bytes: int = 1600, stall_s: float = 5.0,
                 lifetime_s: float = 120.0) -> None:
        self.api_key = api_key
        self.first_byte_s = first_byte_s
        self.gap_s = gap_s
        self.chunk_bytes = chunk_bytes
        self.seconds_per_char = seconds_per_char
        self.drop_after_bytes = drop_after_bytes
        self.stall_s = stall_s
        self.requests: list[Recorded] = []
        self._failures: deque[int | str | None] = deque()
        self._lock = threading.Lock()
        self._lifetime_s = lifetime_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.url = ""

    def fail_next(self, *failures: int | str | None) -> None:
        """The next requests fail like this, in order (a status, ``"drop"``, ``"stall"``, or
        None: answer normally)."""
        with self._lock:
            self._failures.extend(failures)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeElevenLabs:
        """Serve in a daemon thread; returns once the port is bound."""
        app = Starlette(routes=[Route("/v1/text-to-speech/{voice_id}/stream", self._stream,
                                      methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                log_level="error", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-elevenlabs",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake ElevenLabs server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._timer = threading.Timer(self._lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True  # do not wait for stalled streams
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeElevenLabs:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the endpoint ------------------------------------------------------------------------

    async def _stream(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        record = Recorded(request.path_params["voice_id"], dict(request.query_params),
                          {k.lower(): v for k, v in request.headers.items()}, body)
        with self._lock:
            self.requests.append(record)
            failure = self._failures.popleft() if self._failures else None
        if request.headers.get("xi-api-key") != self.api_key:
            failure = 401
        if isinstance(failure, int):
            record.status = failure
            status, message = _ERRORS.get(failure, ("error", "Error"))
            return JSONResponse({"detail": {"status": status, "message": message}},
                                status_code=failure)
        audio = tone_ulaw(max(0.2, len(body.get("text", "")) * self.seconds_per_char))
        return StreamingResponse(self._chunks(audio, record, failure),
                                 media_type="audio/basic")

    async def _chunks(self, audio: bytes, record: Recorded,
                      failure: str | None) -> AsyncIterator[bytes]:
        if self.first_byte_s:
            await asyncio.sleep(self.first_byte_s)
        for i in range(0, len(audio), self.chunk_bytes):
            if i and self.gap_s:
                await asyncio.sleep(self.gap_s)
            if failure == "drop" and i >= self.drop_after_bytes:
                # Leaving the generator with an error makes uvicorn cut the connection
                # before the final chunk: the client sees an incomplete chunked body.
                raise ConnectionResetError("fake mid-stream drop")
            if failure == "stall" and i >= self.drop_after_bytes:
                await asyncio.sleep(self.stall_s)
            chunk = audio[i:i + self.chunk_bytes]
            record.bytes_sent += len(chunk)
            yield chunk


def tone_ulaw(seconds: float) -> bytes:
    """A 220 Hz tone at -12 dBFS as 8 kHz mu-law (never mu-law silence, so gaps show)."""
    t = np.arange(int(seconds * 8000)) / 8000
    return pcm16_to_ulaw((np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes())
