"""A fake Slack Web API on 127.0.0.1, for the real ``AsyncWebClient(base_url=fake.api_url)``.

Methods: ``chat.postMessage`` (DMs to a user id land in a ``D…`` channel, as on Slack),
``chat.update``, ``conversations.open``, ``conversations.history`` (with message metadata when
``include_all_metadata`` is set) and ``users.lookupByEmail``. Every answer is ``{"ok": …}``;
a wrong bearer token gets ``invalid_auth``. Scriptable (see ``_threaded``): 429 with
``Retry-After``, 500, holding an answer after the message was posted. Also signs interactivity
payloads the way Slack does, for ``POST /slack/interactions`` tests.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.fakeservers._threaded import Reply, ThreadedFake

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"


class FakeSlack(ThreadedFake):
    """The fake; ``messages`` maps channel id -> posted messages (oldest first)."""

    def __init__(self, *, token: str = TOKEN, users: dict[str, str] | None = None,
                 lifetime_s: float = 120.0) -> None:
        super().__init__(lifetime_s=lifetime_s)
        self.token = token
        self.users = dict(users or {})  # email -> user id
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._ts = itertools.count(1)

    @property
    def api_url(self) -> str:
        """The SDK base URL (``SLACK_API_URL``), ending in ``/api/``."""
        return f"{self.url}/api/"

    def key_of(self, path: str) -> str:
        return path.removeprefix("/api/")

    def posted(self) -> list[dict[str, Any]]:
        """Every message posted, in any channel."""
        return [m for msgs in self.messages.values() for m in msgs]

    def error_body(self, status: int) -> Any:
        return {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"}

    def route(self, method: str, path: str, params: dict[str, Any],
              headers: dict[str, str]) -> Reply:
        if headers.get("authorization") != f"Bearer {self.token}":
            return Reply(200, {"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + self.key_of(path).replace(".", "_"), None)
        if handler is None:
            return Reply(200, {"ok": False, "error": "unknown_method"})
        result: Reply = handler(params)
        return result

    @staticmethod
    def _dm(channel: str) -> str:
        return "D" + channel[1:] if channel[:1] in ("U", "W") else channel

    def _chat_postMessage(self, p: dict[str, Any]) -> Reply:  # noqa: N802
        channel = self._dm(str(p.get("channel", "")))
        if not channel:
            return Reply(200, {"ok": False, "error": "channel_not_found"})
        ts = f"{int(time.time())}.{next(self._ts):06d}"
        message = {"ts": ts, "text": p.get("text", ""), "blocks": _json(p.get("blocks")) or [],
                   "metadata": _json(p.get("metadata"))}
        self.messages.setdefault(channel, []).append(message)
        return Reply(200, {"ok": True, "channel": channel, "ts": ts, "message": message})

    def _chat_update(self, p: dict[str, Any]) -> Reply:
        for message in self.messages.get(str(p.get("channel")), []):
            if message["ts"] == p.get("ts"):
                message.update(text=p.get("text", ""), blocks=_json(p.get("blocks")) or [],
                               updated=True)
                return Reply(200, {"ok": True, "channel": p["channel"], "ts": p["ts"]})
        return Reply(200, {"ok": False, "error": "message_not_found"})

    def _conversations_open(self, p: dict[str, Any]) -> Reply:
        user = str(p.get("users", "")).split(",")[0]
        return Reply(200, {"ok": True, "channel": {"id": self._dm(user)}})

    def _conversations_history(self, p: dict[str, Any]) -> Reply:
        oldest = float(p.get("oldest") or 0)
        with_meta = str(p.get("include_all_metadata", "")).lower() in ("1", "true")
        found = []
        for message in reversed(self.messages.get(str(p.get("channel")), [])):
            if float(message["ts"].split(".")[0]) < oldest:
                continue
            shown = {k: v for k, v in message.items() if k != "metadata" or with_meta}
            found.append(shown)
        return Reply(200, {"ok": True, "messages": found, "has_more": False})

    def _users_lookupByEmail(self, p: dict[str, Any]) -> Reply:  # noqa: N802
        user = self.users.get(str(p.get("email", "")))
        if user is None:
            return Reply(200, {"ok": False, "error": "users_not_found"})
        return Reply(200, {"ok": True, "user": {"id": user, "name": "someone"}})


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


def block_actions(*, notification_id: str, action_id: str, user_id: str = "UE1",
                  channel: str = "DE1", message_ts: str = "1.000001",
                  action_ts: str | None = None) -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it when a button is pressed."""
    return {
        "type": "block_actions", "api_app_id": "A0TEST", "trigger_id": "1.2.abc",
        "user": {"id": user_id, "username": "host", "name": "host", "team_id": "T0TEST"},
        "team": {"id": "T0TEST", "domain": "example"},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": False},
        "channel": {"id": channel, "name": "directmessage"},
        "message": {"ts": message_ts, "text": "waiting", "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Visitor* is waiting"}},
            {"type": "actions", "block_id": f"checkin:{notification_id}", "elements": []}]},
        "response_url": "https://hooks.invalid/actions/T0/1/x",
        "actions": [{"type": "button", "action_id": action_id,
                     "block_id": f"checkin:{notification_id}", "value": notification_id,
                     "text": {"type": "plain_text", "text": "On my way"},
                     "action_ts": action_ts or f"{time.time():.6f}"}],
    }


def signed(payload: dict[str, Any], *, secret: str = SIGNING_SECRET,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """(form body, headers) of an interactivity POST signed as Slack signs it."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
                  "Content-Type": "application/x-www-form-urlencoded"}
