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


HOST_ANSWERS = ("coming", "wait_5", "cannot_come", "left")
"""What a host can answer (Slack buttons, SMS "1"/"2"/"3"/"4"), in that order. ``left``
("They've left") checks the visitor out; it is news for the record, not for the visitor."""

# What the visitor hears, per language: {who} the responder, {host} the host's first name,
# {alternate} who was told instead (an assistant's first name, or "their team").
_NEWS: dict[str, dict[str, str]] = {
    "coming": {"en": "{who} is on the way.", "es": "{who} ya viene."},
    "wait_5": {"en": "{who} asks if you could wait about five minutes.",
               "es": "{who} le pide que espere unos cinco minutos."},
    "cannot_come": {"en": "{who} can't come down right now, so someone from reception will "
                          "come and help you.",
                    "es": "{who} no puede venir ahora, así que alguien de recepción vendrá a "
                          "ayudarle."},
    "seen": {"en": "{who} has seen your message.", "es": "{who} ha visto su mensaje."},
    "no_reply": {"en": "{host} hasn't answered yet, so I've let {alternate} know you're here.",
                 "es": "{host} todavía no ha contestado, así que he avisado a {alternate} de "
                       "que usted está aquí."},
    "unreachable": {"en": "I couldn't reach {host}, so I've let {alternate} know you're here.",
                    "es": "No he podido contactar a {host}, así que he avisado a {alternate} de "
                          "que usted está aquí."},
    "reception": {"en": "Someone from reception will come and help you shortly.",
                  "es": "Alguien de recepción vendrá a ayudarle enseguida."},
}
_YOUR_HOST = {"en": "Your host", "es": "La persona que busca"}
_THEIR_TEAM = {"en": "their team", "es": "su equipo"}


@dataclass(frozen=True, slots=True)
class HostReply:
    """News for the visitor about their host: an answer, or what happens because none came.

    ``kind`` is ``host_replied`` (``answer`` is one of ``HOST_ANSWERS``), ``alternate_notified``
    (the host did not answer or could not be reached; their assistant or team was told:
    ``responder`` is the assistant's first name, empty for a team) or ``reception_alerted``
    (a person from reception will come).
    """

    visit_id: str
    kind: str
    answer: str = ""
    responder: str = ""  # the first name the visitor may hear ("Sarah")
    host: str = ""  # the host's first name
    reason: str = ""  # why an escalation happened: host-no-reply, host-unreachable, ...

    @property
    def final(self) -> bool:
        """Nothing more is worth waiting for: the host (or someone) answered, or reception
        is coming. After ``alternate_notified`` an answer may still come."""
        return self.kind in ("host_replied", "reception_alerted")

    @property
    def for_visitor(self) -> bool:
        """False for news the visitor must not hear (the host checked them out)."""
        return not (self.kind == "host_replied" and self.answer == "left")

    def sentence(self, language: str = "en") -> str:
        """What the receptionist tells the visitor, in ``language`` (``en`` or ``es``)."""
        lang = language if language in ("en", "es") else "en"
        your_host = _YOUR_HOST[lang]
        if self.kind == "host_replied":
            key = self.answer if self.answer in _NEWS else "seen"
            return _NEWS[key][lang].format(who=self.responder or self.host or your_host)
        if self.kind == "alternate_notified":
            key = "unreachable" if self.reason and self.reason != "host-no-reply" else "no_reply"
            text = _NEWS[key][lang].format(host=self.host or your_host,
                                           alternate=self.responder or _THEIR_TEAM[lang])
            return text[0].upper() + text[1:]
        return _NEWS["reception"][lang]


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
