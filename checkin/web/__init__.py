"""The web faces of checkin: staff sign-in, the security visit log, the facilities dashboard,
the lobby kiosk, ``/metrics``; ``install(app)`` mounts them all on the FastAPI app.

Templates and static assets ship inside this package (no CDN at run time). Imports: api.visits,
api.dashboard, api.kiosk, api.metrics, web.*; ``checkin.app`` calls ``install``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from checkin.runtime import Runtime


def install(app: FastAPI, runtime: Runtime) -> None:
    """Add the pages, their JSON APIs, static assets and per-app state to ``app``."""
    from checkin.api import dashboard, kiosk, kiosk_replies, metrics, visits
    from checkin.web import pages
    from checkin.web.auth import SignInLimiter
    from checkin.web.latency import ReplyLatency

    registry = CollectorRegistry()
    app.state.metrics_registry = registry
    app.state.reply_latency = ReplyLatency(registry)
    app.state.sign_in_limiter = SignInLimiter()
    app.state.kiosk = kiosk.KioskVisits(runtime)
    for router in (visits.router, dashboard.router, kiosk.router, metrics.router, pages.router):
        app.include_router(router)
    app.include_router(kiosk_replies.router)  # the host's answer after check-in (issue 5)
    from checkin.api import kiosk_voice

    app.state.kiosk_voice = kiosk_voice.SpokenVisits()  # /kiosk/stream: the spoken kiosk
    app.include_router(kiosk_voice.router)
    from checkin.web import admin

    app.include_router(admin.router)  # users, tokens, settings for the admin role
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_exception_handler(StarletteHTTPException, _friendly_errors)  # type: ignore[arg-type]


async def _friendly_errors(request: Request, exc: StarletteHTTPException) -> Response:
    """HTML pages get an HTML error page; the JSON API keeps FastAPI's JSON errors."""
    wants_html = "text/html" in request.headers.get("accept", "")
    if not wants_html or request.url.path.startswith(("/api/", "/static/", "/voice/")) \
            or exc.status_code < 400:
        return await http_exception_handler(request, exc)
    from checkin.web.pages import templates

    site = request.app.state.runtime.settings.site.company
    response = templates.TemplateResponse(request, "error.html", {
        "who": None, "nav": [], "site": site, "csrf": "", "path": request.url.path,
        "status": exc.status_code, "detail": exc.detail}, status_code=exc.status_code)
    return response
