"""transfer_to_human: hand the visitor to a person and end the session in TRANSFER_HUMAN.

The channel does the actual hand-over (a phone call is redirected, the kiosk shows where to go);
this tool records why.
"""

from __future__ import annotations

from checkin.db import transaction
from checkin.providers import JsonObject, ToolSpec
from checkin.states import Event, Session
from checkin.tools.base import Tool, ToolContext, ToolOutcome, ok
from checkin.visits import Visit

REASONS = ("visitor_asked", "host_not_found", "host_left", "not_understood", "no_answer",
           "employee", "notify_failed", "safety", "other")

SPEC = ToolSpec(
    name="transfer_to_human",
    description="Hand the visitor over to a receptionist. Use when you cannot help.",
    input_schema={
        "type": "object",
        "properties": {"reason": {"type": "string", "enum": list(REASONS), "maxLength": 40}},
        "required": ["reason"],
        "additionalProperties": False,
    },
)


async def handle(ctx: ToolContext, session: Session, args: JsonObject) -> ToolOutcome:
    """Record the reason on the visit and report transferred."""
    reason = str(args["reason"])
    if reason not in REASONS:
        reason = "other"
    async with transaction(ctx.sessions) as db:
        visit = await db.get(Visit, ctx.visit_id)
        if visit is not None:
            visit.transfer_reason = reason
    return ok({"status": "transferred"}, (Event.TRANSFERRED, {"reason": reason}))


TOOL = Tool(SPEC, handle)
