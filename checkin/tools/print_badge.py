"""print_badge: one visitor badge per named person, after the host has been notified.

When the printer fails (after the printer wrapper's retry), reception is told through a
``badge_print_failed`` visit event (codes only) and the model learns that reception will hand
the badge over, so the visitor hears where to pick it up.
"""

from __future__ import annotations

from checkin.db import transaction
from checkin.directory.service import fold
from checkin.errors import ProviderError
from checkin.printer import Badge
from checkin.providers import JsonObject, ToolSpec
from checkin.states import Event, Session
from checkin.tools.base import Tool, ToolContext, ToolOutcome, failed, ok
from checkin.tools.notify_host import allowed_names
from checkin.visits import BadgeRecord, add_event

# A badge is a pass: words that would make it look like more than a visitor's never go on it.
PASS_WORDS = frozenset({"all", "access", "vip", "admin", "administrator", "security", "staff",
                        "employee", "escort", "unlimited", "root", "override", "allaccess"})

SPEC = ToolSpec(
    name="print_badge",
    description=(
        "Print a visitor badge for one named visitor of this visit (one per person), after the "
        "host has been notified. Never for deliveries or employees."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "visitor_name": {"type": "string", "maxLength": 200},
            "host_name": {"type": "string", "maxLength": 200},
        },
        "required": ["visitor_name", "host_name"],
        "additionalProperties": False,
    },
)


async def handle(ctx: ToolContext, session: Session, args: JsonObject) -> ToolOutcome:
    """Print the badge and record it; report badge_printed."""
    name = str(args["visitor_name"]).strip()
    host = session.confirmed_host
    if fold(name) not in allowed_names(session) or set(fold(name).split()) & PASS_WORDS:
        return failed("Badges carry only a visitor's own name.", "badge-wrong-name")
    if fold(name) in {fold(b) for b in session.badges}:
        return failed("That visitor already has a badge.", "badge-duplicate")
    if host is None or fold(str(args["host_name"])) != fold(host.name):
        return failed("The badge must name the confirmed host.", "badge-wrong-host")
    badge = Badge(visit_id=ctx.visit_id, visitor_name=name, company=session.company or "",
                  host_name=host.name, issued_at=ctx.now().astimezone(ctx.tz),  # lobby time
                  site_name=ctx.site_name)
    try:
        receipt = await ctx.printer.print_badge(badge)
    except ProviderError as err:
        async with transaction(ctx.sessions) as db:
            add_event(session=db, visit_id=ctx.visit_id, kind="badge_print_failed",
                      state=str(session.state), data={"code": err.code, "pickup": "reception"})
        return failed("The badge could not be printed; reception will have it for the visitor.",
                      err.code)
    async with transaction(ctx.sessions) as db:
        db.add(BadgeRecord(visit_id=ctx.visit_id, visitor_name=name, printer=receipt.printer,
                           location=receipt.location))
    return ok({"status": "printed", "visitor_name": name},
              (Event.BADGE_PRINTED, {"name": name}))


TOOL = Tool(SPEC, handle)
