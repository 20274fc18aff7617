"""``/api/dashboard``: "is the lobby working?" for facilities, from ``/health`` and visit counts.

No visitor or host names anywhere: only provider states, counts, rates and timings. Figures
that have no real measurement yet are ``null`` and the page says "no data". ``/metrics``
(``checkin.api.metrics``) exports the same figures. Imports: api.health, visits, web.auth.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from checkin.api.health import health as health_route
from checkin.visits import Notification, Visit
from checkin.web.auth import FacilitiesUserDep, SessionDep

router = APIRouter(prefix="/api", tags=["dashboard"])

OPEN_WINDOW = timedelta(minutes=30)  # an unended visit older than this is a lost session


class ProviderOut(BaseModel):
    """One provider's state (``status``: ok, failing, degraded, fallback, down, not_in_use...)."""

    name: str
    mode: str
    status: str
    last_success_at: str | None = None
    last_error_at: str | None = None
    last_error_code: str | None = None


class TodayOut(BaseModel):
    """Visits since local midnight."""

    visits: int
    ended: int
    checked_in: int
    transferred: int
    by_outcome: dict[str, int]
    success_rate: float | None
    transfer_rate: float | None


class LatencyOut(BaseModel):
    """Reply latency over the last hour, in ms (None: no measurement)."""

    count: int
    p50_ms: float | None
    p95_ms: float | None


class NotificationsOut(BaseModel):
    """Outbox health: delivery times of the last 24 h and what is waiting."""

    delivered_24h: int
    p50_s: float | None
    p95_s: float | None
    pending: int
    overdue: int
    sending: int
    failed_24h: int


class DashboardOut(BaseModel):
    """Everything the facilities page shows."""

    generated_at: datetime
    status: str
    providers: list[ProviderOut]
    calls_in_progress: dict[str, int]
    today: TodayOut
    latency: LatencyOut
    notifications: NotificationsOut


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)


async def _today(db: AsyncSession, midnight: datetime) -> TodayOut:
    rows = (await db.execute(select(Visit.outcome, func.count(Visit.id))
                             .where(Visit.started_at >= midnight).group_by(Visit.outcome))).all()
    by = {str(o or "open"): int(n) for o, n in rows}
    ended = sum(n for o, n in by.items() if o != "open")
    ok = by.get("checked_in", 0) + by.get("delivered", 0)
    moved = by.get("transferred", 0)
    return TodayOut(visits=sum(by.values()), ended=ended, checked_in=ok, transferred=moved,
                    by_outcome=by, success_rate=round(ok / ended, 3) if ended else None,
                    transfer_rate=round(moved / ended, 3) if ended else None)


async def _open_visits(db: AsyncSession, now: datetime) -> dict[str, int]:
    rows = (await db.execute(select(Visit.channel, func.count(Visit.id))
                             .where(Visit.ended_at.is_(None),
                                    Visit.started_at >= now - OPEN_WINDOW)
                             .group_by(Visit.channel))).all()
    return {str(c): int(n) for c, n in rows}


async def _notifications(db: AsyncSession, now: datetime) -> NotificationsOut:
    since = now - timedelta(hours=24)
    delivered = (await db.execute(select(Notification.created_at, Notification.delivered_at)
                                  .where(Notification.delivered_at.is_not(None),
                                         Notification.created_at >= since))).all()
    times = [(d - c).total_seconds() for c, d in delivered if c and d]

    async def count(*where: Any) -> int:
        query = select(func.count(Notification.id)).where(*where)
        return int(await db.scalar(query) or 0)

    return NotificationsOut(
        delivered_24h=len(times), p50_s=_percentile(times, 0.5), p95_s=_percentile(times, 0.95),
        pending=await count(Notification.status == "pending"),
        overdue=await count(Notification.status == "pending",
                            Notification.next_attempt_at < now - timedelta(minutes=1)),
        sending=await count(Notification.status == "sending"),
        failed_24h=await count(Notification.status == "failed", Notification.created_at >= since))


def _providers(health: dict[str, Any]) -> list[ProviderOut]:
    out = [ProviderOut(name="database", mode=str(health["database"].get("dialect", "")),
                       status=health["database"]["status"],
                       last_error_code=health["database"].get("error_type"))]
    for name, p in health["providers"].items():
        out.append(ProviderOut(name=name, mode=str(p.get("mode", "")), status=str(p["status"]),
                               last_success_at=p.get("last_success_at"),
                               last_error_at=p.get("last_error_at"),
                               last_error_code=p.get("last_error_code")))
    return out


async def dashboard_figures(request: Request, db: AsyncSession) -> DashboardOut:
    """Compute the dashboard (also used by ``/metrics``)."""
    runtime = request.app.state.runtime
    now: datetime = runtime.clock()
    midnight = now.astimezone(runtime.settings.tz).replace(hour=0, minute=0, second=0,
                                                           microsecond=0).astimezone(UTC)
    health = await health_route(request, Response())
    providers = _providers(health)
    if health["database"]["status"] != "ok":  # nothing else can be counted
        empty = TodayOut(visits=0, ended=0, checked_in=0, transferred=0, by_outcome={},
                         success_rate=None, transfer_rate=None)
        return DashboardOut(generated_at=now, status="degraded", providers=providers,
                            calls_in_progress={}, today=empty, latency=LatencyOut(
                                count=0, p50_ms=None, p95_ms=None),
                            notifications=NotificationsOut(delivered_24h=0, p50_s=None,
                                                           p95_s=None, pending=0, overdue=0,
                                                           sending=0, failed_24h=0))
    bad = {"failing", "down", "degraded", "fallback"}
    status = "degraded" if any(p.status in bad for p in providers) else "ok"
    return DashboardOut(
        generated_at=now, status=status, providers=providers,
        calls_in_progress=await _open_visits(db, now), today=await _today(db, midnight),
        latency=LatencyOut(**request.app.state.reply_latency.percentiles()),
        notifications=await _notifications(db, now))


@router.get("/dashboard", response_model=DashboardOut, summary="Lobby health for facilities")
async def dashboard(request: Request, db: SessionDep, who: FacilitiesUserDep) -> DashboardOut:
    """Provider states, visits in progress and today, latency and the notification outbox."""
    return await dashboard_figures(request, db)
