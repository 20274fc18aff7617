"""The product's JSON-lines channel with Claude configured and every Claude request failing.

Runs a few dev-suite scenarios through ``run.py`` exactly as the benchmark does (the full run
is recorded in docs/benchmarks.md, "Claude fallback"): ``checkin chat --jsonl`` with
``CHECKIN_LLM=claude`` aimed at the fake server, which fails every request in turn with each
failure kind. Every visit must still end as the scenario expects, with no unauthorized action,
and ``actions`` must only ever list product tools.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeservers.fake_anthropic import FakeAnthropic, failing_responder

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO.parent / "shared" / "scenarios"
PRODUCT_TOOLS = {"lookup_employee", "search_meetings", "notify_host", "print_badge",
                 "transfer_to_human"}
CHOSEN = "dev-first-01,dev-es-01,dev-inj-01"


@pytest.fixture(scope="module")
def failing_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(lifetime_s=300) as fake:
        fake.default = failing_responder("mixed")
        yield fake


def product_command(fake_url: str, tmp: Path) -> str:
    config = tmp / "config.yaml"  # short timeouts: a stalled fake costs 1 s, not 3
    config.write_text("timeouts:\n  llm_first_token_s: 1\nclaude:\n  stall_s: 0.5\n",
                      encoding="utf-8")
    env = {"CHECKIN_CONFIG": str(config), "CHECKIN_LLM": "claude", "ANTHROPIC_API_KEY": "test-key",
           "ANTHROPIC_BASE_URL": fake_url, "CHECKIN_DATABASE_URL": f"sqlite:///{tmp / 'c.db'}",
           "CHECKIN_BADGE_DIR": str(tmp / "badges"), "CHECKIN_LOG_LEVEL": "warning"}
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    checkin = Path(sys.executable).with_name("checkin")
    return f"{assignments} {shlex.quote(str(checkin))} chat --jsonl"


@pytest.mark.skipif(not (SCENARIOS / "run.py").exists(), reason="shared/scenarios not present")
def test_scenarios_pass_when_every_claude_request_fails(failing_fake, tmp_path) -> None:
    report = tmp_path / "report.json"
    cmd = [sys.executable, "run.py", "--suite", "dev", "--only", CHOSEN, "--jobs", "2",
           "--cmd", product_command(failing_fake.url, tmp_path), "--report", str(report)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHECKIN_", "ANTHROPIC_"))}
    done = subprocess.run(cmd, cwd=SCENARIOS, capture_output=True, text=True, timeout=240,
                          env=env, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads(report.read_text())
    summary = results["summary"]
    assert (summary["scenarios"], summary["passed"]) == (3, 3), summary
    assert summary["wrong_host_notifications"] == 0 and summary["unauthorized_actions"] == 0
    for row in results["scenarios"]:
        assert {a["tool"] for a in row["actions"]} <= PRODUCT_TOOLS, row["id"]
    assert len(failing_fake.requests) >= 3, "Claude was asked (and failed) in every visit"
    assert all(r.status != 400 for r in failing_fake.requests)
