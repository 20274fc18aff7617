"""The registry: name -> tool, and the gate every tool call passes, whoever asked for it.

A call the current state (and the visit's facts) does not allow is refused with an error result
and a ``tool_rejected`` log line; it never runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import structlog

from checkin.errors import ToolError
from checkin.providers import JsonObject, ToolResult, ToolSpec
from checkin.states import Session, allowed_tools, tool_allowed
from checkin.tools import (
    lookup_employee,
    notify_host,
    print_badge,
    search_meetings,
    transfer_to_human,
)
from checkin.tools.base import Tool, ToolContext, ToolOutcome, validate_args

log = structlog.get_logger(__name__)

NOT_AVAILABLE = "That is not available at this step."


class ToolRegistry:
    """The tools by name, offered and run only as the state machine allows."""

    def __init__(self, tools: Iterable[Tool], *, timeout_s: float = 5.0) -> None:
        self._tools = {t.name: t for t in tools}
        self._timeout_s = timeout_s

    def specs_for(self, session: Session) -> list[ToolSpec]:
        """The schemas of the tools the current state allows, to offer to a model."""
        allowed = allowed_tools(session)
        return [t.spec for name, t in sorted(self._tools.items()) if name in allowed]

    async def run(
        self, ctx: ToolContext, session: Session, name: str, args: JsonObject
    ) -> ToolOutcome:
        """Run ``name`` if the gate allows it; otherwise return an error result."""
        tool = self._tools.get(name)
        if tool is None or not tool_allowed(session, name):
            log.warning("tool_rejected", tool=name if tool else "unknown", state=session.state)
            return ToolOutcome(ToolResult(ok=False, error=NOT_AVAILABLE, code="tool-not-allowed"))
        try:
            validate_args(tool.spec, args)
            async with asyncio.timeout(self._timeout_s):
                return await tool.handler(ctx, session, args)
        except ToolError as err:
            log.warning("tool_failed", tool=name, code=err.code, state=session.state)
            return ToolOutcome(ToolResult(ok=False, error=str(err), code=err.code))
        except TimeoutError:
            log.warning("tool_failed", tool=name, code="tool-timeout", state=session.state)
            return ToolOutcome(ToolResult(ok=False, error="That took too long.",
                                          code="tool-timeout"))


def default_registry(*, timeout_s: float = 5.0) -> ToolRegistry:
    """The five product tools."""
    return ToolRegistry(
        [lookup_employee.TOOL, search_meetings.TOOL, notify_host.TOOL, print_badge.TOOL,
         transfer_to_human.TOOL],
        timeout_s=timeout_s,
    )
