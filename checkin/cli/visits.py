"""``checkin visits list``: the visit log for the front desk, as a table or JSON lines.

Imports visits, cli._db, cli.directory (table), config.
"""

from __future__ import annotations

import argparse
import json
from datetime import date, datetime, time
from typing import Any

from checkin.cli._db import migrated_sessions
from checkin.cli.directory import table
from checkin.config import Settings
from checkin.visits import Visit, list_visits


def register(sub: Any) -> None:
    """Add ``visits list``."""
    parser = sub.add_parser("visits", help="look at the visit log")
    commands = parser.add_subparsers(dest="visits_command", metavar="COMMAND", required=True)
    lst = commands.add_parser("list", help="list visits, newest first")
    lst.add_argument("--since", type=date.fromisoformat, metavar="DATE",
                     help="only visits on or after DATE (YYYY-MM-DD, in the site's time zone)")
    lst.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(handler=run_list)


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print visits newest first."""
    # "Since Monday" means Monday at midnight where the lobby is, not in UTC.
    since = datetime.combine(args.since, time(0, 0), tzinfo=settings.tz) if args.since else None
    async with migrated_sessions(settings.database_url) as sessions, sessions() as session:
        visits = await list_visits(session=session, since=since, limit=args.limit)
    if args.json:
        for visit in visits:
            print(json.dumps(visit_json(visit), ensure_ascii=False))
        return 0
    if not visits:
        print("No visits" + (f" since {args.since.isoformat()}." if args.since else " yet."))
        return 0
    rows = [(f"{v.started_at.astimezone(settings.tz):%Y-%m-%d %H:%M}", v.channel,
             v.outcome or v.state, v.host_name or "", v.visitor_name or "", v.company or "")
            for v in visits]
    print(table(("TIME", "CHANNEL", "OUTCOME", "HOST", "VISITOR", "COMPANY"), rows))
    print(f"\n{len(visits)} visits (times in {settings.site.timezone}).")
    return 0


def visit_json(visit: Visit) -> dict[str, Any]:
    """A visit as a JSON object (times in UTC, ISO 8601)."""
    return {
        "id": visit.id, "started_at": visit.started_at.isoformat(),
        "ended_at": visit.ended_at.isoformat() if visit.ended_at else None,
        "channel": visit.channel, "state": visit.state, "outcome": visit.outcome,
        "host_employee_id": visit.host_employee_id, "host_name": visit.host_name,
        "visitor_name": visit.visitor_name, "company": visit.company, "purpose": visit.purpose,
        "party_size": visit.party_size, "is_delivery": visit.is_delivery,
        "language": visit.language, "transfer_reason": visit.transfer_reason,
    }
