"""structlog set-up, done once by the composition root, and the PII scrub processor.

Log lines carry ids, states, codes and sizes: never names, phone numbers, emails or what anyone
said. The scrub processor drops denylisted keys and masks anything that looks like an email or a
phone number; it is a safety net, not the plan. Imports nothing from checkin.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

DENYLIST = frozenset({
    "name", "visitor_name", "host_name", "first_name", "last_name", "email", "phone",
    "text", "utterance", "transcript", "prompt", "reply", "args", "arguments", "company",
    "purpose", "payload", "body", "message_text",
})
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
# ISO dates and times look like phone numbers to _PHONE; they are not personal data.
_ISO_MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$")
# Our own ids (uuid hex) carry digit runs too.
_OUR_ID = re.compile(r"^[0-9a-f]{16,40}$")


def scrub_pii(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop keys that may hold personal data and mask emails and phone numbers in the rest."""
    for key in list(event):
        if key in DENYLIST:
            event[key] = "[scrubbed]"
        elif (isinstance(event[key], str) and key != "event"
              and not _ISO_MOMENT.match(event[key]) and not _OUR_ID.match(event[key])):
            event[key] = _PHONE.sub("[phone]", _EMAIL.sub("[email]", event[key]))
    return event


def configure_logging(*, fmt: str = "console", level: str = "info") -> None:
    """Configure structlog (and stdlib logging) to write to stderr; stdout belongs to channels."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(stream=sys.stderr, level=numeric, format="%(message)s", force=True)
    # HTTP client libraries log every request URL at INFO: noise, and URLs may carry ids.
    for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "twilio.http_client"):
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            scrub_pii,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
