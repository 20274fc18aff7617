"""Outbox delivery: hand committed notification rows to the notifier, exactly once.

A row is claimed (pending -> sending) in its own transaction before the notifier is called,
so two dispatchers never send the same row; a failure puts it back to pending with a later
``next_attempt_at`` for a retrying worker. Imports: db, visits, providers, errors.
"""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.db import transaction, utcnow
from checkin.errors import ProviderError
from checkin.providers import HostNote, HostRef, Notifier
from checkin.visits import Notification, add_event

log = structlog.get_logger(__name__)

CLAIM_S = 60
RETRY_S = 30


class OutboxDispatcher:
    """Delivers one outbox row now, through the configured notifier."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier,
                 *, worker_id: str | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._worker = worker_id or f"{socket.gethostname()}:{id(self):x}"

    async def dispatch(self, notification_id: str) -> None:
        """Claim the row, deliver it, record the result; never raises for provider failures."""
        now = utcnow()
        note = await self._claim(notification_id, now)
        if note is None:
            return
        started = utcnow()
        try:
            receipt = await self._notifier.notify_host(_host(note), _note(note))
        except ProviderError as err:
            await self._finish(note, ok=False, code=err.code, at=utcnow())
            log.warning("notification_failed", notification_id=note.id, code=err.code)
            return
        await self._finish(note, ok=True, code=receipt.channel, at=utcnow(),
                           reference=receipt.reference)
        latency_ms = int((utcnow() - started).total_seconds() * 1000)
        log.info("host_notified", channel=receipt.channel, visit_id=note.visit_id,
                 latency_ms=latency_ms)

    async def _claim(self, notification_id: str, now: datetime) -> Notification | None:
        async with transaction(self._sessions) as db:
            claimed = await db.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == "pending")
                .values(status="sending", claimed_by=self._worker,
                        claimed_until=now + timedelta(seconds=CLAIM_S),
                        attempts=Notification.attempts + 1)
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return await db.get(Notification, notification_id)

    async def _finish(self, note: Notification, *, ok: bool, code: str, at: datetime,
                      reference: str = "") -> None:
        async with transaction(self._sessions) as db:
            row = await db.get(Notification, note.id)
            if row is None or row.status != "sending" or row.claimed_by != self._worker:
                return
            if ok:
                row.status, row.delivered_at, row.receipt = "delivered", at, reference[:200]
            else:
                row.status, row.last_error_code = "pending", code
                row.next_attempt_at = at + timedelta(seconds=RETRY_S)
            row.claimed_by = row.claimed_until = None
            add_event(session=db, visit_id=row.visit_id,
                      kind="host_notified" if ok else "notification_failed", state="NOTIFY_HOST",
                      data={"notification_id": row.id, "channel": code})


def _host(note: Notification) -> HostRef:
    host = note.payload.get("host", {})
    return HostRef(employee_id=note.host_employee_id, name=str(host.get("name", "")),
                   email=str(host.get("email", "")), phone=str(host.get("phone", "")),
                   slack_id=str(host.get("slack_id", "")))


def _note(note: Notification) -> HostNote:
    p = note.payload
    arrived = p.get("arrived_at")
    return HostNote(
        visit_id=note.visit_id, notification_id=note.id,
        visitor_name=str(p.get("visitor_name", "")),
        company=str(p.get("company", "")), purpose=str(p.get("purpose", "")),
        party_size=int(p.get("party_size", 1)), is_delivery=bool(p.get("delivery", False)),
        arrived_at=datetime.fromisoformat(arrived) if arrived else None,
    )
