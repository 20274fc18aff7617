"""Browser tests: the app under uvicorn (in a thread) and Debian's chromium driven by Playwright.

``scripts/test`` installs ``chromium`` with apt-get; without it these tests are skipped.
Screenshots go to ``$CHECKIN_SCREENSHOTS`` or a temporary folder whose path is printed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from checkin.app import create_app
from checkin.config import load_settings
from checkin.db import make_engine, make_sessionmaker, transaction, utcnow
from checkin.migrate import upgrade_to_head
from checkin.runtime import Runtime, build_runtime
from checkin.staff import Role, create_user
from checkin.visits import Notification, Visit, VisitEvent

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).parents[2]
PASSWORD = "lobby-password-1"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


@dataclass
class Served:
    """The running app: its URL and runtime (tests may break a provider on it)."""

    url: str
    runtime: Runtime


async def _seed(url: str) -> None:
    engine = make_engine(url)
    now = utcnow()
    try:
        async with transaction(make_sessionmaker(engine)) as db:
            for email, role in (("sec@example.com", Role.SECURITY),
                                ("fac@example.com", Role.FACILITIES),
                                ("admin@example.com", Role.ADMIN)):
                await create_user(session=db, email=email, role=role, password=PASSWORD)
            rows = [("v1", "kiosk", 95, "checked_in", "Jane Doe", "Acme Corp", "Margaret Okafor"),
                    ("v2", "phone", 60, "transferred", "Bob Roe", "Initech", "Jon Whitaker"),
                    ("v3", "kiosk", 30, "checked_in", "Ana García", "Globex", "Sara Lindqvist"),
                    ("v4", "phone", 20, "no_answer", None, None, None)]
            for vid, channel, ago, outcome, name, company, host in rows:
                db.add(Visit(id=vid, channel=channel, started_at=now - timedelta(minutes=ago),
                             ended_at=now - timedelta(minutes=ago - 2), outcome=outcome,
                             state="COMPLETE", visitor_name=name, company=company,
                             host_name=host, purpose="Meeting" if name else None))
            await db.flush()
            trail = [("state_changed", "GREETING", {"event": "visitor_spoke",
                                                    "to": "IDENTIFY_HOST"}),
                     ("tool_called", "IDENTIFY_HOST", {"tool": "lookup_employee", "ok": True,
                                                       "code": "", "scores": [0.97]}),
                     ("state_changed", "IDENTIFY_HOST", {"event": "host_found",
                                                         "to": "CONFIRM_HOST"}),
                     ("host_replied", "NOTIFY_HOST", {"answer": "on my way",
                                                      "channel": "slack"})]
            for kind, state, data in trail:
                db.add(VisitEvent(visit_id="v1", kind=kind, state=state, data=data,
                                  at=now - timedelta(minutes=94)))
            db.add(Notification(id="n1", visit_id="v1", host_employee_id="NW001",
                                channel="slack", status="delivered", attempts=1,
                                payload={"visitor_name": "Jane Doe",
                                         "host": {"name": "Margaret Okafor"}},
                                created_at=now - timedelta(minutes=94),
                                delivered_at=now - timedelta(minutes=94) + timedelta(seconds=2)))
    finally:
        await engine.dispose()


def _in_thread(coro: Any) -> None:
    """Run a coroutine to completion on its own loop (pytest-asyncio may own this thread's)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as err:  # re-raised in the test thread below
            errors.append(err)

    worker = threading.Thread(target=run, name="seed")
    worker.start()
    worker.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the browser tests write their screenshots."""
    chosen = os.environ.get("CHECKIN_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def served(new_database, tmp_path_factory) -> Iterator[Served]:
    """The app on 127.0.0.1 with three staff accounts and a few visits."""
    url = new_database("sqlite")
    upgrade_to_head(url)
    _in_thread(_seed(url))
    tmp = tmp_path_factory.mktemp("web")
    config = tmp / "config.yaml"
    config.write_text("site:\n  company: Northwind Labs\n  timezone: UTC\n", encoding="utf-8")
    settings = load_settings(config, {"CHECKIN_DATABASE_URL": url,
                                      "CHECKIN_BADGE_DIR": str(tmp / "badges")})
    runtime = build_runtime(settings, directory_file=ROOT / "checkin/demo/directory.csv")
    app = create_app(runtime, background_jobs=False)
    # loop="asyncio" as under `checkin serve`: with uvloop a subprocess's stdout is a socket,
    # and flite cannot open /dev/stdout on it (the spoken kiosk synthesises with flite).
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                           lifespan="on", loop="asyncio"))
    thread = threading.Thread(target=server.run, name="uvicorn-browser-tests", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}", runtime)
    server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, with a fresh temporary profile per launch."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/test installs it with apt-get)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, served):
    """A new desktop-sized tab with its own cookies."""
    context = browser.new_context(viewport={"width": 1280, "height": 860}, base_url=served.url,
                                  accept_downloads=True)
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def sign_in(page, email: str) -> None:
    """Fill the sign-in form and wait for the landing page."""
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("form.signout")
