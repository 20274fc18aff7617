"""``POST /sms/incoming`` under uvicorn: Twilio signatures, replies 1-4, repeated webhooks."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import select

from checkin.app import create_app
from checkin.db import Base
from checkin.runtime import build_runtime
from checkin.visits import Notification, VisitEvent
from tests.e2e.test_serve import serving
from tests.fakeservers.fake_twilio_rest import FakeTwilioRest, inbound, signed_sms
from tests.fakeservers.notify_stack import PUBLIC_URL, notify_settings, queue_notification

pytestmark = pytest.mark.contract

URL = f"{PUBLIC_URL}/sms/incoming"


@pytest.fixture
def twilio():
    with FakeTwilioRest() as fake:
        yield fake


@pytest.fixture
async def service(database_url, tmp_path, twilio):
    runtime = build_runtime(notify_settings(database_url, tmp_path, twilio=twilio,
                                            notifier="sms"))
    async with runtime.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    app = create_app(runtime, background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield runtime, client


async def texted_sarah(runtime, twilio) -> tuple[str, str]:
    visit_id, nid = await queue_notification(runtime.sessions)
    await runtime.dispatcher.dispatch(nid)
    assert [m["to"] for m in twilio.messages] == ["+15550101"]
    return visit_id, nid


async def post(client, form, *, sign=True, url=URL):
    headers = signed_sms(url, form) if sign else {
        "Content-Type": "application/x-www-form-urlencoded"}
    return await client.post("/sms/incoming", content=urlencode(form), headers=headers)


async def answers(runtime, visit_id) -> list[str]:
    async with runtime.sessions() as db:
        events = (await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == visit_id, VisitEvent.kind == "host_replied"))).all()
    return [e.data["answer"] for e in events]


async def test_reply_1_tells_the_visitor_the_host_is_coming(service, twilio):
    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    news = runtime.host_replies.updates(visit_id)
    response = await post(client, inbound(sid="SM1", from_="+15550101", body=" 1 "))
    assert response.status_code == 200
    assert "<Message>Thanks, your visitor has been told.</Message>" in response.text
    reply = await asyncio.wait_for(anext(news), timeout=2)
    assert reply.sentence() == "Sarah is on the way."
    await news.aclose()


async def test_a_repeated_webhook_records_one_answer_and_confirms_once(service, twilio):
    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    first = await post(client, inbound(sid="SM2", from_="+15550101", body="2"))
    again = await post(client, inbound(sid="SM2", from_="+15550101", body="2"))
    assert "<Message>" in first.text and "<Message>" not in again.text
    assert await answers(runtime, visit_id) == ["wait_5"]


async def test_i_cannot_come_by_sms_queues_reception(service, twilio):
    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    await post(client, inbound(sid="SM3", from_="+15550101", body="3"))
    assert await answers(runtime, visit_id) == ["cannot_come"]
    async with runtime.sessions() as db:
        kinds = [n.payload.get("kind", "host") for n in (await db.scalars(
            select(Notification).where(Notification.visit_id == visit_id))).all()]
    assert sorted(kinds) == ["host", "reception"]


@pytest.mark.parametrize("tamper", ["unsigned", "other-url", "edited"])
async def test_webhooks_twilio_did_not_sign_are_refused(service, twilio, tamper):
    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    form = inbound(sid="SM4", from_="+15550101", body="1")
    if tamper == "edited":
        headers = signed_sms(URL, form)
        form["Body"] = "3"
        response = await client.post("/sms/incoming", content=urlencode(form), headers=headers)
    else:
        response = await post(client, form, sign=tamper != "unsigned",
                              url="https://elsewhere.example.test/sms/incoming")
    assert response.status_code == 403
    assert await answers(runtime, visit_id) == []


async def test_other_texts_get_the_menu_and_strangers_get_a_polite_no(service, twilio):
    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    menu = await post(client, inbound(sid="SM5", from_="+15550101", body="who is it?"))
    assert "Reply 1 = on my way" in menu.text
    stranger = await post(client, inbound(sid="SM6", from_="+15550199", body="1"))
    assert "no visitor waiting" in stranger.text
    assert await answers(runtime, visit_id) == []


async def test_reply_4_checks_the_visitor_out(service, twilio):
    # Issue 5: "4" = they've left. The visit is checked out (visit_log.check_out), the answer
    # is a visit event, a repeat changes nothing, and a waiting channel hears nothing of it.
    from checkin.host_replies import visitor_replies
    from checkin.visits import Visit

    runtime, client = service
    visit_id, _ = await texted_sarah(runtime, twilio)
    first = await post(client, inbound(sid="SM40", from_="+15550101", body="4"))
    again = await post(client, inbound(sid="SM40", from_="+15550101", body="4"))
    assert "<Message>Thanks, your visitor is checked out.</Message>" in first.text
    assert "<Message>" not in again.text
    assert await answers(runtime, visit_id) == ["left"]
    async with runtime.sessions() as db:
        visit = await db.get(Visit, visit_id)
        out = (await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == visit_id, VisitEvent.kind == "checked_out"))).all()
    assert visit is not None and visit.checked_out_by == "host via sms"
    assert len(out) == 1 and out[0].data == {"by": "host"}
    assert [r async for r in visitor_replies(runtime.host_replies, visit_id, wait_s=0.5)] == []


async def test_an_unknown_reply_gets_the_four_item_menu(service, twilio):
    runtime, client = service
    await texted_sarah(runtime, twilio)
    response = await post(client, inbound(sid="SM41", from_="+15550101", body="maybe"))
    assert "4 = they&apos;ve left" in response.text or "4 = they've left" in response.text
