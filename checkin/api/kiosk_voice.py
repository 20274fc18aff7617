"""``/kiosk/stream``: the lobby tablet's spoken check-in, on the phone call's speech pipeline.

The socket is handed to ``checkin.voice.call.PhoneCall`` through the browser edge
(``checkin.voice.browser_stream``) with the app's phone speech engines and a ``KioskDialogue``:
the visit's ``Conversation`` plus the captions and the "what to offer next" message that let
the page show yes/no buttons and host choices while the visitor talks. No sign-in (the tablet
stands in the public lobby, like the phone line), but the page must come from this site
(``Origin``) and the number of spoken visits at once is bounded. Imports: conversation,
runtime, states, api.kiosk (response shapes), voice.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from checkin.api.kiosk import HostSuggestion, next_prompt
from checkin.api.twilio import ConversationDialogue
from checkin.conversation import Conversation
from checkin.states import CheckInState
from checkin.voice.browser_stream import BrowserEdge, CaptionedSpeechToText
from checkin.voice.call import PhoneCall
from checkin.voice.twilio_stream import Start

if TYPE_CHECKING:  # the phone channel owns the engines; only its type is needed here
    from checkin.api.twilio import PhoneChannel
    from checkin.web.latency import ReplyLatency

log = structlog.get_logger(__name__)
router = APIRouter()

MAX_SPOKEN = 4  # tablets talking at once; each holds a recogniser and decodes on 2 cores


class KioskDialogue(ConversationDialogue):
    """A kiosk visit as the call loop's ``Dialogue``, captioning every line on the tablet."""

    def __init__(self, conversation: Conversation, edge: BrowserEdge,
                 latency: ReplyLatency | None = None) -> None:
        super().__init__(conversation)
        self._edge = edge
        self._latency = latency

    async def greeting(self) -> str:
        """The first line, shown and offered like any other turn."""
        reply = await self._conversation.greet()
        await self._edge.send_json(self.turn(reply.text))
        return reply.text

    async def replies(self, utterance: str | None, *, silence_s: float = 0.0) -> AsyncIterator[str]:
        """The reply sentence by sentence; the caption grows as each one is written."""
        began = time.perf_counter()
        said: list[str] = []
        async for sentence in self._conversation.replies(utterance, silence_s=silence_s):
            if not said and utterance and self._latency is not None:
                self._latency.record("kiosk", time.perf_counter() - began)
            said.append(sentence)
            await self._edge.caption("bot", " ".join(said), final=False)
            yield sentence
        if said or self.done:
            await self._edge.send_json(self.turn(" ".join(said)))

    def turn(self, text: str) -> dict[str, Any]:
        """What the page offers next: the ``KioskTurn`` shape of the typed kiosk, minus its id."""
        session = self._conversation.session
        choices = [HostSuggestion(name=c.name, department=c.department).model_dump()
                   for c in session.candidates[:6]] \
            if session.state is CheckInState.DISAMBIGUATE else []
        return {"type": "turn", "text": text, "state": str(session.state), "done": self.done,
                "ask": next_prompt(session.state, done=self.done, choices=bool(choices)),
                "choices": choices}



class SpokenVisits:
    """Counts the spoken kiosk visits in progress (bounded by ``MAX_SPOKEN``)."""

    def __init__(self, limit: int = MAX_SPOKEN) -> None:
        self.limit = limit
        self.open = 0

    def admit(self) -> bool:
        """Take a place, or False when every place is taken."""
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def release(self) -> None:
        """Give the place back."""
        self.open = max(0, self.open - 1)


def same_origin(websocket: WebSocket) -> bool:
    """A browser's socket must come from a page of this site (no cross-site hijacking)."""
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser (scripts, tests): nothing to hijack
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host", "")


@router.websocket("/kiosk/stream")
async def kiosk_stream(websocket: WebSocket) -> None:
    """One spoken kiosk visit, from the tap on "Check in" to the goodbye."""
    state = websocket.app.state
    visits: SpokenVisits = state.kiosk_voice
    if not same_origin(websocket):
        log.warning("kiosk_stream_refused", code="cross-origin")
        await websocket.close(code=1008)
        return
    if not visits.admit():
        log.warning("kiosk_stream_refused", code="too-many-spoken-visits")
        await websocket.close(code=1013)  # try again later: the page falls back to typing
        return
    try:
        await websocket.accept()
        phone: PhoneChannel = state.phone
        edge = BrowserEdge(_StarletteBrowserSocket(websocket))

        async def dialogue(start: Start) -> KioskDialogue:
            conversation = await state.runtime.new_conversation(channel="kiosk")
            conversation.session.language = start.parameters.get("language", "en")
            structlog.contextvars.bind_contextvars(visit_id=conversation.visit_id)
            return KioskDialogue(conversation, edge, getattr(state, "reply_latency", None))

        # No number to read out on a tablet: a failed hand-over says "ask at the front desk".
        settings = dataclasses.replace(phone.call_settings, reception_phone="")
        call = PhoneCall(edge, dialogue=dialogue,
                         stt=CaptionedSpeechToText(await phone.speech_to_text(), edge),
                         tts=phone.text_to_speech(), phrases=phone.phrases, settings=settings)
        stats = await call.run()
        log.info("kiosk_spoken_visit_ended", outcome=stats.outcome, barge_ins=stats.barge_ins)
    finally:
        visits.release()
        structlog.contextvars.unbind_contextvars("visit_id")


class _StarletteBrowserSocket:
    """Starlette's WebSocket as a ``BrowserSocket``."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive(self) -> str | bytes | None:
        try:
            message = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return str(message.get("text") or "")

    async def send_text(self, text: str) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            try:
                await self._ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass  # the tablet went back to its welcome screen; receive() will notice

    async def send_bytes(self, data: bytes) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            try:
                await self._ws.send_bytes(data)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass

    async def close(self) -> None:
        if self._ws.application_state is WebSocketState.CONNECTED:
            try:
                await self._ws.close()
            except (RuntimeError, OSError):
                pass
