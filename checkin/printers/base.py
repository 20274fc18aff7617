"""The printer role as this package sees it; ``checkin.tools.base.BadgePrinter`` is the same shape.

Kept here because ``tools`` sits above ``printers`` and may not be imported from it.
"""

from __future__ import annotations

from typing import Protocol

from checkin.printer import Badge, PrintReceipt


class BadgePrinter(Protocol):
    """Prints a visitor badge somewhere a person can pick it up."""

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Print ``badge`` or raise ``ProviderError``."""
        ...
