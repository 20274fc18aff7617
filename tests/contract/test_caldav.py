"""CalDavCalendar against a real Radicale server started on 127.0.0.1 for this module.

Radicale runs with htpasswd (plain) auth in a temporary folder and is stopped at the end. Events
go in through the caldav client, as a calendar app would put them; the lobby fixture must read
the same through CalDAV as from the .ics file, and "today" must be the site's today.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import caldav
import httpx
import icalendar
import pytest

from checkin.config import load_settings
from checkin.directory.caldav_calendar import CalDavCalendar
from checkin.directory.calendar import IcsCalendar
from checkin.errors import ConfigError, ProviderUnavailable

pytestmark = pytest.mark.contract

FIXTURES = Path(__file__).parent.parent / "fixtures"
LOBBY = FIXTURES / "calendar_lobby.ics"
NEW_YORK, BERLIN, UTC = (ZoneInfo(z) for z in ("America/New_York", "Europe/Berlin", "UTC"))
USER, PASSWORD = "lobby", "s3cret-for-tests"


@dataclass(frozen=True)
class Radicale:
    url: str
    port: int


def _free_port() -> int:
    # Radicale cannot report a port it picked itself, so pick one (a small race, accepted)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Radicale]:
    folder = tmp_path_factory.mktemp("radicale")
    (folder / "users").write_text(f"{USER}:{PASSWORD}\n", encoding="utf-8")
    port = _free_port()
    config = folder / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        # delay: Radicale sleeps ~1 s after each 401, and caldav's first request is always one
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\n"
        "htpasswd_encryption = plain\ndelay = 0\n"
        f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
        "[logging]\nlevel = warning\n",
        encoding="utf-8",
    )
    log = (folder / "radicale.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url, timeout=0.5).status_code == 302:  # Radicale's "ready"
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, (folder / "radicale.log").read_text()
            assert time.monotonic() < deadline, "Radicale did not start"
            time.sleep(0.05)
        server = Radicale(url, port)
        _seed(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _calendar_text(components: list[icalendar.cal.Component]) -> str:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//checkin tests//EN")
    cal.add("version", "2.0")
    for component in components:
        cal.add_component(component)
    return cal.to_ical().decode("utf-8")


def _event(uid: str, start: datetime | date, minutes: int = 60, **extra: str) -> str:
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", datetime(2025, 1, 1, tzinfo=UTC))
    event.add("summary", extra.pop("summary", uid))
    event.add("dtstart", start)
    if isinstance(start, datetime):
        event.add("dtend", start + timedelta(minutes=minutes))
    for key, value in extra.items():
        event.add(key, value)
    return _calendar_text([event])


def _today() -> date:
    return datetime.now(NEW_YORK).date()


def _seed(server: Radicale) -> None:
    """"Visitors": the lobby fixture, one object per UID; "Today": events around today."""
    with caldav.DAVClient(url=server.url, username=USER, password=PASSWORD, timeout=5) as client:
        principal = client.principal()
        visitors = principal.make_calendar(name="Visitors", cal_id="visitors")
        lobby = icalendar.Calendar.from_ical(LOBBY.read_bytes())
        zones = list(lobby.walk("VTIMEZONE"))
        by_uid: dict[str, list[icalendar.cal.Component]] = {}
        for event in lobby.walk("VEVENT"):  # a recurring event and its overrides share a UID
            by_uid.setdefault(str(event["UID"]), []).append(event)
        for events in by_uid.values():
            visitors.add_event(_calendar_text([*zones, *events]))

        today = principal.make_calendar(name="Today", cal_id="today")
        day = _today()
        at = datetime.combine
        today.add_event(_event("ny-ten", at(day, datetime.min.time(), NEW_YORK)
                               + timedelta(hours=10), description="Visitors: Ana Ruiz (Acme)",
                               organizer="mailto:Priya.Patel@example.test"))
        today.add_event(_event("berlin-late", at(day + timedelta(days=1),
                                                 datetime.min.time(), BERLIN)
                               + timedelta(hours=1, minutes=30)))  # evening of today in NY
        today.add_event(_event("utc-early", at(day + timedelta(days=1), datetime.min.time(), UTC)
                               + timedelta(hours=3, minutes=30)))  # 22:30/23:30 today in NY
        today.add_event(_event("all-day", day))
        today.add_event(_event("yesterday", at(day - timedelta(days=1), datetime.min.time(),
                                               NEW_YORK) + timedelta(hours=10)))
        today.add_event(_event("tomorrow", at(day + timedelta(days=1), datetime.min.time(),
                                              NEW_YORK) + timedelta(hours=10)))


def _calendar(server: Radicale, **options: object) -> CalDavCalendar:
    settings: dict[str, object] = {"calendar": "Today", "username": USER, "password": PASSWORD,
                                   "timeout_s": 5.0}
    settings.update(options)
    return CalDavCalendar(server.url, **settings)  # type: ignore[arg-type]


# --- reading meetings -------------------------------------------------------------------------


async def test_todays_meetings_are_the_sites_today_with_times_in_the_site_zone(
    radicale: Radicale,
) -> None:
    meetings = await _calendar(radicale).meetings_on(_today(), NEW_YORK)

    assert [m.uid for m in meetings] == ["all-day", "ny-ten", "berlin-late", "utc-early"]
    assert all(m.start.tzinfo == NEW_YORK and m.start.date() == _today() for m in meetings)
    ten = meetings[1]
    assert f"{ten.start:%H:%M}" == "10:00" and ten.end - ten.start == timedelta(hours=1)
    assert ten.organizer_email == "priya.patel@example.test"
    assert [(g.name, g.company) for g in ten.visitors] == [("Ana Ruiz", "Acme")]
    berlin = meetings[2]
    assert berlin.start == datetime.combine(_today() + timedelta(days=1), datetime.min.time(),
                                            BERLIN) + timedelta(hours=1, minutes=30)


async def test_the_same_server_read_from_utc_moves_the_late_events_to_tomorrow(
    radicale: Radicale,
) -> None:
    calendar = _calendar(radicale)
    tomorrow = _today() + timedelta(days=1)

    assert "utc-early" not in [m.uid for m in await calendar.meetings_on(_today(), UTC)]
    assert [m.uid for m in await calendar.meetings_on(tomorrow, UTC)] == [
        "berlin-late", "utc-early", "tomorrow",
    ]


@pytest.mark.parametrize(
    ("day", "tz"),
    [
        (date(2025, 3, 18), NEW_YORK),  # DST-shifted recurrences, Windows zone names, floating
        (date(2025, 3, 18), UTC),
        (date(2025, 3, 19), BERLIN),
        (date(2025, 3, 11), NEW_YORK),  # an EXDATE
        (date(2025, 3, 25), NEW_YORK),  # a moved occurrence (RECURRENCE-ID)
    ],
)
async def test_caldav_and_the_ics_file_agree_on_the_lobby_fixture(
    radicale: Radicale, day: date, tz: ZoneInfo
) -> None:
    through_caldav = await _calendar(radicale, calendar="Visitors").meetings_on(day, tz)
    from_file = await IcsCalendar(str(LOBBY)).meetings_on(day, tz)

    assert through_caldav == from_file
    if day == date(2025, 3, 18) and tz is NEW_YORK:
        assert len(through_caldav) == 7  # the same seven the unit tests expect


@pytest.mark.parametrize(
    ("url_path", "calendar"),
    [("", "Today"), ("", "today"), ("", "/lobby/today/"), ("lobby/today/", "")],
    ids=["display-name", "id", "path", "collection-url"],
)
async def test_the_calendar_can_be_named_by_display_name_id_path_or_url(
    radicale: Radicale, url_path: str, calendar: str
) -> None:
    source = CalDavCalendar(radicale.url + url_path, calendar=calendar, username=USER,
                            password=PASSWORD, timeout_s=5)

    assert "ny-ten" in [m.uid for m in await source.meetings_on(_today(), NEW_YORK)]


async def test_answers_are_reused_for_a_minute_then_fetched_again(radicale: Radicale) -> None:
    now = [1000.0]
    calendar = _calendar(radicale, calendar="Visitors", clock=lambda: now[0])
    day = date(2025, 3, 18)
    assert len(await calendar.meetings_on(day, NEW_YORK)) == 7

    await asyncio.to_thread(_add_late_booking, radicale)
    now[0] += 30
    assert len(await calendar.meetings_on(day, NEW_YORK)) == 7
    now[0] += 31
    assert [m.uid for m in await calendar.meetings_on(day, NEW_YORK)][-1] == "late-booking"


def _add_late_booking(server: Radicale) -> None:
    with caldav.DAVClient(url=server.url, username=USER, password=PASSWORD, timeout=5) as client:
        visitors = client.principal().calendar(cal_id="visitors")
        visitors.add_event(_event("late-booking", datetime(2025, 3, 18, 23, 45, tzinfo=NEW_YORK)))


# --- failures ---------------------------------------------------------------------------------


async def test_a_wrong_password_raises_calendar_auth(radicale: Radicale) -> None:
    with pytest.raises(ProviderUnavailable) as caught:
        await _calendar(radicale, password="wrong").meetings_on(_today(), NEW_YORK)
    assert caught.value.code == "calendar-auth" and caught.value.__suppress_context__


async def test_an_unknown_calendar_raises_calendar_not_found(radicale: Radicale) -> None:
    for name in ("Reception desk", "/lobby/nope/"):
        with pytest.raises(ProviderUnavailable) as caught:
            await _calendar(radicale, calendar=name).meetings_on(_today(), NEW_YORK)
        assert caught.value.code == "calendar-not-found"


async def test_a_server_that_is_down_raises_calendar_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    calendar = CalDavCalendar(f"http://127.0.0.1:{port}/", calendar="Today", username=USER,
                              password=PASSWORD, timeout_s=2)

    with pytest.raises(ProviderUnavailable) as caught:
        await calendar.meetings_on(_today(), NEW_YORK)
    assert caught.value.code == "calendar-unavailable"


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections on 127.0.0.1 and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    stop, accepted = threading.Event(), []

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, name="silent-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in accepted:
            conn.close()
        server.close()


async def test_a_server_that_never_answers_raises_calendar_timeout(silent_server: str) -> None:
    calendar = CalDavCalendar(silent_server, calendar="/lobby/today/", timeout_s=0.3)
    started = time.monotonic()

    with pytest.raises(ProviderUnavailable) as caught:
        await calendar.meetings_on(_today(), NEW_YORK)
    assert caught.value.code == "calendar-timeout"
    assert time.monotonic() - started < 1.0


# --- configured per site ----------------------------------------------------------------------


async def test_the_site_config_builds_it_with_the_password_from_the_environment(
    radicale: Radicale, tmp_path: Path
) -> None:
    from checkin.runtime import _calendar as calendar_for

    config = tmp_path / "config.yaml"
    config.write_text(
        "providers:\n  calendar: caldav\n"
        f"caldav:\n  url: {radicale.url}\n  calendar: Today\n  username: {USER}\n",
        encoding="utf-8",
    )
    settings = load_settings(config, {"CHECKIN_CALDAV_PASSWORD": PASSWORD})
    assert PASSWORD not in repr(settings)  # a SecretStr

    calendar = calendar_for(settings, None)

    assert isinstance(calendar, CalDavCalendar)
    assert "ny-ten" in [m.uid for m in await calendar.meetings_on(_today(), NEW_YORK)]
    ics = calendar_for(settings, str(LOBBY))  # a file given on the command line still wins
    assert isinstance(ics, IcsCalendar)


def test_caldav_without_a_url_fails_at_start_up(tmp_path: Path) -> None:
    from checkin.runtime import _calendar as calendar_for

    config = tmp_path / "config.yaml"
    config.write_text("providers:\n  calendar: caldav\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"caldav\.url"):
        calendar_for(load_settings(config, {}), None)
