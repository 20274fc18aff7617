"""What every tool shares: the context it runs in, its outcome, and argument validation.

Imports: providers, states, directory, printer, visits (through the context's types).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.directory.calendar import Meeting
from checkin.directory.service import Directory
from checkin.errors import ToolError
from checkin.printer import Badge, PrintReceipt
from checkin.providers import JsonObject, ToolResult, ToolSpec
from checkin.states import Event, Session


class MeetingSource(Protocol):
    """Today's meetings (an iCalendar file or URL, later CalDAV)."""

    async def meetings_on(self, day: Any, tz: tzinfo) -> list[Meeting]:
        """Meetings whose local start date is ``day``."""
        ...


class BadgePrinter(Protocol):
    """Prints a visitor badge somewhere a person can pick it up."""

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Print ``badge`` or raise ``ProviderError``."""
        ...


class Dispatcher(Protocol):
    """Hands a committed outbox row to the notifier (now, or through a worker later)."""

    async def dispatch(self, notification_id: str) -> bool | None:
        """Try to deliver now: True delivered, False failed (left for retry), None not tried."""
        ...


@dataclass
class ToolContext:
    """Everything a tool may touch during one visit."""

    visit_id: str
    directory: Directory
    sessions: async_sessionmaker[AsyncSession]
    printer: BadgePrinter
    dispatcher: Dispatcher
    notifier_channel: str
    calendar: MeetingSource | None
    now: Callable[[], datetime]
    tz: tzinfo
    site_name: str = ""


@dataclass
class ToolOutcome:
    """A tool's result for the model plus the events it reports to the state machine."""

    result: ToolResult
    events: list[tuple[Event, dict[str, Any]]] = field(default_factory=list)


Handler = Callable[[ToolContext, Session, JsonObject], Awaitable[ToolOutcome]]


@dataclass(frozen=True)
class Tool:
    """A tool: its schema (what the model is offered) and its handler."""

    spec: ToolSpec
    handler: Handler

    @property
    def name(self) -> str:
        """The tool's name, the same string everywhere."""
        return self.spec.name


_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str, "integer": int, "boolean": bool, "array": list, "number": (int, float),
}


def validate_args(spec: ToolSpec, args: JsonObject) -> None:
    """Check ``args`` against the tool's flat JSON schema; raise ``ToolError`` on a misfit."""
    schema = spec.input_schema
    props: dict[str, Any] = schema.get("properties", {})
    if not isinstance(args, dict):
        raise ToolError("arguments must be an object", code="tool-bad-arguments")
    missing = [k for k in schema.get("required", []) if k not in args]
    if missing:
        raise ToolError(f"missing argument(s): {', '.join(missing)}", code="tool-bad-arguments")
    for key, value in args.items():
        if key not in props:
            raise ToolError(f"unknown argument: {key}", code="tool-bad-arguments")
        expected = _TYPES.get(props[key].get("type", ""), object)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ToolError(f"argument {key} has the wrong type", code="tool-bad-arguments")
        if isinstance(value, str) and len(value) > int(props[key].get("maxLength", 300)):
            raise ToolError(f"argument {key} is too long", code="tool-bad-arguments")


def ok(data: JsonObject, *events: tuple[Event, dict[str, Any]]) -> ToolOutcome:
    """A successful outcome reporting ``events``."""
    return ToolOutcome(ToolResult(ok=True, data=data), list(events))


def failed(message: str, code: str, *events: tuple[Event, dict[str, Any]]) -> ToolOutcome:
    """A failed outcome whose message is safe to show the model."""
    return ToolOutcome(ToolResult(ok=False, error=message, code=code), list(events))
