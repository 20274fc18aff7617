"""IcsCalendar finds the day's meetings in the site's time zone; search_meetings ranks them."""

from __future__ import annotations

import os
import threading
import time as pytime
from collections.abc import Iterator
from datetime import date, datetime, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from checkin.directory.calendar import Guest, IcsCalendar, Meeting, search_meetings
from checkin.errors import ProviderUnavailable

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parent.parent / "fixtures"
LOBBY = FIXTURES / "calendar_lobby.ics"
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")
TUESDAY = date(2025, 3, 18)


async def _meetings(day: date = TUESDAY, tz: ZoneInfo = NEW_YORK) -> list[Meeting]:
    return await IcsCalendar(str(LOBBY)).meetings_on(day, tz)


def _uids(meetings: list[Meeting]) -> list[str]:
    return [m.uid.removesuffix("@test") for m in meetings]


# --- which meetings are "today" ------------------------------------------------------------


def test_the_fixture_really_is_crlf_with_folded_lines() -> None:
    raw = LOBBY.read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")
    assert b"\r\n " in raw  # folded continuation lines
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75


async def test_today_in_new_york_is_sorted_by_start_and_skips_other_days_and_cancellations() -> (
    None
):
    meetings = await _meetings()

    assert _uids(meetings) == [
        "all-day-inspection",  # all-day: midnight first
        "floating-interview",  # 08:00 floating time = site time
        "weekly-review",  # weekly RRULE, 09:00 New York even after the DST change
        "berlin-demo",  # 15:00 Berlin = 10:00 New York
        "berlin-early",  # 01:30 on the 19th in Berlin = 20:30 on the 18th in New York
        "ny-late",  # 23:30 New York, already the 19th in UTC
        "utc-late",  # 03:30Z on the 19th = 23:30 on the 18th in New York
    ]
    assert [m.start.strftime("%H:%M") for m in meetings] == [
        "00:00", "08:00", "09:00", "10:00", "20:30", "23:30", "23:30",
    ]  # fmt: skip


async def test_the_same_file_read_from_utc_or_berlin_moves_late_events_to_the_next_day() -> None:
    assert _uids(await _meetings(TUESDAY, UTC)) == [
        "all-day-inspection", "floating-interview", "weekly-review", "berlin-demo",
    ]  # fmt: skip
    assert _uids(await _meetings(date(2025, 3, 19), UTC)) == [
        "berlin-early", "ny-late", "utc-late", "distractor-after",
    ]  # fmt: skip
    assert "berlin-early" in _uids(await _meetings(date(2025, 3, 19), BERLIN))


async def test_times_are_timezone_aware_and_in_the_site_zone() -> None:
    demo = next(m for m in await _meetings() if m.uid == "berlin-demo@test")

    assert demo.start == datetime(2025, 3, 18, 14, 0, tzinfo=UTC)
    assert demo.start.tzinfo == NEW_YORK
    assert demo.end - demo.start == datetime(2025, 3, 18, 16) - datetime(2025, 3, 18, 15)


async def test_an_all_day_event_spans_the_whole_local_day() -> None:
    inspection = (await _meetings())[0]

    assert inspection.all_day
    assert inspection.start == datetime.combine(TUESDAY, time(0), NEW_YORK)
    assert inspection.end == datetime.combine(date(2025, 3, 19), time(0), NEW_YORK)


async def test_recurring_events_honour_exdate_and_moved_occurrences() -> None:
    assert _uids(await _meetings(date(2025, 3, 11))) == []  # EXDATE
    moved = await _meetings(date(2025, 3, 25))
    assert [(m.summary, m.start.hour) for m in moved] == [("Weekly design review (moved)", 13)]
    assert _uids(await _meetings(date(2025, 4, 1))) == []  # past UNTIL


async def test_the_days_before_and_after_hold_only_their_own_distractors() -> None:
    assert _uids(await _meetings(date(2025, 3, 17))) == ["distractor-before"]
    assert _uids(await _meetings(date(2025, 3, 19))) == ["distractor-after"]


