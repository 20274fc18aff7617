"""``POST /sms/incoming``: a host answered a visitor text with 1, 2, 3 or 4 (Twilio webhook).

"4" ("they've left") checks the visitor out (``checkin.host_replies``).

The ``X-Twilio-Signature`` is checked with ``RequestValidator`` over the public URL
(``CHECKIN_PUBLIC_URL`` + path + query, as configured in Twilio; the URL the proxy hands us is
not it). The sender's number finds the newest text we sent them; a repeated webhook (same
MessageSid) records nothing new and answers with an empty TwiML response, so the host does not
get two confirmations. Imports: delivery, notify (sms reply digits), the runtime.
"""

from __future__ import annotations

from datetime import timedelta
from xml.sax.saxutils import escape

import structlog
from fastapi import APIRouter, Request, Response
from twilio.request_validator import RequestValidator

from checkin.host_replies import find_sms_notification, record_host_reply
from checkin.notify.sms import MENU, REPLIES

log = structlog.get_logger(__name__)

router = APIRouter()

REPLY_WINDOW = timedelta(hours=2)  # an answer to a text older than this is about no one now
HELP = MENU


def _twiml(message: str = "") -> Response:
    inner = f"<Message>{escape(message)}</Message>" if message else ""
    return Response(content=f'<?xml version="1.0" encoding="UTF-8"?><Response>{inner}</Response>',
                    media_type="application/xml")


@router.post("/sms/incoming", summary="Twilio SMS webhook: a host's 1-4 answer")
async def sms_incoming(request: Request) -> Response:
    """Verify the Twilio signature, then record the host's answer."""
    runtime = request.app.state.runtime
    settings = runtime.settings
    token = settings.credentials.twilio_auth_token
    if token is None:
        return Response(status_code=404)
    form = await request.form()
    params = {key: str(value) for key, value in form.multi_items()}
    url = settings.public_url.rstrip("/") + request.url.path
    if request.url.query:
        url += "?" + request.url.query
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.public_url or not RequestValidator(token.get_secret_value()).validate(
            url, params, signature):
        log.warning("sms_webhook_rejected", code="sms-bad-signature", fields=len(params))
        return Response(status_code=403)
    text = params.get("Body", "").strip().rstrip(".!")
    row = await find_sms_notification(sessions=runtime.sessions, phone=params.get("From", ""),
                                      within=REPLY_WINDOW)
    if row is None:
        return _twiml("Thanks. There is no visitor waiting for you right now.")
    if text not in REPLIES:
        return _twiml(HELP)
    hub = runtime.notify.hub if runtime.notify is not None else None
    reply = await record_host_reply(
        sessions=runtime.sessions, notification_id=row.id, answer=REPLIES[text], source="sms",
        dedupe_key=f"sms:{params.get('MessageSid', '')}", hub=hub)
    if reply is None:
        return _twiml()  # a repeat: the first one was confirmed already
    if reply.answer == "left":
        return _twiml("Thanks, your visitor is checked out.")
    return _twiml("Thanks, your visitor has been told.")
