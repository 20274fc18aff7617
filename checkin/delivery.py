"""Outbox delivery: hand committed notification rows to the notifier, exactly once, and escalate.

A row is claimed (pending -> sending, ``attempts + 1``, ``claimed_until``) in its own
transaction before the notifier is called, so two dispatchers or workers never send the same
row; PostgreSQL claims batches with ``FOR UPDATE SKIP LOCKED``, SQLite with a conditional
UPDATE. A claim that outlives ``claimed_until`` (a crashed worker) is taken over, and because
the notifier gets ``attempt > 1`` it first looks for the message the dead worker may have sent:
the notification id is the idempotency key. Deliveries are cut off well inside the claim.

Rows are a small escalation ladder, ``payload["kind"]``: ``host`` (the tool's row) ->
``alternate`` (from the directory: the host's assistant, else their team channel; else the
site-wide contact from config) -> ``reception`` (``ReceptionAlert``). A rung
delivered ``escalate_after_s`` ago with no answer on the visit gets the next rung
(``escalate_due``, polled by the worker); a queued rung is cancelled if the host answers first.
A rung that cannot be delivered for good goes to the next rung at once; a host rung that keeps
failing alerts reception at once and keeps retrying with backoff, honouring a provider's
``Retry-After``. Rung rows have fixed ids per visit, so replicas cannot queue one twice.

Host answers and the visitor's view of all this news live in ``checkin.host_replies``.
Imports: db, visits, directory.store (the host's alternates), providers, errors,
notify (offline, replies).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.db import transaction, utcnow
from checkin.directory.store import EmployeeRow
from checkin.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from checkin.notify.offline import ConsoleReceptionAlert
from checkin.notify.replies import ReplyHub
from checkin.providers import HostNote, HostRef, HostReply, Notifier, Receipt, ReceptionAlert
from checkin.visits import Notification, VisitEvent, add_event

log = structlog.get_logger(__name__)

CLAIM_S = 60
RETRY_S = 30

HOST, ALTERNATE, RECEPTION = "host", "alternate", "reception"
NO_REPLY = "host-no-reply"
# Channels a host cannot answer on (the console): waiting for an answer there is pointless.
NO_ANSWER_CHANNELS = ("offline:",)
# A rung delivered longer ago than escalate_after + this is history, not a waiting visitor.
ESCALATION_WINDOW = timedelta(minutes=30)
# Visit events that are news for the visitor, and the kind each becomes.
NEWS_EVENTS = ("host_replied", "alternate_notified", "reception_alerted")
_EVENT_FOR = {HOST: "host_notified", ALTERNATE: "alternate_notified",
              RECEPTION: "reception_alerted"}


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timing of claims, retries and escalation (``notify:`` in config.yaml)."""

    claim_s: float = CLAIM_S
    retry_initial_s: float = 5.0
    retry_max_s: float = 300.0
    max_attempts: int = 6
    escalate_after_s: float = 120.0
    inline_budget_s: float = 3.0  # the notify_host tool must answer the visitor within tool_s
    alternate: HostRef | None = None  # the host's team: a Slack channel and/or a phone

    @property
    def delivery_budget_s(self) -> float:
        """Longest one delivery may run: half the claim, so nobody takes it over mid-send."""
        return max(0.5, self.claim_s / 2)


