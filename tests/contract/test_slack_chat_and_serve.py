"""``checkin chat`` checks a visitor in while ``checkin serve`` runs on the same database.

With ``CHECKIN_NOTIFIER=slack`` both processes can deliver the outbox row: the chat right
away, the service's worker when the chat's attempt failed. Either way Slack gets exactly one
message, and the host's button press, received by the service, lands on the chat's visit.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from checkin.visits import Notification, VisitEvent
from tests.fakeservers.fake_slack import FakeSlack, block_actions, signed
from tests.fakeservers.notify_stack import notify_env

pytestmark = pytest.mark.contract

DIRECTORY = """id,first_name,last_name,department,title,email,phone,slack_id,active,aliases
E1,Priya,Patel,Engineering,Staff Engineer,priya.patel@example.test,+1-555-0101,UE1,true,
E3,Marcus,Oyelaran,Finance,Controller,marcus@example.test,+1-555-0103,UE3,true,
"""
VISITOR = ["hi, I'm here to see Priya Patel", "yes", "Nathan Ellison",
           "Vertex Dynamics, a design review"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_serve(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:  # a file, not a pipe nobody reads: a full pipe blocks serve
        return subprocess.Popen([sys.executable, "-m", "checkin", "serve", "--port", str(port)],
                                env=env, stdout=subprocess.DEVNULL, stderr=sink)


async def wait_for_health(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=1) as client:
        for _ in range(200):
            if proc.poll() is not None:
                output = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"checkin serve exited: {output[-800:]}")
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("checkin serve did not come up")


async def outbox(sessions) -> list[Notification]:
    async with sessions() as db:
        return list((await db.scalars(select(Notification))).all())


async def check_in_by_chat(env: dict[str, str], directory: Path) -> None:
    lines = "".join(json.dumps({"say": s}) + "\n" for s in VISITOR)
    chat = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "checkin", "chat", "--jsonl",
                         "--directory", str(directory)],
        input=lines.encode(), env=env, capture_output=True, timeout=60)
    assert chat.returncode == 0, chat.stderr.decode()[-800:]
    last = json.loads(chat.stdout.decode().strip().splitlines()[-1])
    assert last["done"] and last["state"] == "COMPLETE"


async def host_rows_delivered(sessions, count: int) -> list[Notification]:
    for _ in range(150):  # the service's worker polls every 0.1 s
        rows = [r for r in await outbox(sessions) if r.payload.get("kind", "host") == "host"]
        if len(rows) == count and all(r.status == "delivered" for r in rows):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # five more polls: time enough for a double send to show
    return sorted((r for r in await outbox(sessions) if r.payload.get("kind", "host") == "host"),
                  key=lambda r: r.created_at)


async def test_chat_check_ins_are_delivered_once_while_serve_runs(sessions, database_url,
                                                                   tmp_path):
    directory = tmp_path / "directory.csv"
    directory.write_text(DIRECTORY, encoding="utf-8")
    with FakeSlack() as slack:
        env = {**os.environ, **notify_env(
            database_url, tmp_path, slack=slack,
            config="notify:\n  poll_s: 0.1\n  retry_initial_s: 0.3\n")}
        port = free_port()
        log = tmp_path / "serve.log"
        serve = start_serve(env, port, log)
        try:
            await wait_for_health(f"http://127.0.0.1:{port}", serve, log)
            # Visit 1: the chat delivers at once; the service must not send it again.
            await check_in_by_chat(env, directory)
            # Visit 2: Slack fails the chat's three inline tries; the service's worker delivers.
            slack.fail_next("chat.postMessage", 500, times=3)
            await check_in_by_chat(env, directory)

            by_chat, by_serve = await host_rows_delivered(sessions, 2)
            sent = Counter(m["metadata"]["event_payload"]["notification_id"]
                           for m in slack.posted())
            assert sent == Counter({by_chat.id: 1, by_serve.id: 1})
            assert [(r.status, r.attempts) for r in (by_chat, by_serve)] == [
                ("delivered", 1), ("delivered", 2)]

            # Sarah presses "On my way": the service records it on the chat's visit.
            body, headers = signed(block_actions(notification_id=by_chat.id,
                                                 action_id="checkin_coming"))
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                response = await client.post("/slack/interactions", content=body,
                                             headers=headers)
            assert response.status_code == 200
            async with sessions() as db:
                answered = (await db.scalars(select(VisitEvent).where(
                    VisitEvent.visit_id == by_chat.visit_id,
                    VisitEvent.kind == "host_replied"))).all()
            assert [e.data["answer"] for e in answered] == ["coming"]
        finally:
            serve.terminate()
            try:
                serve.wait(timeout=10)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
