"""SlackNotifier: a Block Kit DM to the host with three answer buttons, on slack-sdk's async client.

The host is found by the Slack id the directory holds, else by ``users.lookupByEmail``. Each
message carries the notification id (button values, block id and message metadata), which is
how an answer finds its visit and how a retry finds a message an interrupted attempt already
posted: Slack has no idempotency key, so a later attempt (``note.attempt > 1``) reads the
conversation's recent history first and sends nothing if the message is there.

Vendor errors become ``ProviderError``s here (429 -> ``ProviderRateLimited`` with Slack's
``Retry-After``); the SDK's own retries are switched off so that a connection drop after Slack
accepted the message is never blindly re-sent. Imports: providers, errors; never voice/, states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import aiohttp
import structlog
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from checkin.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from checkin.providers import HostNote, HostRef, Receipt

log = structlog.get_logger(__name__)

PROVIDER = "slack"
EVENT_TYPE = "checkin_visitor_waiting"
BLOCK_PREFIX = "checkin:"

# action_id -> answer (checkin.providers.HOST_ANSWERS) and the button's label.
ACTIONS: Mapping[str, tuple[str, str]] = {
    "checkin_coming": ("coming", "On my way"),
    "checkin_wait_5": ("wait_5", "Please wait 5 minutes"),
    "checkin_cannot_come": ("cannot_come", "I can't come"),
    "checkin_left": ("left", "They've left"),  # checks the visitor out
}
LEFT_ACTION = "checkin_left"
ANSWER_LABELS: Mapping[str, str] = {answer: label for answer, label in ACTIONS.values()}

# Slack "ok": false errors that mean "try again later" rather than "this will never work".
_TRANSIENT = frozenset({"ratelimited", "internal_error", "fatal_error", "service_unavailable",
                        "request_timeout"})


class SlackNotifier:
    """Posts the visitor-waiting message to the host's DM (or a channel id) on Slack."""

    def __init__(self, *, token: str, base_url: str = "https://slack.com/api/",
                 timeout_s: float = 10.0, client: AsyncWebClient | None = None) -> None:
        # retry_handlers=[]: the default handler re-sends after a dropped connection, which
        # could post twice; retries belong to the outbox, which looks before it re-sends.
        self._client = client or AsyncWebClient(token=token, base_url=base_url,
                                                timeout=max(1, round(timeout_s)),
                                                retry_handlers=[])
        self._timeout_s = timeout_s
        self._user_ids: dict[str, str] = {}  # email -> Slack user id; ids do not change

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """Post the message (or find the one an earlier attempt posted) and return its ref."""
        target = host.slack_id or await self._user_for(host.email)
        if note.attempt > 1:
            found = await self._already_posted(target, note)
            if found is not None:
                log.info("notification_deduplicated", channel=PROVIDER,
                         notification_id=note.notification_id)
                return found
        text, blocks = message_for(host, note)
        response = await self._call(
            "chat_postMessage", channel=target, text=text, blocks=blocks, unfurl_links=False,
            metadata={"event_type": EVENT_TYPE,
                      "event_payload": {"notification_id": note.notification_id}},
        )
        return Receipt(channel=PROVIDER, reference=f"{response['channel']}:{response['ts']}")

    async def find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        """The message an earlier attempt posted for ``note``, if Slack has it (a retry asks
        every channel before sending on any: ``chain.FallbackNotifier``)."""
        if not (host.slack_id or host.email):
            return None
        return await self._already_posted(host.slack_id or await self._user_for(host.email),
                                          note)

    async def show_answer(self, *, channel: str, ts: str, blocks: Sequence[Mapping[str, Any]],
                          answer: str, user_id: str) -> None:
        """Replace the buttons of an answered message with who answered what (``chat.update``).

        Until the visitor is checked out, "They've left" stays: the host presses it later.
        """
        label = ANSWER_LABELS.get(answer, answer)
        kept = []
        for block in blocks:
            if block.get("type") != "actions":
                kept.append(dict(block))
            elif answer != "left":
                left = [e for e in block.get("elements") or [] if isinstance(e, Mapping)
                        and e.get("action_id") == LEFT_ACTION]
                if left:
                    kept.append({**block, "elements": [dict(e) for e in left]})
        kept.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f":white_check_mark: <@{user_id}> answered: *{label}*"}]})
        await self._call("chat_update", channel=channel, ts=ts, blocks=kept,
                         text=f"Answered: {label}")

    async def aclose(self) -> None:
        """Close the HTTP session the client opened, if any."""
        session = getattr(self._client, "session", None)
        if session is not None:
            await session.close()

    async def _user_for(self, email: str) -> str:
        if not email:
            raise ProviderRejected(PROVIDER, code="slack-no-user")
        if email not in self._user_ids:
            try:
                response = await self._call("users_lookupByEmail", email=email)
            except ProviderRejected as err:
                if err.code == "slack-users-not-found":
                    raise ProviderRejected(PROVIDER, code="slack-no-user") from None
                raise
            self._user_ids[email] = str(response["user"]["id"])
        return self._user_ids[email]

    async def _already_posted(self, target: str, note: HostNote) -> Receipt | None:
        """The message an earlier attempt posted for this notification, if Slack has it."""
        channel = target
        if target.startswith(("U", "W")):  # a user id: the DM channel has its own id
            opened = await self._call("conversations_open", users=target)
            channel = str(opened["channel"]["id"])
        oldest = f"{note.arrived_at.timestamp() - 60:.6f}" if note.arrived_at else None
        history = await self._call("conversations_history", channel=channel, oldest=oldest,
                                   limit=100, include_all_metadata=True)
        for message in history.get("messages", []):
            meta = message.get("metadata") or {}
            payload = meta.get("event_payload") or {}
            if (meta.get("event_type") == EVENT_TYPE
                    and payload.get("notification_id") == note.notification_id):
                return Receipt(channel=PROVIDER, reference=f"{channel}:{message['ts']}")
        return None

    async def _call(self, method: str, **kwargs: Any) -> Any:
        """Call one Web API method with a timeout, translating every failure at the boundary."""
        try:
            async with asyncio.timeout(self._timeout_s):
                return await getattr(self._client, method)(**kwargs)
        except SlackApiError as err:
            raise _translate(err.response) from None
        except TimeoutError:
            raise ProviderTimeout(PROVIDER, code="slack-timeout") from None
        except (aiohttp.ClientError, SlackClientError, OSError):
            raise ProviderUnavailable(PROVIDER, code="slack-unreachable") from None


