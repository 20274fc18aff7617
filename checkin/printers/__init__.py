"""Badge printers behind one ``print_badge(badge) -> PrintReceipt`` method, and their wrapper.

``checkin.printer`` owns the badge value types and the PDF (offline) printer; this package adds
the real devices a lobby may have: Zebra label printers (ZPL over raw TCP 9100), Brother QL label
printers (raster over TCP 9100 or a device file) and any office printer through CUPS ``lp``, plus
``RetryingPrinter``, which retries a failed print once and keeps the status ``/health`` shows.
Same layer as ``checkin.printer``: it imports errors and printer only, never voice, notify, llm,
tools, conversation, db or directory. Adapters raise only checkin.errors types, with codes:

    printer-unreachable  nothing answers at host:port (or the device file cannot be opened)
    printer-timeout      the printer or ``lp`` did not finish in time
    printer-failed       the badge could not be rendered or written
    printer-lp-failed    ``lp`` exited non-zero (unknown queue, CUPS down, no permission)
    printer-lp-missing   there is no ``lp`` command on this machine
"""

from checkin.printers.brother import BrotherQlBadgePrinter
from checkin.printers.cups import CupsBadgePrinter
from checkin.printers.retry import RetryingPrinter
from checkin.printers.status import ProviderStatus
from checkin.printers.zpl import ZplBadgePrinter, zpl_label

__all__ = [
    "BrotherQlBadgePrinter",
    "CupsBadgePrinter",
    "ProviderStatus",
    "RetryingPrinter",
    "ZplBadgePrinter",
    "zpl_label",
]
