"""Outbox workers with the real Slack client against the fake: once each, even across crashes.

- Two workers, each with its own engine (two replicas), share one database (PostgreSQL:
  ``FOR UPDATE SKIP LOCKED``; SQLite: conditional UPDATE) and post every message once.
- A worker process is SIGKILLed while Slack holds its ``chat.postMessage`` answer (Slack has
  posted the message; the worker never learns it). After the claim expires a new worker takes
  the row over, finds the message in the conversation history and does not post it again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest
from sqlalchemy import select

from checkin.db import make_engine, make_sessionmaker
from checkin.delivery import DeliveryPolicy, OutboxDispatcher
from checkin.notify.chain import RetryingNotifier
from checkin.notify.slack import SlackNotifier
from checkin.outbox_worker import OutboxWorker
from checkin.visits import Notification
from tests.fakeservers.fake_slack import TOKEN, FakeSlack
from tests.fakeservers.notify_stack import notify_env, queue_notification

pytestmark = pytest.mark.contract


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


async def statuses(sessions) -> list[tuple[str, str, int, str | None]]:
    async with sessions() as db:
        rows = (await db.scalars(select(Notification).order_by(Notification.id))).all()
    return [(r.id, r.status, r.attempts, r.receipt) for r in rows]


async def all_delivered(sessions, *, timeout_s: float) -> None:
    """Poll the outbox (other processes write it, so there is no event to await)."""
    for _ in range(int(timeout_s / 0.05)):
        if all(s == "delivered" for _, s, _, _ in await statuses(sessions)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not delivered: {await statuses(sessions)}")


def delivered_ids(slack: FakeSlack) -> Counter[str]:
    return Counter(m["metadata"]["event_payload"]["notification_id"] for m in slack.posted())


async def test_two_workers_deliver_every_message_exactly_once(sessions, database_url, slack):
    queued = [(await queue_notification(sessions))[1] for _ in range(12)]
    slack.fail_next("chat.postMessage", 429, times=2, retry_after=0)
    slack.fail_next("chat.postMessage", 500, times=2)

    async def replica(name: str) -> tuple[OutboxWorker, SlackNotifier, object]:
        engine = make_engine(database_url)
        notifier = SlackNotifier(token=TOKEN, base_url=slack.api_url, timeout_s=2)
        chain = RetryingNotifier(notifier, attempts=3, wait_initial_s=0.01, wait_max_s=0.05)
        dispatcher = OutboxDispatcher(make_sessionmaker(engine), chain, worker_id=name,
                                      policy=DeliveryPolicy(retry_initial_s=0.05))
        return OutboxWorker(dispatcher, poll_s=0.05, concurrency=3), notifier, engine

    replicas = [await replica("replica-a"), await replica("replica-b")]
    tasks = [asyncio.create_task(w.run(), name=f"worker-{i}")
             for i, (w, _, _) in enumerate(replicas)]
    try:
        await all_delivered(sessions, timeout_s=15)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for _, notifier, engine in replicas:
            await notifier.aclose()
            await engine.dispose()
    assert delivered_ids(slack) == Counter({nid: 1 for nid in queued})
    # Every message once, plus the 4 scripted failures that were retried.
    assert len(slack.calls("chat.postMessage")) == 12 + 4


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "checkin.outbox_worker"],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_worker_killed_mid_send_loses_nothing_and_doubles_nothing(
        sessions, database_url, tmp_path, slack):
    env = notify_env(database_url, tmp_path, slack=slack,
                     config="notify:\n  claim_s: 2\n  poll_s: 0.1\n")
    visit_id, nid = await queue_notification(sessions)
    slack.hold("chat.postMessage", seconds=30)
    first = start_worker(env)
    try:
        assert await asyncio.to_thread(slack.held.wait, 20), "the worker never reached Slack"
        first.send_signal(signal.SIGKILL)  # mid-send: Slack has the message, the worker is gone
        first.wait(timeout=10)
    finally:
        stop(first)
        slack.release()
    ((_, status, attempts, _),) = await statuses(sessions)
    assert (status, attempts) == ("sending", 1)  # claimed by a dead worker

    second = start_worker(env)
    try:
        await all_delivered(sessions, timeout_s=20)
    finally:
        stop(second)
    ((_, status, attempts, receipt),) = await statuses(sessions)
    (message,) = slack.posted()
    assert delivered_ids(slack) == Counter({nid: 1})
    assert (status, attempts) == ("delivered", 2)
    assert receipt == f"slack:DE1:{message['ts']}"  # the first worker's message, found again
    assert len(slack.calls("conversations.history")) == 1
