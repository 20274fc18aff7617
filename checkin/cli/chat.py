"""``checkin chat``: check a visitor in by typing, or speak the scenario JSON-lines protocol.

Interactive: type what the visitor says; an empty line is a silence; after check-in it waits
``notify.visitor_wait_s`` for the host's answer and prints it. ``--jsonl``: one JSON
object per line in and out (see docs/chat-protocol.md); stdout carries only protocol lines.
A chat is a channel like any other: its visits, outbox rows and badges go to the configured
database and folders.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from checkin.config import Settings
from checkin.conversation import Conversation, Reply
from checkin.migrate import upgrade_to_head
from checkin.runtime import Runtime, build_runtime

log = structlog.get_logger(__name__)


def register(sub: Any) -> None:
    """Add ``chat`` to the command line."""
    p = sub.add_parser("chat", help="check a visitor in by typing (or --jsonl for scripts)")
    p.add_argument("--jsonl", action="store_true", help="JSON lines on stdin/stdout")
    p.add_argument("--directory", type=Path, help="use this directory CSV/JSON instead of the DB")
    p.add_argument("--calendar", help="iCalendar file or URL for today's meetings")
    p.add_argument("--now", help="pretend it is this moment (ISO 8601 with offset)")
    p.set_defaults(handler=run)


def _clock(now: str | None) -> Any:
    if not now:
        return lambda: datetime.now(UTC)
    try:
        fixed = datetime.fromisoformat(now)
    except ValueError:
        raise SystemExit(f"checkin chat: --now must be ISO 8601, got {now!r}") from None
    if fixed.tzinfo is None:
        raise SystemExit("checkin chat: --now needs a UTC offset, e.g. 2025-03-18T09:50:00-04:00")
    return lambda: fixed


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run one visit on the terminal."""
    if args.directory is not None and not args.directory.exists():
        print(f"checkin chat: directory file not found: {args.directory}", file=sys.stderr)
        return 2
    await asyncio.to_thread(upgrade_to_head, settings.database_url)
    runtime = build_runtime(settings, directory_file=args.directory,
                            calendar_source=args.calendar, clock=_clock(args.now))
    try:
        conversation = await runtime.new_conversation(channel="chat")
        structlog.contextvars.bind_contextvars(visit_id=conversation.visit_id)
        if args.jsonl:
            return await _jsonl(conversation)
        return await _interactive(conversation, runtime)
    finally:
        structlog.contextvars.clear_contextvars()
        await runtime.aclose()


def _line(reply: Reply, **extra: Any) -> str:
    return json.dumps({
        "bot": reply.text, "state": str(reply.state),
        "actions": [{"tool": a.tool, "args": a.args, "result": a.result} for a in reply.actions],
        "done": reply.done, **extra,
    }, ensure_ascii=False)


async def _jsonl(conversation: Conversation) -> int:
    out = sys.stdout
    out.write(_line(await conversation.greet()) + "\n")
    out.flush()
    loop = asyncio.get_running_loop()
    while True:
        raw = await loop.run_in_executor(None, sys.stdin.readline)
        if not raw:
            break
        if not raw.strip():
            continue
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except ValueError:
            log.warning("chat_input_rejected", code="bad-json", size=len(raw))
            state = conversation.session
            out.write(_line(Reply("", state.state, state.done), error="invalid JSON line") + "\n")
            out.flush()
            continue
        if msg.get("end"):
            await conversation.close()
            s = conversation.session
            out.write(_line(Reply("", s.state, True)) + "\n")
            out.flush()
            return 0
        if "say" in msg:
            reply = await conversation.reply(str(msg["say"]))
        elif "silence" in msg:
            reply = await conversation.reply(None, silence_s=float(msg.get("silence") or 0))
        else:
            s = conversation.session
            reply = Reply("", s.state, s.done)
            out.write(_line(reply, error="expected say, silence or end") + "\n")
            out.flush()
            continue
        out.write(_line(reply) + "\n")
        out.flush()
    await conversation.close()
    return 0


async def _interactive(conversation: Conversation, runtime: Runtime) -> int:
    print("checkin chat: type what the visitor says; an empty line is a silence, Ctrl-D ends.\n")
    reply = await conversation.greet()
    print(f"bot: {reply.text}")
    loop = asyncio.get_running_loop()
    while not reply.done:
        raw = await loop.run_in_executor(None, _prompt)
        if raw is None:
            break
        text = raw.strip()
        reply = await conversation.reply(text or None, silence_s=0.0 if text else 8.0)
        for action in reply.actions:
            print(f"     [{action.tool}] {json.dumps(action.result, ensure_ascii=False)}")
        print(f"bot: {reply.text}   ({reply.state})")
    news = runtime.host_news(conversation)
    if news is not None:
        # Like the kiosk and the phone: stay a while for the host's answer (Ctrl-C stops).
        print(f"     (waiting up to {runtime.visitor_wait_s:g} s for the host's answer)")
        async for sentence in news:
            print(f"bot: {sentence}")
    await conversation.close()
    print(f"\nVisit {conversation.visit_id} ended: {conversation.session.state}.")
    return 0


def _prompt() -> str | None:
    try:
        return input("you> ")
    except EOFError:
        return None
