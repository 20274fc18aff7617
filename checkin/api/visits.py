"""``/api/visits``: the security visit log as JSON and CSV, with an audit record for every read.

Routes are thin: a role dependency, keyword-only service functions from ``checkin.visit_log``,
and response models that carry exactly what the security role may see (a notification shows the
host, channel and delivery status, never the host's phone number or email). The ``audited_*``
helpers are shared with the HTML pages (``checkin.web.pages``) so a page view is audited the
same way. Imports: visit_log, staff, web.auth.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.staff import list_audit, record_audit, scrub_audit_terms
from checkin.visit_log import (
    VisitDetail,
    VisitFilter,
    check_out,
    erase_visitor,
    in_building,
    scrub_search_terms,
    search_visits,
    visit_detail,
)
from checkin.visits import Visit
from checkin.web.auth import Principal, SecurityUserDep, SessionDep

router = APIRouter(prefix="/api", tags=["visit log"])

Outcome = Literal["checked_in", "delivered", "transferred", "error", "no_answer", "abandoned",
                  "disconnected", "open"]
Channel = Literal["phone", "kiosk", "chat"]


class VisitOut(BaseModel):
    """One visit in the log."""

    id: str
    started_at: datetime
    ended_at: datetime | None
    channel: str
    state: str
    outcome: str | None
    visitor_name: str | None
    company: str | None
    purpose: str | None
    party_size: int
    is_delivery: bool
    language: str
    host_name: str | None
    transfer_reason: str | None
    checked_out_at: datetime | None
    checked_out_by: str | None

    @classmethod
    def of(cls, v: Visit) -> VisitOut:
        """From a visit row."""
        return cls.model_validate(v, from_attributes=True)


class VisitPage(BaseModel):
    """A page of search results and the total count."""

    total: int
    items: list[VisitOut]


class EventOut(BaseModel):
    """One entry of the trail: state changes, tool calls with match scores, host answers."""

    at: datetime
    kind: str
    state: str
    data: dict[str, Any]


class NotificationOut(BaseModel):
    """Who was notified, how, and whether it arrived (no contact details)."""

    created_at: datetime
    kind: str
    recipient: str
    channel: str
    status: str
    attempts: int
    delivered_at: datetime | None
    last_error_code: str | None


class BadgeOut(BaseModel):
    """A printed badge."""

    printed_at: datetime
    visitor_name: str
    printer: str


class VisitDetailOut(BaseModel):
    """A visit with its whole trail."""

    visit: VisitOut
    events: list[EventOut]
    notifications: list[NotificationOut]
    badges: list[BadgeOut]


class ErasureIn(BaseModel):
    """Whom to erase: a name (exact, any case), a phone number, and/or visit ids."""

    visitor_name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, max_length=40)
    visit_ids: list[str] = Field(default_factory=list, max_length=500)


class ErasureReceipt(BaseModel):
    """Proof of an erasure; it names no one, so it can be handed to the requester."""

    receipt_id: int
    erased_at: datetime
    erased_by: str
    visits: int
    notifications: int
    badges: int
    badge_files: int
    events: int


class AuditOut(BaseModel):
    """One audit record."""

    id: int
    at: datetime
    actor_email: str
    via: str
    action: str
    filters: dict[str, Any]
    rows: int


def detail_out(d: VisitDetail) -> VisitDetailOut:
    """The response model of a visit's detail."""
    notes = [NotificationOut(
        created_at=n.created_at, kind=str(n.payload.get("kind", "host")),
        recipient=str((n.payload.get("to") or n.payload.get("host") or {}).get("name", "")),
        channel=n.channel, status=n.status, attempts=n.attempts, delivered_at=n.delivered_at,
        last_error_code=n.last_error_code) for n in d.notifications]
    return VisitDetailOut(
        visit=VisitOut.of(d.visit),
        events=[EventOut(at=e.at, kind=e.kind, state=e.state, data=e.data) for e in d.events],
        notifications=notes,
        badges=[BadgeOut(printed_at=b.printed_at, visitor_name=b.visitor_name, printer=b.printer)
                for b in d.badges])


