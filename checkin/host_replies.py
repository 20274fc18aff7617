"""Host answers and the visitor's view of them: recording, deduplicating, and the feed.

An answer (Slack button, SMS digit) becomes a ``host_replied`` visit event, once per provider
callback and once per answer, under a row lock so replicas receiving the same callback agree.
``HostReplyFeed`` is the ``providers.HostReplies`` a visit's channel listens to: news recorded
on the visit (answers, escalations), woken at once by the in-process ``ReplyHub`` and found by
polling when another process recorded it; ``visitor_news`` turns it into the sentences a
channel says (kiosk, phone, chat) for a limited while after check-in. A host's "They've left"
(``left``) checks the visit out through ``visit_log.check_out`` and is never said to anyone.
Imports: db, visits, visit_log, states, providers, delivery, notify.replies.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.db import transaction, utcnow
from checkin.delivery import (
    HOST,
    NEWS_EVENTS,
    RECEPTION,
    add_rung,
    first_name,
    host_name,
    news_for,
    recipient,
)
from checkin.notify.replies import ReplyHub
from checkin.providers import HostReplies, HostReply
from checkin.states import CheckInState, Session
from checkin.visit_log import check_out
from checkin.visits import Notification, VisitEvent, add_event

log = structlog.get_logger(__name__)

async def record_host_reply(
    *, sessions: async_sessionmaker[AsyncSession], notification_id: str, answer: str,
    source: str, dedupe_key: str, hub: ReplyHub | None = None,
) -> HostReply | None:
    """Put the host's answer on the visit; None for an unknown row or a repeat of an answer.

    ``dedupe_key`` is the provider's id of the callback (Slack action_ts+user+action_id, a
    Twilio MessageSid): a callback delivered twice records one answer. An answer of
    ``cannot_come`` queues the reception alert at once; ``left`` checks the visitor out (and,
    being an answer, cancels any escalation still queued).
    """
    async with transaction(sessions) as db:
        # Lock the row first (PostgreSQL row lock; SQLite write lock), so two replicas
        # receiving the same callback cannot both find "no answer yet".
        locked = await db.execute(update(Notification).where(Notification.id == notification_id)
                                  .values(attempts=Notification.attempts))
        if getattr(locked, "rowcount", 0) != 1:
            return None
        row = await db.get(Notification, notification_id, populate_existing=True)
        assert row is not None
        previous = list((await db.scalars(select(VisitEvent).where(
            VisitEvent.visit_id == row.visit_id, VisitEvent.kind == "host_replied")
            .order_by(VisitEvent.id))).all())
        if any(e.data.get("dedupe") == dedupe_key for e in previous):
            return None
        mine = [e for e in previous if e.data.get("notification_id") == notification_id]
        if mine and mine[-1].data.get("answer") == answer:
            return None  # the same button twice
        kind = str(row.payload.get("kind", HOST))
        responder = first_name(host_name(row)) if kind == HOST else _rung_responder(row)
        data = {"notification_id": row.id, "answer": answer, "source": source,
                "dedupe": dedupe_key[:200], "responder": responder}
        add_event(session=db, visit_id=row.visit_id, kind="host_replied", state="NOTIFY_HOST",
                  data=data)
        if answer == "cannot_come":
            await add_rung(db, row, RECEPTION, reason="host-cannot-come", due=utcnow(),
                            alternate=None)
        elif answer == "left":
            await check_out(session=db, visit_id=row.visit_id, by=f"host via {source}",
                            via="host")
    reply = news_for(row, "host_replied", data)
    log.info("host_replied", visit_id=row.visit_id, source=source, answer=answer)
    if hub is not None:
        hub.publish(reply)
    return reply


async def find_sms_notification(
    *, sessions: async_sessionmaker[AsyncSession], phone: str, within: timedelta,
) -> Notification | None:
    """The newest notification sent by SMS to ``phone`` in the last ``within``."""
    wanted = _digits(phone)
    if len(wanted) < 7:
        return None
    async with sessions() as db:
        rows = (await db.scalars(
            select(Notification).where(Notification.status == "delivered",
                                       Notification.receipt.like("sms:%"),
                                       Notification.delivered_at >= utcnow() - within)
            .order_by(Notification.delivered_at.desc()).limit(200))).all()
    for row in rows:
        got = _digits(recipient(row).phone)
        if got and (got == wanted or got.endswith(wanted[-10:]) or wanted.endswith(got[-10:])):
            return row
    return None


def _rung_responder(row: Notification) -> str:
    """Who answered an escalation: the assistant by first name, else "Someone from the team"."""
    to = row.payload.get("to") or {}
    if to.get("via") == "assistant" and to.get("name"):
        return first_name(str(to["name"]))
    return "Someone from the team"


def _digits(phone: str) -> str:
    return re.sub(r"\D", "", phone or "")


class HostReplyFeed:
    """``providers.HostReplies`` over the visit record, woken early by the in-process hub.

    News from this process arrives at once; news recorded by another process (a replica that
    got the Slack callback) is found by polling every ``poll_s``.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hub: ReplyHub,
                 *, poll_s: float = 1.0) -> None:
        self._sessions = sessions
        self._hub = hub
        self._poll_s = poll_s

    async def updates(self, visit_id: str) -> AsyncIterator[HostReply]:
        """Yield every piece of news for the visit, oldest first, until cancelled."""
        seen: set[int] = set()
        queue = self._hub.subscribe(visit_id)
        try:
            while True:
                for event_id, reply in await self._recorded(visit_id):
                    if event_id not in seen:
                        seen.add(event_id)
                        yield reply
                try:
                    await asyncio.wait_for(queue.get(), timeout=self._poll_s)
                except TimeoutError:
                    pass
        finally:
            self._hub.unsubscribe(visit_id, queue)

    async def _recorded(self, visit_id: str) -> list[tuple[int, HostReply]]:
        async with self._sessions() as db:
            events = (await db.scalars(select(VisitEvent).where(
                VisitEvent.visit_id == visit_id, VisitEvent.kind.in_(NEWS_EVENTS))
                .order_by(VisitEvent.id))).all()
            host = ""
            if events:
                first = await db.scalar(select(Notification).where(
                    Notification.visit_id == visit_id).limit(1))
                host = host_name(first) if first is not None else ""
        return [(e.id, HostReply(visit_id=visit_id, kind=e.kind,
                                 answer=str(e.data.get("answer", "")),
                                 responder=str(e.data.get("responder", "")),
                                 host=first_name(host), reason=str(e.data.get("reason", ""))))
                for e in events]


