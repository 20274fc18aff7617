"""Demo data for Northwind Labs, an invented company: a directory and today's meetings.

``directory.csv`` is a static file (about 40 people, two of them inactive, with look-alike
names such as Jon/John and Sara/Sarah). Meetings must fall on the day the demo runs, so the
calendar is rendered on demand by ``write_demo_calendar``. Everyone here is invented.
Imports nothing from checkin.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar

DEMO_DIR = Path(__file__).resolve().parent
DEMO_DIRECTORY = DEMO_DIR / "directory.csv"
DOMAIN = "northwind.example"
# Marks a calendar file as written by the demo (so it may be overwritten the next day).
PRODID = "-//Northwind Labs//Lobby Demo Calendar//EN"


@dataclass(frozen=True, slots=True)
class DemoMeeting:
    """One meeting of the demo day: host, colleagues, and visitors as (name, company)."""

    start: time
    minutes: int
    summary: str
    location: str
    organizer: str
    colleagues: tuple[str, ...]
    visitors: tuple[tuple[str, str], ...]  # company "" marks a job candidate


MEETINGS = (
    DemoMeeting(time(9, 30), 60, "Security review kickoff", "Harbor Room", "Ahmad Karimi",
                ("Daniel Kowalczyk",), (("Renata Solberg", "Bastion Assurance"),)),
    DemoMeeting(time(10, 0), 60, "Vendor demo: lab automation", "Research Lab 2", "Wei Zhang",
                ("Lukas Becker", "Matteo Rossi"),
                (("Kenji Morita", "Fennec Instruments"), ("Alba Ruiz", "Fennec Instruments"))),
    DemoMeeting(time(11, 0), 45, "Interview: Site Reliability Engineer", "Lighthouse Room",
                "Aisha Bello", ("Jon Whitaker", "Ahmed Haddad"), (("Dmitri Volkov", ""),)),
    DemoMeeting(time(13, 30), 60, "Quarterly business review", "Boardroom", "Niamh O'Connell",
                ("Marcus Bell",),
                (("Beatrice Hollis", "Larkspur Logistics"), ("Owen Marsh", "Larkspur Logistics"))),
    DemoMeeting(time(15, 0), 45, "Contract signing", "Legal Suite", "Catherine Byrne",
                ("Danielle Fournier",), (("Priya Natarajan", "Calder & Wynn LLP"),)),
    DemoMeeting(time(16, 0), 60, "Facilities walkthrough", "Main Lobby", "John Whittaker",
                ("Erik Lund",), (("Gus Fairbanks", "Ridgeline HVAC"),)),
)


def write_demo_calendar(path: Path, day: date, tz: str) -> None:
    """Write the demo meetings of ``day`` (local times in ``tz``) to an .ics file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(demo_calendar(day, tz).to_ical())


def demo_calendar(day: date, tz: str) -> icalendar.Calendar:
    """The demo day as an iCalendar object with a VTIMEZONE for ``tz``."""
    zone = ZoneInfo(tz)
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-timezone", tz)
    # A fixed stamp keeps the file identical for the same day, so re-writing it is harmless.
    stamp = datetime.combine(day, time(0, 0), tzinfo=UTC)
    for number, meeting in enumerate(MEETINGS, start=1):
        cal.add_component(_event(meeting, number, day, zone, stamp))
    # Only the transitions around the demo day: the full 1970-2038 table is pages long.
    cal.add_missing_timezones(first_date=date(day.year - 1, 1, 1),
                              last_date=date(day.year + 2, 1, 1))
    return cal


def _event(
    meeting: DemoMeeting, number: int, day: date, zone: ZoneInfo, stamp: datetime
) -> icalendar.Event:
    start = datetime.combine(day, meeting.start, tzinfo=zone)
    event = icalendar.Event()
    event.add("uid", f"nw-{day:%Y%m%d}-{number:02d}@{DOMAIN}")
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", start + timedelta(minutes=meeting.minutes))
    event.add("summary", meeting.summary)
    event.add("location", meeting.location)
    event.add("organizer", _address(meeting.organizer, DOMAIN),
              parameters={"CN": meeting.organizer})
    event.add("attendee", _address(meeting.organizer, DOMAIN), parameters={
        "CN": meeting.organizer, "CUTYPE": "INDIVIDUAL", "ROLE": "CHAIR", "PARTSTAT": "ACCEPTED"})
    for colleague in meeting.colleagues:
        event.add("attendee", _address(colleague, DOMAIN), parameters=_guest_params(colleague))
    for name, company in meeting.visitors:
        params = _guest_params(name) | {"X-VISITOR": "TRUE"}
        if company:
            params["X-COMPANY"] = company
        event.add("attendee", _address(name, _company_domain(company)), parameters=params)
    lines = [f"{name} ({company or 'candidate'})" for name, company in meeting.visitors]
    event.add("description", "External visitors:\n" + "\n".join(lines))
    event.add("status", "CONFIRMED")
    return event


def _guest_params(name: str) -> dict[str, str]:
    return {"CN": name, "CUTYPE": "INDIVIDUAL", "ROLE": "REQ-PARTICIPANT", "PARTSTAT": "ACCEPTED"}


def _address(name: str, domain: str) -> str:
    local = ".".join("".join(c for c in part if c.isalnum()) for part in name.lower().split())
    return f"mailto:{local}@{domain}"


def _company_domain(company: str) -> str:
    if not company:
        return "mail.example"  # candidates write from a personal address
    words = [w for w in company.lower().replace("&", " ").split() if w not in {"llp", "inc"}]
    return "-".join("".join(c for c in w if c.isalnum()) for w in words[:2]) + ".example"
