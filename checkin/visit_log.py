"""The security visit log: search, detail, check-out, "who is in the building", erasure.

Keyword-only service functions over the visit tables; the caller owns the transaction and the
audit record. Erasure anonymises rather than deletes visits, so counts on the dashboard and the
audit trail stay true while nothing identifies the visitor any more. Imports: db, visits.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.db import utcnow
from checkin.visits import BadgeRecord, Notification, Visit, VisitEvent

ERASED = "[erased]"
CHECKED_IN = ("checked_in", "delivered")
# A visit that checked in this long ago and never checked out is assumed gone (a forgotten
# check-out must not put yesterday's visitor on tonight's evacuation list).
BUILDING_WINDOW = timedelta(hours=16)


@dataclass(frozen=True)
class VisitFilter:
    """Search terms of the visit log; every field optional, all given ones must match."""

    visitor: str | None = None
    company: str | None = None
    host: str | None = None
    start: datetime | None = None  # started at or after
    end: datetime | None = None  # started before
    outcome: str | None = None
    channel: str | None = None

    def as_audit(self) -> dict[str, Any]:
        """The filter as the audit record stores it (only the terms given)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if value not in (None, ""):
                out[key] = value.isoformat() if isinstance(value, datetime) else value
        return out


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filtered(query: Select[Any], f: VisitFilter) -> Select[Any]:
    if f.visitor:
        query = query.where(func.lower(Visit.visitor_name).like(_like(f.visitor), escape="\\"))
    if f.company:
        query = query.where(func.lower(Visit.company).like(_like(f.company), escape="\\"))
    if f.host:
        query = query.where(func.lower(Visit.host_name).like(_like(f.host), escape="\\"))
    if f.start is not None:
        query = query.where(Visit.started_at >= f.start)
    if f.end is not None:
        query = query.where(Visit.started_at < f.end)
    if f.outcome:
        query = (query.where(Visit.outcome.is_(None)) if f.outcome == "open"
                 else query.where(Visit.outcome == f.outcome))
    if f.channel:
        query = query.where(Visit.channel == f.channel)
    return query


async def search_visits(
    *, session: AsyncSession, where: VisitFilter, limit: int = 200, offset: int = 0
) -> tuple[list[Visit], int]:
    """Matching visits newest first (one page), and how many match in all."""
    total = await session.scalar(_filtered(select(func.count(Visit.id)), where))
    query = _filtered(select(Visit), where).order_by(Visit.started_at.desc(), Visit.id)
    rows = (await session.scalars(query.limit(limit).offset(offset))).all()
    return list(rows), int(total or 0)


@dataclass
class VisitDetail:
    """A visit with its event trail, notifications and badges."""

    visit: Visit
    events: list[VisitEvent]
    notifications: list[Notification]
    badges: list[BadgeRecord]


async def visit_detail(*, session: AsyncSession, visit_id: str) -> VisitDetail | None:
    """Everything recorded about one visit, or None."""
    visit = await session.get(Visit, visit_id)
    if visit is None:
        return None

    async def rows(model: Any, order: Any) -> list[Any]:
        query = select(model).where(model.visit_id == visit_id).order_by(order)
        return list((await session.scalars(query)).all())

    return VisitDetail(visit, await rows(VisitEvent, VisitEvent.id),
                       await rows(Notification, Notification.created_at),
                       await rows(BadgeRecord, BadgeRecord.id))


async def check_out(*, session: AsyncSession, visit_id: str, by: str,
                    via: str = "staff") -> Visit | None:
    """Mark the visitor as gone (idempotent: a second check-out keeps the first time).

    ``via`` says who did it on the event (``staff``, or ``host`` from a Slack/SMS answer).
    """
    visit = await session.get(Visit, visit_id)
    if visit is None:
        return None
    if visit.checked_out_at is None:
        visit.checked_out_at = utcnow()
        visit.checked_out_by = by
        session.add(VisitEvent(visit_id=visit.id, kind="checked_out", state=visit.state,
                               data={"by": via}, at=utcnow()))
    return visit


async def in_building(*, session: AsyncSession, now: datetime | None = None) -> list[Visit]:
    """Visitors checked in within ``BUILDING_WINDOW`` and not checked out, oldest first."""
    since = (now or utcnow()) - BUILDING_WINDOW
    query = (select(Visit).where(Visit.outcome.in_(CHECKED_IN), Visit.started_at >= since,
                                 Visit.checked_out_at.is_(None))
             .order_by(Visit.started_at))
    return list((await session.scalars(query)).all())


