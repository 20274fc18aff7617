"""Notification settings: secrets from the environment only, fail fast, the chain they build."""

from __future__ import annotations

import io

import pytest
from structlog.testing import capture_logs

from checkin.config import load_settings
from checkin.delivery import OutboxDispatcher
from checkin.errors import ConfigError
from checkin.host_replies import record_host_reply
from checkin.notify.chain import FallbackNotifier
from checkin.notify.offline import ConsoleNotifier
from checkin.notify.reception import NotifierReceptionAlert
from checkin.notify.setup import build_notifications
from tests.fakeservers.notify_stack import queue_notification

pytestmark = pytest.mark.unit

SLACK = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
TWILIO = {"TWILIO_ACCOUNT_SID": "AC1", "TWILIO_AUTH_TOKEN": "t", "TWILIO_FROM_NUMBER": "+1555"}


def settings(tmp_path, text="", **env):
    config = tmp_path / "config.yaml"
    config.write_text(text or "site:\n  company: T\n", encoding="utf-8")
    return load_settings(config, env)


@pytest.mark.parametrize(("notifier", "env", "missing"), [
    ("slack", {}, "SLACK_BOT_TOKEN"),
    ("slack", {"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ("sms", {"TWILIO_ACCOUNT_SID": "AC1"}, "TWILIO_AUTH_TOKEN"),
])
def test_a_chosen_notifier_without_credentials_stops_start_up(tmp_path, notifier, env, missing):
    with pytest.raises(ConfigError, match=missing):
        settings(tmp_path, CHECKIN_NOTIFIER=notifier, **env)


def test_secrets_in_the_config_file_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="environment"):
        settings(tmp_path, "credentials:\n  slack_bot_token: xoxb-1\n")


def test_unknown_notify_keys_are_refused_and_defaults_hold(tmp_path):
    with pytest.raises(ConfigError, match="notify.escalate_after_minutes: unknown key"):
        settings(tmp_path, "notify:\n  escalate_after_minutes: 3\n")
    s = settings(tmp_path, SLACK_API_URL="http://127.0.0.1:9/api/", **SLACK)
    assert s.notify.escalate_after_min == 2 and s.notify.slack_api_url.endswith("/api/")
    assert "xoxb-1" not in repr(s)  # SecretStr


def test_slack_with_twilio_credentials_falls_back_to_sms_and_reception_is_told(tmp_path):
    s = settings(tmp_path, "notify:\n  reception:\n    slack_channel: C0DESK\n",
                 CHECKIN_NOTIFIER="slack", **SLACK, **TWILIO)
    stack = build_notifications(s, io.StringIO())
    assert stack.channels == ("slack", "sms")
    assert isinstance(stack.notifier, FallbackNotifier)
    assert isinstance(stack.reception, NotifierReceptionAlert)


def test_offline_stays_offline_and_fallback_can_be_switched_off(tmp_path):
    assert isinstance(build_notifications(settings(tmp_path, **SLACK), io.StringIO()).notifier,
                      ConsoleNotifier)
    s = settings(tmp_path, "notify:\n  fallback: false\n", CHECKIN_NOTIFIER="sms", **SLACK,
                 **TWILIO)
    assert build_notifications(s, io.StringIO()).channels == ("sms",)


async def test_delivery_and_answers_log_ids_and_codes_but_no_names(sessions):
    out = io.StringIO()
    with capture_logs() as logs:
        _, nid = await queue_notification(sessions)
        await OutboxDispatcher(sessions, ConsoleNotifier(out, show_names=False)).dispatch(nid)
        await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                                source="slack", dedupe_key="k")
    text = repr(logs) + out.getvalue()
    assert {e["event"] for e in logs} >= {"host_notified", "host_replied"}
    # Whole strings: a fragment such as "555" can turn up inside a random hex id.
    for secret in ("Alex", "Rivera", "Sarah", "Globex", "555-0101", "15550101", "example.test"):
        assert secret not in text
