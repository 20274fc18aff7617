"""A fake Deepgram live-transcription WebSocket on 127.0.0.1, for the real deepgram-sdk 7.x.

Point the SDK at it with ``DeepgramSpeechToText(base_url=fake.url)`` (the app reads
``DEEPGRAM_BASE_URL``). It speaks ``/v1/listen`` as PROTOCOLS.md section 2 describes:
``Authorization: Token <key>`` (a wrong key fails the handshake with 401), binary frames are
audio in the declared encoding (mulaw/8000 here), ``KeepAlive``/``Finalize``/``CloseStream``
text frames, and ``Results`` (every field the SDK's models require), ``SpeechStarted`` and
``UtteranceEnd`` messages back.

Recognition is scripted, on the audio's own clock (bytes received / 8000, so a test may send
faster than real time): a frame louder than mu-law silence is speech. At the first loud frame it
sends ``SpeechStarted``, after ``interim_after_s`` an interim result with the first word of
the next scripted transcript, and ``endpointing_s`` of audio after the last loud frame the final
result (``is_final`` and ``speech_final``; or, with ``speech_final=False``, a plain final then
``UtteranceEnd``). An empty script entry is a cough: VAD start, no words. ``drop_after_s`` maps
a connection number (1 = first) to the audio second after which the TCP connection is cut
without a close frame. Everything received is recorded per connection.

It runs its own asyncio loop in a daemon thread (``with FakeDeepgram(...) as fake:``), binds
port 0, and stops by itself after ``lifetime_s``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from websockets.asyncio.server import Request, Response, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed

from checkin.voice.audio import ulaw_to_pcm16

RATE = 8000
FRAME = 160  # 20 ms of mu-law


@dataclass
class Connection:
    """What one socket received."""

    query: dict[str, list[str]]
    headers: dict[str, str]
    audio_bytes: int = 0
    frames: int = 0
    silent_frames: int = 0
    keepalives: int = 0
    finalizes: int = 0
    close_stream: bool = False
    dropped: bool = False
    sent: list[dict[str, Any]] = field(default_factory=list)


class FakeDeepgram:
    """Scripted fake of ``wss://api.deepgram.com/v1/listen``."""

    def __init__(self, transcripts: list[str] | None = None, *, api_key: str = "test-key",
                 endpointing_s: float = 0.3, interim_after_s: float = 0.2,
                 speech_final: bool = True, drop_after_s: dict[int, float] | None = None,
                 result_delay_s: float = 0.0, threshold: int = 300,
                 default: str = "", lifetime_s: float = 120.0) -> None:
        self.transcripts: deque[str] = deque(transcripts or [])
        self.default = default  # what every turn says once the script is used up
        self.api_key = api_key
        self.endpointing_s = endpointing_s
        self.interim_after_s = interim_after_s
        self.speech_final = speech_final
        self.drop_after_s = dict(drop_after_s or {})
        self.result_delay_s = result_delay_s  # wall-clock delay before each final (latency)
        self.threshold = threshold  # mean |sample| above which a frame is speech
        self.connections: list[Connection] = []
        self.rejected = 0
        self._lifetime_s = lifetime_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what ``DEEPGRAM_BASE_URL`` is set to."""
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeDeepgram:
        """Serve in a daemon thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._serve_thread, name="FakeDeepgram",
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake Deepgram did not start")
        return self

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FakeDeepgram:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve_thread(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self._handle, "127.0.0.1", 0, process_request=self._check,
                         max_size=2**20) as server:
            self._port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            try:
                async with asyncio.timeout(self._lifetime_s):
                    await self._stop.wait()
            except TimeoutError:
                pass

    # -- the protocol ------------------------------------------------------------------------

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != "/v1/listen":
            return connection.respond(404, "not found\n")
        if request.headers.get("Authorization", "") != f"Token {self.api_key}":
            self.rejected += 1
            response = connection.respond(401, '{"err_code":"INVALID_AUTH"}\n')
            response.headers = Headers({"Content-Type": "application/json",
                                        "Content-Length": str(len(response.body))})
            return response
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        conn = Connection(query=parse_qs(urlsplit(request.path).query),
                          headers={k.lower(): v for k, v in request.headers.raw_items()})
        self.connections.append(conn)
        number = len(self.connections)
        state = _Recogniser(self, conn, ws)
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    conn.audio_bytes += len(message)
                    conn.frames += 1
                    drop_at = self.drop_after_s.get(number)
                    if drop_at is not None and conn.audio_bytes / RATE >= drop_at:
                        conn.dropped = True
                        if state.speaking and state.text:  # unfinished: the next socket's
                            self.transcripts.appendleft(state.text)
                        ws.transport.abort()  # no close frame: the client sees 1006
                        return
                    await state.audio(message)
                    continue
                kind = json.loads(message).get("type")
                if kind == "KeepAlive":
                    conn.keepalives += 1
                elif kind == "Finalize":
                    conn.finalizes += 1
                    await state.flush(from_finalize=True)
                elif kind == "CloseStream":
                    conn.close_stream = True
                    await state.flush(from_finalize=False)
                    await state.send({"type": "Metadata", "transaction_key": "deprecated",
                                      "request_id": state.request_id, "sha256": "0" * 64,
                                      "created": "2026-01-01T00:00:00.000Z",
                                      "duration": conn.audio_bytes / RATE, "channels": 1})
                    await ws.close(1000)
                    return
                else:
                    await state.send({"type": "Error", "variant": "SchemaError",
                                      "description": "unknown message", "message": ""})
        except ConnectionClosed:
            pass


