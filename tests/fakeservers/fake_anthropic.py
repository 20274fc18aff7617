"""A fake Anthropic Messages API on 127.0.0.1: real HTTP + SSE, scripted replies, recorded requests.

Point the real SDK at it (``AsyncAnthropic(base_url=fake.url)``). It speaks ``POST /v1/messages``
with ``"stream": true`` as the API does (message_start, content_block_start/delta/stop with
text_delta and input_json_delta, message_delta with cumulative usage, message_stop, pings),
and can be scripted to answer 529/5xx, stall mid-stream, send an ``event: error`` after the 200,
drop the connection, or send malformed tool input JSON. It validates what the API validates and
we care about (auth header, no removed sampling parameters, every tool_use answered by a
tool_result first in the next user message) and answers 400 otherwise, like the real service.

It runs uvicorn in a daemon thread on port 0 and stops by itself after ``lifetime_s``.
Standalone, for the scenario runner: ``python -m tests.fakeservers.fake_anthropic --fail
overloaded`` prints its URL and serves until its lifetime ends or it is interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import signal
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Text:
    """A text block, streamed a word at a time."""

    text: str


@dataclass
class ToolUse:
    """A tool_use block; ``raw`` (if set) is sent as the input JSON verbatim, valid or not."""

    name: str
    input: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None
    id: str = ""


@dataclass
class Reply:
    """One streamed assistant message and how the stream misbehaves, if it does.

    ``hold`` pauses the stream after the first text block until the test sets it (proves text
    is spoken while the model is still writing). ``stall_after``/``error_after``/``drop_after``
    act after that many SSE events have been sent.
    """

    blocks: list[Text | ToolUse] = field(default_factory=list)
    stop_reason: str | None = None
    usage: tuple[int, int] = (120, 25)
    hold: threading.Event | None = None
    delay_s: float = 0.0
    stall_after: int | None = None
    stall_s: float = 30.0
    error_after: int | None = None
    error_kind: str = "overloaded_error"
    drop_after: int | None = None


@dataclass
class Status:
    """An HTTP error answer (529 overloaded by default), before any stream starts."""

    status: int = 529
    kind: str = "overloaded_error"


Item = Reply | Status
Responder = Callable[[dict[str, Any]], Item]


def say(*texts: str) -> Reply:
    """A reply that only speaks."""
    return Reply([Text(t) for t in texts])


def call(tool: str, text: str = "", /, **tool_input: Any) -> Reply:
    """A reply that (optionally says something and) calls one tool."""
    blocks: list[Text | ToolUse] = [Text(text)] if text else []
    return Reply([*blocks, ToolUse(tool, tool_input)])


@dataclass
class Recorded:
    """One request as the fake received it."""

    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def tool_names(self) -> list[str]:
        return [t["name"] for t in self.body.get("tools", [])]

    def tool_results(self) -> list[dict[str, Any]]:
        """The tool_result blocks of the last user message."""
        last = self.messages[-1] if self.messages else {"content": []}
        content = last["content"] if isinstance(last["content"], list) else []
        return [b for b in content if b.get("type") == "tool_result"]


class FakeAnthropic:
    """The fake server; use as a context manager or call ``start()``/``stop()``."""

    def __init__(self, *, lifetime_s: float = 300.0) -> None:
        self.requests: list[Recorded] = []
        self.default: Item | Responder = say("Okay.")
        self._queue: deque[Item | Responder] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._lifetime_s = lifetime_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self.url = ""

    # -- scripting ---------------------------------------------------------------------------

    def script(self, *items: Item | Responder) -> None:
        """Answer the next requests with ``items`` in order, then with ``default``."""
        with self._lock:
            self._queue.extend(items)

    def reset(self, default: Item | Responder | None = None) -> None:
        """Forget the script and the recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.default = default or say("Okay.")

    def _next(self, body: dict[str, Any]) -> Item:
        with self._lock:
            item = self._queue.popleft() if self._queue else self.default
        return item(body) if callable(item) else item

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        app = Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                log_level="error", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-anthropic",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake Anthropic server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._timer = threading.Timer(self._lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the endpoint --------------------------------------------------------------------------

    async def _messages(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "invalid_request_error", "body is not JSON")
        recorded = Recorded(headers, body)
        self.requests.append(recorded)
        problem = _invalid(headers, body)
        if problem:
            recorded.status = 400 if problem != "auth" else 401
            if problem == "auth":
                return _error(401, "authentication_error", "invalid x-api-key")
            return _error(400, "invalid_request_error", problem)
        item = self._next(body)
        if isinstance(item, Status):
            recorded.status = item.status
            return _error(item.status, item.kind, "scripted failure")
        if not body.get("stream"):
            return _error(400, "invalid_request_error", "this fake only streams")
        return StreamingResponse(self._events(body, item), media_type="text/event-stream",
                                 headers={"request-id": f"req_fake_{len(self.requests)}"})

    async def _events(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[bytes]:
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        for n, (event, data) in enumerate(self._sse(body, reply)):
            if n == reply.stall_after:
                await asyncio.sleep(reply.stall_s)
            if n == reply.error_after:
                yield _frame("error", {"type": "error", "error": {
                    "type": reply.error_kind, "message": "Overloaded"}})
                return
            if n == reply.drop_after:
                raise ConnectionResetError("fake drops the connection mid-stream")
            if event == "hold" and reply.hold is not None:
                await asyncio.to_thread(reply.hold.wait, 10)
                continue
            yield _frame(event, data)

    def _sse(self, body: dict[str, Any], reply: Reply) -> list[tuple[str, dict[str, Any]]]:
        input_tokens, output_tokens = reply.usage
        stop = reply.stop_reason or (
            "tool_use" if any(isinstance(b, ToolUse) for b in reply.blocks) else "end_turn")
        out: list[tuple[str, dict[str, Any]]] = [("message_start", {
            "type": "message_start", "message": {
                "id": f"msg_fake_{next(self._ids)}", "type": "message", "role": "assistant",
                "model": body.get("model", ""), "content": [], "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}),
            ("ping", {"type": "ping"})]
        held = False
        for index, block in enumerate(reply.blocks):
            if isinstance(block, Text):
                out.append(("content_block_start", {"type": "content_block_start",
                                                    "index": index,
                                                    "content_block": {"type": "text",
                                                                      "text": ""}}))
                for word in _words(block.text):
                    out.append(("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "text_delta", "text": word}}))
                out.append(("content_block_stop", {"type": "content_block_stop",
                                                   "index": index}))
                if not held:
                    out.append(("hold", {}))
                    held = True
            else:
                tool_id = block.id or f"toolu_fake_{next(self._ids)}"
                raw = block.raw if block.raw is not None else json.dumps(block.input)
                out.append(("content_block_start", {
                    "type": "content_block_start", "index": index,
                    "content_block": {"type": "tool_use", "id": tool_id, "name": block.name,
                                      "input": {}}}))
                half = len(raw) // 2
                for piece in ("", raw[:half], raw[half:]):
                    out.append(("content_block_delta", {
                        "type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}))
                out.append(("content_block_stop", {"type": "content_block_stop",
                                                   "index": index}))
        out.append(("message_delta", {"type": "message_delta",
                                      "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": {"output_tokens": output_tokens}}))
        out.append(("message_stop", {"type": "message_stop"}))
        return out


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


def _frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _error(status: int, kind: str, message: str) -> JSONResponse:
    # x-should-retry: false keeps a client with retries from waiting; ours has none anyway.
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message},
                         "request_id": "req_fake"}, status_code=status,
                        headers={"x-should-retry": "false"})


REMOVED_PARAMS = ("temperature", "top_p", "top_k")


def _invalid(headers: dict[str, str], body: dict[str, Any]) -> str:
    """Why the real API would refuse this request ("" when it would not)."""
    if not headers.get("x-api-key") and not headers.get("authorization", "").startswith("Bearer "):
        return "auth"
    for name in REMOVED_PARAMS:
        if name in body:
            return f"{name}: unexpected parameter"
    if not body.get("model") or not isinstance(body.get("max_tokens"), int):
        return "model and max_tokens are required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: the first message must use the user role"
    return _tool_pairing(messages)


def _tool_pairing(messages: list[dict[str, Any]]) -> str:
    for i, msg in enumerate(messages):
        content = msg.get("content")
        if isinstance(content, str):
            if not content:
                return f"messages.{i}: content must be non-empty"
            continue
        if not isinstance(content, list) or not content:
            return f"messages.{i}: content must be a non-empty list"
        for block in content:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
        if i and messages[i - 1].get("role") == msg.get("role"):
            return f"messages.{i}: roles must alternate"
        uses = [b["id"] for b in content if b.get("type") == "tool_use"]
        if not uses:
            continue
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        if nxt is None:
            return f"messages.{i}: tool_use ids were found without tool_result blocks"
        blocks = nxt["content"] if isinstance(nxt["content"], list) else []
        leading: list[str] = []
        for b in blocks:
            if b.get("type") != "tool_result":
                break
            leading.append(b.get("tool_use_id"))
        if set(uses) - set(leading):
            return (f"messages.{i + 1}: tool_use ids were found without tool_result blocks "
                    "immediately after")
    return ""


# -- standalone ------------------------------------------------------------------------------------

FAILURES: dict[str, Callable[[], Item]] = {
    "overloaded": lambda: Status(529, "overloaded_error"),
    "server-error": lambda: Status(500, "api_error"),
    "stream-error": lambda: Reply([Text("One moment please.")], error_after=2),
    "stall": lambda: Reply([Text("Let me check.")], stall_after=2, stall_s=60),
    "malformed": lambda: Reply([ToolUse("lookup_employee", raw='{"name": "Pri')]),
    "drop": lambda: Reply([Text("Sure.")], drop_after=3),
}


def failing_responder(kind: str) -> Responder:
    """Fail every request: one kind, or ``mixed`` (each kind in turn)."""
    kinds = itertools.cycle(FAILURES) if kind == "mixed" else itertools.repeat(kind)
    lock = threading.Lock()

    def respond(body: dict[str, Any]) -> Item:
        with lock:
            chosen = next(kinds)
        return FAILURES[chosen]()

    return respond


def main(argv: list[str] | None = None) -> int:
    """Serve a failing fake until the lifetime ends (or SIGINT/SIGTERM)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail", choices=[*FAILURES, "mixed"], default="overloaded")
    parser.add_argument("--lifetime", type=float, default=1800.0, help="seconds, then stop")
    args = parser.parse_args(argv)
    fake = FakeAnthropic(lifetime_s=args.lifetime)
    fake.default = failing_responder(args.fail)
    fake.start()
    print(fake.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        deadline = time.monotonic() + args.lifetime
        while not done.wait(0.5) and time.monotonic() < deadline:
            pass
    except KeyboardInterrupt:
        pass
    fake.stop()
    print(f"requests: {len(fake.requests)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
