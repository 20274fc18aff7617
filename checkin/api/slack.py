"""``POST /slack/interactions``: a host answered ("On my way", "Please wait", "I can't come").

Slack signs every request (v0 HMAC over the raw body, checked with slack-sdk's
``SignatureVerifier``, which refuses timestamps more than 5 minutes off: replays are refused).
Slack wants an answer within 3 s, so the handler records the answer (a short database
transaction with its own deadline) and acknowledges; rewriting the message (``chat.update``)
runs after the response. A repeated callback (Slack retry, a double click) records nothing new.
Imports: delivery, notify (slack actions), the runtime on ``app.state``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, BackgroundTasks, Request, Response
from slack_sdk.signature import SignatureVerifier

from checkin.errors import ProviderError
from checkin.host_replies import record_host_reply
from checkin.notify.slack import ACTIONS, SlackNotifier

log = structlog.get_logger(__name__)

router = APIRouter()

RECORD_DEADLINE_S = 2.0  # of Slack's 3 s: leave room for the network on the way back
_NO_RETRY = {"X-Slack-No-Retry": "1"}


@router.post("/slack/interactions", summary="Slack interactivity: a host's answer to a visitor")
async def slack_interactions(request: Request, background: BackgroundTasks) -> Response:
    """Verify, record the host's answer, acknowledge; update the Slack message afterwards."""
    runtime = request.app.state.runtime
    secret = runtime.settings.credentials.slack_signing_secret
    if secret is None:
        return Response(status_code=404)
    body = await request.body()
    if not SignatureVerifier(secret.get_secret_value()).is_valid_request(body, request.headers):
        log.warning("slack_request_rejected", code="slack-bad-signature", size=len(body))
        return Response(status_code=401)
    payload = _payload(body)
    action = _our_action(payload)
    if action is None:
        return Response(status_code=200, headers=_NO_RETRY)
    answer = ACTIONS[action["action_id"]][0]
    user_id = str((payload.get("user") or {}).get("id", ""))
    dedupe = f"slack:{action.get('action_ts', '')}:{user_id}:{action['action_id']}"
    hub = runtime.notify.hub if runtime.notify is not None else None
    try:
        async with asyncio.timeout(RECORD_DEADLINE_S):
            reply = await record_host_reply(
                sessions=runtime.sessions, notification_id=str(action.get("value", ""))[:32],
                answer=answer, source="slack", dedupe_key=dedupe, hub=hub)
    except TimeoutError:
        # Not recorded: a non-2xx makes Slack show the host an error, so they press again.
        log.warning("host_reply_failed", code="reply-record-timeout")
        return Response(status_code=503)
    slack = runtime.notify.slack if runtime.notify is not None else None
    container = payload.get("container") or {}
    if reply is not None and slack is not None and container.get("message_ts"):
        background.add_task(_show_answer, slack, channel=str(container.get("channel_id", "")),
                            ts=str(container["message_ts"]), answer=answer, user_id=user_id,
                            blocks=(payload.get("message") or {}).get("blocks") or [])
    return Response(status_code=200, headers=_NO_RETRY)


def _payload(body: bytes) -> dict[str, Any]:
    raw = parse_qs(body.decode("utf-8", "replace")).get("payload", ["{}"])[0]
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _our_action(payload: dict[str, Any]) -> dict[str, Any] | None:
    if payload.get("type") != "block_actions":
        return None
    for action in payload.get("actions") or []:
        if isinstance(action, dict) and action.get("action_id") in ACTIONS:
            return action
    return None


async def _show_answer(slack: SlackNotifier, **kwargs: Any) -> None:
    try:
        await slack.show_answer(**kwargs)
    except ProviderError as err:  # cosmetic: the answer is recorded and the visitor told
        log.warning("slack_update_failed", code=err.code)
