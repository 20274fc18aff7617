"""The outbox worker: delivers due notification rows, retries, escalates; one per replica.

``checkin serve`` runs one in its lifespan. Any number may run against one database: rows are
claimed with ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) or a conditional UPDATE (SQLite), a row
whose claim expired (its worker died) is taken over, and the notification id is the
idempotency key, so every message is sent once. ``python -m checkin.outbox_worker`` runs a
worker on its own (the same settings and environment as ``checkin serve``).
Imports: delivery (and, in ``main`` only, the composition root's helpers).
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence

import structlog

from checkin.delivery import OutboxDispatcher
from checkin.visits import Notification

log = structlog.get_logger(__name__)


class OutboxWorker:
    """Polls the outbox every ``poll_s`` (or when kicked) and delivers what is due.

    Up to ``concurrency`` deliveries run at once, each its own task, so one slow provider
    call does not hold up the rows behind it; the poll claims only as many rows as there are
    free slots, leaving the rest to other replicas.
    """

    def __init__(self, dispatcher: OutboxDispatcher, *, poll_s: float = 1.0,
                 concurrency: int = 4) -> None:
        self._dispatcher = dispatcher
        self._poll_s = poll_s
        self._concurrency = concurrency
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    def kick(self) -> None:
        """Look at the outbox now instead of at the next poll."""
        self._wake.set()

    async def run_once(self) -> int:
        """Claim what is due now and deliver it all; returns how many rows were handled."""
        await self._dispatcher.escalate_due()  # queues rows that the claim below picks up
        rows = await self._dispatcher.claim_due(limit=self._concurrency)
        if rows:
            async with asyncio.TaskGroup() as group:
                for row in rows:
                    group.create_task(self._deliver(row), name=f"deliver-{row.id}")
        return len(rows)

    async def run(self) -> None:
        """Deliver until cancelled; a database outage is logged and waited out, never fatal."""
        log.info("outbox_worker_started", worker=self._dispatcher.worker_id)
        async with asyncio.TaskGroup() as group:
            while True:
                free = self._concurrency - len(self._inflight)
                rows: list[Notification] = []
                try:
                    await self._dispatcher.escalate_due()
                    if free:
                        rows = await self._dispatcher.claim_due(limit=free)
                except Exception as err:  # the DB may be down for a while; keep the worker
                    log.error("outbox_poll_failed", error_type=type(err).__name__)
                for row in rows:
                    task = group.create_task(self._deliver(row), name=f"deliver-{row.id}")
                    self._inflight.add(task)
                    task.add_done_callback(self._finished)
                if rows and len(rows) == free:
                    continue  # there may be more due right away
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll_s)
                except TimeoutError:
                    pass

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.kick()  # a slot is free: claim the next due row without waiting for the poll

    async def _deliver(self, row: Notification) -> None:
        try:
            await self._dispatcher.deliver(row)
        except Exception as err:  # one row's DB error must not stop the others
            log.error("delivery_crashed", notification_id=row.id,
                      error_type=type(err).__name__)


async def _serve_worker() -> int:
    from checkin.config import load_settings
    from checkin.log import configure_logging
    from checkin.migrate import upgrade_to_head
    from checkin.runtime import build_runtime

    settings = load_settings()
    configure_logging(fmt=settings.logging.format, level=settings.logging.level)
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    runtime = build_runtime(settings)
    worker = OutboxWorker(runtime.dispatcher, poll_s=settings.notify.poll_s)
    task = asyncio.create_task(worker.run(), name="outbox-worker")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    print("checkin outbox worker: running", flush=True)
    try:
        await task
    except asyncio.CancelledError:
        pass
    finally:
        await runtime.aclose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one outbox worker until SIGTERM/SIGINT."""
    del argv
    return asyncio.run(_serve_worker())


if __name__ == "__main__":
    sys.exit(main())