def waits_for_host(session: Session) -> bool:
    """True when a channel should stay with the visitor for the host's answer: the visit
    checked in and a host (or someone for them) was told."""
    return session.state is CheckInState.COMPLETE and session.notified > 0


async def visitor_replies(replies: HostReplies, visit_id: str, *,
                          wait_s: float) -> AsyncIterator[HostReply]:
    """The visit's news meant for the visitor, oldest first, for at most ``wait_s`` seconds.

    Ends early after a final piece of news (an answer, or reception coming): nothing more is
    worth waiting for. A "They've left" is never passed on: the visitor is gone.
    """
    if wait_s <= 0:
        return
    deadline = time.monotonic() + wait_s
    updates = replies.updates(visit_id)
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                reply = await asyncio.wait_for(anext(updates), timeout=left)
            except (TimeoutError, StopAsyncIteration):
                return
            if not reply.for_visitor:
                continue
            yield reply
            if reply.final:
                return
    finally:
        aclose = getattr(updates, "aclose", None)
        if aclose is not None:
            await aclose()


async def visitor_news(replies: HostReplies, visit_id: str, *, language: str = "en",
                       wait_s: float) -> AsyncIterator[str]:
    """``visitor_replies`` as the sentences a channel says, in the visit's language."""
    async for reply in visitor_replies(replies, visit_id, wait_s=wait_s):
        yield reply.sentence(language)
