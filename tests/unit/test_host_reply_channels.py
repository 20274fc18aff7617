"""The host's answer reaches the visitor on each channel: the phone call stays up for it, the
kiosk page long-polls it after check-in, interactive ``checkin chat`` prints it.

The phone loop gets the news as a plain async iterator of sentences (``voice.call.HostNews``):
voice/ never sees Slack, SMS or the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from checkin.api.kiosk_replies import KioskNews
from checkin.host_replies import HostReplyFeed, record_host_reply
from checkin.notify.replies import ReplyHub
from checkin.states import CheckInState, Session
from tests.support.phone_doubles import ScriptedDialogue, Turn
from tests.unit.test_outbox import queue_visit
from tests.unit.test_twilio_call import Rig

pytestmark = pytest.mark.unit


class NewsDialogue(ScriptedDialogue):
    """A scripted receptionist whose host answers ``after_s`` after check-in."""

    def __init__(self, turns: list[Turn], news: list[str], *, after_s: float = 0.05) -> None:
        super().__init__(turns)
        self.news, self.after_s, self.asked = news, after_s, 0

    def host_news(self) -> AsyncIterator[str] | None:
        self.asked += 1
        return self._news()

    async def _news(self) -> AsyncIterator[str]:
        for sentence in self.news:
            await asyncio.sleep(self.after_s)
            yield sentence


async def test_the_call_stays_up_after_check_in_says_the_answer_then_hangs_up() -> None:
    dialogue = NewsDialogue([Turn(["Thanks, Alex. Please take a seat."], done=True)],
                            ["Sarah is on the way."])
    async with Rig(dialogue) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("Alex")
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert dialogue.asked == 1
    assert rig.tts.spoken[-2:] == ["Thanks, Alex. Please take a seat.", "Sarah is on the way."]
    assert rig.call.stats.outcome == "completed" and rig.socket.closed.is_set()
    assert dialogue.closed == 1


async def test_a_caller_who_hangs_up_while_waiting_ends_the_call_cleanly() -> None:
    dialogue = NewsDialogue([Turn(["Please take a seat."], done=True)],
                            ["Sarah is on the way."], after_s=30)
    async with Rig(dialogue) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("Alex")
        await rig.until(lambda: dialogue.asked == 1)
        # __aexit__ sends "stop": the wait is cancelled, the visit closed.
    assert "Sarah is on the way." not in rig.tts.spoken
    assert dialogue.closed == 1 and rig.socket.closed.is_set()


def _checked_in(visit_id: str, language: str = "en") -> SimpleNamespace:
    session = Session()
    session.state, session.notified, session.language = CheckInState.COMPLETE, 1, language
    return SimpleNamespace(visit_id=visit_id, session=session)


async def test_the_kiosk_long_polls_the_answer_in_the_visits_language(sessions) -> None:
    hub = ReplyHub()
    feed = HostReplyFeed(sessions, hub, poll_s=0.05)
    runtime = SimpleNamespace(visitor_wait_s=5.0, host_replies=feed)
    news = KioskNews(runtime)  # type: ignore[arg-type]
    visit_id, nid = await queue_visit(sessions)
    news.remember("tablet-1", _checked_in(visit_id, "es"))  # type: ignore[arg-type]

    async def answer_soon() -> None:
        await asyncio.sleep(0.1)
        await record_host_reply(sessions=sessions, notification_id=nid, answer="wait_5",
                                source="sms", dedupe_key="SM1", hub=hub)

    task = asyncio.create_task(answer_soon())
    got = await asyncio.wait_for(news.poll("tablet-1", 0), 5)
    await task
    assert got.sentences == ["Sarah le pide que espere unos cinco minutos."]
    assert not got.more  # an answer: the page may go back to its welcome screen
    again = await news.poll("tablet-1", 1)
    assert again.sentences == [] and not again.more


async def test_the_kiosk_does_not_wait_when_nobody_can_answer_or_nobody_was_told(
        sessions) -> None:
    feed = HostReplyFeed(sessions, ReplyHub(), poll_s=0.05)
    visit_id, _ = await queue_visit(sessions)
    offline = KioskNews(SimpleNamespace(visitor_wait_s=0.0, host_replies=feed))  # type: ignore
    offline.remember("t", _checked_in(visit_id))  # type: ignore[arg-type]
    assert (await offline.poll("t", 0)).more is False

    news = KioskNews(SimpleNamespace(visitor_wait_s=5.0, host_replies=feed))  # type: ignore
    transferred = _checked_in(visit_id)
    transferred.session.state = CheckInState.TRANSFER_HUMAN
    news.remember("t", transferred)  # type: ignore[arg-type]
    assert (await news.poll("t", 0)).more is False
    assert (await news.poll("unknown", 0)).more is False


async def test_the_kiosk_page_asks_again_while_the_host_has_not_answered(
        sessions, monkeypatch) -> None:
    import checkin.api.kiosk_replies as kiosk_replies

    monkeypatch.setattr(kiosk_replies, "POLL_S", 0.2)
    feed = HostReplyFeed(sessions, ReplyHub(), poll_s=0.05)
    visit_id, _ = await queue_visit(sessions)
    news = KioskNews(SimpleNamespace(visitor_wait_s=5.0, host_replies=feed))  # type: ignore
    news.remember("t", _checked_in(visit_id))  # type: ignore[arg-type]
    got = await news.poll("t", 0)
    assert got.sentences == [] and got.more and 0 < got.wait_s <= 5
