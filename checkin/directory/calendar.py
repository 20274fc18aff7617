"""Today's meetings from an iCalendar file or URL, and fuzzy search over them.

CalDAV servers are read by ``caldav_calendar.CalDavCalendar``, which hands the iCalendar data it
fetches to ``parse_events`` and ``meetings_from_events`` here, so every source agrees on what a
meeting is.

Owns reading .ics data (icalendar), deciding which events fall on a local day in the site's time
zone, pulling the external visitors out of each event, and scoring meetings against what a
visitor said (name, company, topic) or a known host email. It must not import db, tools, voice,
notify, llm or anything above the directory layer; it raises only checkin.errors types.

Recurring events: RRULE/RDATE/EXDATE and RECURRENCE-ID overrides are expanded with dateutil.
A recurring all-day event counts on its occurrence's first day only.
"""

from __future__ import annotations

import asyncio
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import httpx
import icalendar
import structlog
from dateutil.rrule import rrule, rruleset, rrulestr
from rapidfuzz import fuzz

from checkin.errors import ProviderUnavailable

log = structlog.get_logger(__name__)

URL_CACHE_S = 60.0
MIN_SCORE = 0.7  # below this a match is more likely noise (a shared first name) than the visit
_WORD_MATCH = 75  # a topic word this close to a word of the event counts ("interviews")
_LEGAL_SUFFIXES = frozenset(
    "inc incorporated ltd limited llc llp lp plc co corp corporation company gmbh ag sa sas sarl "
    "srl spa bv nv pty pte oy ab as kg".split()
)
_STOPWORDS = frozenset(
    "a an the for to of and with about on in at my our i im am here meeting appointment".split()
)
_VISITOR_LINE = re.compile(r"^\s*[-*•]?\s*(?P<name>[^()]+?)\s*(?:\((?P<note>[^()]*)\))?\s*$")


@dataclass(frozen=True, slots=True)
class Guest:
    """An external visitor expected at a meeting; a job candidate has no company."""

    name: str
    company: str = ""
    is_candidate: bool = False


@dataclass(frozen=True, slots=True)
class Meeting:
    """One occurrence of a calendar event; ``organizer_email`` is the host's directory email."""

    uid: str
    summary: str
    start: datetime
    end: datetime
    organizer_email: str
    visitors: tuple[Guest, ...]
    location: str = ""
    description: str = ""
    all_day: bool = False


