"""The outbox: claiming, retries, Retry-After, escalation ladder, host answers, the visit's feed.

Runs on SQLite and PostgreSQL (``database_url``); notifiers are scripted doubles.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from checkin.db import transaction, utcnow
from checkin.delivery import DeliveryPolicy, OutboxDispatcher, rung_id
from checkin.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from checkin.host_replies import HostReplyFeed, find_sms_notification, record_host_reply
from checkin.notify.chain import FallbackNotifier
from checkin.notify.replies import ReplyHub
from checkin.outbox_worker import OutboxWorker
from checkin.providers import HostNote, HostRef, Receipt
from checkin.visits import Notification, VisitEvent, add_notification, create_visit

pytestmark = pytest.mark.unit

TEAM = HostRef(employee_id="alternate", name="Platform team", slack_id="C0TEAM")


class ScriptedNotifier:
    """Raises the scripted errors in turn, then delivers; keeps what it delivered."""

    def __init__(self, *errors: ProviderError) -> None:
        self.errors = list(errors)
        self.sent: list[tuple[HostRef, HostNote]] = []
        self.tries = 0

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        self.tries += 1
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append((host, note))
        return Receipt(channel="scripted", reference=f"{note.notification_id}:{len(self.sent)}")


class RecordingReception:
    def __init__(self) -> None:
        self.alerts: list[tuple[str, str]] = []

    async def alert(self, note: HostNote, *, host_name: str, reason: str) -> Receipt:
        self.alerts.append((note.visit_id, reason))
        return Receipt(channel="console", reference=note.notification_id)


async def queue_visit(sessions, *, host=None) -> tuple[str, str]:
    host = host or {"employee_id": "E1", "name": "Sarah Chen", "email": "s@example.test",
                    "phone": "+1 555 0101", "slack_id": "UE1"}
    async with transaction(sessions) as db:
        visit = await create_visit(session=db, channel="chat")
        note = add_notification(session=db, visit=visit, host_employee_id=host["employee_id"],
                                channel="slack", payload={
                                    "visitor_name": "Alex Rivera", "company": "Globex",
                                    "arrived_at": utcnow().isoformat(), "host": host})
    return visit.id, note.id


async def rows(sessions, visit_id=None) -> list[Notification]:
    async with sessions() as db:
        q = select(Notification).order_by(Notification.created_at)
        if visit_id:
            q = q.where(Notification.visit_id == visit_id)
        return list((await db.scalars(q)).all())


async def events(sessions, visit_id, kind=None) -> list[VisitEvent]:
    async with sessions() as db:
        q = select(VisitEvent).where(VisitEvent.visit_id == visit_id).order_by(VisitEvent.id)
        found = list((await db.scalars(q)).all())
    return [e for e in found if kind is None or e.kind == kind]


def dispatcher(sessions, notifier, *, reception=None, hub=None, worker="w1", **policy):
    return OutboxDispatcher(sessions, notifier, worker_id=worker,
                            reception=reception or RecordingReception(), hub=hub,
                            policy=DeliveryPolicy(**{"retry_initial_s": 1, **policy}))


async def test_a_due_row_is_claimed_by_exactly_one_of_two_dispatchers(sessions):
    for _ in range(6):
        await queue_visit(sessions)
    a = dispatcher(sessions, ScriptedNotifier(), worker="a")
    b = dispatcher(sessions, ScriptedNotifier(), worker="b")
    got_a, got_b = await asyncio.gather(a.claim_due(limit=6), b.claim_due(limit=6))
    ids_a, ids_b = {r.id for r in got_a}, {r.id for r in got_b}
    assert not ids_a & ids_b and len(ids_a | ids_b) == 6
    assert {r.status for r in await rows(sessions)} == {"sending"}
    assert await a.claim_due() == [] and await b.claim_due() == []


async def test_delivery_records_the_receipt_and_the_event(sessions):
    visit_id, nid = await queue_visit(sessions)
    notifier = ScriptedNotifier()
    await dispatcher(sessions, notifier).dispatch(nid)
    (row,) = await rows(sessions)
    assert (row.status, row.attempts, row.receipt) == ("delivered", 1, f"scripted:{nid}:1")
    assert notifier.sent[0][1].attempt == 1
    assert [e.kind for e in await events(sessions, visit_id)] == ["host_notified"]


async def test_an_expired_claim_is_taken_over_and_the_retry_says_attempt_2(sessions):
    visit_id, nid = await queue_visit(sessions)
    dead = dispatcher(sessions, ScriptedNotifier(), worker="dead", claim_s=30)
    assert [r.id for r in await dead.claim_due()] == [nid]  # ... and then the worker dies
    async with transaction(sessions) as db:
        await db.execute(update(Notification)
                         .values(claimed_until=utcnow() - timedelta(seconds=1)))
    notifier = ScriptedNotifier()
    alive = dispatcher(sessions, notifier, worker="alive")
    assert await OutboxWorker(alive).run_once() == 1
    assert notifier.sent[0][1].attempt == 2  # the adapter looks for the dead worker's message
    (row,) = await rows(sessions)
    assert row.status == "delivered"
    assert not await dead._finish(row, status="delivered", event="x", data={})  # claim lost


async def test_429_reschedules_at_retry_after_and_does_not_escalate(sessions):
    visit_id, nid = await queue_visit(sessions)
    notifier = ScriptedNotifier(ProviderRateLimited("slack", code="slack-rate-limited",
                                                    retry_after_s=42))
    before = utcnow()
    await dispatcher(sessions, notifier).dispatch(nid)
    (row,) = await rows(sessions)
    assert row.status == "pending" and row.last_error_code == "slack-rate-limited"
    wait = (row.next_attempt_at - before).total_seconds()
    assert 42 <= wait < 44


async def test_when_every_channel_fails_reception_is_alerted_and_the_host_row_retries(sessions):
    visit_id, nid = await queue_visit(sessions)
    hub, reception = ReplyHub(), RecordingReception()
    notifier = ScriptedNotifier(ProviderUnavailable("slack", code="slack-unavailable"))
    d = dispatcher(sessions, notifier, reception=reception, hub=hub, retry_initial_s=0.05)
    news = hub.subscribe(visit_id)
    await d.dispatch(nid)
    host_row, reception_row = await rows(sessions)
    assert host_row.status == "pending" and host_row.last_error_code == "slack-unavailable"
    assert reception_row.id == rung_id(visit_id, "reception")
    await asyncio.sleep(0.1)
    worker = OutboxWorker(d)
    assert await worker.run_once() == 2  # the alert, and the host's retry
    assert reception.alerts == [(visit_id, "notify-failed")]
    assert len(notifier.sent) == 1
    reply = await asyncio.wait_for(news.get(), timeout=2)
    assert reply.kind == "reception_alerted"
    assert "reception" in reply.sentence()


async def test_a_host_with_neither_slack_nor_phone_goes_down_the_ladder_at_once(sessions):
    host = {"employee_id": "E7", "name": "Nora Lane", "email": "", "phone": "", "slack_id": ""}
    visit_id, nid = await queue_visit(sessions, host=host)
    notifier = FallbackNotifier([ScriptedNotifier(ProviderRejected("slack", code="slack-no-user")),
                                 ScriptedNotifier(ProviderRejected("sms", code="sms-no-phone"))])
    team = ScriptedNotifier()
    d = dispatcher(sessions, notifier, alternate=TEAM)
    await d.dispatch(nid)
    host_row, alternate_row = await rows(sessions)
    assert (host_row.status, host_row.last_error_code) == ("failed", "host-unreachable")
    assert alternate_row.payload["kind"] == "alternate"
    assert alternate_row.payload["reason"] == "host-unreachable"
    second = dispatcher(sessions, team, alternate=TEAM, worker="w2")
    assert await OutboxWorker(second).run_once() == 1
    (to, note), = team.sent
    assert to.slack_id == "C0TEAM" and note.on_behalf_of == "Nora Lane"
    from checkin.host_replies import HostReplyFeed

    feed = HostReplyFeed(sessions, ReplyHub(), poll_s=0.05).updates(visit_id)
    heard = await asyncio.wait_for(anext(feed), timeout=2)
    await feed.aclose()
    assert heard.sentence() == "I couldn't reach Nora, so I've let their team know you're here."


async def test_no_answer_within_n_minutes_goes_to_the_team_then_reception(sessions):
    visit_id, nid = await queue_visit(sessions)
    notifier, reception = ScriptedNotifier(), RecordingReception()
    d = dispatcher(sessions, notifier, reception=reception, alternate=TEAM, escalate_after_s=120)
    worker = OutboxWorker(d)
    await d.dispatch(nid)
    assert await d.escalate_due() == 0  # not yet

    async def two_minutes_pass():
        async with transaction(sessions) as db:
            await db.execute(update(Notification).where(Notification.status == "delivered")
                             .values(delivered_at=utcnow() - timedelta(seconds=121)))

    await two_minutes_pass()
    assert await worker.run_once() == 1
    assert notifier.sent[-1][0].slack_id == "C0TEAM"
    await two_minutes_pass()
    assert await worker.run_once() == 1
    assert reception.alerts == [(visit_id, "host-no-reply")]
    await two_minutes_pass()
    assert await worker.run_once() == 0  # reception is the last rung
    kinds = [e.kind for e in await events(sessions, visit_id)]
    assert kinds == ["host_notified", "alternate_notified", "reception_alerted"]


async def test_a_console_notification_is_not_escalated_for_want_of_an_answer(sessions):
    from checkin.notify.offline import ConsoleNotifier

    visit_id, nid = await queue_visit(sessions)
    d = dispatcher(sessions, ConsoleNotifier(io.StringIO(), show_names=False), alternate=TEAM)
    await d.dispatch(nid)
    async with transaction(sessions) as db:
        await db.execute(update(Notification)
                         .values(delivered_at=utcnow() - timedelta(seconds=121)))
    assert await d.escalate_due() == 0


async def test_an_answer_stops_the_ladder_even_when_a_rung_is_already_queued(sessions):
    visit_id, nid = await queue_visit(sessions)
    notifier = ScriptedNotifier()
    d = dispatcher(sessions, notifier, alternate=TEAM, escalate_after_s=120)
    await d.dispatch(nid)
    async with transaction(sessions) as db:
        await db.execute(update(Notification)
                         .values(delivered_at=utcnow() - timedelta(seconds=121)))
    assert await d.escalate_due() == 1
    await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                            source="slack", dedupe_key="k1")
    assert await OutboxWorker(d).run_once() == 1
    assert len(notifier.sent) == 1  # the team was not bothered
    assert (await rows(sessions))[-1].status == "cancelled"
    assert await d.escalate_due() == 0


async def test_host_answers_are_recorded_once_per_callback_and_per_answer(sessions):
    visit_id, nid = await queue_visit(sessions)
    hub = ReplyHub()
    news = hub.subscribe(visit_id)
    first = await record_host_reply(sessions=sessions, notification_id=nid, answer="wait_5",
                                    source="slack", dedupe_key="a1", hub=hub)
    assert first is not None and first.sentence() == (
        "Sarah asks if you could wait about five minutes.")
    assert await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                                   source="slack", dedupe_key="a1") is None  # same callback
    assert await record_host_reply(sessions=sessions, notification_id=nid, answer="wait_5",
                                   source="slack", dedupe_key="a2") is None  # same answer
    second = await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                                     source="slack", dedupe_key="a3", hub=hub)
    assert second is not None and second.sentence() == "Sarah is on the way."
    assert await record_host_reply(sessions=sessions, notification_id="unknown", answer="coming",
                                   source="slack", dedupe_key="a4") is None
    assert [r.answer for r in (news.get_nowait(), news.get_nowait())] == ["wait_5", "coming"]
    assert [e.data["answer"] for e in await events(sessions, visit_id, "host_replied")] == [
        "wait_5", "coming"]


async def test_i_cannot_come_queues_the_reception_alert_at_once(sessions):
    visit_id, nid = await queue_visit(sessions)
    reply = await record_host_reply(sessions=sessions, notification_id=nid,
                                    answer="cannot_come", source="sms", dedupe_key="SM1")
    assert "reception" in reply.sentence()
    reception_row = (await rows(sessions))[-1]
    assert reception_row.payload["reason"] == "host-cannot-come"
    assert reception_row.status == "pending" and reception_row.next_attempt_at <= utcnow()


async def test_the_feed_hears_news_from_this_process_and_from_the_record(sessions):
    visit_id, nid = await queue_visit(sessions)
    hub = ReplyHub()
    feed = HostReplyFeed(sessions, hub, poll_s=0.05).updates(visit_id)
    pending = asyncio.ensure_future(anext(feed))
    await asyncio.sleep(0.1)
    # Another process recorded it: no hub, the feed finds it in the record.
    await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                            source="slack", dedupe_key="x")
    reply = await asyncio.wait_for(pending, timeout=2)
    assert (reply.kind, reply.answer, reply.responder) == ("host_replied", "coming", "Sarah")
    await feed.aclose()
    assert not hub.listening(visit_id)


async def test_an_sms_answer_finds_the_newest_text_to_that_number(sessions):
    visit_id, nid = await queue_visit(sessions)
    async with transaction(sessions) as db:
        await db.execute(update(Notification).values(status="delivered", receipt="sms:SM1",
                                                     delivered_at=utcnow()))
    found = await find_sms_notification(sessions=sessions, phone="+15550101",
                                        within=timedelta(hours=2))
    assert found is not None and found.id == nid
    assert await find_sms_notification(sessions=sessions, phone="+15550199",
                                        within=timedelta(hours=2)) is None


class StuckFirstNotifier(ScriptedNotifier):
    """The first send hangs until released (a provider that stopped answering)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        if self.tries == 0:
            self.tries += 1
            await self.release.wait()
        return await super().notify_host(host, note)


async def delivered_count(sessions) -> int:
    return sum(r.status == "delivered" for r in await rows(sessions))


async def test_a_slow_delivery_does_not_hold_up_the_rows_behind_it(sessions):
    for _ in range(3):
        await queue_visit(sessions)
    notifier = StuckFirstNotifier()
    worker = OutboxWorker(dispatcher(sessions, notifier), poll_s=0.05, concurrency=2)
    task = asyncio.create_task(worker.run(), name="worker-under-test")
    try:
        for _ in range(100):
            if await delivered_count(sessions) == 2:
                break
            await asyncio.sleep(0.02)
        assert await delivered_count(sessions) == 2  # while the first is still stuck
        notifier.release.set()
        for _ in range(100):
            if await delivered_count(sessions) == 3:
                break
            await asyncio.sleep(0.02)
        assert await delivered_count(sessions) == 3
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