# --- what a meeting says about its visitors ------------------------------------------------


async def test_attendee_params_come_first_and_the_organizer_is_the_host_email() -> None:
    demo = next(m for m in await _meetings() if m.uid == "berlin-demo@test")

    assert demo.organizer_email == "lars.johansson@example.test"  # "MAILTO:Lars..." normalised
    assert demo.location == "Robotics Lab"
    # DESCRIPTION says "Paula Weiss (Kestrel)"; X-COMPANY on the attendee wins.
    assert demo.visitors == (
        Guest("Joško Müller", "Kestrel Automation GmbH"),
        Guest("Paula Weiss", "Kestrel Automation GmbH"),
    )


async def test_description_marks_candidates_and_fills_in_when_no_attendee_is_flagged() -> None:
    by_uid = {m.uid: m for m in await _meetings()}

    assert by_uid["floating-interview@test"].visitors == (Guest("Jordan Blake", "", True),)
    assert by_uid["all-day-inspection@test"].visitors == (
        Guest("Omar Haddad", "Citywide Fire Safety LLC"),
    )  # the "Agenda:" after the blank line is not a visitor
    assert by_uid["ny-late@test"].visitors == ()  # "Internal meeting (no external visitors)."


# --- search_meetings -----------------------------------------------------------------------


def _best(results: list[tuple[Meeting, float]]) -> list[str]:
    return [m.uid.removesuffix("@test") for m, _ in results]


async def test_search_by_full_first_or_last_name_ignores_accents_and_case() -> None:
    meetings = await _meetings()

    assert _best(search_meetings(meetings, visitor_name="josko muller")) == ["berlin-demo"]
    assert _best(search_meetings(meetings, visitor_name="Weiss")) == ["berlin-demo"]
    assert _best(search_meetings(meetings, visitor_name="Jordan")) == ["floating-interview"]
    assert _best(search_meetings(meetings, visitor_name="Blake, Jordan")) == ["floating-interview"]
    assert _best(search_meetings(meetings, visitor_name="Omar Hadad")) == ["all-day-inspection"]


async def test_search_drops_a_shared_first_name_with_a_different_surname() -> None:
    assert search_meetings(await _meetings(), visitor_name="Paula Jensen") == []
    assert search_meetings(await _meetings(), visitor_name="Tess Morgan") == []  # not today


async def test_search_by_company_ignores_legal_suffixes_and_accepts_part_of_the_name() -> None:
    meetings = await _meetings()

    assert _best(search_meetings(meetings, company="Kestrel Automation")) == ["berlin-demo"]
    assert _best(search_meetings(meetings, company="harbour analytics inc")) == ["utc-late"]
    assert _best(search_meetings(meetings, company="Citywide")) == ["all-day-inspection"]
    assert search_meetings(meetings, company="Globex Corporation") == []


async def test_search_by_topic_matches_summary_words() -> None:
    meetings = await _meetings()

    assert _best(search_meetings(meetings, topic="design review")) == ["weekly-review"]
    assert _best(search_meetings(meetings, topic="interview for the accountant position")) == [
        "floating-interview"
    ]
    assert _best(search_meetings(meetings, topic="sensor demos")) == ["berlin-demo"]
    assert search_meetings(meetings, topic="quarterly budget") == []


async def test_search_by_host_email_is_an_exact_filter() -> None:
    meetings = await _meetings()

    assert _best(search_meetings(meetings, host_email="Lars.Johansson@example.test")) == [
        "berlin-demo", "berlin-early",
    ]  # fmt: skip
    found = search_meetings(
        meetings, host_email="lars.johansson@example.test", visitor_name="Paula"
    )
    assert _best(found) == ["berlin-demo"]


