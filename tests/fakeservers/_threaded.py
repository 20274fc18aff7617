"""Shared plumbing of the fake Slack and Twilio REST servers: an HTTP server in a daemon thread.

Threaded rather than asyncio so a fake keeps answering while a test blocks (waiting for a
subprocess, holding a request open). It binds 127.0.0.1 on port 0, records every request, can
be scripted to fail (status, ``Retry-After``) or to *hold* a request after it has been
processed (the provider accepted it but the answer never reaches a client that dies), and
stops by itself after ``lifetime_s`` if a test forgets to.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    """One request as the fake saw it."""

    method: str
    path: str
    headers: dict[str, str]
    params: dict[str, Any]
    body: bytes
    status: int = 0


@dataclass
class Failure:
    """A scripted answer instead of the real one."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """What a route returns."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class ThreadedFake:
    """Base class: subclasses implement ``route(method, path, params, headers) -> Reply``."""

    def __init__(self, *, lifetime_s: float = 120.0) -> None:
        self.requests: list[Recorded] = []
        self._failures: dict[str, deque[Failure]] = {}
        self._holds: dict[str, float] = {}
        self.held = threading.Event()  # set when a held request has been processed
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._lifetime_s = lifetime_s
        self._server: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    # --- scripting ------------------------------------------------------------------------
    def fail_next(self, key: str, status: int, *, times: int = 1, retry_after: float | None = None,
                  body: Any = None) -> None:
        """The next ``times`` requests to ``key`` (a method name or path) answer ``status``."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            queue = self._failures.setdefault(key, deque())
            for _ in range(times):
                queue.append(Failure(status, body, headers))

    def hold(self, key: str, seconds: float = 30.0) -> None:
        """Process the next ``key`` request, then keep its answer back for ``seconds``."""
        with self._lock:
            self._holds[key] = seconds

    def release(self) -> None:
        """Let held answers go."""
        self._release.set()

    def calls(self, key: str) -> list[Recorded]:
        """Recorded requests whose key is ``key``."""
        return [r for r in self.requests if self.key_of(r.path) == key]

    # --- to implement ---------------------------------------------------------------------
    def key_of(self, path: str) -> str:
        """The scripting key of a path."""
        return path

    def route(self, method: str, path: str, params: dict[str, Any],
              headers: dict[str, str]) -> Reply:
        """Answer one request."""
        raise NotImplementedError

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> ThreadedFake:
        """Start serving in a daemon thread."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits for it, at every test's teardown.
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         name=type(self).__name__, daemon=True).start()
        self._timer = threading.Timer(self._lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); held requests are released first."""
        self._release.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._timer is not None:
            self._timer.cancel()

    def __enter__(self) -> ThreadedFake:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- plumbing -------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        params: dict[str, Any] = {k: v[0] for k, v in parse_qs(split.query).items()}
        ctype = headers.get("content-type", "")
        if body and "json" in ctype:
            params.update(json.loads(body))
        elif body:
            params.update({k: v[0] for k, v in parse_qs(body.decode()).items()})
        record = Recorded(method, split.path, headers, params, body)
        key = self.key_of(split.path)
        with self._lock:
            self.requests.append(record)
            queue = self._failures.get(key)
            failure = queue.popleft() if queue else None
            hold_s = self._holds.pop(key, None)
        if failure is not None:
            reply = Reply(failure.status, failure.body if failure.body is not None
                          else self.error_body(failure.status), failure.headers)
        else:
            reply = self.route(method, split.path, params, headers)
        record.status = reply.status
        if hold_s is not None:
            self.held.set()
            self._release.wait(hold_s)
        payload = json.dumps(reply.body).encode() if not isinstance(reply.body, bytes) \
            else reply.body
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.headers.pop("Content-Type",
                                                                  "application/json"))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except OSError:  # the client died while we held its answer: that is the point
            pass

    def error_body(self, status: int) -> Any:
        """The body of a scripted failure."""
        return {"error": f"http {status}"}


def wait_until(predicate: Any, timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` (for threads and subprocesses, where no event can be awaited)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
