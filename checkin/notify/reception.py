"""NotifierReceptionAlert: reception hears about a stranded visitor on Slack or SMS, else console.

Reception is a contact from config (``notify.reception``: a Slack channel and/or a phone), told
through the same notifier chain as hosts. If that fails too (the usual reason reception is
being alerted is that the notifiers are failing), the console alert takes over, because an
alert must never be lost. Imports: providers, errors.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from checkin.errors import ProviderError
from checkin.providers import HostNote, HostRef, Notifier, Receipt, ReceptionAlert

log = structlog.get_logger(__name__)


class NotifierReceptionAlert:
    """Sends the reception alert through ``notifier`` to ``contact``; ``last_resort`` on failure."""

    def __init__(self, notifier: Notifier, contact: HostRef, last_resort: ReceptionAlert) -> None:
        self._notifier = notifier
        self._contact = contact
        self._last_resort = last_resort

    async def alert(self, note: HostNote, *, host_name: str, reason: str) -> Receipt:
        """Tell reception, falling back to the last resort; never raises ``ProviderError``."""
        if self._contact.slack_id or self._contact.phone:
            try:
                return await self._notifier.notify_host(
                    self._contact, replace(note, on_behalf_of=host_name or "their host"))
            except ProviderError as err:
                log.warning("reception_alert_failed", code=err.code, visit_id=note.visit_id)
        return await self._last_resort.alert(note, host_name=host_name, reason=reason)
