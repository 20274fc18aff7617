"""ClaudeLanguageModel with the real anthropic SDK against the fake Messages API server.

Success path (fact tools, the gate, streaming to speech, usage on the visit), refusals, and each
failure the service can produce: the visit always carries on with the rules engine.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select

from checkin.states import CheckInState
from checkin.visits import BadgeRecord, Notification, Visit, VisitEvent
from tests.fakeservers.fake_anthropic import (
    FakeAnthropic,
    Reply,
    Status,
    Text,
    ToolUse,
    call,
    say,
)
from tests.support.claude import ClaudeVisit, claude_visit

pytestmark = pytest.mark.contract

S = CheckInState


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(lifetime_s=300) as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeAnthropic) -> FakeAnthropic:
    fake_server.reset()
    return fake_server


@pytest.fixture
async def visit(sessions, tmp_path, fake) -> AsyncIterator[ClaudeVisit]:
    v = await claude_visit(sessions, tmp_path, fake)
    await v.conv.greet()
    yield v
    await v.aclose()


async def trail(sessions, visit_id: str) -> list[tuple[str, dict]]:
    async with sessions() as db:
        rows = (await db.scalars(select(VisitEvent).where(VisitEvent.visit_id == visit_id)
                                 .order_by(VisitEvent.id))).all()
    return [(r.kind, r.data) for r in rows]


def check_in_script() -> list:
    """Claude checking Nathan Ellison in for Priya Patel (E1), one reply per model call."""
    return [
        call("lookup_employee", "Let me check.", name="Priya Patel"),
        say("Priya Patel in Engineering, is that right?"),
        call("confirm_host", employee_id="E1"),
        say("Great. Could I have your name, please?"),
        Reply([ToolUse("record_visitor", {"name": "Nathan Ellison",
                                          "company": "Vertex Dynamics",
                                          "purpose": "a design review"}),
               ToolUse("complete_visitor_info")]),
        call("notify_host", employee_id="E1", visitor_name="Nathan Ellison",
             company="Vertex Dynamics"),
        call("print_badge", visitor_name="Nathan Ellison", host_name="Priya Patel"),
        call("complete_checkin"),
        say("Thanks, Nathan. I've let Priya know you're here; please take your badge."),
    ]


async def test_a_visitor_is_checked_in_by_claude_through_the_gate(visit, fake, sessions):
    fake.script(*check_in_script())
    first = await visit.conv.reply("hi, I'm here to see Priya Patel")
    assert first.state is S.CONFIRM_HOST and first.text.endswith("is that right?")
    assert [a.tool for a in first.actions] == ["lookup_employee"]
    second = await visit.conv.reply("yes")
    assert second.state is S.COLLECT_VISITOR_INFO and second.actions == []
    final = await visit.conv.reply("Nathan Ellison, Vertex Dynamics, a design review")
    assert final.done and final.state is S.COMPLETE
    # actions: only the product tools that ran; fact tools never show.
    assert [a.tool for a in final.actions] == ["notify_host", "print_badge"]
    assert visit.notifier.sent[0][0].employee_id == "E1"
    assert all(r.status == 200 for r in fake.requests), [r.status for r in fake.requests]

    offered = [set(r.tool_names) for r in fake.requests]
    assert "notify_host" not in offered[0] and "print_badge" not in offered[0]
    assert {"lookup_employee", "search_meetings", "transfer_to_human"} <= offered[0]
    assert "confirm_host" in offered[2]  # a candidate was proposed
    notify_round = offered[5]  # after complete_visitor_info, within the same visitor turn
    assert {"notify_host", "transfer_to_human"} <= notify_round
    assert "lookup_employee" not in notify_round and "print_badge" not in notify_round
    assert "print_badge" in offered[6] and "notify_host" not in offered[6]

    system = fake.requests[2].body["system"]
    assert "Step: CONFIRM_HOST" in system and "E1: Priya Patel (Engineering)" in system
    assert "Never say or hint that you're an AI" in system
    assert "@" not in system and "555" not in system  # no contact details in the prompt


async def test_requests_carry_auth_version_and_no_removed_sampling_parameters(visit, fake):
    fake.script(say("Who are you here to see?"))
    await visit.conv.reply("hello")
    req = fake.requests[0]
    assert req.headers.get("authorization") == "Bearer test-key" or \
        req.headers.get("x-api-key") == "test-key"
    assert req.headers.get("anthropic-version")
    assert req.body["model"] == "claude-haiku-4-5" and req.body["stream"] is True
    assert not {"temperature", "top_p", "top_k"} & set(req.body)
    assert req.body["max_tokens"] == 300


async def test_usage_and_cost_are_stored_on_the_visit(visit, fake, sessions):
    fake.script(Reply([Text("Who are you here to see?")], usage=(1000, 40)),
                Reply([Text("Sorry, who was that?")], usage=(1200, 60)))
    await visit.conv.reply("hello")
    await visit.conv.reply("umm")
    async with sessions() as db:
        v = await db.get(Visit, visit.conv.visit_id)
    assert (v.llm_requests, v.llm_input_tokens, v.llm_output_tokens) == (2, 2200, 100)
    assert v.llm_model == "claude-haiku-4-5"
    assert v.llm_cost_usd_micros == 2200 * 1 + 100 * 5  # $1 / $5 per million tokens


async def test_text_reaches_speech_while_claude_is_still_writing(visit, fake):
    import threading

    hold = threading.Event()
    # Tokens carry their leading space, so a sentence is complete once "thing. " is out.
    fake.script(Reply([Text("Sure thing. "), Text("Who are you here to see?")], hold=hold))
    sentences = visit.conv.replies("hello")
    first = await asyncio.wait_for(sentences.__anext__(), timeout=3)
    assert first == "Sure thing."  # spoken while the fake still holds the rest back
    hold.set()
    rest = [s async for s in sentences]
    assert rest == ["Who are you here to see?"]


async def test_a_refused_tool_gets_an_error_result_and_claude_answers_in_words(
        visit, fake, sessions):
    fake.script(call("notify_host", employee_id="E1", visitor_name="Mallory"),
                say("Sorry, I can't do that yet. Who are you here to see?"))
    reply = await visit.conv.reply("notify Priya that I'm here")
    assert reply.actions == [] and visit.notifier.sent == []
    assert reply.text == "Sorry, I can't do that yet. Who are you here to see?"
    [result] = fake.requests[1].tool_results()
    assert result["is_error"] is True
    assert "not available at this step" in result["content"]
    kinds = [k for k, _ in await trail(sessions, visit.conv.visit_id)]
    assert "tool_rejected" in kinds


async def test_a_silent_tool_use_is_followed_by_the_next_question(visit, fake):
    fake.script(call("lookup_employee", name="Priya Patel"), Reply([]))
    reply = await visit.conv.reply("Priya Patel please")
    assert reply.state is S.CONFIRM_HOST
    assert reply.text == "Priya Patel in Engineering, is that right?"


async def test_a_tool_result_is_always_answered_even_after_too_many_tool_rounds(visit, fake):
    fake.default = call("lookup_employee", name="Priya Patel")
    reply = await visit.conv.reply("Priya Patel")
    assert reply.text and reply.state is S.CONFIRM_HOST
    assert len(fake.requests) == 6  # tool_rounds, then our own next question


FAILURES = {
    "overloaded_529": Status(529, "overloaded_error"),
    "server_error_500": Status(500, "api_error"),
    "unavailable_503": Status(503, "api_error"),
    "rate_limited_429": Status(429, "rate_limit_error"),
    "error_event_after_200": Reply([Text("One moment")], error_after=2),
    "stall_before_first_token": Reply([Text("Hello.")], delay_s=5),
    "stall_mid_stream": Reply([Text("Let me check that for you, one moment")],
                              stall_after=4, stall_s=5),
    "connection_dropped": Reply([Text("Sure, let me see who")], drop_after=4),
    "malformed_tool_json": Reply([ToolUse("lookup_employee", raw='{"name": Priya Patel}')]),
    "truncated_tool_json": Reply([ToolUse("lookup_employee", raw='{"name": "Pri')]),
}
CODES = {
    "overloaded_529": "llm-overloaded", "server_error_500": "llm-server-error",
    "unavailable_503": "llm-server-error", "rate_limited_429": "llm-rate-limited",
    "error_event_after_200": "llm-overloaded", "stall_before_first_token":
        "llm-first-token-timeout", "stall_mid_stream": "llm-stalled",
    "connection_dropped": "llm-connection-lost", "malformed_tool_json": "llm-bad-tool-input",
    "truncated_tool_json": "llm-bad-tool-input",
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_a_failing_claude_hands_the_visit_to_the_rules_engine(
        visit, fake, sessions, failure):
    fake.script(FAILURES[failure])
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await visit.conv.reply("hi, I'm here to see Priya Patel")
    assert loop.time() - started < 2.5  # bounded by the first-token / stall timeouts
    # The visitor just hears the next question, from the rules engine.
    assert reply.state is S.CONFIRM_HOST
    assert reply.text.endswith("Priya Patel in Engineering, is that right?")
    assert [a.tool for a in reply.actions] == ["lookup_employee"]
    events = await trail(sessions, visit.conv.visit_id)
    assert ("model_failed", {"code": CODES[failure]}) in events
    # ...and the rest of the visit is the rules engine's: Claude is not asked again.
    asked = len(fake.requests)
    await visit.conv.reply("yes")
    await visit.conv.reply("Nathan Ellison")
    final = await visit.conv.reply("Vertex Dynamics, a design review")
    assert final.done and final.state is S.COMPLETE and len(fake.requests) == asked
    assert [a.tool for a in final.actions] == ["notify_host", "print_badge"]


async def test_claude_failing_mid_visit_leaves_rules_the_same_state_and_facts(
        visit, fake, sessions):
    fake.script(call("lookup_employee", name="Priya Patel"),
                say("Priya Patel in Engineering, is that right?"),
                Status(529))
    await visit.conv.reply("I'm here to see Priya Patel")
    reply = await visit.conv.reply("yes that's her")
    assert reply.state is S.COLLECT_VISITOR_INFO
    assert visit.conv.session.confirmed_host.employee_id == "E1"
    assert "name" in reply.text.lower()
    await visit.conv.reply("Nathan Ellison")
    final = await visit.conv.reply("Vertex Dynamics, a design review")
    assert final.state is S.COMPLETE
    assert visit.notifier.sent[0][1].visitor_name == "Nathan Ellison"


async def test_claude_failing_between_notify_and_badge_never_notifies_twice(
        visit, fake, sessions):
    fake.script(*check_in_script()[:6], Status(500))
    await visit.conv.reply("I'm here to see Priya Patel")
    await visit.conv.reply("yes")
    final = await visit.conv.reply("Nathan Ellison, Vertex Dynamics, a design review")
    assert final.state is S.COMPLETE and final.done
    assert [a.tool for a in final.actions] == ["notify_host", "print_badge"]
    assert len(visit.notifier.sent) == 1
    async with sessions() as db:
        badges = (await db.scalars(select(BadgeRecord.visitor_name))).all()
        notes = (await db.scalars(select(Notification.host_employee_id))).all()
    assert badges == ["Nathan Ellison"] and set(notes) == {"E1"}


async def test_without_a_fallback_the_failure_reaches_the_channel(sessions, tmp_path, fake):
    from checkin.errors import ProviderUnavailable

    v = await claude_visit(sessions, tmp_path, fake, fallback=False)
    fake.script(Status(529))
    with pytest.raises(ProviderUnavailable):
        await v.conv.reply("hello")
    await v.aclose()


def tool_pairs_are_complete(messages: list[dict]) -> bool:
    for i, msg in enumerate(messages):
        uses = [b["id"] for b in msg["content"] if b.get("type") == "tool_use"]
        if not uses:
            continue
        if i + 1 >= len(messages):
            return False
        results = {b.get("tool_use_id") for b in messages[i + 1]["content"]
                   if b.get("type") == "tool_result"}
        if set(uses) - results:
            return False
    return True


async def test_barge_in_while_claude_speaks_after_a_tool_keeps_the_history_valid(visit, fake):
    import threading

    hold = threading.Event()
    fake.script(call("lookup_employee", "Let me check.", name="Priya Patel"),
                Reply([Text("Priya Patel in Engineering."), Text(" Is that right?")], hold=hold))
    task = asyncio.create_task(anext_all(visit.conv.replies("Priya Patel")), name="reply")
    await asyncio.wait_for(until(lambda: len(fake.requests) == 2), timeout=3)
    await asyncio.sleep(0.05)
    task.cancel()  # the visitor barges in while the second sentence is held back
    with pytest.raises(asyncio.CancelledError):
        await task
    hold.set()
    assert tool_pairs_are_complete(visit.claude.messages)
    fake.script(say("Okay, Priya Patel it is. Could I have your name?"))
    reply = await visit.conv.reply("yes, her")
    assert fake.requests[-1].status == 200, "Anthropic would reject the history"
    assert reply.text == "Okay, Priya Patel it is. Could I have your name?"


async def test_barge_in_while_a_tool_runs_answers_the_tool_use_as_interrupted(
        visit, fake, monkeypatch):
    started = asyncio.Event()
    original = visit.conv._call_tool

    async def slow_tool(name, args):  # the registry call the visitor interrupts
        started.set()
        await asyncio.sleep(5)
        return await original(name, args)

    monkeypatch.setattr(visit.conv, "_call_tool", slow_tool)
    fake.script(call("lookup_employee", "One moment.", name="Priya Patel"))
    task = asyncio.create_task(anext_all(visit.conv.replies("Priya Patel")), name="reply")
    await asyncio.wait_for(started.wait(), timeout=3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    history = visit.claude.messages
    assert tool_pairs_are_complete(history)
    result = history[-1]["content"][0]
    assert result["type"] == "tool_result" and result["is_error"] is True
    monkeypatch.undo()
    fake.script(say("Sorry, who are you here to see?"))
    await visit.conv.reply("Priya Patel")
    assert fake.requests[-1].status == 200
    last_user = fake.requests[-1].messages[-1]["content"]
    assert last_user[0]["type"] == "tool_result" and last_user[-1]["text"] == "Priya Patel"


async def anext_all(stream) -> list[str]:
    return [s async for s in stream]


async def until(predicate) -> None:
    # The fake records requests on its own thread: nothing to await but a short poll.
    while not predicate():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_the_breaker_opens_after_repeated_failures_and_skips_claude(
        sessions, tmp_path, fake):
    from checkin.llm.breaker import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown_s=30, clock=lambda: now[0])
    fake.default = Status(529)
    for _ in range(2):
        v = await claude_visit(sessions, tmp_path, fake, breaker=breaker)
        assert "Who are you" in (await v.conv.greet()).text
        assert (await v.conv.reply("Priya Patel")).state is S.CONFIRM_HOST
        await v.aclose()
    assert breaker.state == "open" and len(fake.requests) == 2
    v = await claude_visit(sessions, tmp_path, fake, breaker=breaker)
    assert (await v.conv.reply("Priya Patel")).state is S.CONFIRM_HOST
    assert len(fake.requests) == 2, "an open breaker does not call Claude"
    await v.aclose()
    now[0] = 31.0  # cool-down over: one trial call, which works and closes the breaker
    fake.default = say("Who are you here to see?")
    v = await claude_visit(sessions, tmp_path, fake, breaker=breaker)
    assert (await v.conv.reply("hello")).text == "Who are you here to see?"
    assert breaker.state == "closed" and len(fake.requests) == 3
    await v.aclose()


async def test_a_spanish_speaker_is_answered_in_spanish(visit, fake):
    fake.script(say("Claro. ¿A quién viene a ver?"))
    reply = await visit.conv.reply("Hola, buenos días, vengo a una reunión")
    assert visit.conv.session.language == "es"
    system = fake.requests[0].body["system"]
    assert "Language: es (reply in Spanish)" in system
    assert reply.text == "Claro. ¿A quién viene a ver?"


async def test_a_spanish_speaker_still_hears_spanish_when_claude_fails(visit, fake):
    fake.default = Status(529)
    reply = await visit.conv.reply("Hola, vengo a ver a Priya Patel")
    assert visit.conv.session.language == "es"
    assert reply.text.endswith("¿es correcto?")


async def test_rules_first_asks_claude_only_what_the_rules_do_not_understand(
        sessions, tmp_path, fake):
    v = await claude_visit(sessions, tmp_path, fake, rules_first=True)
    await v.conv.greet()
    reply = await v.conv.reply("I'm here to see Priya Patel")
    assert reply.state is S.CONFIRM_HOST and fake.requests == []
    fake.script(call("confirm_host", employee_id="E1"),
                say("Wonderful. May I have your name?"))
    reply = await v.conv.reply("that's the lady I'm meeting, absolutely correct")
    assert len(fake.requests) == 2 and reply.state is S.COLLECT_VISITOR_INFO
    assert reply.text == "Wonderful. May I have your name?"
    assert v.conv.session.misunderstandings == 0
    await v.aclose()


async def test_a_model_cannot_confirm_a_host_no_lookup_proposed(visit, fake):
    fake.script(call("lookup_employee", name="Priya Patel"),
                say("Priya Patel in Engineering, is that right?"),
                call("confirm_host", employee_id="E3"),
                say("Sorry, could you say that again?"))
    await visit.conv.reply("Priya Patel")
    reply = await visit.conv.reply("no, Marcus")
    assert reply.state is S.CONFIRM_HOST and visit.conv.session.confirmed_host is None
    [result] = fake.requests[3].tool_results()
    assert result["is_error"] and "candidate" in json.loads(result["content"])["message"]


async def test_rules_taking_over_after_claude_asked_for_the_name_understands_a_bare_name(
        visit, fake):
    fake.script(*check_in_script()[:4], Status(529))
    await visit.conv.reply("I'm here to see Priya Patel")
    assert (await visit.conv.reply("yes")).text == "Great. Could I have your name, please?"
    reply = await visit.conv.reply("Nathan Ellison")  # Claude fails; rules had asked nothing
    assert visit.conv.session.visitor_name == "Nathan Ellison"
    assert "company" in reply.text
    final = await visit.conv.reply("Vertex Dynamics, a design review")
    assert final.state is S.COMPLETE


async def test_no_names_prompts_or_model_text_reach_the_logs(visit, fake):
    from structlog.testing import capture_logs

    fake.script(*check_in_script())
    with capture_logs() as logs:
        await visit.conv.reply("hi, I'm here to see Priya Patel")
        await visit.conv.reply("yes")
        await visit.conv.reply("Nathan Ellison, Vertex Dynamics, a design review")
        fake.script(Status(529))
    dumped = repr(logs).lower()
    for secret in ("nathan", "ellison", "priya", "patel", "vertex", "design review",
                   "let me check", "receptionist", "test-key"):
        assert secret not in dumped, secret
