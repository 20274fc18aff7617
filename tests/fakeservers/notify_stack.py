"""Helpers for notification tests: settings aimed at the fakes, and a queued host notification."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from checkin.config import Settings, load_settings
from checkin.db import transaction, utcnow
from checkin.visits import add_notification, create_visit
from tests.fakeservers.fake_slack import SIGNING_SECRET, TOKEN, FakeSlack
from tests.fakeservers.fake_twilio_rest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    FakeTwilioRest,
)

PUBLIC_URL = "https://lobby.example.test"
SARAH = {"employee_id": "E1", "name": "Sarah Chen", "email": "sarah@example.test",
         "phone": "+1-555-0101", "slack_id": "UE1"}


def notify_env(database_url: str, tmp_path: Path, *, slack: FakeSlack | None = None,
               twilio: FakeTwilioRest | None = None, notifier: str = "slack",
               config: str = "", **extra: str) -> dict[str, str]:
    """The environment ``checkin serve`` would get, aimed at the fakes.

    ``config`` is YAML added to the config file (e.g. a ``notify:`` section).
    """
    env = {"CHECKIN_DATABASE_URL": database_url, "CHECKIN_BADGE_DIR": str(tmp_path / "badges"),
           "CHECKIN_NOTIFIER": notifier, "CHECKIN_PUBLIC_URL": PUBLIC_URL,
           "CHECKIN_CONFIG": str(_config(tmp_path, config))}
    if slack is not None:
        env.update(SLACK_BOT_TOKEN=TOKEN, SLACK_SIGNING_SECRET=SIGNING_SECRET,
                   SLACK_API_URL=slack.api_url)
    if twilio is not None:
        env.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                   TWILIO_FROM_NUMBER=FROM_NUMBER, TWILIO_API_BASE_URL=twilio.url)
    env.update(extra)
    return env


def _config(tmp_path: Path, extra: str) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\n" + extra, encoding="utf-8")
    return config


def notify_settings(database_url: str, tmp_path: Path, **kwargs: Any) -> Settings:
    """``Settings`` from ``notify_env``."""
    env = notify_env(database_url, tmp_path, **kwargs)
    return load_settings(env["CHECKIN_CONFIG"], env)


async def queue_notification(sessions: Any, *, host: dict[str, str] | None = None
                             ) -> tuple[str, str]:
    """A visit with one pending host notification, as the notify_host tool writes it."""
    async with transaction(sessions) as db:
        visit = await create_visit(session=db, channel="chat")
        note = add_notification(session=db, visit=visit, host_employee_id="E1", channel="slack",
                                payload={"visitor_name": "Alex Rivera", "company": "Globex",
                                         "purpose": "Interview",
                                         "arrived_at": utcnow().isoformat(),
                                         "host": host or SARAH})
    return visit.id, note.id
