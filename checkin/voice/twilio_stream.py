"""The Twilio Media Streams wire format: parse what Twilio sends, build what we send.

Inbound events: connected, start, media, mark, dtmf, stop (PROTOCOLS.md section 1.3). Outbound:
media, mark and clear only, because any other event name gives Twilio error 31924. A frame we
cannot read raises ``MalformedFrame`` and the caller skips it; an unknown event is returned as
``Unknown`` so it can be logged by name. Imports nothing from checkin.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any


class MalformedFrame(ValueError):
    """A frame that is not the JSON Twilio documents; ``reason`` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Connected:
    """The first frame: the socket is up (no streamSid yet)."""


@dataclass(frozen=True, slots=True)
class Start:
    """The stream's metadata; ``parameters`` are the TwiML ``<Parameter>`` values."""

    stream_sid: str
    call_sid: str
    account_sid: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000


@dataclass(frozen=True, slots=True)
class Media:
    """One chunk of caller audio (mu-law 8 kHz); ``timestamp_ms`` is stream time."""

    payload: bytes
    timestamp_ms: int = 0


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio played (or, after a clear, dropped) everything queued before this mark."""

    name: str


@dataclass(frozen=True, slots=True)
class Dtmf:
    """A key the caller pressed."""

    digit: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The last frame: hang-up, a REST redirect, or the stream was stopped."""


@dataclass(frozen=True, slots=True)
class Unknown:
    """An event name we do not know; skipped."""

    event: str


InboundFrame = Connected | Start | Media | Mark | Dtmf | Stop | Unknown


def parse_frame(raw: str | bytes) -> InboundFrame:
    """One inbound text frame -> a typed event, or ``MalformedFrame``."""
    try:
        msg = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MalformedFrame("not-json") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("event"), str):
        raise MalformedFrame("no-event")
    event = msg["event"]
    try:
        return _PARSERS[event](msg) if event in _PARSERS else Unknown(event[:40])
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise MalformedFrame(f"bad-{event}") from None


def _start(msg: dict[str, Any]) -> Start:
    start = msg["start"]
    fmt = start.get("mediaFormat") or {}
    params = start.get("customParameters") or {}
    if not isinstance(params, dict):
        raise TypeError("customParameters")
    return Start(
        stream_sid=str(start.get("streamSid") or msg["streamSid"]),
        call_sid=str(start["callSid"]), account_sid=str(start.get("accountSid", "")),
        parameters={str(k): str(v) for k, v in params.items()},
        encoding=str(fmt.get("encoding", "audio/x-mulaw")),
        sample_rate=int(fmt.get("sampleRate", 8000)),
    )


def _media(msg: dict[str, Any]) -> Media:
    media = msg["media"]
    payload = base64.b64decode(media["payload"], validate=True)
    return Media(payload=payload, timestamp_ms=int(media.get("timestamp", 0)))


def _mark(msg: dict[str, Any]) -> Mark:
    return Mark(name=str(msg["mark"]["name"]))


def _dtmf(msg: dict[str, Any]) -> Dtmf:
    digit = str(msg["dtmf"]["digit"])
    if len(digit) != 1:
        raise ValueError("digit")
    return Dtmf(digit=digit)


_PARSERS: dict[str, Any] = {
    "connected": lambda msg: Connected(),
    "start": _start,
    "media": _media,
    "mark": _mark,
    "dtmf": _dtmf,
    "stop": lambda msg: Stop(),
}


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Outbound audio: base64 mu-law 8 kHz, no header (a WAV header would play as a click)."""
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """Ask Twilio to echo ``name`` once everything queued before it has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop the audio Twilio has queued (barge-in); pending marks come back."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
