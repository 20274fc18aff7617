"""A Media Streams client that behaves like Twilio: for ``checkin call``, tests and the bench.

It signs the handshake like Twilio, sends ``connected`` and ``start`` (with ``<Parameter>``
values), then a steady 20 ms ``media`` frame from the "microphone" (caller speech when queued,
mu-law silence otherwise), plays the bot's audio on a simulated clock and echoes each ``mark``
once the audio queued before it has "played"; on ``clear`` it drops the queue and echoes the
pending marks at once (PROTOCOLS.md section 1.3). ``speed`` > 1 runs both clocks faster than
real time. Imports ``checkin.voice`` only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import websockets
from twilio.request_validator import RequestValidator

from checkin.voice.audio import (
    FRAME_MS,
    TWILIO_FRAME_BYTES,
    PhoneEncoder,
    ulaw_to_pcm16,
)

SILENCE_FRAME = b"\xff" * TWILIO_FRAME_BYTES


@dataclass
class BotSegment:
    """Bot audio between two marks: one sentence as the caller heard it."""

    started_at: float  # seconds since the call started (simulated playback clock)
    ulaw: bytearray = field(default_factory=bytearray)
    mark: str = ""
    cleared: bool = False


@dataclass
class _Playout:
    """The simulated handset: when queued bot audio finishes playing."""

    speed: float
    ends_at: float = 0.0  # perf_counter when everything queued so far has played
    pending: deque[tuple[float, str]] = field(default_factory=deque)  # (due, mark name)

    def queue_audio(self, nbytes: int) -> float:
        now = time.perf_counter()
        start = max(now, self.ends_at)
        self.ends_at = start + nbytes / 8000 / self.speed
        return start


class SimulatedCall:
    """One simulated inbound call on ``url`` (``ws://host/voice/stream``)."""

    def __init__(self, url: str, *, auth_token: str = "", signed_url: str = "",
                 parameters: dict[str, str] | None = None, speed: float = 1.0) -> None:
        self.url = url
        self.call_sid = "CA" + uuid.uuid4().hex
        self.stream_sid = "MZ" + uuid.uuid4().hex
        self._auth_token = auth_token
        self._signed_url = signed_url or url.replace("ws://", "wss://", 1)
        self._parameters = parameters or {}
        self._speed = speed
        self._ws: Any = None
        self._seq = 0
        self._mic: deque[bytes] = deque()
        self._playout = _Playout(speed)
        self._tasks: list[asyncio.Task[None]] = []
        self._t0 = 0.0
        self.segments: list[BotSegment] = []
        self.sent_frames: list[dict[str, Any]] = []  # what the server sent, payloads included
        self.closed = asyncio.Event()
        self._activity = asyncio.Event()
        self.marks_echoed: list[str] = []
        self.clears = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SimulatedCall:
        headers = {}
        if self._auth_token:
            validator = RequestValidator(self._auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(self._signed_url, {})
        self._ws = await websockets.connect(self.url, additional_headers=headers,
                                            open_timeout=10)
        self._t0 = time.perf_counter()
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send({"event": "start", "streamSid": self.stream_sid, "start": {
            "streamSid": self.stream_sid, "accountSid": "AC" + "0" * 32,
            "callSid": self.call_sid, "tracks": ["inbound"],
            "customParameters": self._parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
        self._tasks = [asyncio.create_task(self._read(), name="sim-read"),
                       asyncio.create_task(self._microphone(), name="sim-mic"),
                       asyncio.create_task(self._marks(), name="sim-marks")]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def hang_up(self) -> None:
        """Send ``stop`` (if still connected) and close, like a caller putting the phone down."""
        if not self.closed.is_set():
            try:
                await self._send({"event": "stop", "streamSid": self.stream_sid, "stop": {
                    "accountSid": "AC" + "0" * 32, "callSid": self.call_sid}})
            except websockets.ConnectionClosed:
                pass
        await self._ws.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.closed.set()

    def elapsed(self) -> float:
        """Seconds since the call started."""
        return time.perf_counter() - self._t0

    # -- caller side -----------------------------------------------------------------------

    def say_pcm(self, pcm: bytes, rate: int, *, trailing_silence_s: float = 1.0) -> float:
        """Queue caller speech (then silence) on the microphone; returns its length in s."""
        encoder = PhoneEncoder(rate)
        frames = encoder.frames(pcm) + encoder.flush()
        frames += [SILENCE_FRAME] * int(trailing_silence_s * 1000 / FRAME_MS)
        self._mic.extend(frames)
        return len(frames) * FRAME_MS / 1000

    async def spoken(self, timeout_s: float = 60.0) -> None:
        """Wait until the microphone queue has been sent."""
        async with asyncio.timeout(timeout_s):
            # The microphone task drains the queue at the simulated clock's pace.
            while self._mic:  # noqa: ASYNC110
                await asyncio.sleep(FRAME_MS / 1000 / self._speed)

    async def dtmf(self, digit: str) -> None:
        """Press a key."""
        await self._send({"event": "dtmf", "streamSid": self.stream_sid,
                          "dtmf": {"track": "inbound_track", "digit": digit}})

    async def send_raw(self, text: str) -> None:
        """Send any text frame (for malformed-frame tests)."""
        await self._ws.send(text)

    # -- bot side --------------------------------------------------------------------------

    @property
    def bot_speaking(self) -> bool:
        """Whether queued bot audio is still 'playing'."""
        return bool(self._playout.pending) or time.perf_counter() < self._playout.ends_at

    async def bot_turn(self, *, after: int, quiet_s: float = 0.6,
                       timeout_s: float = 30.0) -> list[BotSegment]:
        """Wait for bot audio beyond segment index ``after``, then until it has all played
        and nothing new arrived for ``quiet_s``; returns the new segments."""
        async with asyncio.timeout(timeout_s):
            while len(self.segments) <= after and not self.closed.is_set():
                await self._wait_activity(0.5)
            while not self.closed.is_set():
                if not self.bot_speaking:
                    self._activity.clear()
                    if not await self._wait_activity(quiet_s):
                        break
                else:
                    await self._wait_activity(0.05)
        return self.segments[after:]

    async def _wait_activity(self, timeout_s: float) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                await self._activity.wait()
        except TimeoutError:
            return False
        self._activity.clear()
        return True

    def bot_pcm(self, segments: list[BotSegment] | None = None) -> bytes:
        """8 kHz PCM of the given (default: all) bot segments."""
        chosen = self.segments if segments is None else segments
        return ulaw_to_pcm16(b"".join(bytes(s.ulaw) for s in chosen))

    # -- tasks -----------------------------------------------------------------------------

    async def _send(self, msg: dict[str, Any]) -> None:
        self._seq += 1
        msg = {**msg, "sequenceNumber": str(self._seq)}
        await self._ws.send(json.dumps(msg))

    async def _microphone(self) -> None:
        chunk = 0
        next_at = time.perf_counter()
        while True:
            frame = self._mic.popleft() if self._mic else SILENCE_FRAME
            chunk += 1
            await self._send({"event": "media", "streamSid": self.stream_sid, "media": {
                "track": "inbound", "chunk": str(chunk), "timestamp": str(chunk * FRAME_MS),
                "payload": base64.b64encode(frame).decode("ascii")}})
            next_at += FRAME_MS / 1000 / self._speed
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                msg = json.loads(raw)
                self.sent_frames.append(msg)
                self._on_server(msg)
                self._activity.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed.set()
            self._activity.set()

    def _on_server(self, msg: dict[str, Any]) -> None:
        event = msg.get("event")
        if event == "media":
            ulaw = base64.b64decode(msg["media"]["payload"])
            start = self._playout.queue_audio(len(ulaw))
            if not self.segments or self.segments[-1].mark or self.segments[-1].cleared:
                self.segments.append(BotSegment(started_at=start - self._t0))
            self.segments[-1].ulaw.extend(ulaw)
        elif event == "mark":
            name = msg["mark"]["name"]
            if self.segments and not self.segments[-1].mark:
                self.segments[-1].mark = name
            self._playout.pending.append((self._playout.ends_at, name))
        elif event == "clear":
            self.clears += 1
            self._playout.ends_at = time.perf_counter()
            if self.segments and not self.segments[-1].mark:
                self.segments[-1].cleared = True
            due = list(self._playout.pending)
            self._playout.pending.clear()
            for _, name in due:
                self._echo_later(name)

    def _echo_later(self, name: str) -> None:
        task = asyncio.create_task(self._echo(name), name="sim-echo")
        self._tasks.append(task)

    async def _echo(self, name: str) -> None:
        try:
            await self._send({"event": "mark", "streamSid": self.stream_sid,
                              "mark": {"name": name}})
            self.marks_echoed.append(name)
        except websockets.ConnectionClosed:
            pass

    async def _marks(self) -> None:
        while True:
            now = time.perf_counter()
            while self._playout.pending and self._playout.pending[0][0] <= now:
                _, name = self._playout.pending.popleft()
                await self._echo(name)
                self._activity.set()
            await asyncio.sleep(0.01)
