"""Issue 5's closing of the loop: what the visitor hears (en/es), how long channels wait, the
host's alternates from the directory, "They've left", and a retry that asks every channel.

Runs on SQLite and PostgreSQL; notifiers are the scripted doubles of test_outbox.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from checkin.db import transaction, utcnow
from checkin.directory.store import EmployeeRow
from checkin.errors import ProviderUnavailable
from checkin.host_replies import HostReplyFeed, record_host_reply, visitor_news, waits_for_host
from checkin.notify.chain import FallbackNotifier
from checkin.notify.replies import ReplyHub
from checkin.outbox_worker import OutboxWorker
from checkin.providers import HostNote, HostRef, HostReply, Receipt
from checkin.states import CheckInState, Session
from checkin.visits import Notification
from tests.unit.test_outbox import (
    TEAM,
    RecordingReception,
    ScriptedNotifier,
    dispatcher,
    events,
    queue_visit,
    rows,
)

pytestmark = pytest.mark.unit

V = "v1"


@pytest.mark.parametrize(("reply", "en", "es"), [
    (HostReply(V, "host_replied", answer="coming", responder="Sarah"),
     "Sarah is on the way.", "Sarah ya viene."),
    (HostReply(V, "host_replied", answer="wait_5", responder="Sarah"),
     "Sarah asks if you could wait about five minutes.",
     "Sarah le pide que espere unos cinco minutos."),
    (HostReply(V, "host_replied", answer="cannot_come", responder="Sarah"),
     "Sarah can't come down right now, so someone from reception will come and help you.",
     "Sarah no puede venir ahora, así que alguien de recepción vendrá a ayudarle."),
    (HostReply(V, "alternate_notified", host="Sarah", reason="host-no-reply", responder="Tom"),
     "Sarah hasn't answered yet, so I've let Tom know you're here.",
     "Sarah todavía no ha contestado, así que he avisado a Tom de que usted está aquí."),
    (HostReply(V, "alternate_notified", host="Sarah", reason="host-unreachable"),
     "I couldn't reach Sarah, so I've let their team know you're here.",
     "No he podido contactar a Sarah, así que he avisado a su equipo de que usted está aquí."),
    (HostReply(V, "reception_alerted"),
     "Someone from reception will come and help you shortly.",
     "Alguien de recepción vendrá a ayudarle enseguida."),
], ids=["coming", "wait", "cannot", "assistant", "team", "reception"])
def test_the_visitor_hears_each_answer_in_english_and_spanish(reply, en, es):
    assert reply.sentence() == en and reply.sentence("en") == en
    assert reply.sentence("es") == es
    assert reply.sentence("fr") == en  # a language we do not speak: English


def test_which_news_ends_the_wait_and_which_is_never_said():
    assert HostReply(V, "host_replied", answer="wait_5").final
    assert HostReply(V, "reception_alerted").final
    assert not HostReply(V, "alternate_notified").final  # the assistant may still answer
    assert not HostReply(V, "host_replied", answer="left").for_visitor


def test_only_a_checked_in_visit_with_someone_told_waits_for_the_host():
    done = Session()
    done.state, done.notified = CheckInState.COMPLETE, 1
    assert waits_for_host(done)
    done.notified = 0
    assert not waits_for_host(done)
    moved = Session()
    moved.state, moved.notified = CheckInState.TRANSFER_HUMAN, 1
    assert not waits_for_host(moved)


async def test_visitor_news_says_the_answer_then_ends_or_gives_up_after_wait_s(sessions):
    hub = ReplyHub()
    feed = HostReplyFeed(sessions, hub, poll_s=0.05)
    visit_id, nid = await queue_visit(sessions)

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert [s async for s in visitor_news(feed, visit_id, wait_s=0.3)] == []
    assert 0.25 <= loop.time() - started < 2  # nobody answered: the channel moves on

    async def answer_soon() -> None:
        await asyncio.sleep(0.1)
        await record_host_reply(sessions=sessions, notification_id=nid, answer="coming",
                                source="slack", dedupe_key="k1", hub=hub)

    task = asyncio.create_task(answer_soon())
    started = loop.time()
    heard = [s async for s in visitor_news(feed, visit_id, language="es", wait_s=30)]
    await task
    assert heard == ["Sarah ya viene."]
    assert loop.time() - started < 5  # ended at the answer, not after 30 s
    assert not hub.listening(visit_id)


async def test_no_answer_goes_to_the_hosts_assistant_from_the_directory(sessions):
    # Sarah (E1) has an assistant, Tom (E2): he is told like a host, the visitor hears his
    # name, and his answer is the visitor's news.
    async with transaction(sessions) as db:
        db.add(EmployeeRow(id="E1", first_name="Sarah", last_name="Chen", assistant_id="E2",
                           team_channel="C0PLAT"))
        db.add(EmployeeRow(id="E2", first_name="Tom", last_name="Reyes", slack_id="UE2",
                           email="tom@example.test", phone="+15550102"))
    hub = ReplyHub()
    visit_id, nid = await queue_visit(sessions)
    notifier = ScriptedNotifier()
    d = dispatcher(sessions, notifier, hub=hub, alternate=TEAM, escalate_after_s=120)
    await d.dispatch(nid)
    await _time_passes(sessions)
    assert await OutboxWorker(d).run_once() == 1

    to, note = notifier.sent[-1]
    assert (to.employee_id, to.name, to.slack_id, to.phone) == ("E2", "Tom Reyes", "UE2",
                                                                "+15550102")
    assert note.on_behalf_of == "Sarah Chen"
    feed = HostReplyFeed(sessions, hub, poll_s=0.05)
    heard = [s async for s in visitor_news(feed, visit_id, wait_s=0.3)]
    assert heard == ["Sarah hasn't answered yet, so I've let Tom know you're here."]

    alt = [r for r in await rows(sessions, visit_id) if r.payload.get("kind") == "alternate"][0]
    reply = await record_host_reply(sessions=sessions, notification_id=alt.id, answer="coming",
                                    source="slack", dedupe_key="k2", hub=hub)
    assert reply is not None and reply.sentence() == "Tom is on the way."


@pytest.mark.parametrize(("directory", "site", "expected"), [
    ({"team_channel": "C0PLAT"}, TEAM, ("alternate", "C0PLAT")),
    ({"assistant_id": "E9"}, TEAM, ("alternate", "C0TEAM")),  # assistant gone: site contact
    ({}, None, ("reception", "")),
], ids=["team-channel", "site-alternate", "reception"])
async def test_without_an_assistant_the_team_channel_then_the_site_then_reception(
        sessions, directory, site, expected):
    async with transaction(sessions) as db:
        db.add(EmployeeRow(id="E1", first_name="Sarah", last_name="Chen", **directory))
    visit_id, nid = await queue_visit(sessions)
    notifier, reception = ScriptedNotifier(), RecordingReception()
    d = dispatcher(sessions, notifier, reception=reception, alternate=site,
                   escalate_after_s=120)
    await d.dispatch(nid)
    await _time_passes(sessions)
    assert await OutboxWorker(d).run_once() == 1
    kind, channel = expected
    rung = [r for r in await rows(sessions, visit_id) if r.payload.get("kind", "host") != "host"]
    assert [r.payload["kind"] for r in rung] == [kind]
    if kind == "alternate":
        assert notifier.sent[-1][0].slack_id == channel
    else:
        assert reception.alerts == [(visit_id, "host-no-reply")]


async def test_theyve_left_checks_out_and_stops_the_ladder(sessions):
    from checkin.visits import Visit

    visit_id, nid = await queue_visit(sessions)
    d = dispatcher(sessions, ScriptedNotifier(), alternate=TEAM, escalate_after_s=120)
    await d.dispatch(nid)
    reply = await record_host_reply(sessions=sessions, notification_id=nid, answer="left",
                                    source="sms", dedupe_key="SM1")
    assert reply is not None and not reply.for_visitor
    await _time_passes(sessions)
    assert await d.escalate_due() == 0  # the visitor is gone: nobody else is bothered
    async with sessions() as db:
        visit = await db.get(Visit, visit_id)
    assert visit is not None and visit.checked_out_at is not None
    kinds = [e.kind for e in await events(sessions, visit_id)]
    assert kinds[-2:] == ["checked_out", "host_replied"] or kinds[-2:] == [
        "host_replied", "checked_out"]


class LookingNotifier(ScriptedNotifier):
    """A scripted channel that can also look for what it delivered (``SentLookup``)."""

    def __init__(self, *errors, lookup_error=None):
        super().__init__(*errors)
        self.lookups = 0
        self.lookup_error = lookup_error

    async def find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        self.lookups += 1
        if self.lookup_error is not None:
            raise self.lookup_error
        for _, sent in self.sent:
            if sent.notification_id == note.notification_id:
                return Receipt(channel="found", reference=sent.notification_id)
        return None


async def test_a_retry_asks_every_channel_before_sending_on_any():
    # The known gap of the first version: attempt 1 fell back to SMS (Slack down) and
    # crashed before recording it; attempt 2 must not post on Slack now that Slack is back.
    host = HostRef(employee_id="E1", name="Sarah Chen", slack_id="UE1", phone="+15550101")
    note = HostNote(visit_id=V, notification_id="n" * 32, visitor_name="Alex")
    slack = LookingNotifier(ProviderUnavailable("slack", code="slack-unavailable"))
    sms = LookingNotifier()
    chain = FallbackNotifier([slack, sms], names=["slack", "sms"])
    first = await chain.notify_host(host, note)  # Slack fails, the SMS goes out
    assert first.channel == "scripted" and len(sms.sent) == 1

    again = await chain.notify_host(host, HostNote(**{**_fields(note), "attempt": 2}))
    assert again.channel == "found" and slack.sent == [] and len(sms.sent) == 1
    assert slack.lookups == 1 and sms.lookups == 1

    # A channel that cannot be asked is skipped; the send goes ahead (documented residue).
    slack2 = LookingNotifier(lookup_error=ProviderUnavailable("slack", code="slack-unavailable"))
    chain2 = FallbackNotifier([slack2, LookingNotifier()], names=["slack", "sms"])
    sent = await chain2.notify_host(host, HostNote(**{**_fields(note), "attempt": 2}))
    assert sent.channel == "scripted" and len(slack2.sent) == 1


def _fields(note: HostNote) -> dict:
    return {f: getattr(note, f) for f in note.__dataclass_fields__}


async def _time_passes(sessions) -> None:
    async with transaction(sessions) as db:
        await db.execute(update(Notification).where(Notification.status == "delivered")
                         .values(delivered_at=utcnow() - timedelta(seconds=121)))
