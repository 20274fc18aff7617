"""CircuitBreaker: after N consecutive failures of a provider, skip it for a cool-down.

One breaker is shared by every visit of a process (the composition root owns it), so a model
outage costs each new visitor nothing: their visit goes straight to the offline engine until
the cool-down ends, when one trial call is let through ("half-open"). Stdlib only; it must not
import the rest of checkin.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

BreakerState = Literal["closed", "open", "half_open"]


@dataclass
class CircuitBreaker:
    """Counts consecutive failures; open means "do not call the provider now"."""

    failure_threshold: int = 3
    cooldown_s: float = 60.0
    clock: Callable[[], float] = time.monotonic
    consecutive_failures: int = 0
    total_failures: int = 0
    total_successes: int = 0
    times_opened: int = 0
    last_error: str = ""
    _opened_at: float | None = field(default=None, repr=False)
    _trial_running: bool = field(default=False, repr=False)

    @property
    def state(self) -> BreakerState:
        """closed (calls go through), open (skipped) or half_open (one trial call allowed)."""
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """May the provider be called now? In half-open state only one caller gets a yes."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        """A call worked: close the breaker and forget past failures."""
        self.total_successes += 1
        self.consecutive_failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self, code: str) -> None:
        """A call failed (``code`` is a stable kebab-case error code)."""
        self.total_failures += 1
        self.consecutive_failures += 1
        self.last_error = code
        was_trial, self._trial_running = self._trial_running, False
        if was_trial or self.consecutive_failures >= self.failure_threshold:
            if self._opened_at is None or was_trial:
                self.times_opened += 1
            self._opened_at = self.clock()

    def abandon(self) -> None:
        """A call ended with neither verdict (the visitor barged in): free the trial slot."""
        self._trial_running = False

    def snapshot(self) -> dict[str, Any]:
        """What ``/health`` shows: state, counters and seconds until the next trial."""
        retry_in = 0.0
        if self._opened_at is not None:
            retry_in = max(0.0, self.cooldown_s - (self.clock() - self._opened_at))
        return {
            "state": self.state, "consecutive_failures": self.consecutive_failures,
            "failure_threshold": self.failure_threshold, "cooldown_s": self.cooldown_s,
            "retry_in_s": round(retry_in, 1), "times_opened": self.times_opened,
            "total_failures": self.total_failures, "total_successes": self.total_successes,
            "last_error": self.last_error,
        }
