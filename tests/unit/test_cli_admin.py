"""The admin commands end to end on a temporary SQLite file: directory, visits, retention."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checkin.cli import directory, retention, visits
from checkin.config import Settings
from checkin.db import make_engine, make_sessionmaker, transaction
from checkin.demo import DEMO_DIRECTORY
from checkin.visits import Visit, new_id

pytestmark = pytest.mark.unit

HEADER = "id,first_name,last_name,department,title,email,phone,slack_id,active\n"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="checkin")
    sub = root.add_subparsers(dest="command", required=True)
    for module in (directory, visits, retention):
        module.register(sub)
    return root


async def checkin(settings: Settings, *argv: str) -> int:
    """Run one command the way ``checkin`` does, minus settings loading."""
    args = parser().parse_args(list(argv))
    return int(await args.handler(args, settings))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A database that does not exist yet: every command must migrate it first.
    return Settings.model_validate({
        "database_url": f"sqlite:///{tmp_path / 'var' / 'checkin.db'}",
        "site": {"timezone": "America/Chicago"},
        "retention": {"days": 30, "batch_size": 2},
    })


async def add_visits(settings: Settings, *started: datetime) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            for at in started:
                session.add(Visit(id=new_id(), channel="kiosk", started_at=at,
                                  outcome="completed", visitor_name="Vic Visitor",
                                  company="Acme", host_name="Ada Quill"))
    finally:
        await engine.dispose()


async def test_import_with_bad_rows_prints_lines_and_imports_nothing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(HEADER + "E1,Ada,Quill,Eng,Eng,ada@acme.example,,,true\n"
                    "E2,Bo,,Eng,Eng,,,,true\n"
                    "E3,Cy,Dee,Eng,Eng,,,,sometimes\n", encoding="utf-8")

    assert await checkin(settings, "directory", "import", str(path)) == 1
    err = capsys.readouterr().err
    assert f"{path}:3: last_name is missing" in err
    assert f"{path}:4: active must be true/false/yes/no/1/0" in err
    assert "nothing was imported" in err

    assert await checkin(settings, "directory", "list", "--json") == 0
    assert capsys.readouterr().out == ""


async def test_import_then_full_deactivates(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await checkin(settings, "directory", "import", str(DEMO_DIRECTORY)) == 0
    assert "40 created" in capsys.readouterr().out

    lines = DEMO_DIRECTORY.read_text(encoding="utf-8").splitlines(keepends=True)
    smaller = tmp_path / "smaller.csv"
    smaller.write_text("".join(lines[:-5]), encoding="utf-8")  # the last five people left
    assert await checkin(settings, "directory", "import", str(smaller), "--full") == 0
    out = capsys.readouterr().out
    # The last two of the five were already inactive, so three are deactivated.
    assert "0 created, 0 updated, 35 unchanged, 3 deactivated" in out

    assert await checkin(settings, "directory", "list", "--json") == 0
    people = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(people) == 40
    assert sum(p["active"] for p in people) == 35


async def test_visits_list_empty_then_in_site_time(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await checkin(settings, "visits", "list") == 0
    assert "No visits yet." in capsys.readouterr().out

    await add_visits(settings, datetime(2026, 11, 20, 15, 5, tzinfo=UTC))
    assert await checkin(settings, "visits", "list") == 0
    out = capsys.readouterr().out
    assert "2026-11-20 09:05" in out  # 15:05 UTC is 09:05 in Chicago
    assert "kiosk" in out and "Ada Quill" in out and "Acme" in out

    assert await checkin(settings, "visits", "list", "--since", "2026-11-21") == 0
    assert "No visits since 2026-11-21." in capsys.readouterr().out

    assert await checkin(settings, "visits", "list", "--json") == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["started_at"] == "2026-11-20T15:05:00+00:00"


async def test_retention_dry_run_then_real(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    await checkin(settings, "visits", "list")  # creates the schema
    await add_visits(settings, now - timedelta(days=40), now - timedelta(days=35),
                     now - timedelta(days=31), now - timedelta(days=2))
    capsys.readouterr()

    assert await checkin(settings, "retention", "run", "--dry-run") == 0
    dry = capsys.readouterr().out
    assert "visits               3  would delete" in dry
    assert "nothing was deleted" in dry

    assert await checkin(settings, "retention", "run") == 0
    real = capsys.readouterr().out
    assert "visits               3  deleted" in real
    assert "Vic" not in dry + real and "Acme" not in dry + real  # counts only

    assert await checkin(settings, "retention", "run") == 0
    assert "visits               0  deleted" in capsys.readouterr().out