class IcsCalendar:
    """Calendar backed by an .ics file path or an http(s) URL (fetched with httpx)."""

    def __init__(
        self, source: str, *, timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._is_url = source.startswith(("http://", "https://"))
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = asyncio.Lock()  # one reload at a time; the others reuse its result
        self._loaded_at: float | None = None  # URL: when the cached copy was fetched
        self._file_key: tuple[int, int] | None = None  # file: (mtime_ns, size) of the cached copy
        self._events: list[icalendar.Event] = []

    async def meetings_on(self, day: date, tz: tzinfo) -> list[Meeting]:
        """Meetings whose start, in ``tz``, falls on ``day``, sorted by start."""
        events = await self._load()
        return await asyncio.to_thread(_meetings_on, events, day, tz)

    async def _load(self) -> list[icalendar.Event]:
        async with self._lock:
            if self._is_url:
                loaded_at = self._loaded_at
                if loaded_at is None or self._clock() - loaded_at >= URL_CACHE_S:
                    data = await self._fetch()
                    self._events = await asyncio.to_thread(_parse, data)
                    self._loaded_at = self._clock()
            else:
                self._events, self._file_key = await asyncio.to_thread(
                    _read_file, Path(self._source), self._file_key, self._events
                )
            return self._events

    async def _fetch(self) -> bytes:
        try:  # httpx's timeout is per phase; asyncio.timeout bounds the whole download
            async with (
                asyncio.timeout(self._timeout_s),
                httpx.AsyncClient(timeout=self._timeout_s) as client,
            ):
                response = await client.get(self._source, follow_redirects=True)
                response.raise_for_status()
                return response.content
        except (httpx.HTTPError, TimeoutError) as exc:
            log.warning("calendar_fetch_failed", error_type=type(exc).__name__)
            raise ProviderUnavailable("calendar", code="calendar-unavailable") from None


def _read_file(
    path: Path, key: tuple[int, int] | None, cached: list[icalendar.Event]
) -> tuple[list[icalendar.Event], tuple[int, int]]:
    """Re-parse only when the file changed; size too, since mtime can be coarse."""
    try:
        stat = path.stat()
        current = (stat.st_mtime_ns, stat.st_size)
        return (cached, current) if current == key else (_parse(path.read_bytes()), current)
    except OSError as exc:
        log.warning("calendar_read_failed", error_type=type(exc).__name__)
        raise ProviderUnavailable("calendar", code="calendar-unavailable") from None


def parse_events(data: bytes) -> list[icalendar.Event]:
    """The VEVENTs of one iCalendar document; raise ProviderUnavailable(code="calendar-invalid")."""
    return _parse(data)


def meetings_from_events(
    events: Iterable[icalendar.Event], day: date, tz: tzinfo
) -> list[Meeting]:
    """Meetings among ``events`` whose start, in ``tz``, falls on ``day`` (RRULEs expanded)."""
    return _meetings_on(events, day, tz)


def _parse(data: bytes) -> list[icalendar.Event]:
    try:
        calendar = icalendar.Calendar.from_ical(data)
        return [e for e in calendar.walk("VEVENT") if isinstance(e, icalendar.Event)]
    except Exception as exc:  # icalendar raises ValueError, KeyError, TypeError... on bad input
        log.warning("calendar_parse_failed", error_type=type(exc).__name__, size=len(data))
        raise ProviderUnavailable("calendar", code="calendar-invalid") from None


# --- which events are on a day ------------------------------------------------------------


def _meetings_on(events: Iterable[icalendar.Event], day: date, tz: tzinfo) -> list[Meeting]:
    events = [e for e in events if str(e.get("STATUS", "")).upper() != "CANCELLED"]
    overridden = {
        (str(e.get("UID", "")), _as_aware(e.decoded("RECURRENCE-ID"), tz))
        for e in events
        if "RECURRENCE-ID" in e
    }
    meetings: list[Meeting] = []
    for event in events:
        if "DTSTART" not in event:
            continue
        try:
            meetings.extend(_meeting(event, s, tz) for s in _starts_on(event, day, tz, overridden))
        except (ValueError, TypeError, KeyError) as exc:  # one bad event must not hide the rest
            log.warning("calendar_event_skipped", error_type=type(exc).__name__)
    return sorted(meetings, key=lambda m: (m.start, m.uid))


def _starts_on(
    event: icalendar.Event, day: date, tz: tzinfo, overridden: set[tuple[str, datetime]]
) -> list[datetime | date]:
    start = event.decoded("DTSTART")
    recurring = "RRULE" in event or "RDATE" in event
    if not recurring or "RECURRENCE-ID" in event:
        return [start] if _covers(event, start, day, tz) else []
    anchor = _as_aware(start, tz)
    rules = rruleset()
    for rule in _as_list(event.get("RRULE")):
        parsed = rrulestr(_rule_text(rule, tz), dtstart=anchor)
        if isinstance(parsed, rrule):  # one RRULE line always parses to one rrule
            rules.rrule(parsed)
    for prop, add in (("RDATE", rules.rdate), ("EXDATE", rules.exdate)):
        for value in _as_list(event.get(prop)):
            for item in value.dts:
                moment = item.dt[0] if isinstance(item.dt, tuple) else item.dt  # PERIOD: its start
                add(_as_aware(moment, tz))
    day_start = datetime(day.year, day.month, day.day, tzinfo=tz)
    window = rules.between(day_start - timedelta(days=1), day_start + timedelta(days=2), inc=True)
    uid = str(event.get("UID", ""))
    return [
        occurrence if isinstance(start, datetime) else occurrence.date()
        for occurrence in window
        if occurrence.astimezone(tz).date() == day and (uid, occurrence) not in overridden
    ]


def _rule_text(rule: icalendar.vRecur, tz: tzinfo) -> str:
    """dateutil wants UNTIL in UTC once DTSTART is aware; a DATE UNTIL includes that whole day."""
    rule = icalendar.vRecur(rule)
    if rule.get("UNTIL"):
        until = rule["UNTIL"][0]
        if not isinstance(until, datetime):
            until = _as_aware(until, tz) + timedelta(days=1, seconds=-1)
        rule["UNTIL"] = [_as_aware(until, tz).astimezone(UTC)]
    return str(rule.to_ical().decode())  # type: ignore[no-untyped-call]


def _covers(event: icalendar.Event, start: datetime | date, day: date, tz: tzinfo) -> bool:
    if isinstance(start, datetime):
        return _as_aware(start, tz).astimezone(tz).date() == day
    end = event.decoded("DTEND") if "DTEND" in event else None
    if not isinstance(end, date) or end <= start:
        end = start + timedelta(days=1)  # RFC 5545: an all-day event with no DTEND lasts one day
    return start <= day < end  # a multi-day all-day event (a conference) is on each of its days


def _meeting(event: icalendar.Event, start: datetime | date, tz: tzinfo) -> Meeting:
    first = event.decoded("DTSTART")
    if "DTEND" in event:
        length = _as_aware(event.decoded("DTEND"), tz) - _as_aware(first, tz)
    elif "DURATION" in event:
        length = event.decoded("DURATION")
    else:
        length = timedelta(days=0 if isinstance(first, datetime) else 1)
    begins = _as_aware(start, tz).astimezone(tz)
    description = str(event.get("DESCRIPTION", ""))
    return Meeting(
        uid=str(event.get("UID", "")),
        summary=str(event.get("SUMMARY", "")),
        start=begins,
        end=begins + max(length, timedelta(0)),
        organizer_email=_email(event.get("ORGANIZER")),
        visitors=_visitors(event, description),
        location=str(event.get("LOCATION", "")),
        description=description,
        all_day=not isinstance(first, datetime),
    )


def _as_aware(value: datetime | date, tz: tzinfo) -> datetime:
    """Floating times and all-day dates are read as local time at the site."""
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=tz)
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _email(address: Any) -> str:
    text = str(address or "").strip()
    return re.sub(r"^mailto:", "", text, flags=re.IGNORECASE).lower()


