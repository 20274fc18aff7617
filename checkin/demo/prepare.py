"""Ready a fresh machine for the demo: migrate, import the demo directory, write today's calendar.

``scripts/serve`` runs ``python -m checkin.demo.prepare`` before ``checkin serve``. It never
touches a real deployment's data: the directory is imported only into a database without
employees, and the calendar file is written only if it is missing or was written by this module.
Imports config, log, db, migrate, directory (importer, store) and demo.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select

from checkin.config import Settings, load_settings
from checkin.db import make_engine, make_sessionmaker
from checkin.demo import DEMO_DIRECTORY, PRODID, write_demo_calendar
from checkin.directory.importer import import_directory
from checkin.directory.store import EmployeeRow
from checkin.errors import CheckinError
from checkin.log import configure_logging
from checkin.migrate import upgrade_to_head


async def prepare(settings: Settings) -> list[str]:
    """Do what a demo needs and say what was done, one line per step."""
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    done = ["database migrated"]
    done.append(await _import_if_empty(settings))
    done.append(_write_calendar(settings))
    return done


async def _import_if_empty(settings: Settings) -> str:
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            people = await session.scalar(select(func.count()).select_from(EmployeeRow)) or 0
        if people:
            return f"directory kept ({people} employees already imported)"
        path = settings.paths.demo_directory or DEMO_DIRECTORY
        report = await import_directory(sessions=sessions, path=Path(path))
        return f"demo directory imported ({report.created} employees from {path})"
    finally:
        await engine.dispose()


def _write_calendar(settings: Settings) -> str:
    source = settings.paths.calendar
    if settings.providers.calendar != "ics" or not source or "://" in source:
        return "calendar left alone (not a local .ics file)"
    path = Path(source)
    if path.exists() and PRODID.encode() not in path.read_bytes()[:4096]:
        return f"calendar left alone ({path} is not a demo calendar)"
    today = datetime.now(settings.tz).date()
    write_demo_calendar(path, today, settings.site.timezone)
    return f"demo calendar for {today.isoformat()} written to {path}"


def main() -> int:
    """Entry point of ``python -m checkin.demo.prepare``."""
    try:
        settings = load_settings()
        configure_logging(fmt=settings.logging.format, level=settings.logging.level)
        for line in asyncio.run(prepare(settings)):
            print(f"    {line}")
    except CheckinError as err:
        print(f"checkin: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
