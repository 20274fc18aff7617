"""RetryingPrinter: retry a failed print once, then give up loudly (log + status) and re-raise.

Retry lives in this wrapper rather than in each adapter (STYLE section 2), so every printer kind
behaves the same. The tool that called it tells the visitor and reception what happened. Imports
errors, printer and this package only.
"""

from __future__ import annotations

import asyncio

import structlog

from checkin.errors import ProviderError
from checkin.printer import Badge, PrintReceipt
from checkin.printers.base import BadgePrinter
from checkin.printers.status import ProviderStatus

log = structlog.get_logger(__name__)


class RetryingPrinter:
    """Wraps a printer: one retry after ``retry_delay_s`` for retryable errors, status kept."""

    def __init__(
        self,
        inner: BadgePrinter,
        *,
        kind: str,
        status: ProviderStatus | None = None,
        retry_delay_s: float = 0.5,
    ) -> None:
        self._inner = inner
        self.kind = kind
        self.status = status if status is not None else ProviderStatus()
        self._retry_delay_s = retry_delay_s

    @property
    def inner(self) -> BadgePrinter:
        """The wrapped printer."""
        return self._inner

    async def print_badge(self, badge: Badge) -> PrintReceipt:
        """Print, retrying once; raise the last ``ProviderError`` when both attempts fail."""
        try:
            receipt = await self._inner.print_badge(badge)
        except ProviderError as first:
            if not first.retryable:  # a rejected job (bad config) fails the same way twice
                self._gave_up(badge, first, attempts=1)
                raise
            log.info("badge_print_retried", printer=self.kind, code=first.code,
                     visit_id=badge.visit_id)
            # A label printer that just reset its socket or ran its cutter is usually back
            # within a moment; a short pause makes the second attempt worth having.
            await asyncio.sleep(self._retry_delay_s)
            try:
                receipt = await self._inner.print_badge(badge)
            except ProviderError as second:
                self._gave_up(badge, second, attempts=2)
                raise
        self.status.succeeded()
        return receipt

    def _gave_up(self, badge: Badge, err: ProviderError, *, attempts: int) -> None:
        self.status.failed(err.code)
        log.warning("badge_not_printed", printer=self.kind, code=err.code, attempts=attempts,
                    visit_id=badge.visit_id)
