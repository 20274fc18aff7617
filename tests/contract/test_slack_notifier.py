"""SlackNotifier with the real slack-sdk AsyncWebClient against the fake Slack Web API."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from checkin.errors import (
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from checkin.notify.chain import RetryingNotifier
from checkin.notify.slack import SlackNotifier
from checkin.providers import HostNote, HostRef
from tests.fakeservers.fake_slack import TOKEN, FakeSlack

pytestmark = pytest.mark.contract

HOST = HostRef(employee_id="E1", name="Sarah Chen", email="sarah@example.test", slack_id="UE1")
NOTE = HostNote(visit_id="v1", notification_id="n" * 32, visitor_name="Alex Rivera",
                company="Globex", purpose="Interview", arrived_at=datetime(2026, 3, 18, 14, 50,
                                                                           tzinfo=UTC))


@pytest.fixture
def slack():
    with FakeSlack(users={"sarah@example.test": "UE1"}) as fake:
        yield fake


@pytest.fixture
async def notifier(slack):
    n = SlackNotifier(token=TOKEN, base_url=slack.api_url, timeout_s=2)
    yield n
    await n.aclose()


async def test_the_host_gets_a_dm_with_who_what_when_and_four_buttons(slack, notifier):
    receipt = await notifier.notify_host(HOST, NOTE)

    (call,) = slack.calls("chat.postMessage")
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.params["channel"] == "UE1"
    assert call.params["text"] == "Alex Rivera from Globex is waiting for you in the lobby"
    section, actions = call.params["blocks"]
    assert section["text"]["text"] == "*Alex Rivera* from Globex is waiting for you in the lobby."
    assert [f["text"] for f in section["fields"]] == [
        "*Purpose*\nInterview", "*Arrived*\n<!date^1773845400^{time}|14:50 UTC>"]
    assert actions["block_id"] == "checkin:" + NOTE.notification_id
    assert [(b["action_id"], b["text"]["text"], b["value"], b.get("style"))
            for b in actions["elements"]] == [
        ("checkin_coming", "On my way", NOTE.notification_id, "primary"),
        ("checkin_wait_5", "Please wait 5 minutes", NOTE.notification_id, None),
        ("checkin_cannot_come", "I can't come", NOTE.notification_id, "danger"),
        ("checkin_left", "They've left", NOTE.notification_id, None),
    ]
    assert call.params["metadata"]["event_payload"] == {"notification_id": NOTE.notification_id}
    assert receipt.channel == "slack" and receipt.reference.startswith("DE1:")


async def test_a_host_without_a_slack_id_is_found_by_email(slack, notifier):
    await notifier.notify_host(HostRef("E1", "Sarah Chen", email="sarah@example.test"), NOTE)
    await notifier.notify_host(HostRef("E1", "Sarah Chen", email="sarah@example.test"), NOTE)
    assert len(slack.calls("users.lookupByEmail")) == 1  # cached: ids do not change
    assert [c.params["channel"] for c in slack.calls("chat.postMessage")] == ["UE1", "UE1"]


async def test_a_host_slack_does_not_know_is_rejected_for_good(slack, notifier):
    with pytest.raises(ProviderRejected) as err:
        await notifier.notify_host(HostRef("E9", "Nobody", email="nobody@example.test"), NOTE)
    assert err.value.code == "slack-no-user" and not err.value.retryable
    with pytest.raises(ProviderRejected, match="slack-no-user"):
        await notifier.notify_host(HostRef("E9", "Nobody"), NOTE)
    assert slack.posted() == []


async def test_429_is_rate_limited_with_slacks_retry_after(slack, notifier):
    slack.fail_next("chat.postMessage", 429, retry_after=7)
    with pytest.raises(ProviderRateLimited) as err:
        await notifier.notify_host(HOST, NOTE)
    assert err.value.retry_after_s == 7 and err.value.code == "slack-rate-limited"
    assert slack.posted() == []


async def test_500_and_a_bad_token_are_told_apart(slack, notifier):
    slack.fail_next("chat.postMessage", 500)
    with pytest.raises(ProviderUnavailable, match="slack-unavailable"):
        await notifier.notify_host(HOST, NOTE)
    bad = SlackNotifier(token="xoxb-wrong", base_url=slack.api_url, timeout_s=2)
    try:
        with pytest.raises(ProviderRejected, match="slack-invalid-auth"):
            await bad.notify_host(HOST, NOTE)
    finally:
        await bad.aclose()


async def test_a_retry_after_a_lost_answer_finds_the_posted_message_instead_of_reposting(
        slack, notifier):
    slack.hold("chat.postMessage", seconds=5)  # Slack posts it, the answer never arrives
    quick = SlackNotifier(token=TOKEN, base_url=slack.api_url, timeout_s=0.5)
    try:
        with pytest.raises(ProviderTimeout):
            await quick.notify_host(HOST, NOTE)
    finally:
        await quick.aclose()
        slack.release()
    receipt = await notifier.notify_host(HOST, NOTE.__class__(**{**_fields(NOTE), "attempt": 2}))

    assert len(slack.posted()) == 1
    assert receipt.reference == f"DE1:{slack.posted()[0]['ts']}"
    assert len(slack.calls("conversations.history")) == 1


async def test_retrying_notifier_retries_a_500_without_double_posting(slack, notifier):
    slack.fail_next("chat.postMessage", 500)
    retrying = RetryingNotifier(notifier, attempts=3, wait_initial_s=0.01, wait_max_s=0.02)
    await retrying.notify_host(HOST, NOTE)
    assert len(slack.posted()) == 1
    assert len(slack.calls("conversations.history")) == 1  # the second try looked first


async def test_retrying_notifier_waits_out_a_short_retry_after(slack, notifier):
    slack.fail_next("chat.postMessage", 429, retry_after=0.2)
    retrying = RetryingNotifier(notifier, attempts=3, max_inline_wait_s=1.0)
    await retrying.notify_host(HOST, NOTE)
    first, second = slack.calls("chat.postMessage")
    assert (first.status, second.status) == (429, 200) and len(slack.posted()) == 1


async def test_retrying_notifier_hands_a_long_retry_after_back_to_the_outbox(slack, notifier):
    slack.fail_next("chat.postMessage", 429, retry_after=30)
    retrying = RetryingNotifier(notifier, attempts=3, max_inline_wait_s=1.0)
    with pytest.raises(ProviderRateLimited):
        await retrying.notify_host(HOST, NOTE)
    assert len(slack.calls("chat.postMessage")) == 1


async def test_show_answer_replaces_the_buttons_but_keeps_theyve_left(slack, notifier):
    receipt = await notifier.notify_host(HOST, NOTE)
    channel, ts = receipt.reference.split(":")
    blocks = slack.posted()[0]["blocks"]
    await notifier.show_answer(channel=channel, ts=ts, blocks=blocks, answer="coming",
                               user_id="UE1")
    updated = slack.posted()[0]
    assert updated["updated"] and [b["type"] for b in updated["blocks"]] == [
        "section", "actions", "context"]
    # The host answered "On my way"; "They've left" stays for when the visitor goes.
    assert [e["action_id"] for e in updated["blocks"][1]["elements"]] == ["checkin_left"]
    assert "On my way" in updated["blocks"][2]["elements"][0]["text"]

    await notifier.show_answer(channel=channel, ts=ts, blocks=updated["blocks"], answer="left",
                               user_id="UE1")
    final = slack.posted()[0]
    assert [b["type"] for b in final["blocks"]] == ["section", "context", "context"]
    assert "They've left" in final["blocks"][2]["elements"][0]["text"]


def _fields(note: HostNote) -> dict:
    return {f: getattr(note, f) for f in note.__dataclass_fields__}
