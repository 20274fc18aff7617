"""Directory import: validation with line numbers, all-or-nothing, upsert, --full, both dialects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from checkin.directory.importer import import_directory, read_directory_file
from checkin.directory.store import EmployeeRow, directory_version, load_employees
from checkin.errors import DirectoryImportError

pytestmark = pytest.mark.unit

Sessions = async_sessionmaker[AsyncSession]
HEADER = "id,first_name,last_name,department,title,email,phone,slack_id,active,aliases\n"
ROWS = [
    "E1,Ada,Quill,Engineering,Engineer,ada.quill@acme.example,+1-555-0101,U1,true,Addie|AQ\n",
    "E2,Jon,Park,Sales,Rep,jon.park@acme.example,+1-555-0102,U2,yes,\n",
    "E3,John,Parks,Legal,Counsel,john.parks@acme.example,+1-555-0103,U3,1,Johnny;J.P.\n",
]


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


async def count_employees(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(EmployeeRow)) or 0)


async def test_import_creates_then_reports_unchanged(sessions: Sessions, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "".join(ROWS))

    first = await import_directory(sessions=sessions, path=path)
    again = await import_directory(sessions=sessions, path=path)

    assert (first.created, first.updated, first.unchanged, first.deactivated) == (3, 0, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert again.version == first.version + 1
    async with sessions() as session:
        people = {e.id: e for e in await load_employees(session=session)}
        assert await directory_version(session=session) == again.version
    assert people["E1"].aliases == ("Addie", "AQ")
    assert people["E3"].aliases == ("Johnny", "J.P.")
    assert people["E2"].active is True


async def test_update_and_full_deactivates_missing(sessions: Sessions, tmp_path: Path) -> None:
    await import_directory(sessions=sessions, path=write(tmp_path, HEADER + "".join(ROWS)))
    changed = ROWS[0].replace("Engineer,", "Staff Engineer,")
    path = write(tmp_path, HEADER + changed + ROWS[1], "second.csv")

    partial = await import_directory(sessions=sessions, path=path)
    assert (partial.updated, partial.unchanged, partial.deactivated) == (1, 1, 0)

    full = await import_directory(sessions=sessions, path=path, full=True)
    assert (full.created, full.updated, full.unchanged, full.deactivated) == (0, 0, 2, 1)
    async with sessions() as session:
        people = {e.id: e for e in await load_employees(session=session)}
    assert people["E3"].active is False  # kept, so the receptionist still recognises the name
    assert people["E1"].title == "Staff Engineer"

    again = await import_directory(sessions=sessions, path=path, full=True)
    assert again.deactivated == 0  # already inactive people are not counted twice


async def test_bad_rows_are_reported_by_line_and_nothing_is_imported(
    sessions: Sessions, tmp_path: Path
) -> None:
    text = (
        HEADER
        + ROWS[0]
        + ",NoId,Person,Ops,Clerk,,,,true,\n"                       # line 3: missing id
        + "E4,,Lastonly,Ops,Clerk,,,,true,\n"                       # line 4: missing first name
        + "E1,Dup,Licate,Ops,Clerk,,,,true,\n"                      # line 5: duplicate id
        + "E5,Bad,Active,Ops,Clerk,,,,maybe,\n"                     # line 6: bad active
        + "E6,Bad,Mail,Ops,Clerk,not-an-email,,,true,\n"            # line 7: bad email
        + '"E7","Multi\nLine",Name,Ops,Clerk,,,,true,\n'            # lines 8-9: fine
        + "E8,Late,Error,Ops,Clerk,,,,nope,\n"                      # line 10: bad active
    )
    path = write(tmp_path, text)

    with pytest.raises(DirectoryImportError) as caught:
        await import_directory(sessions=sessions, path=path)

    lines = {line: message for line, message in caught.value.problems}
    assert sorted(lines) == [3, 4, 5, 6, 7, 10]
    assert "id is missing" in lines[3]
    assert "first_name is missing" in lines[4]
    assert "duplicate id 'E1' (first at line 2)" in lines[5]
    assert "active must be" in lines[6]
    assert "email" in lines[7]
    assert await count_employees(sessions) == 0
    async with sessions() as session:
        assert await directory_version(session=session) == 0


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"id,first_name\nE1,Ada\n", "missing column(s): last_name"),
        (HEADER.replace("email", "emial").encode() + b"", "unknown column(s): 'emial'"),
        ((HEADER + "E1,Jos\xe9,Ruiz,,,,,,true,\n").encode("latin-1"), "not valid UTF-8"),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "UTF-16"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        (b"   \n", "empty"),
    ],
    ids=["missing-column", "typo-column", "latin-1", "utf-16", "binary", "empty"],
)
def test_malformed_files_are_rejected(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    with pytest.raises(DirectoryImportError) as caught:
        read_directory_file(path)
    text = str(caught.value) + " " + " ".join(m for _, m in caught.value.problems)
    assert expected in text


async def test_json_list_and_object_forms(sessions: Sessions, tmp_path: Path) -> None:
    people = [
        {"id": "E1", "first_name": "Sara", "last_name": "Lind", "active": True,
         "aliases": ["Sarah"]},
        {"id": 2, "first_name": "Sarah", "last_name": "Lynd", "email": "sarah@acme.example"},
    ]
    as_list = write(tmp_path, json.dumps(people), "people.json")
    as_object = write(tmp_path, json.dumps({"employees": people}), "people2.json")

    first = await import_directory(sessions=sessions, path=as_list)
    second = await import_directory(sessions=sessions, path=as_object)

    assert (first.created, second.unchanged) == (2, 2)
    async with sessions() as session:
        ids = [e.id for e in await load_employees(session=session)]
    assert ids == ["2", "E1"]


def test_json_problems_name_the_item(tmp_path: Path) -> None:
    items = [{"id": f"E{i}", "first_name": "A", "last_name": "B"} for i in range(1, 20)]
    items[16] = {"id": "E17", "first_name": "A", "last_name": "B", "active": "perhaps"}
    items[18] = {"id": "E1", "first_name": "A", "last_name": "B"}
    path = write(tmp_path, json.dumps({"employees": items}), "people.json")

    with pytest.raises(DirectoryImportError) as caught:
        read_directory_file(path)

    messages = [message for _, message in caught.value.problems]
    assert messages[0].startswith("item 17: active must be")
    assert messages[1] == "item 19: duplicate id 'E1' (first at item 1)"


def test_bad_json_reports_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[\n  {"id": "E1",\n  "first_name": }\n]', "people.json")
    with pytest.raises(DirectoryImportError) as caught:
        read_directory_file(path)
    assert caught.value.problems[0][0] == 3


def test_demo_directory_is_valid() -> None:
    from checkin.demo import DEMO_DIRECTORY

    records = read_directory_file(DEMO_DIRECTORY)
    assert 35 <= len(records) <= 45
    assert sum(not r.active for r in records) == 2


ALT_HEADER = HEADER.rstrip("\n") + ",assistant_id,team_channel\n"


async def test_alternates_are_imported_and_may_name_people_already_in_the_db(
    sessions: Sessions, tmp_path: Path
) -> None:
    await import_directory(sessions=sessions, path=write(tmp_path, HEADER + ROWS[0]))
    text = (ALT_HEADER
            + "E2,Jon,Park,Sales,Rep,,,,yes,,E3,C0SALES\n"   # assistant further down the file
            + "E3,John,Parks,Legal,Counsel,,,,1,,E1,\n")     # assistant imported earlier
    report = await import_directory(sessions=sessions, path=write(tmp_path, text, "more.csv"))

    assert report.created == 2
    async with sessions() as session:
        people = {e.id: e for e in await load_employees(session=session)}
    assert (people["E2"].assistant_id, people["E2"].team_channel) == ("E3", "C0SALES")
    assert (people["E3"].assistant_id, people["E3"].team_channel) == ("E1", "")
    assert (people["E1"].assistant_id, people["E1"].team_channel) == ("", "")


async def test_bad_alternates_are_reported_by_line(sessions: Sessions, tmp_path: Path) -> None:
    text = (ALT_HEADER
            + "E1,Ada,Quill,Eng,Eng,,,,true,,E9,\n"          # line 2: unknown assistant
            + "E2,Jon,Park,Sales,Rep,,,,yes,,E2,\n"          # line 3: themselves
            + "E3,John,Parks,Legal,Counsel,,,,1,,,#legal\n"  # line 4: a name, not an id
            + "E4,Ok,Person,Ops,Clerk,,,,1,,E1,G0OPS\n")     # line 5: fine
    with pytest.raises(DirectoryImportError) as caught:
        await import_directory(sessions=sessions, path=write(tmp_path, text))

    lines = {line: message for line, message in caught.value.problems}
    assert sorted(lines) == [2, 3, 4]
    assert "assistant_id 'E9' is not an employee" in lines[2]
    assert "themselves" in lines[3]
    assert "team_channel must be a Slack channel id" in lines[4]
    assert await count_employees(sessions) == 0


def test_without_a_database_the_assistant_must_be_in_the_file(tmp_path: Path) -> None:
    people = [{"id": "E1", "first_name": "A", "last_name": "B", "assistant_id": "E2"},
              {"id": "E3", "first_name": "C", "last_name": "D", "assistant_id": "E1",
               "team_channel": "C0TEAM"}]
    with pytest.raises(DirectoryImportError) as caught:
        read_directory_file(write(tmp_path, json.dumps(people), "people.json"))
    assert [m for _, m in caught.value.problems] == [
        "item 1: assistant_id 'E2' is not an employee in this file or the directory"]