async def test_a_right_name_outweighs_a_misheard_company_and_scores_are_best_first() -> None:
    meetings = await _meetings()

    results = search_meetings(meetings, visitor_name="Paula Weiss", company="Sentinel Audit")
    assert _best(results) == ["berlin-demo"]
    assert 0.7 <= results[0][1] < 1.0
    scores = [s for _, s in search_meetings(meetings, topic="interview review")]
    assert scores == sorted(scores, reverse=True)


async def test_search_with_nothing_to_go_on_finds_nothing() -> None:
    assert search_meetings(await _meetings(), visitor_name="  ", topic="the") == []


# --- sources, caching and failures ---------------------------------------------------------


async def test_a_missing_or_broken_file_raises_provider_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ProviderUnavailable) as missing:
        await IcsCalendar(str(tmp_path / "nope.ics")).meetings_on(TUESDAY, NEW_YORK)
    assert missing.value.code == "calendar-unavailable"
    assert missing.value.__cause__ is None and missing.value.__suppress_context__

    with pytest.raises(ProviderUnavailable) as broken:
        await IcsCalendar(str(FIXTURES / "calendar_broken.ics")).meetings_on(TUESDAY, NEW_YORK)
    assert broken.value.code == "calendar-invalid"


async def test_the_file_is_read_again_only_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "cal.ics"
    original = LOBBY.read_bytes()
    path.write_bytes(original)
    calendar = IcsCalendar(str(path))
    assert len(await calendar.meetings_on(TUESDAY, NEW_YORK)) == 7

    edited = original.replace(b"STATUS:CANCELLED", b"STATUS:CONFIRMED")
    path.write_bytes(edited)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    assert len(await calendar.meetings_on(TUESDAY, NEW_YORK)) == 8


class _IcsServer:
    """A one-file HTTP server on 127.0.0.1:0 that counts requests and can be told to fail."""

    def __init__(self, body: bytes) -> None:
        self.body, self.status, self.hits, self.delay_s = body, 200, 0, 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.hits += 1
                pytime.sleep(server.delay_s)
                try:
                    self.send_response(server.status)
                    self.send_header("Content-Type", "text/calendar; charset=utf-8")
                    self.send_header("Content-Length", str(len(server.body)))
                    self.end_headers()
                    self.wfile.write(server.body)
                except BrokenPipeError:  # the client timed out and hung up, as tested
                    pass

            def log_message(self, *args: object) -> None:  # keep test output quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/lobby.ics"


@pytest.fixture
def ics_server() -> Iterator[_IcsServer]:
    server = _IcsServer(LOBBY.read_bytes())
    thread = threading.Thread(target=server.httpd.serve_forever, name="ics-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        thread.join(timeout=2)


async def test_a_url_is_fetched_once_a_minute(ics_server: _IcsServer) -> None:
    now = [1000.0]
    calendar = IcsCalendar(ics_server.url, timeout_s=2, clock=lambda: now[0])

    assert len(await calendar.meetings_on(TUESDAY, NEW_YORK)) == 7
    now[0] += 30
    assert len(await calendar.meetings_on(date(2025, 3, 19), NEW_YORK)) == 1
    assert ics_server.hits == 1

    now[0] += 31
    await calendar.meetings_on(TUESDAY, NEW_YORK)
    assert ics_server.hits == 2


async def test_an_http_error_raises_provider_unavailable(ics_server: _IcsServer) -> None:
    ics_server.status = 500

    with pytest.raises(ProviderUnavailable) as caught:
        await IcsCalendar(ics_server.url, timeout_s=2).meetings_on(TUESDAY, NEW_YORK)
    assert caught.value.code == "calendar-unavailable"


async def test_a_server_slower_than_the_timeout_raises_provider_unavailable(
    ics_server: _IcsServer,
) -> None:
    ics_server.delay_s = 1.0

    with pytest.raises(ProviderUnavailable) as caught:
        await IcsCalendar(ics_server.url, timeout_s=0.2).meetings_on(TUESDAY, NEW_YORK)
    assert caught.value.code == "calendar-unavailable"
