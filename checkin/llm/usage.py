"""Token usage and cost of one visit's language-model calls.

A ``VisitUsage`` is made per visit by the composition root and handed both to the model (which
adds each response's usage) and to the conversation (which stores the totals on the visit
record). Costs are kept in integer micro-dollars so sums over many visits stay exact.
Stdlib only; it must not import the rest of checkin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prices:
    """USD per million tokens."""

    input_per_mtok: float = 1.0
    output_per_mtok: float = 5.0
    cache_write_per_mtok: float = 1.25
    cache_read_per_mtok: float = 0.10


@dataclass
class VisitUsage:
    """Running totals for one visit."""

    prices: Prices = Prices()
    model: str = ""
    requests: int = 0
    failed_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0

    def add(self, *, input_tokens: int, output_tokens: int, cache_write_tokens: int = 0,
            cache_read_tokens: int = 0) -> None:
        """Add one response's usage (a failed stream adds what it reported before failing)."""
        self.requests += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cache_write_tokens += cache_write_tokens
        self.cache_read_tokens += cache_read_tokens

    @property
    def cost_usd_micros(self) -> int:
        """The visit's cost so far, in millionths of a US dollar (rounded)."""
        p = self.prices
        # tokens x USD/Mtok = micro-USD exactly: a million tokens at $1/Mtok is 1e6 micro-USD.
        total = (self.input_tokens * p.input_per_mtok + self.output_tokens * p.output_per_mtok
                 + self.cache_write_tokens * p.cache_write_per_mtok
                 + self.cache_read_tokens * p.cache_read_per_mtok)
        return round(total)

    @property
    def cost_usd(self) -> float:
        """The visit's cost so far in US dollars."""
        return self.cost_usd_micros / 1_000_000
