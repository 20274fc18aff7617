"""A fake Twilio REST API (Messages) on 127.0.0.1, for the real ``twilio`` client.

``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form body, Basic auth) answers 201 with the
message JSON; ``GET`` on the same path lists messages filtered by ``To``/``From``, newest first,
as Twilio does. Wrong credentials get 401 with Twilio's error JSON. Scriptable (see
``_threaded``): 429 with ``Retry-After``, 500, holding an answer after the message was accepted.
Also signs inbound-SMS webhooks the way Twilio does, for ``POST /sms/incoming`` tests.
"""

from __future__ import annotations

import base64
import itertools
from datetime import UTC, datetime
from typing import Any

from twilio.request_validator import RequestValidator

from tests.fakeservers._threaded import Reply, ThreadedFake

# Built rather than written out, so no credential-shaped literal sits in the repository.
ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "test-auth-token"
FROM_NUMBER = "+15559870000"


class FakeTwilioRest(ThreadedFake):
    """The fake; ``messages`` holds every message accepted, oldest first."""

    def __init__(self, *, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 lifetime_s: float = 120.0) -> None:
        super().__init__(lifetime_s=lifetime_s)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, Any]] = []
        self._sids = itertools.count(1)

    def key_of(self, path: str) -> str:
        return path.rsplit("/", 1)[-1].removesuffix(".json")

    def error_body(self, status: int) -> Any:
        message = "Too Many Requests" if status == 429 else "Internal Server Error"
        return {"code": 20000 + status, "message": message, "status": status,
                "more_info": f"https://www.twilio.com/docs/errors/{20000 + status}"}

    def route(self, method: str, path: str, params: dict[str, Any],
              headers: dict[str, str]) -> Reply:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if headers.get("authorization") != f"Basic {expected}":
            return Reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
        if path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return Reply(404, {"code": 20404, "message": "Not found", "status": 404})
        if method == "GET":
            found = [m for m in reversed(self.messages)
                     if params.get("To") in (None, m["to"])
                     and params.get("From") in (None, m["from"])]
            return Reply(200, {"messages": found, "uri": path, "first_page_uri": path,
                               "next_page_uri": None, "previous_page_uri": None, "page": 0,
                               "page_size": 50, "start": 0, "end": len(found)})
        if not params.get("To") or not params.get("Body"):
            return Reply(400, {"code": 21604, "message": "'To' and 'Body' are required",
                               "status": 400})
        message = {"sid": f"SM{next(self._sids):032x}", "status": "queued",
                   "to": params["To"], "from": params.get("From"), "body": params["Body"],
                   "direction": "outbound-api", "error_code": None,
                   "account_sid": self.account_sid,
                   "date_created": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")}
        self.messages.append(message)
        return Reply(201, message)


def signed_sms(url: str, form: dict[str, str], *, auth_token: str = AUTH_TOKEN) -> dict[str, str]:
    """Headers of an inbound-SMS webhook to ``url`` (the public URL), signed as Twilio signs."""
    signature = RequestValidator(auth_token).compute_signature(url, form)
    return {"X-Twilio-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


def inbound(*, sid: str, from_: str, body: str) -> dict[str, str]:
    """The form fields Twilio posts for an inbound SMS."""
    return {"MessageSid": sid, "SmsSid": sid, "AccountSid": ACCOUNT_SID, "From": from_,
            "To": FROM_NUMBER, "Body": body, "NumMedia": "0"}
