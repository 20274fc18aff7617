"""search_meetings: today's meetings that mention the visitor, their company or the topic.

Only the host and the time of a matching meeting go back to the model: never the names of
other visitors or their meetings.
"""

from __future__ import annotations

from checkin.directory.calendar import search_meetings
from checkin.directory.model import Employee
from checkin.errors import ProviderError
from checkin.providers import JsonObject, ToolSpec
from checkin.states import Event, Session
from checkin.tools.base import Tool, ToolContext, ToolOutcome, failed, ok
from checkin.tools.lookup_employee import candidate, describe

SPEC = ToolSpec(
    name="search_meetings",
    description=(
        "Search today's calendar for the visitor's meeting when they do not know whom they "
        "are meeting: by their own name, their company, the host's name or the topic."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "visitor_name": {"type": "string", "maxLength": 200},
            "company": {"type": "string", "maxLength": 200},
            "host_name": {"type": "string", "maxLength": 200},
            "topic": {"type": "string", "maxLength": 300},
        },
        "additionalProperties": False,
    },
)


async def handle(ctx: ToolContext, session: Session, args: JsonObject) -> ToolOutcome:
    """Report meeting_found (one host), host_ambiguous, host_left or meeting_not_found."""
    if ctx.calendar is None:
        return failed("No calendar is configured.", "calendar-not-configured",
                      (Event.MEETING_NOT_FOUND, {}))
    if not any(args.get(k) for k in ("visitor_name", "company", "host_name", "topic")):
        return failed("Give a visitor name, company, host or topic.", "tool-bad-arguments")
    try:
        meetings = await ctx.calendar.meetings_on(ctx.now().astimezone(ctx.tz).date(), ctx.tz)
    except ProviderError as err:
        return failed("The calendar is not available right now.", err.code,
                      (Event.MEETING_NOT_FOUND, {}))
    host_email = None
    if args.get("host_name"):
        res = ctx.directory.resolver.resolve(str(args["host_name"]))
        if res.status == "found":
            host_email = res.matches[0].employee.email.lower()
    hits = search_meetings(
        meetings, visitor_name=_opt(args, "visitor_name"), company=_opt(args, "company"),
        host_email=host_email, topic=_opt(args, "topic"),
    )
    hosts: list[tuple[Employee, float]] = []
    found: list[JsonObject] = []
    for meeting, score in hits:
        employee = ctx.directory.by_email.get(meeting.organizer_email)
        if employee is None or any(h.id == employee.id for h, _ in hosts):
            continue
        hosts.append((employee, score))
        local = meeting.start.astimezone(ctx.tz)
        found.append({"time": local.strftime("%H:%M"), "host_employee_id": employee.id,
                      "host_name": employee.full_name, "score": round(score, 3)})
    if not hosts:
        return ok({"status": "not_found", "meetings": []}, (Event.MEETING_NOT_FOUND, {}))
    if len(hosts) > 1 and hosts[1][1] >= hosts[0][1] - 0.05:
        cands = [candidate(e, s) for e, s in hosts[:4] if e.active]
        if len(cands) > 1:
            shown = [describe(c, ctx.directory.by_id.get(c.employee_id)) for c in cands]
            return ok({"status": "ambiguous", "meetings": found[:4], "candidates": shown},
                      (Event.HOST_AMBIGUOUS, {"candidates": cands}))
    employee, score = hosts[0]
    who = candidate(employee, score)
    if not employee.active:
        return ok({"status": "left", "name": who.name, "meetings": found[:1]},
                  (Event.HOST_LEFT, {"candidates": [who]}))
    return ok({"status": "found", "meetings": found[:1],
               "candidates": [describe(who, employee)]},
              (Event.MEETING_FOUND, {"candidates": [who]}))


def _opt(args: JsonObject, key: str) -> str | None:
    value = args.get(key)
    return str(value) if value else None


TOOL = Tool(SPEC, handle)
