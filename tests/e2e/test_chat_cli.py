"""`checkin chat --jsonl` as a scripted visitor drives it: a separate process, stdin/stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

DIRECTORY = """id,first_name,last_name,department,title,email,phone,slack_id,active
E10,Odile,Ferrand,Finance,Controller,odile.ferrand@example.test,+1-555-0110,U10,true
E11,Tomas,Lindqvist,Engineering,Engineer,tomas.lindqvist@example.test,+1-555-0111,U11,true
"""


def chat(tmp_path: Path, database_url: str, lines: list[dict], *extra: str) -> list[dict]:
    return run_chat(tmp_path, database_url, lines, *extra)[0]


def run_chat(
    tmp_path: Path, database_url: str, lines: list[dict], *extra: str
) -> tuple[list[dict], str]:
    directory = tmp_path / "directory.csv"
    directory.write_text(DIRECTORY, encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\n  timezone: Europe/Paris\n", "utf-8")
    env = {**os.environ, "CHECKIN_CONFIG": str(config), "CHECKIN_DATABASE_URL": database_url,
           "CHECKIN_BADGE_DIR": str(tmp_path / "badges"), "CHECKIN_LOG_FORMAT": "json"}
    stdin = "".join((json.dumps(m) if isinstance(m, dict) else m) + "\n" for m in lines)
    done = subprocess.run(
        [sys.executable, "-m", "checkin", "chat", "--jsonl", "--directory", str(directory),
         *extra], input=stdin, capture_output=True, text=True, env=env, timeout=60, check=True,
    )
    return [json.loads(line) for line in done.stdout.splitlines()], done.stderr


def test_a_scripted_visitor_checks_in_over_json_lines(tmp_path, database_url):
    out, stderr = run_chat(tmp_path, database_url, [
        {"say": "hello, I have an appointment with odile ferrand"},
        {"say": "yes"},
        {"say": "my name is Ines Alvarado"},
        {"say": "Lumen Works, a budget review"},
        {"end": True},
    ], "--now", "2026-03-18T09:50:00+01:00")
    assert len(out) == 6, "one greeting, then exactly one line per input"
    assert all(set(line) >= {"bot", "state", "actions", "done"} for line in out)
    assert out[0]["state"] == "GREETING" and "Test Lobby" in out[0]["bot"]
    assert out[1]["state"] == "CONFIRM_HOST"
    final = out[4]
    assert final["done"] and final["state"] == "COMPLETE"
    notify, badge = final["actions"]
    assert notify["tool"] == "notify_host" and notify["args"]["employee_id"] == "E10"
    assert badge["args"] == {"visitor_name": "Ines Alvarado", "host_name": "Odile Ferrand"}
    assert list((tmp_path / "badges").glob("*.pdf"))
    assert "visit_ended" in stderr, "the process logs (JSON, to stderr)"
    for personal in ("Alvarado", "Ines", "Odile", "Ferrand", "555-0110", "@example.test"):
        assert personal not in stderr, personal


def test_a_broken_line_gets_a_clear_error_and_loses_nothing(tmp_path, database_url):
    out = chat(tmp_path, database_url, [
        "{not json", {"say": "I'm here to see Tomas Lindqvist"}, {"end": True}])
    assert out[1]["error"] == "invalid JSON line" and out[1]["state"] == "GREETING"
    assert out[2]["state"] == "CONFIRM_HOST"


def test_now_without_a_utc_offset_is_refused_with_a_message(tmp_path, database_url):
    with pytest.raises(subprocess.CalledProcessError) as err:
        chat(tmp_path, database_url, [{"end": True}], "--now", "2026-03-18T09:50:00")
    assert "UTC offset" in err.value.stderr
