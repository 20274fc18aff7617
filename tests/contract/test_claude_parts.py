"""The pieces around ClaudeLanguageModel: config, breaker, prompt, fact tools, history repair,
the usage columns (migration 0002) and what ``/health`` shows."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import create_engine, inspect, pool

from checkin.app import create_app
from checkin.config import load_settings
from checkin.db import sync_url, transaction
from checkin.errors import ConfigError
from checkin.llm.breaker import CircuitBreaker
from checkin.llm.claude import INTERRUPTED, with_tool_results
from checkin.llm.facts import plausible_name
from checkin.llm.prompt import PromptConfig, system_prompt
from checkin.llm.rules_first import RulesFirstLanguageModel
from checkin.migrate import downgrade_to_base, upgrade_to_head
from checkin.runtime import build_runtime
from checkin.states import Candidate, Event, Session
from checkin.visits import Visit, create_visit
from tests.fakeservers.fake_anthropic import FakeAnthropic, Status

pytestmark = pytest.mark.contract

KEY = {"ANTHROPIC_API_KEY": "sk-test"}


def settings(tmp_path, text: str = "", **env: str):
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")
    return load_settings(config, {"CHECKIN_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
                                  "CHECKIN_BADGE_DIR": str(tmp_path / "badges"), **env})


# -- config ---------------------------------------------------------------------------------------


def test_claude_without_a_key_fails_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        settings(tmp_path, CHECKIN_LLM="claude")


def test_claude_settings_come_from_config_and_the_key_from_the_environment(tmp_path):
    s = settings(tmp_path, "claude:\n  model: claude-haiku-4-5-20251001\n  rules_first: true\n",
                 CHECKIN_LLM="claude", ANTHROPIC_BASE_URL="http://127.0.0.1:9", **KEY)
    assert s.providers.llm == "claude" and s.claude.rules_first
    assert s.claude.model == "claude-haiku-4-5-20251001"
    assert s.claude.base_url == "http://127.0.0.1:9"
    assert s.credentials.anthropic_api_key.get_secret_value() == "sk-test"
    assert "sk-test" not in repr(s)
    assert settings(tmp_path).claude.model.startswith("claude-haiku")  # Haiku by default
    assert settings(tmp_path).claude.max_retries == 0


@pytest.mark.parametrize("text", ["claude:\n  temperature: 0.2\n", "claude:\n  api_key: sk\n",
                                  "credentials:\n  anthropic_api_key: sk\n"])
def test_unknown_claude_keys_and_keys_in_the_file_are_refused(tmp_path, text):
    with pytest.raises(ConfigError):
        settings(tmp_path, text, **KEY)


# -- breaker ---------------------------------------------------------------------------------------


def test_the_breaker_opens_cools_down_and_lets_one_trial_through():
    now = [0.0]
    b = CircuitBreaker(failure_threshold=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        assert b.allow()
        b.record_failure("llm-overloaded")
    b.record_success()  # a success in between resets the count
    for _ in range(3):
        b.record_failure("llm-overloaded")
    assert b.state == "open" and not b.allow()
    assert b.snapshot()["retry_in_s"] == 10.0
    now[0] = 10.0
    assert b.state == "half_open" and b.allow() and not b.allow()  # one trial at a time
    b.record_failure("llm-timeout")  # the trial failed: open again for a full cool-down
    assert b.state == "open" and b.times_opened == 2
    now[0] = 20.0
    assert b.allow()
    b.abandon()  # a barge-in gives the trial slot back
    assert b.allow()
    b.record_success()
    assert b.state == "closed" and b.snapshot()["last_error"] == "llm-timeout"


# -- history ---------------------------------------------------------------------------------------


def test_a_tool_use_without_its_result_gets_an_interrupted_error_result():
    history = [
        {"role": "user", "content": [{"type": "text", "text": "Priya"}]},
        {"role": "assistant", "content": [
            {"type": "text", "text": "One moment."},
            {"type": "tool_use", "id": "t1", "name": "lookup_employee", "input": {}},
            {"type": "tool_use", "id": "t2", "name": "search_meetings", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t1", "content": "{}", "is_error": False},
            {"type": "text", "text": "hello?"}]},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "t3", "name": "lookup_employee", "input": {}}]},
    ]
    fixed = with_tool_results(history)
    assert [b.get("tool_use_id") or b.get("text") for b in fixed[2]["content"]] == [
        "t1", "t2", "hello?"]
    assert fixed[3:] == [history[3], {"role": "user", "content": [fixed[4]["content"][0]]}]
    assert INTERRUPTED in fixed[4]["content"][0]["content"] and fixed[4]["content"][0]["is_error"]
    assert len(history[2]["content"]) == 2, "the input is not modified"


# -- prompt and facts ------------------------------------------------------------------------------


def test_the_system_prompt_has_the_voice_rules_and_this_turns_facts():
    s = Session()
    s.apply(Event.VISITOR_SPOKE)
    s.apply(Event.HOST_AMBIGUOUS, candidates=[Candidate("E1", "Priya Patel", "Engineering"),
                                              Candidate("E2", "Priya Raman", "Marketing")])
    s.apply(Event.VISITOR_NAMED, name="Ana Ruiz")
    text = system_prompt(PromptConfig(company="Northwind Labs", tone="cheerful",
                                      instructions="Visitors sign the NDA at the desk."), s)
    for needle in ("Northwind Labs", "cheerful", "two short sentences", "No lists, no markdown",
                   "contractions", "spell it back", "Never say or hint that you're an AI",
                   "Spanish", "Step: DISAMBIGUATE", "E1: Priya Patel (Engineering)",
                   "E2: Priya Raman (Marketing)", "Confirmed host: none", "name Ana Ruiz",
                   "Still missing: the host (confirmed by the visitor), their company, the "
                   "reason for the visit", "Visitors sign the NDA"):
        assert needle in text, needle


@pytest.mark.parametrize("name,ok", [
    ("Ana Ruiz", True), ("José Ángel O'Neill-Díaz", True), ("Dr. Mei Chen", True),
    ("ALL ACCESS", False), ("Ana Ruiz VIP", False), ("R2-D2", False), ("", False),
    ("Ana; notify everyone", False), ("a b c d e f", False), ("Staff", False),
])
def test_only_plausible_person_names_can_be_recorded(name, ok):
    assert plausible_name(name) is ok


# -- migration 0002 --------------------------------------------------------------------------------


def test_migration_0002_adds_and_removes_the_usage_columns(empty_database_url):
    upgrade_to_head(empty_database_url)
    engine = create_engine(sync_url(empty_database_url), poolclass=pool.NullPool)
    try:
        cols = {c["name"] for c in inspect(engine).get_columns("visits")}
        assert {"llm_model", "llm_requests", "llm_input_tokens", "llm_output_tokens",
                "llm_cost_usd_micros"} <= cols
    finally:
        engine.dispose()
    downgrade_to_base(empty_database_url)
    upgrade_to_head(empty_database_url)


# -- runtime and /health ---------------------------------------------------------------------------


async def test_health_shows_the_breaker_and_sums_usage(tmp_path):
    with FakeAnthropic(lifetime_s=60) as fake:
        fake.default = Status(529)
        s = settings(tmp_path, "claude:\n  breaker_failures: 1\n", CHECKIN_LLM="claude",
                     ANTHROPIC_BASE_URL=fake.url, **KEY)
        upgrade_to_head(s.database_url)
        runtime = build_runtime(s)
        try:
            conv = await runtime.new_conversation(channel="chat")
            await conv.greet()
            reply = await conv.reply("I'm here to see someone")
            assert reply.text  # the rules engine answered
            async with transaction(runtime.sessions) as db:
                for tokens_in, micros in ((1000, 1500), (3000, 4500)):
                    visit = await create_visit(session=db, channel="chat")
                    visit.llm_requests, visit.llm_input_tokens = 2, tokens_in
                    visit.llm_output_tokens, visit.llm_cost_usd_micros = 100, micros
            app = create_app(runtime, background_jobs=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                body = (await client.get("/health")).json()
        finally:
            await runtime.aclose()
    llm = body["providers"]["llm"]
    assert llm["mode"] == "claude" and llm["model"] == "claude-haiku-4-5"
    assert llm["breaker"]["state"] == "open" and llm["status"] == "fallback"
    assert llm["breaker"]["last_error"] == "llm-overloaded"
    usage = body["llm_usage"]["retained"]
    assert usage == {"visits": 2, "requests": 4, "input_tokens": 4000, "output_tokens": 200,
                     "cost_usd": 0.006}
    assert "sk-test" not in str(body)


async def test_the_runtime_gives_each_visit_claude_with_rules_as_the_fallback(tmp_path):
    s = settings(tmp_path, "claude:\n  rules_first: true\n", CHECKIN_LLM="claude", **KEY)
    upgrade_to_head(s.database_url)
    runtime = build_runtime(s)
    try:
        conv = await runtime.new_conversation(channel="chat")
        assert isinstance(conv._model, RulesFirstLanguageModel)
        assert conv._fallback is not None
        async with runtime.sessions() as db:
            assert (await db.get(Visit, conv.visit_id)).llm_requests == 0
    finally:
        await runtime.aclose()
