"""The Twilio webhook and the stream handshake under uvicorn: TwiML, signatures, 403s."""

from __future__ import annotations

import httpx
import pytest
import websockets
from structlog.testing import capture_logs
from twilio.request_validator import RequestValidator

from checkin.app import create_app
from tests.e2e.phone_support import PUBLIC, TOKEN, phone_env, phone_runtime, stream_url
from tests.e2e.test_serve import serving

pytestmark = pytest.mark.e2e

FORM = {"AccountSid": "AC" + "0" * 31 + "1", "CallSid": "CA" + "1" * 32, "CallStatus": "ringing",
        "Direction": "inbound", "From": "+15551230000", "To": "+15559870000"}


def signed(url: str, form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, form)}


async def test_incoming_call_answers_connect_stream_with_parameters(
        database_url, tmp_path, monkeypatch) -> None:
    phone_env(monkeypatch)
    app = create_app(phone_runtime(tmp_path, database_url), background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/voice/incoming", data=FORM,
                              headers=signed(f"{PUBLIC}/voice/incoming", FORM))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert r.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        '<Stream url="wss://bot.example.test/voice/stream">'
        '<Parameter name="site" value="Test Lobby" /><Parameter name="channel" value="phone" />'
        "</Stream></Connect></Response>")


@pytest.mark.parametrize("headers", [{}, {"X-Twilio-Signature": "bm9wZQ=="}])
async def test_unsigned_or_badly_signed_webhooks_get_403_and_nothing_else(
        database_url, tmp_path, monkeypatch, headers) -> None:
    phone_env(monkeypatch)
    runtime = phone_runtime(tmp_path, database_url)
    app = create_app(runtime, background_jobs=False)
    with capture_logs() as logs:
        async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
            r = await client.post("/voice/incoming", data=FORM, headers=headers)
            # Signed for another URL (the proxy's, not the public one) is wrong too.
            wrong = await client.post("/voice/incoming", data=FORM,
                                      headers=signed(f"{base}/voice/incoming", FORM))
    assert r.status_code == 403 and r.content == b""
    assert wrong.status_code == 403
    assert "call_incoming" not in [e["event"] for e in logs]
    assert "+15551230000" not in repr(logs)


async def test_the_stream_handshake_needs_twilios_signature(
        database_url, tmp_path, monkeypatch) -> None:
    phone_env(monkeypatch)
    app = create_app(phone_runtime(tmp_path, database_url), background_jobs=False)
    async with serving(app) as base:
        with pytest.raises(websockets.InvalidStatus) as err:
            async with websockets.connect(stream_url(base),
                                          additional_headers={"X-Twilio-Signature": "bad"}):
                pass
        assert err.value.response.status_code == 403
        good = signed(f"{PUBLIC.replace('https', 'wss')}/voice/stream", {})
        async with websockets.connect(stream_url(base), additional_headers=good) as ws:
            await ws.close()


async def test_signatures_off_is_allowed_for_development_and_said_loudly(
        database_url, tmp_path, monkeypatch, capsys) -> None:
    phone_env(monkeypatch, signatures="off")
    app = create_app(phone_runtime(tmp_path, database_url), background_jobs=False)
    assert "CHECKIN_TWILIO_SIGNATURES=off" in capsys.readouterr().err
    async with serving(app) as base, httpx.AsyncClient(base_url=base) as client:
        r = await client.post("/voice/incoming", data=FORM)
    assert r.status_code == 200
