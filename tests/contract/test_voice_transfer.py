"""Transfer on a live call: the real twilio SDK against a fake Twilio REST server."""

from __future__ import annotations

import pytest

from checkin.errors import ProviderError
from checkin.voice.control import TwilioCallControl, dial_twiml
from tests.fakeservers.fake_twilio_calls import FakeTwilioCalls

pytestmark = pytest.mark.contract

ACCOUNT = "AC" + "0" * 31 + "1"
CALL = "CA" + "1" * 32


def test_dial_twiml_rings_reception() -> None:
    xml = dial_twiml("+15557654321")
    assert '<Dial answerOnBridge="true" timeout="25"><Number>+15557654321</Number></Dial>' in xml


async def test_transfer_redirects_the_call_with_dial_twiml(monkeypatch) -> None:
    monkeypatch.delenv("TWILIO_REGION", raising=False)
    monkeypatch.delenv("TWILIO_EDGE", raising=False)
    async with FakeTwilioCalls() as fake:
        control = TwilioCallControl(account_sid=ACCOUNT, auth_token="tok", base_url=fake.url)
        await control.transfer(CALL, "+15557654321")
    [req] = fake.requests
    assert req["path"] == f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{CALL}.json"
    assert req["user"] == ACCOUNT
    assert "<Number>+15557654321</Number>" in req["form"]["Twiml"]


@pytest.mark.parametrize("status", [404, 500])
async def test_a_failed_redirect_raises_a_provider_error(status: int) -> None:
    async with FakeTwilioCalls(status=status) as fake:
        control = TwilioCallControl(account_sid=ACCOUNT, auth_token="tok", base_url=fake.url)
        with pytest.raises(ProviderError) as err:
            await control.transfer(CALL, "+15557654321")
    assert err.value.code in {"transfer-rejected", "transfer-failed"}


async def test_an_unreachable_api_raises_a_provider_error() -> None:
    control = TwilioCallControl(account_sid=ACCOUNT, auth_token="tok",
                                base_url="http://127.0.0.1:9", timeout_s=1.0)
    with pytest.raises(ProviderError):
        await control.transfer(CALL, "+15557654321")
