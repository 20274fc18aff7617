"""Retention: what is purged, batches, dry runs, idempotence, no PII in logs, the daily loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.config import Settings
from checkin.db import transaction
from checkin.jobs.retention import next_run_at, purge_expired, retention_loop
from checkin.visits import BadgeRecord, Notification, Visit, VisitEvent, new_id

pytestmark = pytest.mark.unit

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CUTOFF = NOW - timedelta(days=30)


async def add_visit(sessions: Sessions, *, started_at: datetime, name: str = "Vera Visitor") -> str:
    """A visit with two events, a notification and a badge, all stamped ``started_at``."""
    visit_id = new_id()
    async with transaction(sessions) as session:
        session.add(Visit(id=visit_id, channel="kiosk", started_at=started_at, visitor_name=name,
                          company="Acme", host_name="Hal Host", outcome="completed"))
        await session.flush()
        session.add_all([
            VisitEvent(visit_id=visit_id, kind="state", state="GREETING", data={}, at=started_at),
            VisitEvent(visit_id=visit_id, kind="tool", state="IDENTIFY_HOST", data={"s": 1},
                       at=started_at),
            Notification(id=new_id(), visit_id=visit_id, host_employee_id="E1", channel="slack",
                         payload={"visitor": name}, created_at=started_at,
                         next_attempt_at=started_at),
            BadgeRecord(visit_id=visit_id, visitor_name=name, printer="pdf", printed_at=started_at),
        ])
    return visit_id


async def count(sessions: Sessions, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_purges_old_visits_with_everything_attached(sessions: Sessions) -> None:
    for days in (31, 45, 90):
        await add_visit(sessions, started_at=NOW - timedelta(days=days))
    kept = await add_visit(sessions, started_at=NOW - timedelta(days=29))

    receipt = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=2, dry_run=False)

    assert receipt.counts() == {"visits": 3, "visit_events": 6, "badges": 3, "notifications": 3}
    assert receipt.batches == 2  # 2 + 1 visits
    async with sessions() as session:
        assert [v.id for v in await session.scalars(select(Visit))] == [kept]
    assert (await count(sessions, VisitEvent), await count(sessions, BadgeRecord),
            await count(sessions, Notification)) == (2, 1, 1)


async def test_dry_run_counts_and_deletes_nothing(sessions: Sessions) -> None:
    await add_visit(sessions, started_at=NOW - timedelta(days=40))
    await add_visit(sessions, started_at=NOW - timedelta(days=1))

    dry = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=True)
    real = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=False)

    assert dry.dry_run and not real.dry_run
    assert dry.counts() == real.counts() == {
        "visits": 1, "visit_events": 2, "badges": 1, "notifications": 1}


async def test_second_run_finds_nothing(sessions: Sessions) -> None:
    await add_visit(sessions, started_at=NOW - timedelta(days=40))
    await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=False)

    again = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=False)

    assert again.total == 0


async def test_old_notification_of_a_kept_visit_is_purged(sessions: Sessions) -> None:
    visit_id = await add_visit(sessions, started_at=NOW - timedelta(days=10))
    async with transaction(sessions) as session:
        old = NOW - timedelta(days=60)  # a skewed clock wrote it
        session.add(Notification(id=new_id(), visit_id=visit_id, host_employee_id="E1",
                                 channel="sms", payload={}, created_at=old, next_attempt_at=old))

    dry = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=True)
    real = await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=False)

    assert dry.counts() == real.counts() == {
        "visits": 0, "visit_events": 0, "badges": 0, "notifications": 1}
    assert await count(sessions, Visit) == 1


async def test_logs_hold_counts_only(sessions: Sessions) -> None:
    await add_visit(sessions, started_at=NOW - timedelta(days=40), name="Zelda Quixote")
    with structlog.testing.capture_logs() as logs:
        await purge_expired(sessions=sessions, before=CUTOFF, batch_size=10, dry_run=False)
    assert [entry["event"] for entry in logs] == ["retention_purged"]
    assert "Zelda" not in repr(logs) and "Acme" not in repr(logs)


def test_naive_cutoff_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        asyncio.run(purge_expired(sessions=None, before=datetime(2026, 1, 1),  # type: ignore[arg-type]
                                  batch_size=10, dry_run=True))


def test_next_run_is_local_time_and_strictly_later() -> None:
    tz = ZoneInfo("America/New_York")
    # 07:00 UTC on 22 Nov is 02:00 in New York: today's 03:30 local is 08:30 UTC.
    assert next_run_at(datetime(2026, 11, 22, 7, 0, tzinfo=UTC), "03:30", tz) == datetime(
        2026, 11, 22, 8, 30, tzinfo=UTC)
    # Exactly at the run time: the next run is tomorrow, so a quick purge does not repeat.
    assert next_run_at(datetime(2026, 11, 22, 8, 30, tzinfo=UTC), "03:30", tz) == datetime(
        2026, 11, 23, 8, 30, tzinfo=UTC)
    # Across the spring-forward change the UTC time moves by an hour.
    assert next_run_at(datetime(2026, 3, 8, 12, 0, tzinfo=UTC), "03:30", tz) == datetime(
        2026, 3, 9, 7, 30, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when the loop sleeps; it parks the loop past ``park_after``."""

    def __init__(self, now: datetime, *, park_after: timedelta) -> None:
        self.now = now
        self.slept: list[float] = []
        self.parked = asyncio.Event()
        self._park_at = now + park_after

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.now + timedelta(seconds=seconds) > self._park_at:
            self.parked.set()
            await asyncio.Event().wait()  # until the test cancels the loop
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_retention_loop_runs_daily_and_cancels(sessions: Sessions) -> None:
    settings = Settings.model_validate(
        {"site": {"timezone": "Europe/Berlin"}, "retention": {"days": 30, "run_daily_at": "03:30"}})
    # 02:00 in Berlin; parked during the wait for tomorrow's run.
    clock = FakeClock(datetime(2026, 11, 22, 1, 0, tzinfo=UTC), park_after=timedelta(hours=3))
    await add_visit(sessions, started_at=clock.now - timedelta(days=31))
    await add_visit(sessions, started_at=clock.now - timedelta(days=29))

    task = asyncio.create_task(
        retention_loop(sessions=sessions, settings=settings, clock=clock, sleep=clock.sleep),
        name="retention-test")
    try:
        await asyncio.wait_for(clock.parked.wait(), timeout=5)
        # 02:00 -> 03:30 Berlin is 90 minutes, slept in chunks of at most 15 minutes.
        assert sum(clock.slept[:6]) == 90 * 60 and max(clock.slept) <= 900
        assert await count(sessions, Visit) == 1  # the one 29 days old at 03:30 is kept
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