class _Recogniser:
    """Energy VAD + scripted words on one socket, on the audio clock."""

    def __init__(self, fake: FakeDeepgram, conn: Connection, ws: ServerConnection) -> None:
        self.fake, self.conn, self.ws = fake, conn, ws
        self.request_id = str(uuid.uuid4())
        self.speaking = False
        self.speech_start = 0.0
        self.last_loud = 0.0
        self.interim_sent = False
        self.text = ""

    @property
    def now(self) -> float:
        return self.conn.audio_bytes / RATE

    async def send(self, msg: dict[str, Any]) -> None:
        self.conn.sent.append(msg)
        await self.ws.send(json.dumps(msg))

    async def audio(self, ulaw: bytes) -> None:
        pcm = np.frombuffer(ulaw_to_pcm16(ulaw), dtype="<i2").astype(np.int32)
        loud = bool(pcm.size) and float(np.abs(pcm).mean()) > self.fake.threshold
        if not loud:
            self.conn.silent_frames += 1
        if loud:
            self.last_loud = self.now
            if not self.speaking:
                self.speaking, self.speech_start, self.interim_sent = True, self.now, False
                self.text = (self.fake.transcripts.popleft() if self.fake.transcripts
                             else self.fake.default)
                await self.send({"type": "SpeechStarted", "channel": [0, 1],
                                 "timestamp": round(self.now, 3)})
            elif (not self.interim_sent and self.text
                  and self.now - self.speech_start >= self.fake.interim_after_s):
                self.interim_sent = True
                await self.send(self._results(self.text.split()[0], is_final=False))
        elif self.speaking and self.now - self.last_loud >= self.fake.endpointing_s:
            await self._final(speech_final=self.fake.speech_final)

    async def flush(self, *, from_finalize: bool) -> None:
        if self.speaking:
            await self._final(speech_final=True, from_finalize=from_finalize)

    async def _final(self, *, speech_final: bool, from_finalize: bool = False) -> None:
        self.speaking = False
        if self.fake.result_delay_s:
            await asyncio.sleep(self.fake.result_delay_s)
        await self.send(self._results(self.text, is_final=True, speech_final=speech_final,
                                      from_finalize=from_finalize))
        if not speech_final and self.text:
            await self.send({"type": "UtteranceEnd", "channel": [0, 1],
                             "last_word_end": round(self.last_loud, 3)})

    def _results(self, text: str, *, is_final: bool, speech_final: bool = False,
                 from_finalize: bool = False) -> dict[str, Any]:
        start = round(self.speech_start, 3)
        duration = round(max(0.0, self.now - self.speech_start), 3)
        words = [{"word": w.strip(",.?!").lower(), "start": start, "end": start + duration,
                  "confidence": 0.99, "punctuated_word": w} for w in text.split()]
        return {"type": "Results", "channel_index": [0, 1], "duration": duration,
                "start": start, "is_final": is_final, "speech_final": speech_final,
                "from_finalize": from_finalize,
                "channel": {"alternatives": [{"transcript": text, "confidence": 0.97,
                                              "words": words}]},
                "metadata": {"request_id": self.request_id,
                             "model_info": {"name": "general-nova-3", "version": "fake",
                                            "arch": "nova-3"},
                             "model_uuid": "00000000-0000-0000-0000-000000000000"}}


def loud_ulaw(seconds: float) -> bytes:
    """Mu-law "speech" (a 300 Hz tone at -12 dBFS) the fake hears as loud."""
    from checkin.voice.audio import pcm16_to_ulaw

    t = np.arange(int(seconds * RATE)) / RATE
    pcm = (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2").tobytes()
    return pcm16_to_ulaw(pcm)


def silence_ulaw(seconds: float) -> bytes:
    """Mu-law digital silence."""
    return b"\xff" * int(seconds * RATE)


def frames(ulaw: bytes) -> list[bytes]:
    """20 ms Twilio-sized pieces."""
    return [ulaw[i:i + FRAME] for i in range(0, len(ulaw), FRAME)]


def wait_for(predicate: Any, timeout_s: float = 5.0) -> bool:
    """Poll from a thread (the fake's state changes in its own loop)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
