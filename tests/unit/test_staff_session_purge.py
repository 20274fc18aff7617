"""Expired staff sign-in sessions are deleted: by ``purge_expired_sessions`` and by the daily
retention loop (``resume_session`` already refuses them; this keeps the table small)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from checkin.config import Settings
from checkin.db import transaction, utcnow
from checkin.jobs.retention import retention_loop
from checkin.staff import (
    SESSION_IDLE,
    Role,
    StaffSession,
    create_user,
    purge_expired_sessions,
    start_session,
)

pytestmark = pytest.mark.unit


async def _session_rows(sessions) -> set[str]:
    async with sessions() as db:
        return set((await db.scalars(select(StaffSession.digest))).all())


async def _three_sessions(sessions) -> dict[str, str]:
    """A fresh, an expired and an idle session; returns label -> digest."""
    now = utcnow()
    async with transaction(sessions) as db:
        user = await create_user(session=db, email=f"u{now.timestamp()}@example.com",
                                 role=Role.SECURITY, password=None)
        rows = {}
        for label in ("fresh", "expired", "idle"):
            _, row = await start_session(session=db, user=user)
            if label == "expired":
                row.expires_at = now - timedelta(minutes=1)
            if label == "idle":
                row.last_seen_at = now - SESSION_IDLE - timedelta(minutes=1)
            rows[label] = row.digest
    return rows


async def test_expired_and_idle_sessions_are_purged_and_live_ones_kept(sessions) -> None:
    rows = await _three_sessions(sessions)
    async with transaction(sessions) as db:
        purged = await purge_expired_sessions(session=db)
    assert purged >= 2
    left = await _session_rows(sessions)
    assert rows["fresh"] in left and rows["expired"] not in left and rows["idle"] not in left
    async with transaction(sessions) as db:
        assert await purge_expired_sessions(session=db) == 0  # idempotent


class _Clock:
    """Starts just before the daily run; parks the loop once it has run."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 22, 2, 29, tzinfo=UTC)
        self.ran = asyncio.Event()

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.now.hour >= 3:  # past 03:30 Berlin = 02:30 UTC: the run is done
            self.ran.set()
            await asyncio.Event().wait()  # until the test cancels the loop
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


async def test_the_daily_retention_run_purges_expired_sessions(sessions) -> None:
    rows = await _three_sessions(sessions)
    settings = Settings.model_validate(
        {"site": {"timezone": "Europe/Berlin"}, "retention": {"run_daily_at": "03:30"}})
    clock = _Clock()
    task = asyncio.create_task(retention_loop(sessions=sessions, settings=settings,
                                              clock=clock, sleep=clock.sleep),
                               name="retention-sessions-test")
    try:
        await asyncio.wait_for(clock.ran.wait(), timeout=10)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    left = await _session_rows(sessions)
    assert rows["fresh"] in left and rows["expired"] not in left and rows["idle"] not in left
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(StaffSession)) >= 1