# --- who is visiting ----------------------------------------------------------------------


def _visitors(event: icalendar.Event, description: str) -> tuple[Guest, ...]:
    """Attendees flagged X-VISITOR come first; the DESCRIPTION fills gaps and adds the rest."""
    guests: dict[str, Guest] = {}
    for attendee in _as_list(event.get("ATTENDEE")):
        params = getattr(attendee, "params", {})
        if str(params.get("X-VISITOR", "")).upper() != "TRUE":
            continue
        name = str(params.get("CN", "")).strip().strip('"') or _email(attendee).split("@")[0]
        company = str(params.get("X-COMPANY", "")).strip().strip('"')
        candidate = str(params.get("X-CANDIDATE", "")).upper() == "TRUE"
        guests[_fold(name)] = Guest(name, company, candidate)
    for listed in _described_visitors(description):
        known = guests.setdefault(_fold(listed.name), listed)
        merged = Guest(
            known.name, known.company or listed.company, known.is_candidate or listed.is_candidate
        )
        guests[_fold(listed.name)] = merged
    return tuple(guests.values())


def _described_visitors(description: str) -> list[Guest]:
    """Parse "External visitors:" then one "Name (Company)" or "Name (candidate)" per line."""
    lines = description.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        head, _, rest = line.partition(":")
        if _fold(head) in {"external visitors", "external visitor", "visitors", "visitor"}:
            entries = [rest] if rest.strip() else []
            for following in lines[index + 1 :]:  # up to a blank line or the next "Header:"
                if not following.strip() or re.match(r"^\s*[^():]{1,40}:", following):
                    break
                entries.append(following)
            return [g for g in (_guest(e) for part in entries for e in part.split(";")) if g]
    return []


def _guest(entry: str) -> Guest | None:
    match = _VISITOR_LINE.match(entry)
    if match is None or not match["name"].strip():
        return None
    note = (match["note"] or "").strip()
    candidate = _fold(note) == "candidate"
    return Guest(match["name"], "" if candidate else note, candidate)


