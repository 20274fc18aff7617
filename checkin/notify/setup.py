"""Builds the notification stack the settings ask for; called by the composition root only.

``providers.notifier`` picks the first channel (offline console, Slack or SMS). With
``notify.fallback`` the other channel joins behind it when its credentials are set, each
channel wrapped in ``RetryingNotifier``, all in one ``FallbackNotifier``. Reception is alerted
through the same chain to ``notify.reception``, with the console as the last resort.
Imports: config, providers, errors, notify.*; secrets are unwrapped here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TextIO

from checkin.config import Contact, Settings
from checkin.notify.chain import FallbackNotifier, RetryingNotifier
from checkin.notify.offline import ConsoleNotifier, ConsoleReceptionAlert
from checkin.notify.reception import NotifierReceptionAlert
from checkin.notify.replies import ReplyHub
from checkin.notify.slack import SlackNotifier
from checkin.notify.sms import TwilioSmsNotifier
from checkin.providers import HostRef, Notifier, ReceptionAlert


@dataclass
class NotifyStack:
    """Everything notification-related one process shares."""

    notifier: Notifier
    reception: ReceptionAlert
    hub: ReplyHub = field(default_factory=ReplyHub)
    slack: SlackNotifier | None = None
    sms: TwilioSmsNotifier | None = None
    channels: tuple[str, ...] = ()

    async def aclose(self) -> None:
        """Close the HTTP sessions of the vendor clients."""
        if self.slack is not None:
            await self.slack.aclose()
        if self.sms is not None:
            await self.sms.aclose()


def contact_ref(contact: Contact, *, role: str) -> HostRef | None:
    """A config contact as a notification target; None when it has no way to be reached."""
    if not (contact.slack_channel or contact.phone):
        return None
    return HostRef(employee_id=role, name=contact.name or role, phone=contact.phone,
                   slack_id=contact.slack_channel)


def build_notifications(settings: Settings, console: TextIO) -> NotifyStack:
    """The notifier chain, reception alert and reply hub for ``settings``."""
    creds, n = settings.credentials, settings.notify
    timeout_s = settings.timeouts.notify_s
    slack = sms = None
    if creds.slack_bot_token is not None and creds.has_slack():
        slack = SlackNotifier(token=creds.slack_bot_token.get_secret_value(),
                              base_url=n.slack_api_url, timeout_s=timeout_s)
    if creds.twilio_auth_token is not None and creds.has_twilio():
        sms = TwilioSmsNotifier(account_sid=creds.twilio_account_sid,
                                auth_token=creds.twilio_auth_token.get_secret_value(),
                                from_number=creds.twilio_from_number,
                                base_url=n.twilio_api_base_url or None, timeout_s=timeout_s)
    last_resort = ConsoleReceptionAlert(console, show_names=console.isatty())
    available: dict[str, Notifier] = {}
    if slack is not None:
        available["slack"] = slack
    if sms is not None:
        available["sms"] = sms
    first = settings.providers.notifier
    if first == "offline" or first not in available:
        # config.load_settings already refused slack/sms without credentials.
        console_notifier = ConsoleNotifier(console, show_names=console.isatty())
        return NotifyStack(notifier=console_notifier, reception=last_resort, channels=("offline",))
    order = [first] + ([c for c in available if c != first] if n.fallback else [])
    chain = FallbackNotifier([RetryingNotifier(available[c]) for c in order], names=order)
    reception_ref = contact_ref(n.reception, role="reception")
    reception: ReceptionAlert = last_resort
    if reception_ref is not None:
        reception = NotifierReceptionAlert(chain, reception_ref, last_resort)
    return NotifyStack(notifier=chain, reception=reception, slack=slack, sms=sms,
                       channels=tuple(order))
