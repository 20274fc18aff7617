"""A kiosk tablet without a browser: the ``/kiosk/stream`` protocol over a plain WebSocket.

``TabletClient`` plays the page's part: it sends the start message, microphone PCM (16 kHz,
20 ms frames) and typed answers, echoes each mark at once (its "speaker" plays instantly)
and collects captions, turns and audio. ``visitor_speech`` synthesises what a visitor says
with flite's ``slt`` voice (the bot speaks ``kal16``), resampled to 16 kHz.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from websockets.sync.client import ClientConnection, connect

from checkin.voice.audio import PCM_RATE, Resampler, read_wav, write_wav

FRAME = PCM_RATE * 2 // 50  # 20 ms of 16 kHz PCM16


def visitor_speech(text: str, *, lead_s: float = 0.3, tail_s: float = 1.2) -> bytes:
    """16 kHz PCM of ``text`` in flite's ``slt`` voice, with silence around it."""
    wav = subprocess.run(["flite", "-voice", "slt", "-o", "/dev/stdout", "-t", text],
                         check=True, capture_output=True, timeout=30).stdout
    pcm, rate = read_wav(wav)
    if rate != PCM_RATE:
        pcm = Resampler(rate, PCM_RATE).process(pcm)
    return silence(lead_s) + pcm + silence(tail_s)


def silence(seconds: float) -> bytes:
    """Digital silence, 16 kHz PCM16."""
    return b"\x00\x00" * int(PCM_RATE * seconds)


def fake_microphone_wav(lines: list[tuple[str, float]], *, lead_s: float) -> bytes:
    """A WAV for Chromium's fake capture: each line, then the pause after it (seconds)."""
    pcm = silence(lead_s) + b"".join(visitor_speech(text, lead_s=0.0, tail_s=pause)
                                     for text, pause in lines)
    return write_wav(pcm, PCM_RATE)


@dataclass
class TabletClient:
    """One spoken kiosk visit over ``/kiosk/stream``."""

    ws: ClientConnection
    messages: list[dict[str, Any]] = field(default_factory=list)
    audio_bytes: int = 0
    closed: bool = False

    @classmethod
    def open(cls, base_url: str) -> TabletClient:
        """Connect and start the visit (English)."""
        ws = connect(base_url.replace("http://", "ws://", 1) + "/kiosk/stream",
                     open_timeout=10, max_size=2**20)  # closed by close(), not a with-block
        ws.send(json.dumps({"type": "start", "language": "en"}))
        return cls(ws)

    def close(self) -> None:
        """Hang up."""
        self.ws.close()

    def speak(self, pcm: bytes) -> None:
        """Send microphone audio as fast as the socket takes it (the recogniser keeps up)."""
        for i in range(0, len(pcm), FRAME):
            self.ws.send(pcm[i : i + FRAME])

    def type(self, text: str) -> None:
        """A typed or tapped answer."""
        self.ws.send(json.dumps({"type": "text", "text": text}))

    def next_turn(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Read (echoing marks) until the receptionist's next ``turn`` message."""
        deadline = time.monotonic() + timeout_s
        while True:
            msg = self._read(deadline)
            if msg.get("type") == "turn":
                return msg

    def wait_closed(self, timeout_s: float = 30.0) -> None:
        """Read (echoing marks) until the server closes the socket."""
        deadline = time.monotonic() + timeout_s
        while not self.closed:
            self._read(deadline)

    def _read(self, deadline: float) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message from the kiosk socket in time")
        try:
            raw = self.ws.recv(timeout=left)
        except ConnectionClosed:
            self.closed = True
            return {"type": "closed"}
        if isinstance(raw, bytes):
            self.audio_bytes += len(raw)
            return {"type": "audio"}
        msg: dict[str, Any] = json.loads(raw)
        self.messages.append(msg)
        if msg.get("type") == "mark":
            self.ws.send(json.dumps({"type": "mark", "name": msg["name"]}))
        return msg

    def captions(self, role: str) -> list[str]:
        """Every caption shown for ``role`` ("bot" or "visitor"), in order."""
        return [m["text"] for m in self.messages if m.get("type") == "caption"
                and m.get("role") == role]
