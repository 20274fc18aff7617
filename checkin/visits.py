"""Visit records: the visit, its event trail, its outbox notifications and badges.

A visit row is the only place visitor names live (logs never hold them); the retention job
deletes it with everything hanging off it. Service functions take keyword-only arguments and
the session; callers own the transaction. Imports: db, errors.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column, relationship

from checkin.db import Base, UtcDateTime, utcnow


def new_id() -> str:
    """A random, unguessable id (visit ids go on badges as a QR code)."""
    return uuid.uuid4().hex


class Visit(Base):
    """One visitor session on any channel."""

    __tablename__ = "visits"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    state: Mapped[str] = mapped_column(String(32), default="GREETING")
    outcome: Mapped[str | None] = mapped_column(String(32), index=True)
    visitor_name: Mapped[str | None] = mapped_column(String(200))
    company: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str | None] = mapped_column(String(300))
    party_size: Mapped[int] = mapped_column(Integer, default=1)
    is_delivery: Mapped[bool] = mapped_column(default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    host_employee_id: Mapped[str | None] = mapped_column(String(64), index=True)
    host_name: Mapped[str | None] = mapped_column(String(200))
    transfer_reason: Mapped[str | None] = mapped_column(String(64))
    # Language-model usage of the visit (migration 0002); cost in millionths of a US dollar
    # so sums stay exact. Zero for visits the rules engine handled alone.
    llm_model: Mapped[str | None] = mapped_column(String(64))
    llm_requests: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    llm_input_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    llm_output_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    llm_cost_usd_micros: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Leaving the building (migration 0004): set by security's manual check-out; a visit that
    # checked in and has none is "in the building" for the evacuation list.
    checked_out_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    checked_out_by: Mapped[str | None] = mapped_column(String(254))

    events: Mapped[list[VisitEvent]] = relationship(
        back_populates="visit", cascade="all, delete-orphan", passive_deletes=True,
        order_by="VisitEvent.id",
    )


class VisitEvent(Base):
    """The visit's trail: state changes and tool calls with their match scores."""

    __tablename__ = "visit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)

    visit: Mapped[Visit] = relationship(back_populates="events")


class Notification(Base):
    """An outbox row: a message to a host, written in the same transaction as the visit.

    A delivery worker claims pending rows (several replicas may run one each) and marks them
    delivered exactly once; ``status`` is pending -> sending -> delivered | failed.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_status_next", "status", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    host_employee_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    receipt: Mapped[str | None] = mapped_column(String(200))
    last_error_code: Mapped[str | None] = mapped_column(String(64))


class BadgeRecord(Base):
    """A badge printed for one person of a visit."""

    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    visit_id: Mapped[str] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), index=True)
    printed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    visitor_name: Mapped[str] = mapped_column(String(200))
    printer: Mapped[str] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(Text, default="")


async def create_visit(*, session: AsyncSession, channel: str, language: str = "en") -> Visit:
    """Start a visit record for a new session on ``channel``."""
    visit = Visit(id=new_id(), channel=channel, language=language, started_at=utcnow())
    session.add(visit)
    await session.flush()
    return visit


async def get_visit(*, session: AsyncSession, visit_id: str) -> Visit | None:
    """The visit with this id, or None."""
    return await session.get(Visit, visit_id)


def add_event(
    *, session: AsyncSession, visit_id: str, kind: str, state: str, data: dict[str, Any]
) -> None:
    """Append one entry to the visit's trail (flushed with the enclosing transaction)."""
    session.add(VisitEvent(visit_id=visit_id, kind=kind, state=state, data=data, at=utcnow()))


async def list_visits(
    *, session: AsyncSession, since: datetime | None = None, limit: int = 500
) -> list[Visit]:
    """Visits newest first, optionally only those started at or after ``since``."""
    query = select(Visit).order_by(Visit.started_at.desc()).limit(limit)
    if since is not None:
        query = query.where(Visit.started_at >= since)
    return list((await session.scalars(query)).all())


async def llm_usage_totals(
    *, session: AsyncSession, since: datetime | None = None
) -> dict[str, Any]:
    """Language-model usage summed over visits (started at or after ``since``)."""
    query = select(
        func.count(Visit.id).filter(Visit.llm_requests > 0),
        func.coalesce(func.sum(Visit.llm_requests), 0),
        func.coalesce(func.sum(Visit.llm_input_tokens), 0),
        func.coalesce(func.sum(Visit.llm_output_tokens), 0),
        func.coalesce(func.sum(Visit.llm_cost_usd_micros), 0),
    )
    if since is not None:
        query = query.where(Visit.started_at >= since)
    visits, requests, tokens_in, tokens_out, micros = (await session.execute(query)).one()
    return {"visits": int(visits), "requests": int(requests), "input_tokens": int(tokens_in),
            "output_tokens": int(tokens_out), "cost_usd": round(int(micros) / 1_000_000, 6)}


def add_notification(
    *, session: AsyncSession, visit: Visit, host_employee_id: str, channel: str,
    payload: dict[str, Any],
) -> Notification:
    """Queue a message to the host in the outbox, in the caller's (the visit's) transaction."""
    note = Notification(
        id=new_id(), visit_id=visit.id, host_employee_id=host_employee_id, channel=channel,
        payload=payload, status="pending", created_at=utcnow(), next_attempt_at=utcnow(),
    )
    session.add(note)
    return note
