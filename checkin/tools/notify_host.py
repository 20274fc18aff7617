"""notify_host: tell the confirmed host their visitor is here, durably and exactly once.

The outbox row is written in the same transaction as the visit's facts; only after that commit
is the notification handed to the dispatcher, so a crash loses nothing and a retry sends nothing
twice. The arguments must name the host the visitor confirmed and the visitor's own name.
"""

from __future__ import annotations

from checkin.db import transaction, utcnow
from checkin.directory.service import fold
from checkin.providers import JsonObject, ToolSpec
from checkin.states import Event, Session
from checkin.tools.base import Tool, ToolContext, ToolOutcome, failed, ok
from checkin.visits import Visit, add_event, add_notification

SPEC = ToolSpec(
    name="notify_host",
    description=(
        "Tell the confirmed host that their visitor (or a delivery) has arrived. Only after the "
        "host is confirmed and the visitor's name is known; at most once per visit."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "employee_id": {"type": "string", "maxLength": 64},
            "visitor_name": {"type": "string", "maxLength": 300},
            "company": {"type": "string", "maxLength": 200},
            "purpose": {"type": "string", "maxLength": 300},
            "party_size": {"type": "integer"},
            "delivery": {"type": "boolean"},
        },
        "required": ["employee_id", "visitor_name"],
        "additionalProperties": False,
    },
)


def allowed_names(session: Session) -> set[str]:
    """Folded names the visit may use on notifications and badges."""
    names = {fold(n) for n in session.party_names}
    if session.visitor_name:
        names.add(fold(session.visitor_name))
    return {n for n in names if n}


def names_only_visitors(label: str, session: Session) -> bool:
    """True when ``label`` contains the visitor's name and no words but the party's names."""
    allowed = allowed_names(session)
    words = set(fold(label).split()) - {"and", "y", "with", "con"}
    allowed_words = {w for n in allowed for w in n.split()}
    if not session.visitor_name:
        return False
    return fold(session.visitor_name) in fold(label) and words <= allowed_words


async def handle(ctx: ToolContext, session: Session, args: JsonObject) -> ToolOutcome:
    """Write the outbox row with the visit facts, then dispatch it; report host_notified."""
    host = session.confirmed_host
    if host is None or args["employee_id"] != host.employee_id:
        return failed("Only the host the visitor confirmed can be notified.", "notify-wrong-host")
    label = str(args["visitor_name"])
    if not names_only_visitors(label, session):
        return failed("The visitor name must be the name the visitor gave.", "notify-wrong-name")
    employee = ctx.directory.by_id.get(host.employee_id)
    if employee is None or not employee.active:
        return failed("That person can no longer be notified.", "notify-host-inactive")
    payload: JsonObject = {
        "visitor_name": label,
        "company": session.company or "",
        "purpose": session.purpose or ("delivery" if session.is_delivery else ""),
        "party_size": session.party_size,
        "delivery": session.is_delivery,
        "arrived_at": utcnow().isoformat(),
        # The worker must not depend on the directory snapshot this visit used.
        "host": {"employee_id": employee.id, "name": employee.full_name, "email": employee.email,
                 "phone": employee.phone, "slack_id": employee.slack_id},
    }
    async with transaction(ctx.sessions) as db:
        visit = await db.get(Visit, ctx.visit_id)
        if visit is None:
            return failed("The visit record is missing.", "visit-missing")
        visit.host_employee_id = employee.id
        visit.host_name = employee.full_name
        visit.visitor_name = label
        visit.company = session.company
        visit.purpose = payload["purpose"] or None
        visit.party_size = session.party_size
        visit.is_delivery = session.is_delivery
        note = add_notification(session=db, visit=visit, host_employee_id=employee.id,
                                channel=ctx.notifier_channel, payload=payload)
        add_event(session=db, visit_id=visit.id, kind="notification_queued", state=session.state,
                  data={"notification_id": note.id, "channel": ctx.notifier_channel})
    delivered = await ctx.dispatcher.dispatch(note.id)
    # The row is durable either way; "delivered" tells the receptionist what to promise.
    return ok({"status": "notified", "host_name": employee.full_name,
               "delivered": delivered is not False},
              (Event.HOST_NOTIFIED, {"notification_id": note.id}))


TOOL = Tool(SPEC, handle)
