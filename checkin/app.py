"""create_app(runtime) -> FastAPI: mounts the routers and owns background jobs; no logic."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog
from fastapi import FastAPI

from checkin import __version__, web
from checkin.api import health, slack, sms
from checkin.api import twilio as twilio_voice
from checkin.runtime import Runtime

log = structlog.get_logger(__name__)


def create_app(runtime: Runtime, *, background_jobs: bool = True) -> FastAPI:
    """The checkin web application for ``runtime``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if background_jobs:
            from checkin.jobs.retention import retention_loop

            tasks.append(asyncio.create_task(
                retention_loop(sessions=runtime.sessions, settings=runtime.settings),
                name="retention-daily",
            ))
            from checkin.outbox_worker import OutboxWorker

            worker = OutboxWorker(runtime.dispatcher, poll_s=runtime.settings.notify.poll_s)
            tasks.append(asyncio.create_task(worker.run(), name="outbox-worker"))
        log.info("service_started", version=__version__)
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await app.state.kiosk.aclose()  # ends open kiosk visits (checkin.web, issue 6)
            await runtime.aclose()

    app = FastAPI(title="checkin", version=__version__, lifespan=lifespan,
                  description="A voice receptionist for office lobbies.")
    app.state.runtime = runtime
    app.include_router(health.router)
    app.include_router(slack.router)  # host answers: Slack buttons and SMS replies (issue 5)
    app.include_router(sms.router)
    phone = twilio_voice.phone_channel(runtime)  # env: CHECKIN_PUBLIC_URL, TWILIO_*
    phone.announce()
    app.state.phone = phone  # /health shows its speech engines
    app.include_router(twilio_voice.make_router(phone))
    web.install(app, runtime)  # sign-in, visit log, dashboard, kiosk, /metrics (issue 6)
    return app