def _translate(response: Any) -> ProviderError:
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    error = str(data.get("error", "")) if isinstance(data, dict) else ""
    if status == 429 or error == "ratelimited":
        headers = getattr(response, "headers", {}) or {}
        retry_after = _retry_after(headers)
        return ProviderRateLimited(PROVIDER, code="slack-rate-limited", retry_after_s=retry_after)
    if status >= 500 or error in _TRANSIENT:
        return ProviderUnavailable(PROVIDER, code="slack-unavailable")
    code = "slack-" + (error.replace("_", "-") if error else f"http-{status}")
    return ProviderRejected(PROVIDER, code=code[:64])


def _retry_after(headers: Mapping[str, Any]) -> float:
    for key, value in headers.items():
        if key.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def message_for(host: HostRef, note: HostNote) -> tuple[str, list[dict[str, Any]]]:
    """The fallback text and Block Kit blocks of a visitor-waiting message."""
    who = "A delivery" if note.is_delivery else note.visitor_name
    party = f" (party of {note.party_size})" if note.party_size > 1 else ""
    company = f" from {note.company}" if note.company else ""
    if note.on_behalf_of:
        text = f"{who}{company} is waiting in the lobby for {note.on_behalf_of}"
        lead = (f"*{who}*{party}{company} is waiting in the lobby for *{note.on_behalf_of}*, "
                "who hasn't answered. Can someone help?")
    else:
        text = f"{who}{company} is waiting for you in the lobby"
        lead = f"*{who}*{party}{company} is waiting for you in the lobby."
    fields = []
    if note.purpose:
        fields.append({"type": "mrkdwn", "text": f"*Purpose*\n{note.purpose}"})
    if note.arrived_at is not None:
        fields.append({"type": "mrkdwn", "text": f"*Arrived*\n{_slack_time(note.arrived_at)}"})
    section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": lead}}
    if fields:
        section["fields"] = fields
    buttons = []
    for action_id, (answer, label) in ACTIONS.items():
        button: dict[str, Any] = {"type": "button", "action_id": action_id,
                                  "text": {"type": "plain_text", "text": label},
                                  "value": note.notification_id}
        if answer == "coming":
            button["style"] = "primary"
        elif answer == "cannot_come":
            button["style"] = "danger"
        buttons.append(button)
    actions = {"type": "actions", "block_id": BLOCK_PREFIX + note.notification_id,
               "elements": buttons}
    return text, [section, actions]


def _slack_time(at: datetime) -> str:
    # Slack renders <!date^...> in each reader's own time zone; the text after | is the fallback.
    return f"<!date^{int(at.timestamp())}^{{time}}|{at:%H:%M} UTC>"
