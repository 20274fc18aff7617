"""ProviderStatus: the last success and the last error of one provider, for ``/health``.

A plain in-memory record (one per process): the facilities dashboard wants to know whether the
lobby printer works *now*, which the visit log answers only after someone queries it. Codes only,
never a visitor's name. Standard library only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ProviderStatus:
    """What ``/health`` shows for one provider: ok until an attempt fails, then failing."""

    clock: Callable[[], datetime] = _utcnow
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error_code: str | None = None
    consecutive_failures: int = 0
    _last: str = field(default="ok", repr=False)  # "ok" = no known problem yet

    def succeeded(self) -> None:
        """Record a success; the last error stays visible, with its time, for the dashboard."""
        self.last_success_at = self.clock()
        self.consecutive_failures = 0
        self._last = "ok"

    def failed(self, code: str) -> None:
        """Record a failure with its stable kebab-case ``code``."""
        self.last_error_at = self.clock()
        self.last_error_code = code
        self.consecutive_failures += 1
        self._last = "failing"

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready fields for ``/health``."""
        return {
            "status": self._last,
            "last_success_at": _iso(self.last_success_at),
            "last_error_at": _iso(self.last_error_at),
            "last_error_code": self.last_error_code,
            "consecutive_failures": self.consecutive_failures,
        }


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