def make_filter(tz: ZoneInfo, *, visitor: str | None, company: str | None, host: str | None,
                date_from: date | None, date_to: date | None, outcome: str | None,
                channel: str | None) -> VisitFilter:
    """Dates are the site's calendar days: ``date_to`` includes the whole day."""
    start = datetime.combine(date_from, time(0), tzinfo=tz) if date_from else None
    end = (datetime.combine(date_to, time(0), tzinfo=tz) + timedelta(days=1)) if date_to else None
    return VisitFilter(visitor=visitor or None, company=company or None, host=host or None,
                       start=start, end=end, outcome=outcome or None, channel=channel or None)


async def audited_search(*, db: AsyncSession, who: Principal, where: VisitFilter, limit: int,
                         offset: int, action: str = "visits.search") -> tuple[list[Visit], int]:
    """Search the log and record who searched for what and how many rows they saw."""
    rows, total = await search_visits(session=db, where=where, limit=limit, offset=offset)
    record_audit(session=db, actor=who.user, via=who.via, action=action,
                 filters=where.as_audit(), rows=len(rows))
    await db.commit()
    return rows, total


async def audited_detail(*, db: AsyncSession, who: Principal, visit_id: str) -> VisitDetail:
    """One visit's detail (404 if unknown), audited."""
    found = await visit_detail(session=db, visit_id=visit_id)
    if found is None:
        raise HTTPException(404, "no such visit")
    record_audit(session=db, actor=who.user, via=who.via, action="visits.read",
                 filters={"visit_id": visit_id}, rows=1)
    await db.commit()
    return found


async def audited_building(*, db: AsyncSession, who: Principal) -> list[Visit]:
    """Who is in the building now, audited (it lists names)."""
    rows = await in_building(session=db)
    record_audit(session=db, actor=who.user, via=who.via, action="building.read", filters={},
                 rows=len(rows))
    await db.commit()
    return rows


async def audited_checkout(*, db: AsyncSession, who: Principal, visit_id: str) -> Visit:
    """Check a visitor out by hand."""
    visit = await check_out(session=db, visit_id=visit_id, by=who.email)
    if visit is None:
        raise HTTPException(404, "no such visit")
    record_audit(session=db, actor=who.user, via=who.via, action="visits.checkout",
                 filters={"visit_id": visit_id}, rows=1)
    await db.commit()
    return visit


async def audited_erasure(*, db: AsyncSession, who: Principal, body: ErasureIn) -> ErasureReceipt:
    """Erase a visitor and return the receipt (the audit record's id is the receipt number)."""
    if not (body.visitor_name or body.phone or body.visit_ids):
        raise HTTPException(422, "give a visitor name, a phone number or visit ids")
    counts = await erase_visitor(session=db, visitor_name=body.visitor_name, phone=body.phone,
                                 visit_ids=body.visit_ids)
    await scrub_audit_terms(session=db, scrub=partial(scrub_search_terms, needles=counts.needles))
    # The filter is recorded without the name or number: keeping them would undo the erasure.
    record = record_audit(session=db, actor=who.user, via=who.via, action="erasure",
                          filters={"visit_ids": counts.visit_ids,
                                   "by_name": bool(body.visitor_name),
                                   "by_phone": bool(body.phone)},
                          rows=len(counts.visit_ids))
    await db.flush()
    await db.commit()
    return ErasureReceipt(receipt_id=record.id, erased_at=record.at, erased_by=who.email,
                          visits=len(counts.visit_ids), notifications=counts.notifications,
                          badges=counts.badges, badge_files=counts.badge_files,
                          events=counts.events)


class SearchParams(BaseModel):
    """Query parameters of a visit-log search."""

    visitor: str | None = Field(None, max_length=200)
    company: str | None = Field(None, max_length=200)
    host: str | None = Field(None, max_length=200)
    date_from: date | None = None
    date_to: date | None = None
    outcome: Outcome | None = None
    channel: Channel | None = None


