"""A fake Twilio REST API for live-call updates: ``POST .../Calls/{sid}.json`` on 127.0.0.1.

Records each request (path, Basic-auth user, form body); ``status`` scripts a failure (for
example 404 for a call that already ended, or 500). Aim the SDK at it with
``TWILIO_API_BASE_URL`` (``client.api.base_url``).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeTwilioCalls:
    """Run with ``async with FakeTwilioCalls() as fake: fake.url``."""

    status: int = 200
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _update(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        auth = request.headers.get("Authorization", "")
        user = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":")[0] if auth else ""
        self.requests.append({"path": request.path, "user": user, "form": form})
        sid = request.match_info["sid"]
        if self.status != 200:
            return web.json_response({"code": 20404, "message": "The requested resource was not "
                                      "found", "status": self.status}, status=self.status)
        return web.json_response({"sid": sid, "status": "in-progress",
                                  "account_sid": request.match_info["account"]})

    async def __aenter__(self) -> FakeTwilioCalls:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Calls/{sid}.json", self._update)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
