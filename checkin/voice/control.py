"""Changing a live call through the Twilio REST API: the hand-over to reception.

``client.calls(sid).update(twiml=...)`` ends the Media Stream (we get ``stop``) and Twilio runs
the new TwiML: ``<Dial>`` the reception number (PROTOCOLS.md section 1.6). The SDK has no base-URL
option; ``base_url`` replaces ``client.api.base_url`` so tests can aim it at a local fake.
Imports ``checkin.errors`` only.
"""

from __future__ import annotations

import asyncio

import structlog
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Dial, VoiceResponse

from checkin.errors import ProviderRejected, ProviderTimeout, ProviderUnavailable

log = structlog.get_logger(__name__)


def dial_twiml(number: str, *, ring_s: int = 25) -> str:
    """TwiML that rings reception and bridges the caller (caller ID: the caller's own)."""
    response = VoiceResponse()
    dial = Dial(timeout=ring_s, answer_on_bridge=True)
    dial.number(number)
    response.append(dial)
    response.say("Sorry, nobody at reception could answer. Please try again later.")
    return str(response)


class TwilioCallControl:
    """Redirects live calls with the Twilio REST API (async transport, with a timeout)."""

    def __init__(self, *, account_sid: str, auth_token: str, base_url: str = "",
                 timeout_s: float = 5.0) -> None:
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._base_url = base_url.rstrip("/")
        self._timeout_s = timeout_s

    async def transfer(self, call_sid: str, number: str) -> None:
        """Redirect ``call_sid`` to ``<Dial>`` ``number``; ``ProviderError`` on failure."""
        http = AsyncTwilioHttpClient(timeout=self._timeout_s)
        client = Client(self._account_sid, self._auth_token, http_client=http)
        if self._base_url:
            client.api.base_url = self._base_url
        try:
            async with asyncio.timeout(self._timeout_s + 1):
                await client.calls(call_sid).update_async(twiml=dial_twiml(number))
        except TimeoutError:
            raise ProviderTimeout("twilio", code="transfer-timeout") from None
        except TwilioRestException as err:
            log.warning("twilio_rest_failed", status=err.status, twilio_code=err.code)
            if err.status in (401, 403, 404) or 400 <= err.status < 500:
                raise ProviderRejected("twilio", code="transfer-rejected") from None
            raise ProviderUnavailable("twilio", code="transfer-failed") from None
        except (TwilioException, OSError, ValueError) as err:
            log.warning("twilio_rest_failed", error_type=type(err).__name__)
            raise ProviderUnavailable("twilio", code="transfer-failed") from None
        finally:
            await http.close()
