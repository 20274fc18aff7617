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
