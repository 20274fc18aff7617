"""Reply latency: real measurements of how long the receptionist took to answer, last hour.

Any channel records ``(channel, seconds)`` after a visitor turn; the dashboard reads p50/p95
over the last hour and ``/metrics`` exports the same samples as a histogram. In memory, per
process (a restart starts from "no data", which the dashboard says plainly). Standard library
and prometheus-client only.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Histogram

WINDOW_S = 3600.0
BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 13.0)


class ReplyLatency:
    """A rolling hour of reply times, and the Prometheus histogram of all of them."""

    def __init__(self, registry: CollectorRegistry,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._samples: deque[tuple[float, str, float]] = deque(maxlen=50_000)
        self._histogram = Histogram("checkin_reply_latency_seconds",
                                    "Time from the visitor's turn to the complete reply",
                                    ["channel"], buckets=BUCKETS, registry=registry)

    def record(self, channel: str, seconds: float) -> None:
        """One measured reply."""
        self._samples.append((self._clock(), channel, seconds))
        self._histogram.labels(channel=channel).observe(seconds)

    def percentiles(self) -> dict[str, float | int | None]:
        """``p50``/``p95`` in milliseconds over the last hour (None when nothing was measured)."""
        cutoff = self._clock() - WINDOW_S
        values = sorted(s for at, _, s in self._samples if at >= cutoff)
        if not values:
            return {"count": 0, "p50_ms": None, "p95_ms": None}
        return {"count": len(values), "p50_ms": round(_pick(values, 0.50) * 1000, 1),
                "p95_ms": round(_pick(values, 0.95) * 1000, 1)}


def _pick(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    index = max(0, min(len(sorted_values), math.ceil(q * len(sorted_values))) - 1)
    return sorted_values[index]
