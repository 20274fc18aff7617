"""The tools, each through the registry's gate, on a real database and a real calendar file."""

from __future__ import annotations

import pytest

from checkin.directory.calendar import IcsCalendar
from checkin.states import Candidate, CheckInState, Event, Session
from checkin.tools.registry import default_registry
from tests.support.doubles import RecordingNotifier
from tests.support.factories import conversation

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//checkin tests//EN\r
BEGIN:VEVENT\r
UID:m1\r
DTSTART:20260318T150000Z\r
DTEND:20260318T160000Z\r
SUMMARY:Roadmap workshop\r
ORGANIZER:mailto:dana.whitcombe@example.test\r
ATTENDEE;CN="Ines Alvarado";X-VISITOR=TRUE;X-COMPANY="Lumen Works":mailto:ines@lumen.test\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:m2\r
DTSTART:20260318T170000Z\r
DTEND:20260318T180000Z\r
SUMMARY:Contract review\r
ORGANIZER:mailto:robert.tennant@example.test\r
ATTENDEE;CN="Olaf Brandt";X-VISITOR=TRUE;X-COMPANY="Brandt Legal":mailto:olaf@brandt.test\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:m3\r
DTSTART:20260319T150000Z\r
DTEND:20260319T160000Z\r
SUMMARY:Tomorrow's meeting\r
ORGANIZER:mailto:priya.patel@example.test\r
ATTENDEE;CN="Ines Alvarado";X-VISITOR=TRUE:mailto:ines@lumen.test\r
END:VEVENT\r
END:VCALENDAR\r
"""


@pytest.fixture
async def visit(sessions, tmp_path):
    conv = await conversation(sessions, tmp_path, RecordingNotifier())
    path = tmp_path / "today.ics"
    path.write_text(ICS, encoding="utf-8", newline="")
    conv._ctx.calendar = IcsCalendar(str(path))
    conv.session.apply(Event.VISITOR_SPOKE)
    return conv


async def run(conv, tool_name, /, **args):
    return await default_registry().run(conv._ctx, conv.session, tool_name, args)


async def test_lookup_finds_one_person_and_reports_host_found(visit):
    outcome = await run(visit, "lookup_employee", name="dana whitcombe")
    assert outcome.result.data["status"] == "found"
    assert outcome.events[0][0] is Event.HOST_FOUND
    shown = outcome.result.data["candidates"][0]
    assert set(shown) == {"employee_id", "name", "department", "title", "score"}, "no contacts"


async def test_a_person_who_left_comes_back_as_left_never_as_someone_else(visit):
    outcome = await run(visit, "lookup_employee", name="robert tennant")
    assert outcome.result.data["status"] == "left"
    assert "no longer with the company" in outcome.result.data["message"]
    assert outcome.events[0][0] is Event.HOST_LEFT


async def test_a_department_picks_among_the_candidates_offered(visit):
    visit.session.apply(Event.HOST_AMBIGUOUS, candidates=[
        Candidate("E1", "Priya Patel", "Engineering"), Candidate("E2", "Priya Raman", "Marketing")])
    outcome = await run(visit, "lookup_employee", name="the one in marketing",
                        within_candidates=True)
    assert outcome.result.data["candidates"][0]["employee_id"] == "E2"
    assert outcome.result.data["status"] == "found"


async def test_search_meetings_finds_todays_host_by_visitor_name_only(visit):
    outcome = await run(visit, "search_meetings", visitor_name="Ines Alvarado")
    data = outcome.result.data
    assert data["status"] == "found" and data["meetings"][0]["host_name"] == "Dana Whitcombe"
    assert data["meetings"][0]["time"] == "11:00", "15:00 UTC is 11:00 in New York"
    assert "Ines" not in repr(data), "other visitors' names never go back to the model"
    assert outcome.events[0][0] is Event.MEETING_FOUND


async def test_search_meetings_reports_an_organizer_who_left(visit):
    outcome = await run(visit, "search_meetings", company="Brandt Legal")
    assert outcome.result.data["status"] == "left"


async def test_search_meetings_without_a_match_says_so(visit):
    outcome = await run(visit, "search_meetings", visitor_name="Nobody Atall")
    assert outcome.result.data["status"] == "not_found"
    assert outcome.events == [(Event.MEETING_NOT_FOUND, {})]


async def test_arguments_are_checked_against_the_schema(visit):
    outcome = await run(visit, "lookup_employee", name=42)
    assert (outcome.result.ok, outcome.result.code) == (False, "tool-bad-arguments")
    outcome = await run(visit, "lookup_employee", name="x", admin=True)
    assert outcome.result.code == "tool-bad-arguments"


async def test_transfer_records_the_reason_and_ends_the_visit(visit):
    outcome = await run(visit, "transfer_to_human", reason="visitor_asked")
    assert outcome.events == [(Event.TRANSFERRED, {"reason": "visitor_asked"})]


@pytest.mark.parametrize("tool", ["notify_host", "print_badge"])
async def test_check_in_tools_are_refused_before_the_visitor_is_checked_in(visit, tool):
    outcome = await run(visit, tool, employee_id="E1", visitor_name="x", host_name="y")
    assert outcome.result.code == "tool-not-allowed" and outcome.events == []


def test_unknown_tools_are_refused_too():
    import asyncio

    session = Session(state=CheckInState.IDENTIFY_HOST)
    outcome = asyncio.run(default_registry().run(None, session, "delete_everything", {}))  # type: ignore[arg-type]
    assert outcome.result.code == "tool-not-allowed"


def test_every_tool_has_a_json_schema_with_its_own_name():
    registry = default_registry()
    session = Session(state=CheckInState.IDENTIFY_HOST)
    names = {spec.name for spec in registry.specs_for(session)}
    assert names == {"lookup_employee", "search_meetings", "transfer_to_human"}
    for spec in registry.specs_for(session):
        assert spec.input_schema["type"] == "object"

