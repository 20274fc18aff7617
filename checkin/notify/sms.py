"""TwilioSmsNotifier: a text to the host's phone through the twilio REST client; replies 1-4.

The Twilio client has no base-URL option, so for a fake (or a regional proxy) the ``api``
domain's ``base_url`` is replaced before the first call (PROTOCOLS.md 1.8); ``environment={}``
keeps ``TWILIO_REGION``/``TWILIO_EDGE`` from rewriting that URL. Messages end with a short
reference to the notification id: Twilio has no idempotency key, so a later attempt
(``note.attempt > 1``) lists recent messages to that number and sends nothing if one carries
the reference. Vendor errors become ``ProviderError``s here. The SDK's request logger (URLs
with phone numbers) is silenced. Imports: providers, errors.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import logging
import re
from typing import Any

import aiohttp
import structlog
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from checkin.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from checkin.providers import HostNote, HostRef, Receipt

log = structlog.get_logger(__name__)

PROVIDER = "sms"
REPLIES = {"1": "coming", "2": "wait_5", "3": "cannot_come", "4": "left"}
MENU = "Reply 1 = on my way, 2 = please wait 5 min, 3 = I can't come, 4 = they've left."
BODY_LIMIT = 1600

_sdk_log = logging.getLogger("checkin.notify.sms.twilio_sdk")
_sdk_log.setLevel(logging.WARNING)  # its INFO lines carry phone numbers in URLs
_sdk_log.propagate = False
_retry_after: contextvars.ContextVar[str | None] = contextvars.ContextVar("twilio_retry_after",
                                                                         default=None)


class _HttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]  # twilio is untyped
    """Keeps the last ``Retry-After``, which TwilioRestException does not carry.

    It also sends Basic auth as a header: the SDK's ``auth=`` path is deprecated in aiohttp.
    """

    async def request(self, method: str, url: str, params: Any = None, data: Any = None,
                      headers: dict[str, str] | None = None, auth: Any = None,
                      **kwargs: Any) -> Response:
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        response = await super().request(method, url, params=params, data=data,
                                         headers=headers, auth=None, **kwargs)
        headers = response.headers or {}
        _retry_after.set(headers.get("Retry-After") if hasattr(headers, "get") else None)
        return response


class TwilioSmsNotifier:
    """Texts the host; the reply digits are handled by ``checkin.api.sms``."""

    def __init__(self, *, account_sid: str, auth_token: str, from_number: str,
                 base_url: str | None = None, timeout_s: float = 10.0) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._from = from_number
        self._base_url = base_url
        self._timeout_s = timeout_s
        self._http: _HttpClient | None = None
        self._client: Client | None = None

    def _api(self) -> Client:
        # Created on first use: aiohttp sessions belong to a running event loop.
        if self._client is None:
            self._http = _HttpClient(logger=_sdk_log)
            self._client = Client(self._account_sid, self._auth_token, http_client=self._http,
                                  environment={})
            if self._base_url:
                self._client.api.base_url = self._base_url.rstrip("/")
        return self._client

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """Send the text (or find the one an earlier attempt sent) and return its SID."""
        to = e164(host.phone)
        if not to:
            raise ProviderRejected(PROVIDER, code="sms-no-phone")
        if note.attempt > 1:
            found = await self.find_sent(host, note)
            if found is not None:
                log.info("notification_deduplicated", channel=PROVIDER,
                         notification_id=note.notification_id)
                return found
        message = await self._call(self._api().messages.create_async, to=to, from_=self._from,
                                   body=body_for(note))
        return Receipt(channel=PROVIDER, reference=str(message.sid))

    async def find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        """The text an earlier attempt sent for ``note`` (its ``[ref ...]`` tag), if any."""
        to = e164(host.phone)
        if not to:
            return None
        ref = reference(note.notification_id)
        sent = await self._call(self._api().messages.list_async, to=to, from_=self._from,
                                limit=50)
        for message in sent:
            if ref in (message.body or ""):
                return Receipt(channel=PROVIDER, reference=str(message.sid))
        return None

    async def aclose(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()

    async def _call(self, method: Any, **kwargs: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout_s):
                return await method(**kwargs)
        except TwilioRestException as err:
            raise _translate(err) from None
        except TimeoutError:
            raise ProviderTimeout(PROVIDER, code="sms-timeout") from None
        except (aiohttp.ClientError, TwilioException, OSError):
            raise ProviderUnavailable(PROVIDER, code="sms-unreachable") from None


def _translate(err: TwilioRestException) -> ProviderError:
    status = int(err.status or 0)
    if status == 429:
        try:
            wait = float(_retry_after.get() or 1)
        except ValueError:
            wait = 1.0
        return ProviderRateLimited(PROVIDER, code="sms-rate-limited", retry_after_s=wait)
    if status >= 500:
        return ProviderUnavailable(PROVIDER, code="sms-unavailable")
    if status in (401, 403):
        return ProviderRejected(PROVIDER, code="sms-auth-failed")
    return ProviderRejected(PROVIDER, code=f"sms-{err.code or status}")


def e164(phone: str) -> str:
    """``+1-555-0101`` -> ``+15550101``; empty when there are too few digits to be a number."""
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) < 7:
        return ""
    return "+" + digits


def reference(notification_id: str) -> str:
    """The tag that ties a text to its notification (and makes re-sends detectable)."""
    return f"[ref {notification_id[:8]}]"


def body_for(note: HostNote) -> str:
    """The text a host gets, with the reply menu and the reference tag."""
    who = "A delivery" if note.is_delivery else note.visitor_name
    company = f" ({note.company})" if note.company else ""
    party = f", party of {note.party_size}" if note.party_size > 1 else ""
    if note.on_behalf_of:
        lead = f"{who}{company}{party} is waiting in the lobby for {note.on_behalf_of}, who " \
               "hasn't answered."
    else:
        lead = f"{who}{company}{party} is waiting for you in the lobby."
    purpose = f" Purpose: {note.purpose}." if note.purpose else ""
    menu = " " + MENU
    tail = f" {reference(note.notification_id)}"
    return (lead + purpose)[: BODY_LIMIT - len(menu) - len(tail)] + menu + tail
