"""Wrappers that make notifiers dependable: ``RetryingNotifier`` and ``FallbackNotifier``.

Adapters (Slack, SMS) make one attempt and translate errors; these wrappers decide what to do
about them, so every channel retries and falls back the same way:

    FallbackNotifier([RetryingNotifier(slack), RetryingNotifier(sms)])

A retry inside ``RetryingNotifier`` passes ``note.attempt + n`` so the adapter looks for a
message an interrupted try may have posted before it sends again. A 429 whose ``Retry-After``
is short is waited out here; a longer one is handed up, and the outbox reschedules the row
instead of holding a worker.

A later attempt (``note.attempt > 1``: a retry, or a worker taking over a crashed one's row)
first asks *every* channel that can look (``SentLookup``) whether it already delivered this
notification, before sending on any: otherwise an attempt that sent by SMS (Slack was down)
and then crashed would be followed by a Slack message once Slack is back. Imports:
providers, errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

import stamina
import structlog

from checkin.errors import ProviderError, ProviderRateLimited, ProviderRejected
from checkin.providers import HostNote, HostRef, Notifier, Receipt

log = structlog.get_logger(__name__)


@runtime_checkable
class SentLookup(Protocol):
    """A channel that can find a message it already delivered for a notification."""

    async def find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        """The delivered message's receipt, None if there is none; ``ProviderError`` when
        the channel cannot be asked right now."""
        ...


class RetryingNotifier:
    """Retries retryable failures of one notifier with exponential backoff (stamina)."""

    def __init__(self, inner: Notifier, *, attempts: int = 3, wait_initial_s: float = 0.5,
                 wait_max_s: float = 4.0, max_inline_wait_s: float = 3.0,
                 budget_s: float = 20.0) -> None:
        self._inner = inner
        self._attempts = attempts
        self._wait_initial_s = wait_initial_s
        self._wait_max_s = wait_max_s
        self._max_inline_wait_s = max_inline_wait_s
        self._budget_s = budget_s

    def _backoff(self, exc: Exception) -> bool | float:
        """stamina hook: False = give up now, True = default backoff, float = wait this long."""
        if isinstance(exc, ProviderRateLimited):
            # The provider named the wait; longer than a short pause goes back to the outbox.
            return exc.retry_after_s if exc.retry_after_s <= self._max_inline_wait_s else False
        return isinstance(exc, ProviderError) and exc.retryable

    async def find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        """The inner channel's lookup (one try: the caller goes on to send if it fails)."""
        if isinstance(self._inner, SentLookup):
            return await self._inner.find_sent(host, note)
        return None

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """Deliver through the inner notifier, retrying what may succeed on a second try."""
        tries = 0
        async for attempt in stamina.retry_context(
            on=self._backoff, attempts=self._attempts, timeout=self._budget_s,
            wait_initial=self._wait_initial_s, wait_max=self._wait_max_s,
            wait_jitter=self._wait_initial_s,
        ):
            with attempt:
                tries += 1
                return await self._inner.notify_host(host, replace(note, attempt=note.attempt
                                                                   + tries - 1))
        raise AssertionError("unreachable: stamina re-raises the last error")  # pragma: no cover


class FallbackNotifier:
    """Tries each notifier in order until one delivers (Slack, then SMS)."""

    def __init__(self, notifiers: Sequence[Notifier], *, names: Sequence[str] = ()) -> None:
        if not notifiers:
            raise ValueError("FallbackNotifier needs at least one notifier")
        self._notifiers = list(notifiers)
        self._names = list(names) or [type(n).__name__ for n in notifiers]

    async def notify_host(self, host: HostRef, note: HostNote) -> Receipt:
        """The first channel that delivers wins; when none does, raise the telling error.

        Rate limiting wins over other errors (the outbox should come back when told), then
        a retryable error (try again later), then ``host-unreachable`` when every channel
        refused for good (no Slack account, no phone): retrying would not help.
        """
        if note.attempt > 1 and len(self._notifiers) > 1:
            found = await self._find_sent(host, note)
            if found is not None:
                return found
        errors: list[ProviderError] = []
        for name, notifier in zip(self._names, self._notifiers, strict=True):
            try:
                return await notifier.notify_host(host, note)
            except ProviderError as err:
                log.warning("notifier_fell_back", failed=name, code=err.code,
                            notification_id=note.notification_id)
                errors.append(err)
        limited = [e for e in errors if isinstance(e, ProviderRateLimited)]
        if limited:
            raise min(limited, key=lambda e: e.retry_after_s)
        retryable = [e for e in errors if e.retryable]
        if retryable:
            raise retryable[0]
        raise ProviderRejected("notifier", code="host-unreachable")

    async def _find_sent(self, host: HostRef, note: HostNote) -> Receipt | None:
        """A message some channel already delivered for ``note``; a channel that cannot be
        asked now is skipped (the send that follows may then duplicate on it: documented)."""
        for name, notifier in zip(self._names, self._notifiers, strict=True):
            if not isinstance(notifier, SentLookup):
                continue
            try:
                found = await notifier.find_sent(host, note)
            except ProviderError as err:
                log.warning("notification_lookup_failed", channel=name, code=err.code,
                            notification_id=note.notification_id)
                continue
            if found is not None:
                log.info("notification_deduplicated", channel=name,
                         notification_id=note.notification_id)
                return found
        return None
