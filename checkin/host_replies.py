"""Host answers and the visitor's view of them: recording, deduplicating, and the feed.

An answer (Slack button, SMS digit) becomes a ``host_replied`` visit event, once per provider
callback and once per answer, under a row lock so replicas receiving the same callback agree.
``HostReplyFeed`` is the ``providers.HostReplies`` a visit's channel listens to: news recorded
on the visit (answers, escalations), woken at once by the in-process ``ReplyHub`` and found by
polling when another process recorded it. Imports: db, visits, providers, delivery, notify.replies.
"""

from __future__ import annotations

import asyncio
import re
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
from checkin.providers import HostReply
from checkin.visits import Notification, VisitEvent, add_event

log = structlog.get_logger(__name__)

async def record_host_reply(
    *, sessions: async_sessionmaker[AsyncSession], notification_id: str, answer: str,
    source: str, dedupe_key: str, hub: ReplyHub | None = None,
) -> HostReply | None:
    """Put the host's answer on the visit; None for an unknown row or a repeat of an answer.

    ``dedupe_key`` is the provider's id of the callback (Slack action_ts+user+action_id, a
    Twilio MessageSid): a callback delivered twice records one answer. An answer of
    ``cannot_come`` queues the reception alert at once.
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
        responder = first_name(host_name(row)) if kind == HOST else "Someone from the team"
        data = {"notification_id": row.id, "answer": answer, "source": source,
                "dedupe": dedupe_key[:200], "responder": responder}
        add_event(session=db, visit_id=row.visit_id, kind="host_replied", state="NOTIFY_HOST",
                  data=data)
        if answer == "cannot_come":
            await add_rung(db, row, RECEPTION, reason="host-cannot-come", due=utcnow(),
                            alternate=None)
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
