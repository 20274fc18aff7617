"""``/metrics``: the dashboard's figures in the Prometheus text format (prometheus-client).

Counts and timings only, no names, so it is served without sign-in like ``/health``; restrict
it at the proxy if the scrape should not be public (``deploy/prometheus.yml``). Gauges are
computed at scrape time from the database; the reply-latency histogram accumulates in the app's
own ``CollectorRegistry`` (never the global one, so several apps in one test process do not
collide). Imports: api.dashboard, web.auth.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest

from checkin.api.dashboard import dashboard_figures
from checkin.web.auth import SessionDep

router = APIRouter(tags=["dashboard"])

STATUS_UP = {"ok": 1, "not_in_use": 1, "not_configured": 1}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics",
            responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, db: SessionDep) -> PlainTextResponse:
    """Provider up/down, visits today by outcome, open visits, outbox backlog, latency."""
    d = await dashboard_figures(request, db)
    scrape = CollectorRegistry()
    up = Gauge("checkin_provider_up", "1 when the provider works (or is not in use)",
               ["provider", "mode"], registry=scrape)
    for p in d.providers:
        up.labels(provider=p.name, mode=p.mode).set(STATUS_UP.get(p.status, 0))
    today = Gauge("checkin_visits_today", "Visits since local midnight by outcome",
                  ["outcome"], registry=scrape)
    for outcome, n in d.today.by_outcome.items():
        today.labels(outcome=outcome).set(n)
    open_now = Gauge("checkin_visits_in_progress", "Visits not ended yet, by channel",
                     ["channel"], registry=scrape)
    for channel, n in d.calls_in_progress.items():
        open_now.labels(channel=channel).set(n)
    outbox = Gauge("checkin_notifications", "Outbox rows by state", ["state"], registry=scrape)
    for state in ("pending", "overdue", "sending", "failed_24h", "delivered_24h"):
        outbox.labels(state=state).set(getattr(d.notifications, state))
    if d.notifications.p95_s is not None:
        Gauge("checkin_notification_delivery_p95_seconds", "95th percentile delivery time, 24 h",
              registry=scrape).set(d.notifications.p95_s)
    body = generate_latest(scrape) + generate_latest(request.app.state.metrics_registry)
    return PlainTextResponse(body.decode(), media_type=CONTENT_TYPE_LATEST)
