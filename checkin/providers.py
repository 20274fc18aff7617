"""The seams: small Protocols every channel and provider meets, and the value types they pass.

Each Protocol has a real (cloud) implementation and an offline one that needs no network or key;
the composition root (``checkin.__main__``) chooses. Imports: stdlib, ``checkin.states`` and
``checkin.errors`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from checkin.states import Event, Session

JsonObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as a language model is offered it: name, description and JSON schema."""

    name: str
    description: str
    input_schema: JsonObject


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool call returned; ``data`` is shown to the model, never logged."""

    ok: bool
    data: JsonObject = field(default_factory=dict)
    error: str = ""
    code: str = ""


@dataclass(frozen=True, slots=True)
class ToolAction:
    """A tool call that ran, as the chat channel reports it."""

    tool: str
    args: JsonObject
    result: JsonObject


ToolRunner = Callable[[str, JsonObject], Awaitable[ToolResult]]
"""Runs a tool by name *through the state gate*; a refused call returns an error result."""

Reporter = Callable[..., None]
"""``report(event, **facts)``: tells the state machine a fact the model learnt from the visitor."""


@dataclass
class ModelTurn:
    """Everything a language model gets for one visitor turn.

    ``utterance`` is None when the visitor stayed silent for ``silence_s`` seconds. ``session`` is
    the visit's facts, to read only: changes go through ``report`` and ``call_tool``, which
    apply the state machine's guards.
    """

    utterance: str | None
    session: Session
    tools: Sequence[ToolSpec]
    call_tool: ToolRunner
    report: Reporter
    history: Sequence[Mapping[str, str]] = ()
    silence_s: float = 0.0
    now: datetime | None = None


class LanguageModel(Protocol):
    """Produces what the receptionist says, calling tools through the gate as it goes."""

    def respond(self, turn: ModelTurn) -> AsyncIterator[str]:
        """Yield the reply as text chunks (sentences or tokens), in order."""
        ...

    def greeting(self, session: Session) -> str:
        """The first thing said to a new visitor."""
        ...


@dataclass(frozen=True, slots=True)
class HostRef:
    """Who to notify and how they can be reached."""

    employee_id: str
    name: str
    email: str = ""
    phone: str = ""
    slack_id: str = ""


@dataclass(frozen=True, slots=True)
class HostNote:
    """What the host is told about their visitor."""

    visit_id: str
    notification_id: str
    visitor_name: str
    company: str = ""
    purpose: str = ""
    party_size: int = 1
    is_delivery: bool = False
    arrived_at: datetime | None = None
    # Delivery attempt (1 = first). Later attempts first look for a message an earlier,
    # interrupted attempt may already have sent: the notification id is the idempotency key.
    attempt: int = 1
    # Set when the note goes to someone else because the host did not answer: the host's name.
    on_behalf_of: str = ""


@dataclass(frozen=True, slots=True)
class Receipt:
    """Proof that a provider did its job: which channel and its own reference."""

    channel: str
    reference: str = ""


class Notifier(Protocol):
    """Tells a host that someone is waiting for them."""

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """Deliver ``note`` to ``host`` or raise ``ProviderError``."""
        ...


HOST_ANSWERS = ("coming", "wait_5", "cannot_come")
"""What a host can answer (Slack buttons, SMS "1"/"2"/"3"), in that order."""


@dataclass(frozen=True, slots=True)
class HostReply:
    """News for the visitor about their host: an answer, or what happens because none came.

    ``kind`` is ``host_replied`` (``answer`` is one of ``HOST_ANSWERS``), ``alternate_notified``
    (the host did not answer or could not be reached; their team was told) or
    ``reception_alerted`` (a person from reception will come).
    """

    visit_id: str
    kind: str
    answer: str = ""
    responder: str = ""  # the first name the visitor may hear ("Sarah")
    host: str = ""  # the host's first name
    reason: str = ""  # why an escalation happened: host-no-reply, host-unreachable, ...

    def sentence(self) -> str:
        """What the receptionist tells the visitor (English)."""
        who = self.responder or self.host or "Your host"
        if self.kind == "host_replied":
            return {
                "coming": f"{who} is on the way.",
                "wait_5": f"{who} asks if you could wait about five minutes.",
                "cannot_come": f"{who} can't come down right now, so someone from reception "
                               "will come and help you.",
            }.get(self.answer, f"{who} has seen your message.")
        if self.kind == "alternate_notified":
            host = self.host or "Your host"
            if self.reason and self.reason != "host-no-reply":
                return f"I couldn't reach {host}, so I've let their team know you're here."
            return f"{host} hasn't answered yet, so I've let their team know you're here."
        return "Someone from reception will come and help you shortly."


class HostReplies(Protocol):
    """A visit's channel listens here for news from the host (phone call, kiosk, chat)."""

    def updates(self, visit_id: str) -> AsyncIterator[HostReply]:
        """Yield the visit's host news as it arrives, oldest first; runs until cancelled."""
        ...


class ReceptionAlert(Protocol):
    """Gets a person from reception to a visitor when the host cannot be reached."""

    async def alert(self, note: HostNote, *, host_name: str, reason: str) -> Receipt:
        """Tell reception that ``note``'s visitor needs someone (``reason``: a kebab code)."""
        ...


@dataclass(frozen=True, slots=True)
class Transcript:
    """What a recogniser heard: a partial guess, a final piece, or the end of a turn.

    ``is_final`` text will not be revised; ``end_of_utterance`` closes the caller's turn and its
    ``text`` is the whole utterance (empty when only noise was heard). Never logged.
    """

    text: str
    is_final: bool = False
    end_of_utterance: bool = False


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """The recogniser's voice activity detector heard the caller start to speak (barge-in)."""

    at_s: float = 0.0


SpeechEvent = Transcript | SpeechStarted


class SpeechToText(Protocol):
    """Turns a caller's audio (16-bit mono PCM at 16 kHz) into speech events, as it arrives."""

    def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """Yield events until ``audio`` ends; raise ``ProviderError`` when the engine fails."""
        ...


class TextToSpeech(Protocol):
    """Speaks text as it streams in (sentence by sentence), yielding audio as it is made."""

    def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Yield 16-bit mono PCM at 16 kHz; raise ``ProviderError`` when the engine fails."""
        ...


class EventSink(Protocol):
    """Where a channel reports state changes and tool calls of a visit (the visit record)."""

    def __call__(self, kind: str, **data: Any) -> None:
        """Record one event."""
        ...


__all__ = [
    "Event",
    "EventSink",
    "HOST_ANSWERS",
    "HostNote",
    "HostRef",
    "HostReplies",
    "HostReply",
    "JsonObject",
    "LanguageModel",
    "ModelTurn",
    "Notifier",
    "Receipt",
    "ReceptionAlert",
    "Reporter",
    "SpeechEvent",
    "SpeechStarted",
    "SpeechToText",
    "TextToSpeech",
    "ToolAction",
    "ToolResult",
    "ToolRunner",
    "ToolSpec",
    "Transcript",
]
