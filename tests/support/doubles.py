"""Test doubles: real classes that record or follow a script (no MagicMock of our own code)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from checkin.errors import ProviderUnavailable
from checkin.providers import HostNote, HostRef, ModelTurn, Receipt, ToolResult
from checkin.states import Event, Session


class RecordingNotifier:
    """A notifier that keeps every message in ``.sent``; can be told to fail."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[HostRef, HostNote]] = []
        self.fail = fail

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        if self.fail:
            raise ProviderUnavailable("notifier", code="notifier-down")
        self.sent.append((host, note))
        return Receipt(channel="recording", reference=note.notification_id)


@dataclass
class ScriptedLanguageModel:
    """A 'model' that, on each turn, makes the scripted tool calls and reports, then speaks.

    A script step is a list of ("tool", name, args) / ("report", event, facts) / ("say", text).
    ``results`` collects what each tool call returned, for assertions.
    """

    steps: list[list[tuple[Any, ...]]]
    results: list[tuple[str, ToolResult]] = field(default_factory=list)

    def greeting(self, session: Session) -> str:
        return "Hello."

    async def respond(self, turn: ModelTurn) -> AsyncIterator[str]:
        step = self.steps.pop(0) if self.steps else [("say", "Okay.")]
        spoken = []
        for kind, *rest in step:
            if kind == "tool":
                name, args = rest
                self.results.append((name, await turn.call_tool(name, args)))
            elif kind == "report":
                event, facts = rest
                turn.report(Event(event), **facts)
            else:
                spoken.append(rest[0])
        yield " ".join(spoken) or "Okay."