SearchDep = Annotated[SearchParams, Query()]


def _filter(request: Request, q: SearchParams) -> VisitFilter:
    return make_filter(request.app.state.runtime.settings.tz, **q.model_dump())


@router.get("/visits", response_model=VisitPage, summary="Search the visit log")
async def list_visits(request: Request, q: SearchDep, db: SessionDep, who: SecurityUserDep,
                      limit: Annotated[int, Query(ge=1, le=500)] = 100,
                      offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> VisitPage:
    """Visits newest first; every call is audited."""
    rows, total = await audited_search(db=db, who=who, where=_filter(request, q), limit=limit,
                                       offset=offset)
    return VisitPage(total=total, items=[VisitOut.of(v) for v in rows])


CSV_COLUMNS = ("id", "started_at", "ended_at", "channel", "outcome", "visitor_name", "company",
               "purpose", "party_size", "host_name", "checked_out_at")


def csv_rows(visits: list[Visit]) -> Iterator[str]:
    """The CSV text of ``visits``, a header line first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for v in visits:
        out = VisitOut.of(v).model_dump(mode="json")
        # A leading = + - @ makes spreadsheets run the cell as a formula; quote it away.
        writer.writerow(["'" + s if isinstance(s, str) and s[:1] in "=+-@" else s
                         for s in (out[c] for c in CSV_COLUMNS)])
    yield buffer.getvalue()


@router.get("/visits/export.csv", summary="Export the matching visits as CSV",
            response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}})
async def export_visits(request: Request, q: SearchDep, db: SessionDep,
                        who: SecurityUserDep) -> StreamingResponse:
    """Up to 10,000 matching visits as CSV; audited as an export."""
    rows, _ = await audited_search(db=db, who=who, where=_filter(request, q), limit=10_000,
                                   offset=0, action="visits.export")
    return StreamingResponse(csv_rows(rows), media_type="text/csv", headers={
        "Content-Disposition": 'attachment; filename="visits.csv"'})


@router.get("/visits/{visit_id}", response_model=VisitDetailOut, summary="One visit's trail",
            responses={404: {"description": "no such visit"}})
async def get_visit(visit_id: str, db: SessionDep, who: SecurityUserDep) -> VisitDetailOut:
    """The visit, its events, notifications and badges."""
    return detail_out(await audited_detail(db=db, who=who, visit_id=visit_id))


@router.post("/visits/{visit_id}/checkout", response_model=VisitOut,
             summary="Check a visitor out", responses={404: {"description": "no such visit"}})
async def checkout_visit(visit_id: str, db: SessionDep, who: SecurityUserDep) -> VisitOut:
    """Record that the visitor left (the first check-out time is kept)."""
    return VisitOut.of(await audited_checkout(db=db, who=who, visit_id=visit_id))


@router.get("/building", response_model=list[VisitOut], summary="Who is in the building now")
async def building(db: SessionDep, who: SecurityUserDep) -> list[VisitOut]:
    """Checked-in visitors not checked out (for an evacuation)."""
    return [VisitOut.of(v) for v in await audited_building(db=db, who=who)]


@router.post("/erasures", response_model=ErasureReceipt, summary="Erase a visitor",
             responses={422: {"description": "nothing to match on"}})
async def erase(body: ErasureIn, db: SessionDep, who: SecurityUserDep) -> ErasureReceipt:
    """Anonymise a visitor across visits, notifications, badges and events."""
    return await audited_erasure(db=db, who=who, body=body)


@router.get("/audit", response_model=list[AuditOut], summary="The audit trail (read-only)")
async def audit(db: SessionDep, who: SecurityUserDep,
                limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[AuditOut]:
    """Newest first. There is no endpoint that changes or deletes an audit record."""
    rows = await list_audit(session=db, limit=limit)
    return [AuditOut.model_validate(r, from_attributes=True) for r in rows]
