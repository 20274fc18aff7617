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


class EventSink(Protocol):
    """Where a channel reports state changes and tool calls of a visit (the visit record)."""

    def __call__(self, kind: str, **data: Any) -> None:
        """Record one event."""
        ...


__all__ = [
    "Event",
    "EventSink",
    "HostNote",
    "HostRef",
    "JsonObject",
    "LanguageModel",
    "ModelTurn",
    "Notifier",
    "Receipt",
    "Reporter",
    "ToolAction",
    "ToolResult",
    "ToolRunner",
    "ToolSpec",
]