@dataclass
class ErasureCounts:
    """What one erasure changed; the receipt shows counts only, never the erased name."""

    visit_ids: list[str] = field(default_factory=list)
    notifications: int = 0
    badges: int = 0
    badge_files: int = 0
    events: int = 0
    # What identified the visitor (lower-case name, number, digits): the caller scrubs the
    # records it owns with these (the staff audit's search terms). Never shown.
    needles: list[str] = field(default_factory=list, repr=False)


def scrub(value: Any, needles: list[str]) -> tuple[Any, bool]:
    """``value`` with every string containing one of ``needles`` replaced by ERASED."""
    if isinstance(value, str):
        low = value.lower()
        digits = "".join(ch for ch in low if ch.isdigit())
        hit = any(n in low or (n.isdigit() and n in digits) for n in needles)
        return (ERASED, True) if hit else (value, False)
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            out[key], hit = scrub(item, needles)
            changed |= hit
        return out, changed
    if isinstance(value, list):
        pairs = [scrub(item, needles) for item in value]
        return [p[0] for p in pairs], any(p[1] for p in pairs)
    return value, False


def scrub_search_terms(terms: dict[str, Any], needles: list[str]) -> tuple[dict[str, Any], bool]:
    """Search terms with the erased visitor taken out: a term holding the name or number, or
    one made only of words of the name ("jane", "Doe, Jane"), becomes ERASED."""
    words = {w for n in needles for w in re.findall(r"\w+", n) if not n.isdigit()}
    out, changed = scrub(terms, needles)
    for key, term in out.items():
        if isinstance(term, str) and term != ERASED:
            typed = re.findall(r"\w+", term.lower())
            if typed and set(typed) <= words:
                out[key], changed = ERASED, True
    return out, changed


def _unlink(paths: list[Path]) -> int:
    """Delete the files that exist; how many were deleted."""
    deleted = 0
    for path in paths:
        if path.is_file():
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


async def erase_visitor(
    *, session: AsyncSession, visitor_name: str | None, phone: str | None,
    visit_ids: list[str] | None = None,
) -> ErasureCounts:
    """Anonymise a visitor everywhere: visits, the outbox, badges (and badge files), events.

    Visits match by exact name (case-insensitive) or id; notification payloads and event data
    are scrubbed of any string holding the name or the phone number.
    """
    name = (visitor_name or "").strip().lower()
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    conditions: list[Any] = []
    if name:
        conditions.append(func.lower(Visit.visitor_name) == name)
    if visit_ids:
        conditions.append(Visit.id.in_(visit_ids))
    counts = ErasureCounts()
    needles = [n for n in (name, phone.strip().lower() if phone else "") if n]
    visits = list((await session.scalars(select(Visit).where(or_(*conditions))))
                  .all()) if conditions else []
    for visit in visits:
        needles += [v.lower() for v in (visit.visitor_name,) if v and v.lower() not in needles]
    ids = {v.id for v in visits}
    if len(digits) >= 7:  # a phone number lives only in payloads and event data
        for note in (await session.scalars(select(Notification))).all():
            if digits in "".join(ch for ch in str(note.payload) if ch.isdigit()):
                ids.add(note.visit_id)
        needles.append(digits)
    counts.visit_ids = sorted(ids)
    counts.needles = needles
    files: list[Path] = []
    if not ids:
        return counts
    for visit in (await session.scalars(select(Visit).where(Visit.id.in_(ids)))).all():
        visit.visitor_name, visit.company, visit.purpose = ERASED, None, None
    for note in (await session.scalars(select(Notification)
                                       .where(Notification.visit_id.in_(ids)))).all():
        payload = dict(note.payload)
        for key in ("visitor_name", "company", "purpose"):
            if key in payload:
                payload[key] = ERASED
        payload, _ = scrub(payload, needles)
        note.payload = payload
        counts.notifications += 1
    for badge in (await session.scalars(select(BadgeRecord)
                                        .where(BadgeRecord.visit_id.in_(ids)))).all():
        badge.visitor_name = ERASED
        counts.badges += 1
        if badge.location:
            files.append(Path(badge.location))
    counts.badge_files = await asyncio.to_thread(_unlink, files)  # the badge PDF shows the name
    for event in (await session.scalars(select(VisitEvent)
                                        .where(VisitEvent.visit_id.in_(ids)))).all():
        data, changed = scrub(event.data, needles)
        if changed:
            event.data = data
            counts.events += 1
    return counts