class OutboxDispatcher:
    """Delivers outbox rows through the notifier (or reception alert) and records the result."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], notifier: Notifier,
                 *, worker_id: str | None = None, reception: ReceptionAlert | None = None,
                 hub: ReplyHub | None = None, policy: DeliveryPolicy | None = None) -> None:
        self._sessions = sessions
        self._notifier = notifier
        self._worker = (worker_id or f"{socket.gethostname()}:{id(self):x}")[:64]
        self._reception = reception or ConsoleReceptionAlert(sys.stderr, show_names=False)
        self._hub = hub
        self.policy = policy or DeliveryPolicy()

    @property
    def worker_id(self) -> str:
        """Who this dispatcher claims rows as."""
        return self._worker

    async def dispatch(self, notification_id: str) -> bool | None:
        """Claim one new row and deliver it now (the tool's fast path); never raises for
        provider failures, which leave the row to the worker.

        Returns True when delivered, False when this attempt failed (the worker retries and
        reception is alerted), None when another dispatcher had already claimed the row.
        """
        row = await self._claim(notification_id, utcnow())
        if row is None:
            return None
        return await self.deliver(row, budget_s=min(self.policy.inline_budget_s,
                                                    self.policy.delivery_budget_s))

    async def claim_due(self, *, limit: int = 10) -> list[Notification]:
        """Claim up to ``limit`` rows that are due, or whose claim expired (a crashed worker)."""
        now = utcnow()
        async with transaction(self._sessions) as db:
            if db.get_bind().dialect.name == "postgresql":
                # SKIP LOCKED: replicas polling together each take different rows, no waiting.
                ids = list((await db.scalars(
                    select(Notification.id).where(_due(now)).order_by(Notification.next_attempt_at)
                    .limit(limit).with_for_update(skip_locked=True))).all())
                return await self._take(db, ids, now)
            ids = list((await db.scalars(
                select(Notification.id).where(_due(now)).order_by(Notification.next_attempt_at)
                .limit(limit))).all())
        # SQLite has no row locks: each claim is its own conditional UPDATE, and only the
        # writer that still finds the row due gets rowcount 1.
        claimed: list[Notification] = []
        for nid in ids:
            async with transaction(self._sessions) as db:
                claimed += await self._take(db, [nid], now)
        return claimed

    async def deliver(self, row: Notification, *, budget_s: float | None = None) -> bool:
        """Deliver a row this dispatcher has claimed, record what happened; True if delivered."""
        kind = str(row.payload.get("kind", HOST))
        if row.payload.get("reason") == NO_REPLY and await self._answered(row.visit_id):
            await self._finish(row, status="cancelled", event="escalation_cancelled",
                               data={"kind": kind})
            return False
        note = _note(row)
        budget = budget_s or self.policy.delivery_budget_s
        try:
            async with asyncio.timeout(budget):
                if kind == RECEPTION:
                    receipt = await self._reception.alert(
                        note, host_name=host_name(row), reason=str(row.payload.get("reason", "")))
                else:
                    receipt = await self._notifier.notify_host(recipient(row), note)
        except ProviderError as err:
            await self._failed(row, err)
            return False
        except TimeoutError:
            await self._failed(row, ProviderTimeout("notifier", code="notify-slow"))
            return False
        await self._delivered(row, kind, receipt)
        return True

    async def _claim(self, notification_id: str, now: datetime) -> Notification | None:
        async with transaction(self._sessions) as db:
            claimed = await db.execute(
                update(Notification)
                .where(Notification.id == notification_id, Notification.status == "pending")
                .values(**self._claim_values(now))
            )
            if getattr(claimed, "rowcount", 0) != 1:
                return None
            return await db.get(Notification, notification_id)

    def _claim_values(self, now: datetime) -> dict[str, Any]:
        return {"status": "sending", "claimed_by": self._worker,
                "claimed_until": now + timedelta(seconds=self.policy.claim_s),
                "attempts": Notification.attempts + 1}

    async def _take(self, db: AsyncSession, ids: Sequence[str], now: datetime
                    ) -> list[Notification]:
        rows = []
        for nid in ids:
            result = await db.execute(update(Notification)
                                      .where(Notification.id == nid, _due(now))
                                      .values(**self._claim_values(now)))
            if getattr(result, "rowcount", 0) == 1:
                row = await db.get(Notification, nid, populate_existing=True)
                if row is not None:
                    rows.append(row)
        return rows

    async def escalate_due(self) -> int:
        """Queue the next rung for each rung delivered ``escalate_after_s`` ago and unanswered."""
        now = utcnow()
        cutoff = now - timedelta(seconds=self.policy.escalate_after_s)
        async with self._sessions() as db:
            rows = (await db.scalars(select(Notification).where(
                Notification.status == "delivered", Notification.delivered_at <= cutoff,
                Notification.delivered_at >= cutoff - ESCALATION_WINDOW))).all()
        queued = 0
        for row in rows:
            rung = self._next_rung(str(row.payload.get("kind", HOST)))
            if (rung is None or (row.receipt or "").startswith(NO_ANSWER_CHANNELS)
                    or await self._answered(row.visit_id)):
                continue
            try:
                async with transaction(self._sessions) as db:
                    added = await add_rung(db, row, rung, reason=NO_REPLY, due=now,
                                            alternate=self.policy.alternate)
            except IntegrityError:  # another replica queued it a moment ago
                added = False
            if added:
                queued += 1
                log.info("notification_escalated", visit_id=row.visit_id, kind=rung,
                         reason=NO_REPLY)
        return queued

    async def _delivered(self, row: Notification, kind: str, receipt: Receipt) -> None:
        now = utcnow()
        data = {"channel": receipt.channel, "kind": kind,
                "reason": str(row.payload.get("reason", ""))}
        to = row.payload.get("to") or {}
        if kind == ALTERNATE and to.get("via") == "assistant":
            # The visitor hears "I've let Tom know" rather than "their team".
            data["responder"] = first_name(str(to.get("name", "")))
        news = await self._finish(
            row, status="delivered", event=_EVENT_FOR.get(kind, "host_notified"),
            data=data, receipt=f"{receipt.channel}:{receipt.reference}",
        )
        log.info("host_notified", channel=receipt.channel, kind=kind, visit_id=row.visit_id,
                 notification_id=row.id, attempt=row.attempts,
                 latency_ms=int((now - row.created_at).total_seconds() * 1000))
        if news and kind != HOST:
            self._publish(news_for(row, _EVENT_FOR[kind], data))

    async def _failed(self, row: Notification, err: ProviderError) -> None:
        now = utcnow()
        kind = str(row.payload.get("kind", HOST))
        log.warning("notification_failed", notification_id=row.id, kind=kind, code=err.code,
                    attempt=row.attempts, retryable=err.retryable)
        data = {"code": err.code, "kind": kind, "attempt": row.attempts}
        if isinstance(err, ProviderRateLimited):
            await self._finish(row, status="pending", event="notification_rate_limited",
                               data=data, code=err.code,
                               retry_at=now + timedelta(seconds=err.retry_after_s))
            return
        if not err.retryable or row.attempts >= self.policy.max_attempts:
            # For good: the next rung now (a host with neither Slack nor phone lands here).
            nxt = self._next_rung(kind)
            await self._finish(row, status="failed", event="notification_failed", data=data,
                               code=err.code, escalate=(nxt, err.code, now))
            return
        # Every channel is failing but may recover: reception goes to the visitor at once
        # while the host's row keeps trying.
        backoff = min(self.policy.retry_max_s,
                      self.policy.retry_initial_s * 2 ** max(0, row.attempts - 1))
        backoff *= 1 + random.random() * 0.2  # jitter: replicas must not retry in lockstep
        escalate = (RECEPTION, "notify-failed", now) if kind == HOST else None
        await self._finish(row, status="pending", event="notification_failed", data=data,
                           code=err.code, retry_at=now + timedelta(seconds=backoff),
                           escalate=escalate)

    def _next_rung(self, kind: str) -> str | None:
        if kind == HOST:
            return ALTERNATE  # add_rung makes it reception when there is no alternate
        if kind == ALTERNATE:
            return RECEPTION
        return None

    async def _finish(self, row: Notification, *, status: str, event: str, data: dict[str, Any],
                      code: str | None = None, receipt: str | None = None,
                      retry_at: datetime | None = None,
                      escalate: tuple[str | None, str, datetime] | None = None) -> bool:
        """Record the outcome if this dispatcher still owns the claim; False when it did not."""
        now = utcnow()
        values: dict[str, Any] = {"status": status, "claimed_by": None, "claimed_until": None}
        if status == "delivered":
            values.update(delivered_at=now, receipt=(receipt or "")[:200])
        if code is not None:
            values["last_error_code"] = code[:64]
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        async with transaction(self._sessions) as db:
            # The conditional UPDATE comes first: it is the ownership check, and on SQLite it
            # takes the write lock before anything is read.
            result = await db.execute(
                update(Notification)
                .where(Notification.id == row.id, Notification.status == "sending",
                       Notification.claimed_by == self._worker)
                .values(**values))
            if getattr(result, "rowcount", 0) != 1:
                log.warning("claim_lost", notification_id=row.id)
                return False
            add_event(session=db, visit_id=row.visit_id, kind=event, state="NOTIFY_HOST",
                      data={"notification_id": row.id, **data})
            rung = escalate[0] if escalate is not None else None
            if escalate is not None and rung is not None:
                _, reason, due = escalate
                new = await add_rung(db, row, rung, reason=reason, due=due,
                                      alternate=self.policy.alternate)
                if new:
                    log.info("notification_escalated", visit_id=row.visit_id, kind=rung,
                             reason=reason)
        return True

    async def _answered(self, visit_id: str) -> bool:
        async with self._sessions() as db:
            found = await db.scalar(select(VisitEvent.id).where(
                VisitEvent.visit_id == visit_id, VisitEvent.kind == "host_replied").limit(1))
        return found is not None

    def _publish(self, reply: HostReply) -> None:
        if self._hub is not None:
            self._hub.publish(reply)


def _due(now: datetime) -> Any:
    return or_(
        and_(Notification.status == "pending", Notification.next_attempt_at <= now),
        and_(Notification.status == "sending", Notification.claimed_until < now),
    )


def rung_id(visit_id: str, kind: str) -> str:
    """The id of a visit's alternate/reception row: fixed, so a rung is queued at most once."""
    return hashlib.sha256(f"{visit_id}:{kind}".encode()).hexdigest()[:32]


async def alternate_contact(db: AsyncSession, host_employee_id: str,
                            site: HostRef | None) -> tuple[HostRef, str] | None:
    """Who is told when the host does not answer, and how they were chosen.

    From the directory: the host's assistant (an active employee with a way to reach them,
    notified like a host), else the host's team channel (a Slack channel id); else the
    site-wide ``notify.alternate``; None when there is nobody (reception is next).
    """
    host = await db.get(EmployeeRow, host_employee_id) if host_employee_id else None
    if host is not None and host.assistant_id and host.assistant_id != host.id:
        aide = await db.get(EmployeeRow, host.assistant_id)
        if aide is not None and aide.active and (aide.slack_id or aide.email or aide.phone):
            return HostRef(employee_id=aide.id, name=f"{aide.first_name} {aide.last_name}",
                           email=aide.email, phone=aide.phone, slack_id=aide.slack_id), "assistant"
    if host is not None and host.team_channel:
        return HostRef(employee_id=ALTERNATE, name=f"{host.first_name}'s team",
                       slack_id=host.team_channel), "team"
    if site is not None:
        return site, "site"
    return None


async def add_rung(db: AsyncSession, parent: Notification, kind: str, *, reason: str,
                   due: datetime, alternate: HostRef | None) -> bool:
    """Queue the visit's ``kind`` rung after ``parent`` unless it exists; True if queued.

    An ``alternate`` rung goes to ``alternate_contact`` (``alternate`` is the site-wide one);
    with nobody to tell, the reception rung is queued instead.
    """
    contact = None
    if kind == ALTERNATE:
        contact = await alternate_contact(db, parent.host_employee_id, alternate)
        if contact is None:
            kind = RECEPTION
    nid = rung_id(parent.visit_id, kind)
    if await db.get(Notification, nid) is not None:
        return False
    payload = {**parent.payload, "kind": kind, "reason": reason, "parent": parent.id}
    if contact is not None:
        to, via = contact
        payload["to"] = {"employee_id": to.employee_id or ALTERNATE, "name": to.name,
                         "email": to.email, "phone": to.phone, "slack_id": to.slack_id,
                         "via": via}
    db.add(Notification(id=nid, visit_id=parent.visit_id, host_employee_id=parent.host_employee_id,
                        channel=kind, payload=payload, status="pending", created_at=utcnow(),
                        next_attempt_at=due, attempts=0))
    return True


def recipient(row: Notification) -> HostRef:
    """Who a row goes to: its ``to`` contact (a rung), else the host."""
    who = row.payload.get("to") or row.payload.get("host", {})
    return HostRef(employee_id=str(who.get("employee_id") or row.host_employee_id),
                   name=str(who.get("name", "")), email=str(who.get("email", "")),
                   phone=str(who.get("phone", "")), slack_id=str(who.get("slack_id", "")))


def host_name(row: Notification) -> str:
    """The full name of the host the visitor came for."""
    return str(row.payload.get("host", {}).get("name", ""))


def first_name(name: str) -> str:
    """The first word of a name: what the visitor hears ("Sarah")."""
    return name.split()[0] if name.split() else ""


def _note(row: Notification) -> HostNote:
    p = row.payload
    arrived = p.get("arrived_at")
    kind = str(p.get("kind", HOST))
    return HostNote(
        visit_id=row.visit_id, notification_id=row.id,
        visitor_name=str(p.get("visitor_name", "")),
        company=str(p.get("company", "")), purpose=str(p.get("purpose", "")),
        party_size=int(p.get("party_size", 1)), is_delivery=bool(p.get("delivery", False)),
        arrived_at=datetime.fromisoformat(arrived) if arrived else None,
        attempt=max(1, row.attempts),
        on_behalf_of=host_name(row) if kind != HOST else "",
    )


def news_for(row: Notification, kind: str, data: dict[str, Any]) -> HostReply:
    """The visitor's view of an event on ``row``'s visit."""
    host = first_name(host_name(row))
    return HostReply(visit_id=row.visit_id, kind=kind, answer=str(data.get("answer", "")),
                     responder=str(data.get("responder", "")), host=host,
                     reason=str(data.get("reason", "")))


async def outbox_health(*, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Counts for ``/health``: rows overdue by a minute, rows in flight, failures in 24 h."""
    now = utcnow()
    async with sessions() as db:
        async def count(*where: Any) -> int:
            return int(await db.scalar(select(func.count()).select_from(Notification)
                                       .where(*where)) or 0)

        overdue = await count(Notification.status == "pending",
                              Notification.next_attempt_at < now - timedelta(minutes=1))
        sending = await count(Notification.status == "sending")
        failed = await count(Notification.status == "failed",
                             Notification.created_at >= now - timedelta(hours=24))
    return {"overdue": overdue, "sending": sending, "failed_24h": failed}
