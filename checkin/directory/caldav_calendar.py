"""CalDavCalendar: the day's meetings from a CalDAV server (Nextcloud, Radicale, iCloud...).

Owns talking CalDAV through the ``caldav`` library: finding the configured calendar, asking for
the events around a local day (RFC 4791 ``calendar-query`` with a time range), and turning
failures into ``ProviderUnavailable("calendar", code=...)``. What an event means (time zones,
recurrences, visitors) is decided by ``calendar.py`` from the raw iCalendar text, exactly as for
an .ics file. The caldav client is blocking, so each fetch runs in ``asyncio.to_thread`` under an
overall timeout. Imports errors and directory.calendar only; never db, tools, voice, notify, llm.

Codes: calendar-unavailable (network, HTTP 5xx), calendar-timeout, calendar-auth (401/403),
calendar-not-found (no such calendar), calendar-invalid (unparsable iCalendar data).
"""

from __future__ import annotations

import asyncio
import math
import time as clock_time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

import icalendar
import structlog
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error

from checkin.directory.calendar import (
    URL_CACHE_S,
    Meeting,
    meetings_from_events,
    parse_events,
)
from checkin.errors import ProviderUnavailable

log = structlog.get_logger(__name__)


@dataclass
class _Connection:
    """A logged-in client and the calendar found on it; reused while it keeps working."""

    client: DAVClient
    calendar: Any  # caldav.Calendar; the library's own annotations are loose


class CalDavCalendar:
    """Calendar on a CalDAV server.

    Args:
        url: the server (``https://dav.example.com/``) or, with ``calendar=""``, the calendar
            collection itself (``https://dav.example.com/lobby/visitors/``).
        calendar: the calendar's display name ("Visitors") or id ("visitors") under the user's
            principal, or a path on the server ("/lobby/visitors/").
    """

    def __init__(
        self,
        url: str,
        *,
        calendar: str = "",
        username: str = "",
        password: str | None = None,
        timeout_s: float = 5.0,
        cache_s: float = URL_CACHE_S,
        clock: Callable[[], float] = clock_time.monotonic,
    ) -> None:
        self._url = url
        self._calendar = calendar
        self._username = username or None
        self._password = password
        self._timeout_s = timeout_s
        self._cache_s = cache_s
        self._clock = clock
        self._lock = asyncio.Lock()  # one fetch at a time: a DAVClient is not shared by threads
        self._connection: _Connection | None = None
        self._cache: dict[tuple[date, str], tuple[float, list[Meeting]]] = {}

    async def meetings_on(self, day: date, tz: tzinfo) -> list[Meeting]:
        """Meetings whose start, in ``tz``, falls on ``day``, sorted by start."""
        key = (day, str(tz))
        async with self._lock:
            cached = self._cache.get(key)
            if cached is None or self._clock() - cached[0] >= self._cache_s:
                events = await self._fetch(day, tz)
                meetings = await asyncio.to_thread(meetings_from_events, events, day, tz)
                now = self._clock()  # keep only fresh days: a kiosk asks about today
                self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self._cache_s}
                cached = self._cache[key] = (now, meetings)
        return list(cached[1])

    async def _fetch(self, day: date, tz: tzinfo) -> list[icalendar.Event]:
        # A day wider on each side: floating and all-day events are placed by the server in its
        # own zone, and ``meetings_from_events`` picks the exact local day afterwards anyway.
        start = datetime.combine(day, time(0), tz) - timedelta(days=1)
        end = start + timedelta(days=3)
        connection, self._connection = self._connection, None  # back only after a success
        try:
            async with asyncio.timeout(self._timeout_s):
                connection, events = await asyncio.to_thread(self._search, connection, start, end)
        except TimeoutError:
            # The worker thread may still be waiting on the socket; its client is abandoned
            # (not reused) and gives up on its own after ``timeout_s`` per request.
            log.warning("calendar_fetch_failed", source="caldav", code="calendar-timeout")
            raise ProviderUnavailable("calendar", code="calendar-timeout") from None
        self._connection = connection
        return events

    def _search(
        self, connection: _Connection | None, start: datetime, end: datetime
    ) -> tuple[_Connection, list[icalendar.Event]]:
        """Runs in a worker thread: (re)connect if needed, one calendar-query REPORT, parse."""
        try:
            connection = connection or self._connect()
            # expand=False: each object comes whole (master + RECURRENCE-ID overrides), and
            # calendar.py expands it the same way it does for an .ics file.
            found = connection.calendar.search(start=start, end=end, event=True, expand=False)
            blobs = [_ics_bytes(item) for item in found]
        except Exception as exc:
            code = _code_for(exc)
            log.warning("calendar_fetch_failed", source="caldav", code=code,
                        error_type=type(exc).__name__)
            if connection is not None:
                _close(connection.client)
            raise ProviderUnavailable("calendar", code=code) from None
        events: list[icalendar.Event] = []
        for blob in blobs:
            try:
                events.extend(parse_events(blob))
            except ProviderUnavailable:  # one broken object (logged) must not hide the others
                continue
        return connection, events

    def _connect(self) -> _Connection:
        # caldav wants whole seconds per request; asyncio.timeout enforces the exact bound
        client = DAVClient(url=self._url, username=self._username, password=self._password,
                           timeout=max(1, math.ceil(self._timeout_s)))
        try:
            return _Connection(client, self._find_calendar(client))
        except Exception:
            _close(client)
            raise

    def _find_calendar(self, client: Any) -> Any:  # caldav's methods are unannotated
        wanted = self._calendar.strip()
        if not wanted:
            return client.calendar(url=self._url)
        if "/" in wanted:
            return client.calendar(url=wanted)
        principal = client.principal()
        try:
            return principal.calendar(name=wanted)
        except dav_error.NotFoundError:  # not a display name: try it as the calendar's id
            return principal.calendar(cal_id=wanted)


def _ics_bytes(item: Any) -> bytes:
    data = item.wire_data  # the object's iCalendar text as UTF-8 bytes
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _code_for(exc: Exception) -> str:
    """Map caldav/niquests exceptions to our stable codes (without keeping their payloads)."""
    if isinstance(exc, dav_error.AuthorizationError):
        return "calendar-auth"
    if isinstance(exc, dav_error.NotFoundError):
        return "calendar-not-found"
    if isinstance(exc, TimeoutError) or "Timeout" in type(exc).__name__:
        return "calendar-timeout"
    return "calendar-unavailable"


def _close(client: DAVClient) -> None:
    try:
        client.close()
    except Exception:  # closing is best effort; the connection is being thrown away anyway
        pass
