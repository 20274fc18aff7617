"""``checkin retention run [--dry-run]``: purge expired visit data now, print a receipt of counts.

Imports jobs.retention, cli._db, config, db.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

from checkin.cli._db import migrated_sessions
from checkin.config import Settings
from checkin.db import utcnow
from checkin.jobs.retention import RetentionReceipt, purge_expired


def register(sub: Any) -> None:
    """Add ``retention run``."""
    parser = sub.add_parser("retention", help="purge visit records past the retention period")
    commands = parser.add_subparsers(dest="retention_command", metavar="COMMAND", required=True)
    run = commands.add_parser("run", help="purge now (the server also runs this daily)")
    run.add_argument("--dry-run", action="store_true", help="count what would go; delete nothing")
    run.set_defaults(handler=run_retention)


async def run_retention(args: argparse.Namespace, settings: Settings) -> int:
    """Purge (or count) visits older than ``retention.days`` and print the receipt."""
    before = utcnow() - timedelta(days=settings.retention.days)
    async with migrated_sessions(settings.database_url) as sessions:
        receipt = await purge_expired(sessions=sessions, before=before, dry_run=args.dry_run,
                                      batch_size=settings.retention.batch_size)
    print(describe_receipt(receipt, days=settings.retention.days))
    return 0


def describe_receipt(receipt: RetentionReceipt, *, days: int) -> str:
    """The receipt for people: the cut-off and a count per table, never any names."""
    verb = "would delete" if receipt.dry_run else "deleted"
    lines = [f"Retention {'dry run' if receipt.dry_run else 'run'}: records older than "
             f"{days} days (before {receipt.before:%Y-%m-%d %H:%M} UTC)"]
    lines += [f"  {table:<14}{count:>8}  {verb}" for table, count in receipt.counts().items()]
    if receipt.dry_run:
        lines.append("Dry run: nothing was deleted.")
    else:
        lines.append(f"Done in {receipt.batches} batch(es).")
    return "\n".join(lines)
