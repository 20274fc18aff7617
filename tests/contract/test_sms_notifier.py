"""TwilioSmsNotifier with the real twilio client against the fake Twilio REST API; the chain."""

from __future__ import annotations

from dataclasses import replace

import pytest

from checkin.errors import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from checkin.notify.chain import FallbackNotifier, RetryingNotifier
from checkin.notify.slack import SlackNotifier
from checkin.notify.sms import TwilioSmsNotifier, body_for
from checkin.providers import HostNote, HostRef
from tests.fakeservers.fake_slack import TOKEN, FakeSlack
from tests.fakeservers.fake_twilio_rest import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilioRest

pytestmark = pytest.mark.contract

HOST = HostRef(employee_id="E1", name="Sarah Chen", phone="+1-555-0101", slack_id="UE1")
NOTE = HostNote(visit_id="v1", notification_id="abcdef12" + "0" * 24,
                visitor_name="Alex Rivera", company="Globex", purpose="Interview")


@pytest.fixture
def twilio():
    with FakeTwilioRest() as fake:
        yield fake


def sms_notifier(twilio, *, token=AUTH_TOKEN, timeout_s=2.0) -> TwilioSmsNotifier:
    return TwilioSmsNotifier(account_sid=ACCOUNT_SID, auth_token=token, from_number=FROM_NUMBER,
                             base_url=twilio.url, timeout_s=timeout_s)


@pytest.fixture
async def sms(twilio):
    n = sms_notifier(twilio)
    yield n
    await n.aclose()


async def test_the_host_gets_a_text_with_the_reply_menu(twilio, sms):
    receipt = await sms.notify_host(HOST, NOTE)
    (call,) = twilio.calls("Messages")
    assert call.method == "POST" and call.path.endswith(f"/Accounts/{ACCOUNT_SID}/Messages.json")
    assert call.params == {"To": "+15550101", "From": FROM_NUMBER, "Body": body_for(NOTE)}
    assert call.params["Body"] == (
        "Alex Rivera (Globex) is waiting for you in the lobby. Purpose: Interview. "
        "Reply 1 = on my way, 2 = please wait 5 min, 3 = I can't come, 4 = they've left. "
        "[ref abcdef12]")
    assert receipt.channel == "sms" and receipt.reference == twilio.messages[0]["sid"]


async def test_no_phone_and_bad_credentials_are_rejected_for_good(twilio, sms):
    with pytest.raises(ProviderRejected, match="sms-no-phone"):
        await sms.notify_host(replace(HOST, phone=""), NOTE)
    bad = sms_notifier(twilio, token="wrong")
    try:
        with pytest.raises(ProviderRejected, match="sms-auth-failed"):
            await bad.notify_host(HOST, NOTE)
    finally:
        await bad.aclose()
    assert twilio.messages == []


async def test_429_carries_retry_after_and_500_is_retryable(twilio, sms):
    twilio.fail_next("Messages", 429, retry_after=9)
    with pytest.raises(ProviderRateLimited) as err:
        await sms.notify_host(HOST, NOTE)
    assert err.value.retry_after_s == 9
    twilio.fail_next("Messages", 500)
    with pytest.raises(ProviderUnavailable, match="sms-unavailable"):
        await sms.notify_host(HOST, NOTE)
    assert twilio.messages == []


async def test_a_retry_after_a_lost_answer_finds_the_sent_text(twilio, sms):
    twilio.hold("Messages", seconds=5)
    quick = sms_notifier(twilio, timeout_s=0.5)
    try:
        with pytest.raises(Exception):  # noqa: B017  (a timeout, however it surfaces)
            await quick.notify_host(HOST, NOTE)
    finally:
        await quick.aclose()
        twilio.release()
    receipt = await sms.notify_host(HOST, replace(NOTE, attempt=2))
    assert len(twilio.messages) == 1 and receipt.reference == twilio.messages[0]["sid"]


async def test_slack_down_falls_back_to_sms_once(twilio, sms):
    with FakeSlack() as slack:
        slack_notifier = SlackNotifier(token=TOKEN, base_url=slack.api_url, timeout_s=2)
        slack.fail_next("chat.postMessage", 500, times=3)
        chain = FallbackNotifier(
            [RetryingNotifier(slack_notifier, attempts=3, wait_initial_s=0.01, wait_max_s=0.02),
             RetryingNotifier(sms, attempts=3, wait_initial_s=0.01, wait_max_s=0.02)],
            names=["slack", "sms"])
        try:
            receipt = await chain.notify_host(HOST, NOTE)
        finally:
            await slack_notifier.aclose()
        assert receipt.channel == "sms" and len(twilio.messages) == 1
        assert slack.posted() == [] and len(slack.calls("chat.postMessage")) == 3


async def test_both_down_raises_retryable_and_both_refusing_raises_host_unreachable(twilio, sms):
    twilio.fail_next("Messages", 500)
    with FakeSlack() as slack:
        slack_notifier = SlackNotifier(token=TOKEN, base_url=slack.api_url, timeout_s=2)
        slack.fail_next("chat.postMessage", 500)
        chain = FallbackNotifier([slack_notifier, sms])
        try:
            with pytest.raises(ProviderUnavailable) as err:
                await chain.notify_host(HOST, NOTE)
            assert err.value.retryable
            with pytest.raises(ProviderRejected, match="host-unreachable"):
                await chain.notify_host(HostRef("E7", "Nora Lane"), NOTE)
        finally:
            await slack_notifier.aclose()
