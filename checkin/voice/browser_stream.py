"""The kiosk's browser edge: a tablet's microphone and speaker on the phone call's loop.

The lobby tablet talks to ``/kiosk/stream`` over a WebSocket with a small protocol of its own
(below); ``BrowserEdge`` translates it into the Media Streams events that
``checkin.voice.call.PhoneCall`` already understands, so a spoken kiosk visit runs through
exactly the same recogniser, dialogue, synthesiser, barge-in and silence handling as a phone
call. The only difference on the inside: the ``start`` event declares ``audio/l16`` at 16 kHz,
so audio passes as PCM both ways (no mu-law round trip).

Browser -> server::

    {"type": "start", "language": "en"}      first; the visit starts and the greeting plays
    <binary>                                  microphone: 16 kHz mono PCM16 little-endian
    {"type": "mark", "name": "s3"}            the audio sent before mark s3 has played
    {"type": "text", "text": "yes"}           a typed or tapped answer (same as spoken)
    {"type": "stop"}                          the visitor left; the visit ends

Server -> browser::

    {"type": "ready", "sample_rate": 16000}   after start: the format of the audio that follows
    <binary>                                  bot speech: 20 ms of 16 kHz mono PCM16 LE
    {"type": "mark", "name": "s3"}            echo this once everything before it has played
    {"type": "clear"}                         barge-in: drop all queued audio at once
    {"type": "caption", "role": "bot"|"visitor", "text": "...", "final": bool}
    {"type": "state", "state": "hearing"|"thinking"|"listening"}
    {"type": "turn", ...}                     what to offer next (a ``KioskTurn`` without id)

Typed answers become transcripts (``CaptionedSpeechToText``), so every question can be
answered by voice, tap or keyboard within one visit. Imports ``checkin.providers`` and
``checkin.voice`` only; nothing here logs audio, captions or typed text.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import suppress
from typing import Any, Literal, Protocol

import structlog

from checkin.providers import SpeechEvent, SpeechStarted, SpeechToText, Transcript
from checkin.voice.audio import L16_ENCODING, PCM_RATE, audio_format

log = structlog.get_logger(__name__)

MAX_AUDIO_FRAME = PCM_RATE * 2  # one second of PCM; a bigger frame is not a microphone's
MAX_TEXT = 500
Role = Literal["bot", "visitor"]


class BrowserSocket(Protocol):
    """The kiosk's WebSocket, whatever the server framework."""

    async def receive(self) -> str | bytes | None:
        """The next frame (text or binary); None once the socket is closed."""
        ...

    async def send_text(self, text: str) -> None:
        """Send a text frame; errors after the tablet went away are swallowed."""
        ...

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary frame; errors after the tablet went away are swallowed."""
        ...

    async def close(self) -> None:
        """Close the socket (the page goes back to its welcome screen)."""
        ...


class BrowserEdge:
    """A ``MediaSocket`` for ``PhoneCall`` that speaks the kiosk protocol on the other side."""

    def __init__(self, socket: BrowserSocket) -> None:
        self._socket = socket
        self._started = False
        self._closed = False
        self.stream_sid = "KS" + uuid.uuid4().hex
        # Typed answers for the recogniser wrapper. A visitor taps a few times per turn at
        # most; when 8 are waiting the newest is dropped rather than blocking the reader,
        # which must keep passing audio and marks.
        self._typed: asyncio.Queue[str] = asyncio.Queue(maxsize=8)
        # Captions and audio go out from different tasks; one frame at a time on the socket.
        self._send_lock = asyncio.Lock()

    # -- browser -> call loop ------------------------------------------------------------------

    async def receive(self) -> str | None:
        """The next event as a Media Streams text frame; None once the tablet is gone."""
        while True:
            frame = await self._socket.receive()
            if frame is None:
                return None
            if isinstance(frame, bytes):
                if self._started and 0 < len(frame) <= MAX_AUDIO_FRAME:
                    payload = base64.b64encode(frame).decode("ascii")
                    return json.dumps({"event": "media", "media": {"payload": payload}})
                log.warning("frame_skipped", code="kiosk-bad-audio", size=len(frame))
                continue
            event = await self._event(_client_message(frame))
            if event is not None:
                return event

    async def _event(self, msg: dict[str, Any]) -> str | None:
        kind = msg.get("type")
        if kind == "start" and not self._started:
            self._started = True
            language = str(msg.get("language") or "en")[:8]
            await self.send_json({"type": "ready", "sample_rate": PCM_RATE})
            return start_event(self.stream_sid, language=language)
        if kind == "mark" and isinstance(msg.get("name"), str):
            return json.dumps({"event": "mark", "streamSid": self.stream_sid,
                               "mark": {"name": msg["name"][:40]}})
        if kind == "text" and isinstance(msg.get("text"), str) and self._started:
            self._type(msg["text"])
            return None
        if kind == "stop":
            return json.dumps({"event": "stop", "streamSid": self.stream_sid})
        log.warning("frame_skipped", code="kiosk-unknown-message")
        return None

    def _type(self, text: str) -> None:
        text = " ".join(text.split())[:MAX_TEXT]
        if not text:
            return
        try:
            self._typed.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("typed_answer_dropped", code="kiosk-typed-backlog")

    async def typed(self) -> str:
        """The next typed or tapped answer."""
        return await self._typed.get()

    # -- call loop -> browser ------------------------------------------------------------------

    async def send(self, text: str) -> None:
        """A Media Streams frame from the call loop, as the kiosk protocol says it."""
        msg = json.loads(text)
        event = msg.get("event")
        if event == "media":
            try:
                audio = base64.b64decode(msg["media"]["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error):
                return
            async with self._send_lock:
                await self._socket.send_bytes(audio)
        elif event == "mark":
            await self.send_json({"type": "mark", "name": msg["mark"]["name"]})
        elif event == "clear":
            await self.send_json({"type": "clear"})

    async def send_json(self, message: dict[str, Any]) -> None:
        """One protocol message to the tablet."""
        async with self._send_lock:
            await self._socket.send_text(json.dumps(message, ensure_ascii=False))

    async def caption(self, role: Role, text: str, *, final: bool = True) -> None:
        """Show ``text`` as the bot's or the visitor's words."""
        await self.send_json({"type": "caption", "role": role, "text": text, "final": final})

    async def state(self, state: Literal["hearing", "thinking", "listening"]) -> None:
        """What the receptionist is doing, for the microphone indicator."""
        await self.send_json({"type": "state", "state": state})

    async def close(self) -> None:
        """Close the socket once."""
        if not self._closed:
            self._closed = True
            await self._socket.close()


def start_event(stream_sid: str, *, language: str) -> str:
    """The Media Streams ``start`` frame of a kiosk visit: PCM 16 kHz, no Twilio call."""
    return json.dumps({"event": "start", "streamSid": stream_sid, "start": {
        "streamSid": stream_sid, "callSid": "kiosk-" + stream_sid[2:14],
        "mediaFormat": {"encoding": L16_ENCODING, "sampleRate": PCM_RATE, "channels": 1},
        "customParameters": {"channel": "kiosk", "language": language}}})


def _client_message(raw: str) -> dict[str, Any]:
    try:
        msg = json.loads(raw)
    except ValueError:
        return {}
    return msg if isinstance(msg, dict) else {}


class CaptionedSpeechToText:
    """A recogniser for the kiosk: captions what it hears, and hears typed answers too.

    ``SpeechStarted`` -> state ``hearing``; a final transcript -> a visitor caption and state
    ``thinking``. A typed answer arrives as a final transcript, so the call loop treats it like
    words (it interrupts the bot, then the dialogue answers it). Example: the visitor taps
    "Yes" -> ``Transcript("yes", is_final=True, end_of_utterance=True)``.
    """

    def __init__(self, recogniser: SpeechToText, edge: BrowserEdge) -> None:
        self._recogniser = recogniser
        self._edge = edge

    @property
    def audio_format(self) -> str:
        """The wrapped recogniser's input format (the call loop converts to it)."""
        return audio_format(self._recogniser)

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """The recogniser's events merged with typed answers, captioned on the way."""
        # Holds at most a turn's events; a full queue means the call loop is busy, so the
        # producers wait (the audio queue in front of the recogniser absorbs the delay).
        merged: asyncio.Queue[SpeechEvent | BaseException | None] = asyncio.Queue(maxsize=16)
        tasks = [asyncio.create_task(self._spoken(audio, merged), name="kiosk-spoken"),
                 asyncio.create_task(self._typed(merged), name="kiosk-typed")]
        try:
            while (item := await merged.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                await self._show(item)
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _spoken(self, audio: AsyncIterator[bytes],
                      out: asyncio.Queue[SpeechEvent | BaseException | None]) -> None:
        events = self._recogniser.transcripts(audio)
        try:
            async for event in events:
                await out.put(event)
            await out.put(None)
        except Exception as err:  # ProviderError: re-raised in the consumer, as if unwrapped
            await out.put(err)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with suppress(Exception):
                    await aclose()

    async def _typed(self, out: asyncio.Queue[SpeechEvent | BaseException | None]) -> None:
        while True:
            text = await self._edge.typed()
            await out.put(Transcript(text=text, is_final=True, end_of_utterance=True))

    async def _show(self, event: SpeechEvent) -> None:
        if isinstance(event, SpeechStarted):
            await self._edge.state("hearing")
        elif isinstance(event, Transcript) and event.end_of_utterance:
            if event.text.strip():
                await self._edge.caption("visitor", event.text)
                await self._edge.state("thinking")
            else:
                await self._edge.state("listening")
