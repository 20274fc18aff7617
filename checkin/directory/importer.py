"""Import the company directory from a CSV or JSON file: validate everything, then upsert by id.

All or nothing: the whole file is parsed and every row validated before the database is
touched, and one transaction writes the rows and bumps the directory version (so replicas
rebuild their name index once, after the import is complete). A malformed file or any bad row
raises ``DirectoryImportError`` listing each problem with its CSV line number (JSON: "item N",
counting from 1) and imports nothing.

CSV columns: id,first_name,last_name,department,title,email,phone,slack_id,active, and the
optional aliases (separated by "|" or ";"), assistant_id (another employee's id, in the file
or already in the database: told when this person does not answer a visitor) and team_channel
(a Slack channel id, C... or G..., told when there is no assistant). JSON:
``{"employees": [...]}`` or a list of objects with the same keys (aliases may also be a list).

The SQL is dialect-neutral: select the existing ids, then insert and update in batches.
Imports db, errors, directory.store; never providers, tools or the resolver.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.db import transaction, utcnow
from checkin.directory.model import Employee
from checkin.directory.store import EmployeeRow, bump_directory_version
from checkin.errors import DirectoryImportError

log = structlog.get_logger(__name__)

REQUIRED_COLUMNS = ("id", "first_name", "last_name", "department", "title", "email", "phone",
                    "slack_id", "active")
OPTIONAL_COLUMNS = ("aliases", "assistant_id", "team_channel")
# Column widths of the employees table: PostgreSQL would reject a longer value mid-import.
MAX_LENGTH = {"id": 64, "first_name": 100, "last_name": 100, "department": 100, "title": 150,
              "email": 254, "phone": 40, "slack_id": 40, "assistant_id": 64, "team_channel": 40}
TRUE_WORDS = frozenset({"true", "yes", "1", "y", "t"})
FALSE_WORDS = frozenset({"false", "no", "0", "n", "f"})
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,39}$")
BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, in counts."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    version: int = 0

    @property
    def total(self) -> int:
        """Rows in the file."""
        return self.created + self.updated + self.unchanged


async def import_directory(
    *, sessions: async_sessionmaker[AsyncSession], path: Path, full: bool = False
) -> ImportReport:
    """Validate ``path`` and upsert its people; with ``full``, deactivate everyone missing."""
    rows = _read_rows(path)
    # An assistant may be someone imported earlier: look up only the ids the file names.
    wanted = {str(raw.get("assistant_id") or "").strip() for _, _, raw in rows} - {""}
    known: set[str] = set()
    if wanted:
        async with sessions() as session:
            known = set(await session.scalars(
                select(EmployeeRow.id).where(EmployeeRow.id.in_(sorted(wanted)))))
    records = _validate(rows, known_ids=known)
    async with transaction(sessions) as session:
        # Bumping first takes the version row's lock (PostgreSQL), so concurrent imports of
        # the same directory queue up instead of racing on the same ids.
        version = await bump_directory_version(session=session)
        created, updated, unchanged = await _upsert(session, records)
        deactivated = await _deactivate_missing(session, {r.id for r in records}) if full else 0
    report = ImportReport(created=created, updated=updated, unchanged=unchanged,
                          deactivated=deactivated, version=version)
    log.info("directory_imported", rows=len(records), created=created, updated=updated,
             unchanged=unchanged, deactivated=deactivated, full=full, version=version)
    return report


def read_directory_file(path: Path) -> list[Employee]:
    """Parse and validate a CSV or JSON directory file; raise with every problem found.

    Without a database, an ``assistant_id`` must name someone in the same file.
    """
    return _validate(_read_rows(path), known_ids=frozenset())


def _read_rows(path: Path) -> list[RawRow]:
    text = _read_text(path)
    if _looks_like_json(path, text):
        return list(_json_rows(text))
    return list(_csv_rows(text))


def read_employees(path: Path) -> list[Employee]:
    """The people of a directory file, validated as an import would (nothing is written)."""
    return read_directory_file(path)


# --- reading --------------------------------------------------------------------------------

# A raw row: (line number or 0, where to say it is, the fields as given).
RawRow = tuple[int, str, dict[str, Any]]


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DirectoryImportError(f"cannot read the file: {err.strerror}") from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DirectoryImportError("the file is UTF-16 text (save it as CSV UTF-8)")
    if b"\x00" in data:
        raise DirectoryImportError("not a CSV or JSON file (it contains binary data)")
    try:
        # utf-8-sig: spreadsheet programs put a byte-order mark in front of CSV exports.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DirectoryImportError(
            "the file is not UTF-8 text (save it as CSV UTF-8)", [(line, "not valid UTF-8")]
        ) from None
    if not text.strip():
        raise DirectoryImportError("the file is empty")
    return text


def _looks_like_json(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".json":
        return True
    if path.suffix.lower() == ".csv":
        return False
    return text.lstrip()[:1] in ("[", "{")


def _json_rows(text: str) -> Iterator[RawRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise DirectoryImportError("not valid JSON", [(err.lineno, err.msg)]) from None
    items = data.get("employees") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise DirectoryImportError('JSON must be a list of employees or {"employees": [...]}')
    for number, item in enumerate(items, start=1):
        where = f"item {number}"
        if not isinstance(item, dict):
            raise DirectoryImportError("bad JSON item", [(0, f"{where}: not an object")])
        yield 0, where, item


def _csv_rows(text: str) -> Iterator[RawRow]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
        _check_header(header)
        end_of_previous = reader.line_num
        for values in reader:
            # A quoted field may span lines: report the line where the record starts.
            start, end_of_previous = end_of_previous + 1, reader.line_num
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(header):
                raise DirectoryImportError("malformed CSV", [(
                    start, f"{len(values)} fields but the header has {len(header)}")])
            yield start, f"line {start}", dict(zip(header, values, strict=False))
    except csv.Error as err:
        raise DirectoryImportError("malformed CSV", [(reader.line_num, str(err))]) from None


def _check_header(header: Sequence[str]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    problems = []
    if missing:
        problems.append((1, f"missing column(s): {', '.join(missing)}"))
    if unknown:
        problems.append((1, f"unknown column(s): {', '.join(repr(c) for c in unknown)}"))
    if problems:
        expected = ",".join(REQUIRED_COLUMNS) + "".join(f"[,{c}]" for c in OPTIONAL_COLUMNS)
        raise DirectoryImportError(f"not a directory CSV (expected columns {expected})", problems)


# --- validating -----------------------------------------------------------------------------


def _validate(rows: Iterable[RawRow], *, known_ids: AbstractSet[str]) -> list[Employee]:
    """Every row as an Employee, or raise with every problem; ``known_ids`` are people
    already in the database (an ``assistant_id`` may name them)."""
    records: list[Employee] = []
    problems: list[tuple[int, str]] = []
    first_seen: dict[str, str] = {}
    assisted: list[tuple[int, str, Employee]] = []
    for line, where, raw in rows:
        found: list[str] = []
        record = _record(raw, found)
        if record is not None and record.id in first_seen:
            found.append(f"duplicate id {record.id!r} (first at {first_seen[record.id]})")
        elif record is not None:
            first_seen[record.id] = where
        prefix = "" if line else f"{where}: "
        problems.extend((line, prefix + message) for message in found)
        if record is not None and not found:
            records.append(record)
            if record.assistant_id:
                assisted.append((line, prefix, record))
    # Second pass: an assistant may appear further down the file.
    for line, prefix, record in assisted:
        if record.assistant_id not in first_seen and record.assistant_id not in known_ids:
            problems.append((line, f"{prefix}assistant_id {record.assistant_id!r} is not an "
                                   "employee in this file or the directory"))
    problems.sort(key=lambda p: p[0])
    if problems:
        raise DirectoryImportError(f"{len(problems)} problem(s); nothing was imported", problems)
    if not records:
        raise DirectoryImportError("the file has no employees")
    return records


def _record(raw: dict[str, Any], problems: list[str]) -> Employee | None:
    """Build a record from one raw row, appending a message per problem to ``problems``."""
    unknown = sorted(set(raw) - set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS))
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    text = {name: _text(raw.get(name), name, problems) for name in MAX_LENGTH}
    for name in ("id", "first_name", "last_name"):
        if not text[name]:
            problems.append(f"{name} is missing")
    for name, limit in MAX_LENGTH.items():
        if len(text[name]) > limit:
            problems.append(f"{name} is longer than {limit} characters")
    if text["email"] and not EMAIL.match(text["email"]):
        problems.append("email is not a valid address")
    if text["assistant_id"] and text["assistant_id"] == text["id"]:
        problems.append("assistant_id is the employee themselves")
    if text["team_channel"] and not SLACK_CHANNEL.match(text["team_channel"]):
        problems.append("team_channel must be a Slack channel id (C... or G...)")
    active = _active(raw.get("active"), problems)
    aliases = _aliases(raw.get("aliases"), problems)
    if active is None or aliases is None or not text["id"]:
        return None
    return Employee(active=active, aliases=tuple(aliases), **text)


def _text(value: Any, name: str, problems: list[str]) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        problems.append(f"{name} must be text")
        return ""
    return str(value).strip()


def _active(value: Any, problems: list[str]) -> bool | None:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if value is not None else ""
    if word == "":
        return True  # a blank cell means the person is current
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    problems.append(f"active must be true/false/yes/no/1/0, not {str(value)[:20]!r}")
    return None


def _aliases(value: Any, problems: list[str]) -> list[str] | None:
    if value is None:
        return []
    if isinstance(value, str):
        parts: list[Any] = re.split(r"[|;]", value)
    elif isinstance(value, list):
        parts = value
    else:
        problems.append("aliases must be text or a list of text")
        return None
    if not all(isinstance(p, str) for p in parts):
        problems.append("aliases must be text or a list of text")
        return None
    # dict.fromkeys keeps the first spelling of each alias, in the file's order.
    return list(dict.fromkeys(p.strip() for p in parts if p.strip()))


# --- writing --------------------------------------------------------------------------------


async def _upsert(session: AsyncSession, records: Sequence[Employee]) -> tuple[int, int, int]:
    created = updated = unchanged = 0
    for start in range(0, len(records), BATCH_SIZE):
        batch = records[start : start + BATCH_SIZE]
        existing = {
            row.id: row
            for row in await session.scalars(
                select(EmployeeRow).where(EmployeeRow.id.in_([r.id for r in batch])))
        }
        for record in batch:
            row = existing.get(record.id)
            if row is None:
                row = EmployeeRow(id=record.id)
                row.update_from(record)
                session.add(row)
                created += 1
            elif row.to_employee() != record:
                row.update_from(record)
                updated += 1
            else:
                unchanged += 1
        await session.flush()
    return created, updated, unchanged


async def _deactivate_missing(session: AsyncSession, present: set[str]) -> int:
    active_ids = set(await session.scalars(select(EmployeeRow.id).where(EmployeeRow.active)))
    gone = sorted(active_ids - present)
    for start in range(0, len(gone), BATCH_SIZE):
        await session.execute(
            update(EmployeeRow)
            .where(EmployeeRow.id.in_(gone[start : start + BATCH_SIZE]))
            .values(active=False, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    return len(gone)