# --- search -------------------------------------------------------------------------------


def search_meetings(
    meetings: Sequence[Meeting],
    *,
    visitor_name: str | None = None,
    company: str | None = None,
    host_email: str | None = None,
    topic: str | None = None,
) -> list[tuple[Meeting, float]]:
    """Score meetings (0..1) against what the visitor said; best first, weak matches dropped.

    ``host_email`` is a filter (it comes from the directory, not from speech). The fuzzy criteria
    given are averaged, the name counting double: it is the best evidence of who is here.
    """
    host = _email(host_email) if host_email else None
    pool = [m for m in meetings if host is None or m.organizer_email == host]
    topics = _topic_scores(topic or "", pool)
    results = []
    for meeting, topic_score in zip(pool, topics, strict=True):
        weighted: list[tuple[float, float]] = []
        if visitor_name and _fold(visitor_name):
            best = max((_name_score(visitor_name, g.name) for g in meeting.visitors), default=0)
            weighted.append((best, 2.0))
        companies = [g.company for g in meeting.visitors if g.company]
        if company and _company_key(company) and companies:  # a candidate has no company
            weighted.append((max(_company_score(company, c) for c in companies), 1.0))
        if topic_score is not None:
            weighted.append((topic_score, 1.0))
        if not weighted and host is None:
            continue
        score = sum(s * w for s, w in weighted) / sum(w for _, w in weighted) if weighted else 1.0
        if score >= MIN_SCORE:
            results.append((meeting, round(score, 3)))
    return sorted(results, key=lambda pair: (-pair[1], pair[0].start))


def _fold(text: str) -> str:
    """Lower-case, strip accents and punctuation: "Joško Müller-Nuñez" -> "josko muller nunez"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("ß", "ss"))
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.sub(r"[\W_]+", " ", plain).split())


def _name_score(said: str, name: str) -> float:
    heard, known = _fold(said).split(), _fold(name).split()
    if not heard or not known:
        return 0.0
    if len(heard) == 1:  # "Brenda" or "Cole": a first or last name alone is fine
        return 0.95 * max(fuzz.ratio(heard[0], part) for part in known) / 100
    whole = fuzz.token_sort_ratio(" ".join(heard), " ".join(known))
    # Every part of the known name heard somewhere: "Cole, Brenda" or "Brenda Cole from Acme".
    parts = sum(max(fuzz.ratio(k, h) for h in heard) for k in known) / len(known)
    return max(whole, parts) / 100


def _company_key(text: str) -> str:
    words = _fold(text.replace("&", " and ")).split()
    while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _company_score(said: str, company: str) -> float:
    heard, known = _company_key(said), _company_key(company)
    glued = fuzz.ratio(heard.replace(" ", ""), known.replace(" ", ""))  # "blue bird" ~ "bluebird"
    # Saying part of a name ("Sentinel" for "Sentinel Audit Group") counts, scaled by how much.
    coverage = min(1.0, len(heard) / max(len(known), 1))
    partial = fuzz.token_set_ratio(heard, known) * (0.7 + 0.3 * coverage)
    return max(fuzz.ratio(heard, known), glued, partial) / 100


def _topic_scores(topic: str, meetings: Sequence[Meeting]) -> list[float | None]:
    """Per meeting, the mean over the topic's words of the closest word in SUMMARY/DESCRIPTION.

    Words that fit no meeting at all ("position" in "interview for the accountant position")
    say nothing about which meeting it is, so they are left out rather than counted as misses.
    """
    wanted = [w for w in _fold(topic).split() if w not in _STOPWORDS and len(w) > 1]
    if not wanted:
        return [None] * len(meetings)
    table = []
    for meeting in meetings:
        present = set(_fold(f"{meeting.summary} {meeting.description}").split()) or {""}
        table.append([max(fuzz.ratio(w, p) for p in present) for w in wanted])
    useful = [i for i in range(len(wanted)) if any(row[i] >= _WORD_MATCH for row in table)]
    if not useful:
        return [0.0] * len(meetings)
    return [
        sum(row[i] for i in useful if row[i] >= _WORD_MATCH) / len(useful) / 100 for row in table
    ]
