"""Purge expired visit data: visits with their events, badges and notifications, in batches.

Visit rows are the only place visitor names live, so deleting them is the privacy promise of
``retention.days``. The purge is idempotent (a second run finds nothing), each batch commits on
its own (a long purge never holds a long lock, and an interrupted one keeps its progress), and
the receipt and logs hold counts only. Children are deleted explicitly before their visit, so
the purge does not depend on ``ON DELETE CASCADE`` (SQLite only enforces it with the
foreign_keys pragma on).

``retention_loop`` runs the purge once a day at ``retention.run_daily_at`` in the site's time
zone; the server starts it as a task and cancels it on shutdown.
Imports db, visits, config; never providers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any

import structlog
from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.config import Settings
from checkin.db import transaction, utcnow
from checkin.staff import purge_staff_sessions
from checkin.visits import BadgeRecord, Notification, Visit, VisitEvent

log = structlog.get_logger(__name__)

# Bound parameters per IN (...) list: well under SQLite's limit, whatever the batch size.
IN_CHUNK = 500
# The loop re-reads the clock at least this often, so a suspended or re-synchronised host
# clock delays the daily run by minutes, not by a day.
MAX_SLEEP_S = 900.0


@dataclass(frozen=True, slots=True)
class RetentionReceipt:
    """What a purge deleted (or, on a dry run, would delete): counts only."""

    before: datetime
    dry_run: bool
    visits: int = 0
    visit_events: int = 0
    badges: int = 0
    notifications: int = 0
    batches: int = 0

    @property
    def total(self) -> int:
        """Rows of every kind."""
        return self.visits + self.visit_events + self.badges + self.notifications

    def counts(self) -> dict[str, int]:
        """The counts by table, for logs and the CLI."""
        return {"visits": self.visits, "visit_events": self.visit_events,
                "badges": self.badges, "notifications": self.notifications}


async def purge_expired(
    *, sessions: async_sessionmaker[AsyncSession], before: datetime, batch_size: int,
    dry_run: bool,
) -> RetentionReceipt:
    """Delete visits started before ``before`` with everything attached, and old notifications."""
    if before.tzinfo is None:
        raise ValueError("before must be timezone-aware")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if dry_run:
        receipt = await _count_expired(sessions, before)
    else:
        receipt = await _delete_expired(sessions, before, batch_size)
    log.info("retention_purged", dry_run=dry_run, batches=receipt.batches, **receipt.counts())
    return receipt


async def _count_expired(
    sessions: async_sessionmaker[AsyncSession], before: datetime
) -> RetentionReceipt:
    expired = select(Visit.id).where(Visit.started_at < before)
    async with sessions() as session:
        visits = await _count(session, select(Visit).where(Visit.id.in_(expired)))
        events = await _count(session, select(VisitEvent).where(VisitEvent.visit_id.in_(expired)))
        badges = await _count(session, select(BadgeRecord).where(BadgeRecord.visit_id.in_(expired)))
        notes = await _count(session, select(Notification).where(
            Notification.visit_id.in_(expired) | (Notification.created_at < before)))
    return RetentionReceipt(before=before, dry_run=True, visits=visits, visit_events=events,
                            badges=badges, notifications=notes)


async def _count(session: AsyncSession, query: Select[Any]) -> int:
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def _delete_expired(
    sessions: async_sessionmaker[AsyncSession], before: datetime, batch_size: int
) -> RetentionReceipt:
    totals = {"visits": 0, "visit_events": 0, "badges": 0, "notifications": 0}
    batches = 0
    while True:
        async with transaction(sessions) as session:
            ids = list(await session.scalars(
                select(Visit.id).where(Visit.started_at < before)
                .order_by(Visit.started_at).limit(batch_size)))
            if not ids:
                break
            for key, count in (await _delete_visits(session, ids)).items():
                totals[key] += count
        batches += 1
    while True:
        # Notifications past the cut-off whose visit is still kept (a clock skew, or a visit
        # that started just inside the window).
        async with transaction(sessions) as session:
            ids = list(await session.scalars(
                select(Notification.id).where(Notification.created_at < before)
                .order_by(Notification.created_at).limit(batch_size)))
            if not ids:
                break
            totals["notifications"] += await _delete_in(session, Notification, Notification.id, ids)
        batches += 1
    return RetentionReceipt(before=before, dry_run=False, batches=batches, **totals)


async def _delete_visits(session: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    # Children first: correct with or without foreign-key enforcement.
    return {
        "visit_events": await _delete_in(session, VisitEvent, VisitEvent.visit_id, ids),
        "badges": await _delete_in(session, BadgeRecord, BadgeRecord.visit_id, ids),
        "notifications": await _delete_in(session, Notification, Notification.visit_id, ids),
        "visits": await _delete_in(session, Visit, Visit.id, ids),
    }


async def _delete_in(
    session: AsyncSession, model: type[Any], column: Any, ids: Sequence[str]
) -> int:
    deleted = 0
    for start in range(0, len(ids), IN_CHUNK):
        result = await session.execute(
            delete(model).where(column.in_(ids[start : start + IN_CHUNK]))
            .execution_options(synchronize_session=False))
        deleted += max(getattr(result, "rowcount", 0), 0)
    return deleted


# --- the daily loop -------------------------------------------------------------------------


def next_run_at(now: datetime, daily_at: str, tz: tzinfo) -> datetime:
    """The first ``daily_at`` (HH:MM, local to ``tz``) strictly after ``now``, in UTC."""
    hour, minute = (int(part) for part in daily_at.split(":"))
    local_day = now.astimezone(tz).date()
    for offset in (0, 1, 2):
        candidate = datetime.combine(local_day + timedelta(days=offset), time(hour, minute),
                                     tzinfo=tz).astimezone(UTC)
        if candidate > now:
            return candidate
    raise AssertionError("unreachable: a daily time recurs within two days")


async def retention_loop(
    *,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Purge once a day at ``settings.retention.run_daily_at``, until cancelled."""
    rules = settings.retention
    while True:
        due = next_run_at(clock(), rules.run_daily_at, settings.tz)
        log.info("retention_scheduled", due=due.isoformat())
        while (remaining := (due - clock()).total_seconds()) > 0:
            await sleep(min(remaining, MAX_SLEEP_S))
        try:
            await purge_expired(sessions=sessions, before=clock() - timedelta(days=rules.days),
                                batch_size=rules.batch_size, dry_run=False)
            log.info("staff_sessions_purged", count=await purge_staff_sessions(sessions=sessions))
        except Exception as err:
            # Tomorrow's run retries, and the server stays up; cancellation still propagates.
            log.error("retention_failed", error_type=type(err).__name__)
