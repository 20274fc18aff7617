"""``/health``: cheap, secret-free status for load balancers and the facilities dashboard."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from checkin import __version__
from checkin.delivery import outbox_health
from checkin.visits import llm_usage_totals

router = APIRouter()


@router.get("/health", summary="Service health: database and each provider")
async def health(request: Request, response: Response) -> dict[str, Any]:
    """200 when the database answers, 503 when it does not; providers listed with their mode."""
    runtime = request.app.state.runtime
    started = time.perf_counter()
    database: dict[str, Any] = {"status": "ok"}
    try:
        async with runtime.sessions() as db:
            await db.execute(text("SELECT 1"))
        database["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    except Exception as err:  # any driver error means "down"; the type is enough to act on
        database = {"status": "down", "error_type": type(err).__name__}
        response.status_code = 503
    database["dialect"] = runtime.engine.dialect.name
    p = runtime.settings.providers
    providers = {
        "stt": {"mode": p.stt, "status": "not_in_use"},
        "tts": {"mode": p.tts, "status": "not_in_use"},
        "llm": {"mode": p.llm, "status": "ok"},
        "notifier": {"mode": p.notifier, "status": "ok"},
        "printer": {"mode": p.printer, "status": "ok"},
        "calendar": {"mode": p.calendar if runtime.calendar else "none",
                     "status": "ok" if runtime.calendar else "not_configured"},
    }
    phone = getattr(request.app.state, "phone", None)
    if phone is not None:  # speech engines: engine, fallback, status, last error code
        for role, state in phone.health().items():
            providers[role].update(state)
    printer_status = getattr(runtime, "printer_status", None)
    if printer_status is not None:  # ok | failing, last success and last error code (no names)
        providers["printer"].update(printer_status.snapshot())
    claude = getattr(runtime, "claude", None)
    if claude is not None:  # model and circuit breaker; an open breaker means "rules answer"
        providers["llm"].update(claude.health())
        if providers["llm"]["breaker"]["state"] != "closed":
            providers["llm"]["status"] = "fallback"
    notify = getattr(runtime, "notify", None)
    if notify is not None:  # the delivery chain, and the outbox backlog as counts only
        providers["notifier"]["channels"] = list(notify.channels)
        if database["status"] == "ok":
            outbox = await outbox_health(sessions=runtime.sessions)
            providers["notifier"]["outbox"] = outbox
            if outbox["overdue"] or outbox["failed_24h"]:
                providers["notifier"]["status"] = "degraded"
    body = {"status": "ok" if database["status"] == "ok" else "degraded", "version": __version__,
            "database": database, "providers": providers}
    if database["status"] == "ok":
        body["llm_usage"] = await _llm_usage(runtime)
    return body


async def _llm_usage(runtime: Any) -> dict[str, Any]:
    """Tokens and cost summed over today's visits (site time) and all retained visits."""
    now: datetime = runtime.clock().astimezone(runtime.settings.tz)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    async with runtime.sessions() as db:
        return {"today": await llm_usage_totals(session=db, since=midnight.astimezone(UTC)),
                "retained": await llm_usage_totals(session=db)}
