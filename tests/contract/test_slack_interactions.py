"""``POST /slack/interactions`` under uvicorn: signatures, a fast ack, the answer, chat.update."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import select

from checkin.app import create_app
from checkin.host_replies import visitor_replies
from checkin.runtime import build_runtime
from checkin.visits import VisitEvent
from tests.e2e.test_serve import serving
from tests.fakeservers._threaded import wait_until
from tests.fakeservers.fake_slack import FakeSlack, block_actions, signed
from tests.fakeservers.notify_stack import notify_settings, queue_notification

pytestmark = pytest.mark.contract


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
async def service(database_url, tmp_path, slack):
    runtime = build_runtime(notify_settings(database_url, tmp_path, slack=slack))
    async with runtime.engine.begin() as conn:  # this module's database is shared: empty it
        from checkin.db import Base

        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
    app = create_app(runtime, background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield runtime, client


async def sent_to_sarah(runtime, slack) -> tuple[str, str, dict]:
    visit_id, nid = await queue_notification(runtime.sessions)
    await runtime.dispatcher.dispatch(nid)
    (message,) = slack.posted()
    return visit_id, nid, message


async def replies(runtime, visit_id) -> list[VisitEvent]:
    async with runtime.sessions() as db:
        return list((await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == visit_id, VisitEvent.kind == "host_replied"))).all())


async def test_on_my_way_is_acked_fast_recorded_told_to_the_visitor_and_shown_in_slack(
        service, slack):
    runtime, client = service
    visit_id, nid, message = await sent_to_sarah(runtime, slack)
    news = runtime.host_replies.updates(visit_id)
    first_news = asyncio.ensure_future(anext(news))
    slack.hold("chat.update", seconds=5)  # a slow Slack must not delay the ack
    body, headers = signed(block_actions(notification_id=nid, action_id="checkin_coming",
                                         channel="DE1", message_ts=message["ts"]))
    started = time.monotonic()
    response = await client.post("/slack/interactions", content=body, headers=headers)
    acked_s = time.monotonic() - started

    assert response.status_code == 200 and acked_s < 3.0
    reply = await asyncio.wait_for(first_news, timeout=2)
    assert reply.sentence() == "Sarah is on the way."
    assert [e.data["answer"] for e in await replies(runtime, visit_id)] == ["coming"]
    slack.release()
    assert await asyncio.to_thread(wait_until, lambda: message.get("updated"), 5)
    assert "On my way" in message["blocks"][-1]["elements"][0]["text"]
    await news.aclose()


@pytest.mark.parametrize("tamper", ["unsigned", "wrong-secret", "stale", "edited-body"])
async def test_requests_slack_did_not_sign_are_refused(service, slack, tamper):
    runtime, client = service
    visit_id, nid, _ = await sent_to_sarah(runtime, slack)
    payload = block_actions(notification_id=nid, action_id="checkin_coming")
    body, headers = signed(payload, secret="not-the-secret" if tamper == "wrong-secret"
                           else "test-signing-secret",
                           timestamp=int(time.time()) - 301 if tamper == "stale" else None)
    if tamper == "unsigned":
        headers = {"Content-Type": headers["Content-Type"]}
    if tamper == "edited-body":
        body = body.replace(b"checkin_coming", b"checkin_wait_5")
    response = await client.post("/slack/interactions", content=body, headers=headers)
    assert response.status_code == 401
    assert await replies(runtime, visit_id) == []


async def test_a_repeated_callback_records_one_answer_and_updates_once(service, slack):
    runtime, client = service
    visit_id, nid, message = await sent_to_sarah(runtime, slack)
    payload = block_actions(notification_id=nid, action_id="checkin_wait_5",
                            message_ts=message["ts"], action_ts="1717322442.123456")
    for retry in ("", "1", "2"):
        body, headers = signed(payload)
        if retry:
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        response = await client.post("/slack/interactions", content=body, headers=headers)
        assert response.status_code == 200
        assert response.headers["X-Slack-No-Retry"] == "1"
    assert [e.data["answer"] for e in await replies(runtime, visit_id)] == ["wait_5"]
    assert await asyncio.to_thread(wait_until, lambda: message.get("updated"), 5)
    assert len(slack.calls("chat.update")) == 1


async def test_other_payloads_are_acknowledged_and_ignored(service, slack):
    runtime, client = service
    visit_id, nid, _ = await sent_to_sarah(runtime, slack)
    for payload in ({"type": "view_submission"},
                    block_actions(notification_id=nid, action_id="someone_elses_button"),
                    block_actions(notification_id="f" * 32, action_id="checkin_coming")):
        body, headers = signed(payload)
        response = await client.post("/slack/interactions", content=body, headers=headers)
        assert response.status_code == 200
    assert await replies(runtime, visit_id) == []
    assert slack.calls("chat.update") == []


async def test_the_loop_closes_check_in_slack_dm_button_and_the_visitor_hears_it(
        database_url, tmp_path, slack):
    directory = tmp_path / "directory.csv"
    directory.write_text(
        "id,first_name,last_name,department,title,email,phone,slack_id,active,aliases\n"
        "E1,Priya,Patel,Engineering,Staff Engineer,priya@example.test,+1-555-0101,UE1,true,\n",
        encoding="utf-8")
    runtime = build_runtime(notify_settings(database_url, tmp_path, slack=slack),
                            directory_file=directory)
    app = create_app(runtime, background_jobs=False)
    async with serving(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        conversation = await runtime.new_conversation(channel="kiosk")
        await conversation.greet()
        for said in ("hi, I'm here to see Priya Patel", "yes", "Nathan Ellison",
                     "Vertex Dynamics, a design review"):
            reply = await conversation.reply(said)
        assert reply.done
        (message,) = slack.posted()
        assert message["text"] == (
            "Nathan Ellison from Vertex Dynamics is waiting for you in the lobby")
        nid = message["metadata"]["event_payload"]["notification_id"]

        news = runtime.host_replies.updates(conversation.visit_id)  # what the channel listens to
        body, headers = signed(block_actions(notification_id=nid, action_id="checkin_coming",
                                             message_ts=message["ts"]))
        assert (await client.post("/slack/interactions", content=body,
                                  headers=headers)).status_code == 200
        heard = await asyncio.wait_for(anext(news), timeout=2)
        assert heard.sentence() == "Priya is on the way."
        await news.aclose()


async def test_theyve_left_checks_the_visitor_out_and_is_never_told_to_them(service, slack):
    # Issue 5: the fourth button. The host answered "On my way" first; the message keeps
    # "They've left", and pressing it checks the visit out (visit_log.check_out).
    from checkin.visits import Visit

    runtime, client = service
    visit_id, nid, message = await sent_to_sarah(runtime, slack)
    for action_id, ts in (("checkin_coming", "1.1"), ("checkin_left", "1.2")):
        body, headers = signed(block_actions(notification_id=nid, action_id=action_id,
                                             channel="DE1", message_ts=message["ts"],
                                             action_ts=ts))
        assert (await client.post("/slack/interactions", content=body,
                                  headers=headers)).status_code == 200

    assert [e.data["answer"] for e in await replies(runtime, visit_id)] == ["coming", "left"]
    async with runtime.sessions() as db:
        visit = await db.get(Visit, visit_id)
        out = (await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == visit_id, VisitEvent.kind == "checked_out"))).all()
    assert visit is not None and visit.checked_out_at is not None
    assert visit.checked_out_by == "host via slack"
    assert [e.data for e in out] == [{"by": "host"}]
    assert await asyncio.to_thread(wait_until, lambda: "left" in str(message.get("blocks")), 5)
    # What a waiting channel hears: the answer, never the check-out.
    heard = [r async for r in visitor_replies(runtime.host_replies, visit_id, wait_s=1)]
    assert [r.sentence() for r in heard] == ["Sarah is on the way."]
