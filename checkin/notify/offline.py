"""ConsoleNotifier: the offline notifier, for demos and network-free installs.

It prints the message a host would get. The message names the visitor, so it is shown only
where a person is watching (an interactive terminal); otherwise the line carries ids only and
the visit record is the place to read it. Imports: providers.
"""

from __future__ import annotations

from typing import TextIO

from checkin.providers import HostNote, HostRef, Receipt


class ConsoleNotifier:
    """Writes the host notification to a console stream."""

    def __init__(self, stream: TextIO, *, show_names: bool) -> None:
        self._stream = stream
        self._show_names = show_names

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """Print the notification; never fails."""
        if self._show_names:
            what = "A delivery" if note.is_delivery else note.visitor_name
            company = f" ({note.company})" if note.company else ""
            line = f"[notify {host.name}] {what}{company} is waiting in the lobby."
        else:
            line = f"[notify] host {host.employee_id} notified for visit {note.visit_id}"
        print(line, file=self._stream, flush=True)
        return Receipt(channel="offline", reference=note.notification_id)


class ConsoleReceptionAlert:
    """The offline reception alert: a console line (the caller records the visit event).

    Also the last resort behind a real alert: printing cannot fail, so a visitor is never left
    with nobody told.
    """

    def __init__(self, stream: TextIO, *, show_names: bool) -> None:
        self._stream = stream
        self._show_names = show_names

    async def alert(self, note: HostNote, *, host_name: str, reason: str) -> Receipt:
        """Print that the visitor needs a person from reception."""
        if self._show_names:
            who = "A delivery" if note.is_delivery else note.visitor_name
            line = f"[reception] {who} is waiting for {host_name or 'their host'} ({reason})."
        else:
            line = f"[reception] visit {note.visit_id} needs a person ({reason})"
        print(line, file=self._stream, flush=True)
        return Receipt(channel="console", reference=note.notification_id)
