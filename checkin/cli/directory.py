"""``checkin directory import|resolve|list``: load the company directory and look at it.

Imports directory (importer, store, resolve_cli lazily), cli._db, config, errors.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from checkin.cli._db import migrated_sessions
from checkin.config import Settings
from checkin.directory.importer import ImportReport, import_directory
from checkin.directory.model import Employee
from checkin.directory.store import load_employees
from checkin.errors import DirectoryImportError


def register(sub: Any) -> None:
    """Add ``directory import``, ``directory resolve`` and ``directory list``."""
    parser = sub.add_parser("directory", help="import and inspect the employee directory")
    commands = parser.add_subparsers(dest="directory_command", metavar="COMMAND", required=True)

    imp = commands.add_parser("import", help="import employees from a CSV or JSON file")
    imp.add_argument("file", type=Path, help="directory export (.csv or .json)")
    imp.add_argument("--full", action="store_true",
                     help="the file is the whole directory: deactivate people missing from it")
    imp.set_defaults(handler=run_import)

    res = commands.add_parser("resolve", help="resolve spoken names to employees (JSON lines)")
    res.add_argument("--jsonl", action="store_true", required=True,
                     help="read requests from stdin and write answers to stdout, one per line")
    res.add_argument("--directory", help="a directory file to use instead of the database")
    res.set_defaults(handler=run_resolve)

    lst = commands.add_parser("list", help="list employees")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(handler=run_list)


async def run_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import ``args.file``; on a problem print ``FILE:LINE: message`` lines, import nothing."""
    try:
        async with migrated_sessions(settings.database_url) as sessions:
            report = await import_directory(sessions=sessions, path=args.file, full=args.full)
    except DirectoryImportError as err:
        print(f"checkin: {args.file}: {err}", file=sys.stderr)
        for line, message in err.problems:
            where = f"{args.file}:{line}" if line else f"{args.file}"
            print(f"{where}: {message}", file=sys.stderr)
        return 1
    print(describe_import(args.file, report, full=args.full))
    return 0


def describe_import(path: Path, report: ImportReport, *, full: bool) -> str:
    """One line for people: what the import did."""
    parts = [f"{report.created} created", f"{report.updated} updated",
             f"{report.unchanged} unchanged"]
    if full:
        parts.append(f"{report.deactivated} deactivated")
    return (f"Imported {report.total} employees from {path}: {', '.join(parts)} "
            f"(directory version {report.version}).")


async def run_resolve(args: argparse.Namespace, settings: Settings) -> int:
    """Answer name-resolution requests on stdin (the scenario harness drives this)."""
    # Imported here: the resolver pulls in matching libraries the other commands do not need.
    from checkin.directory.resolve_cli import run_jsonl

    return run_jsonl(sys.stdin, sys.stdout, args.directory)


async def run_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print every employee, active or not."""
    async with migrated_sessions(settings.database_url) as sessions, sessions() as session:
        people = await load_employees(session=session)
    if args.json:
        for person in people:
            print(json.dumps(employee_json(person), ensure_ascii=False))
        return 0
    if not people:
        print("No employees yet. Import some with: checkin directory import FILE")
        return 0
    rows = [(p.id, p.full_name, p.department, p.title, "" if p.active else "inactive")
            for p in people]
    print(table(("ID", "NAME", "DEPARTMENT", "TITLE", "STATUS"), rows))
    active = sum(p.active for p in people)
    print(f"\n{len(people)} employees, {active} active.")
    return 0


def employee_json(person: Employee) -> dict[str, Any]:
    """An employee as a JSON object."""
    return {"id": person.id, "first_name": person.first_name, "last_name": person.last_name,
            "department": person.department, "title": person.title, "email": person.email,
            "phone": person.phone, "slack_id": person.slack_id, "active": person.active,
            "aliases": list(person.aliases)}


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in (header, *rows)]
    return "\n".join(lines)
