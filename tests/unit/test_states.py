"""The state machine, specified pair by pair, and its safety properties under random events."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkin.states import (
    MODEL_EVENTS,
    TOOLS_BY_STATE,
    Candidate,
    CheckInState,
    Event,
    Session,
    TransitionNotAllowed,
    advance,
    allowed_tools,
    tool_allowed,
)

S, E = CheckInState, Event
STAY = None

# The specification, written out by hand: (state, event) -> next state (STAY: same state).
ALWAYS = {E.TRANSFERRED: S.TRANSFER_HUMAN, E.VISITOR_LEFT: S.GREETING, E.FAILED: S.ERROR,
          E.SILENCE_TIMED_OUT: STAY, E.SILENCE_LIMIT_REACHED: S.GREETING, E.MISUNDERSTOOD: STAY}
FACTS = {E.VISITOR_NAMED: STAY, E.COMPANY_GIVEN: STAY, E.PURPOSE_GIVEN: STAY,
         E.DELIVERY_ANNOUNCED: STAY, E.PARTY_SIZE_GIVEN: STAY, E.LANGUAGE_CHANGED: STAY}
SEARCH = {E.HOST_FOUND: S.CONFIRM_HOST, E.HOST_AMBIGUOUS: S.DISAMBIGUATE,
          E.HOST_NOT_FOUND: S.IDENTIFY_HOST, E.HOST_LEFT: S.IDENTIFY_HOST,
          E.MEETING_FOUND: S.CONFIRM_HOST, E.MEETING_NOT_FOUND: STAY}
EXPECTED: dict[CheckInState, dict[Event, CheckInState | None]] = {
    S.GREETING: {**ALWAYS, **FACTS, E.VISITOR_SPOKE: S.IDENTIFY_HOST},
    S.IDENTIFY_HOST: {**ALWAYS, **FACTS, **SEARCH},
    S.DISAMBIGUATE: {**ALWAYS, **FACTS, **SEARCH, E.HOST_CONFIRMED: S.COLLECT_VISITOR_INFO,
                     E.HOST_REJECTED: S.IDENTIFY_HOST},
    S.CONFIRM_HOST: {**ALWAYS, **FACTS, **SEARCH, E.HOST_CONFIRMED: S.COLLECT_VISITOR_INFO,
                     E.HOST_REJECTED: S.IDENTIFY_HOST},
    S.COLLECT_VISITOR_INFO: {**ALWAYS, **FACTS, **SEARCH,
                             E.VISITOR_INFO_COMPLETED: S.NOTIFY_HOST},
    S.NOTIFY_HOST: {**ALWAYS, E.VISITOR_NAMED: STAY, E.LANGUAGE_CHANGED: STAY,
                    E.HOST_NOTIFIED: STAY, E.NOTIFY_FAILED: STAY, E.BADGE_PRINTED: STAY,
                    E.CHECKIN_COMPLETED: S.COMPLETE},
    S.COMPLETE: {},
    S.TRANSFER_HUMAN: {},
    S.ERROR: {},
}


@pytest.mark.parametrize(("state", "event"), list(itertools.product(S, E)))
def test_every_state_and_event_pair_is_either_specified_or_refused(state, event):
    expected = EXPECTED[state]
    if event in expected:
        target = expected[event]
        assert advance(state, event) == (state if target is STAY else target)
    else:
        with pytest.raises(TransitionNotAllowed):
            advance(state, event)


def test_the_state_names_are_the_customers():
    assert [s.value for s in S] == [
        "GREETING", "IDENTIFY_HOST", "DISAMBIGUATE", "CONFIRM_HOST", "COLLECT_VISITOR_INFO",
        "NOTIFY_HOST", "COMPLETE", "TRANSFER_HUMAN", "ERROR"]


def test_notify_and_badge_are_only_offered_once_the_visitor_is_checked_in():
    for state, tools in TOOLS_BY_STATE.items():
        if state is not S.NOTIFY_HOST:
            assert "notify_host" not in tools and "print_badge" not in tools


PRIYA = Candidate("E1", "Priya Patel", "Engineering", 0.95)
SAM = Candidate("E2", "Sam Lee", "Sales", 0.9)


def checked_in_to_notify() -> Session:
    s = Session()
    s.apply(E.VISITOR_SPOKE)
    s.apply(E.HOST_FOUND, candidates=[PRIYA])
    s.apply(E.HOST_CONFIRMED, host=PRIYA)
    s.apply(E.VISITOR_NAMED, name="Nathan Ellison")
    s.apply(E.VISITOR_INFO_COMPLETED)
    return s


def test_a_host_can_only_be_confirmed_if_a_tool_proposed_them():
    s = Session()
    s.apply(E.VISITOR_SPOKE)
    s.apply(E.HOST_FOUND, candidates=[PRIYA])
    with pytest.raises(TransitionNotAllowed):
        s.apply(E.HOST_CONFIRMED, host=SAM)
    assert s.confirmed_host is None


def test_visitor_info_is_complete_only_with_a_confirmed_host_and_a_visitor_name():
    s = Session()
    s.apply(E.VISITOR_SPOKE)
    s.apply(E.HOST_FOUND, candidates=[PRIYA])
    s.apply(E.HOST_CONFIRMED, host=PRIYA)
    with pytest.raises(TransitionNotAllowed):
        s.apply(E.VISITOR_INFO_COMPLETED)
    s.apply(E.VISITOR_NAMED, name="Nathan Ellison")
    assert s.apply(E.VISITOR_INFO_COMPLETED) is S.NOTIFY_HOST


def test_notify_runs_once_and_badges_follow_it():
    s = checked_in_to_notify()
    assert allowed_tools(s) == {"notify_host", "transfer_to_human"}
    s.apply(E.HOST_NOTIFIED)
    assert not tool_allowed(s, "notify_host")
    assert tool_allowed(s, "print_badge")
    s.apply(E.BADGE_PRINTED, name="Nathan Ellison")
    assert not tool_allowed(s, "print_badge"), "one badge per person"
    assert s.apply(E.CHECKIN_COMPLETED) is S.COMPLETE
    assert s.done and allowed_tools(s) == frozenset()


def test_a_delivery_gets_no_badge():
    s = checked_in_to_notify()
    s.apply(E.HOST_NOTIFIED)
    s.is_delivery = True
    assert not tool_allowed(s, "print_badge")


def test_walking_away_ends_the_visit_and_nothing_more_can_happen():
    s = Session()
    s.apply(E.VISITOR_SPOKE)
    s.apply(E.VISITOR_LEFT)
    assert s.done and s.state is S.GREETING
    with pytest.raises(TransitionNotAllowed):
        s.apply(E.VISITOR_SPOKE)


def test_models_cannot_report_what_only_tools_know():
    tool_only = {E.HOST_FOUND, E.HOST_AMBIGUOUS, E.MEETING_FOUND, E.HOST_NOTIFIED,
                 E.BADGE_PRINTED, E.TRANSFERRED}
    assert not tool_only & MODEL_EVENTS


# -- properties --------------------------------------------------------------------------------

FACTS_FOR = {
    E.HOST_FOUND: lambda d: {"candidates": [d.draw(st.sampled_from([PRIYA, SAM]))]},
    E.HOST_AMBIGUOUS: lambda d: {"candidates": [PRIYA, SAM]},
    E.MEETING_FOUND: lambda d: {"candidates": [PRIYA]},
    E.HOST_CONFIRMED: lambda d: {"host": d.draw(st.sampled_from([PRIYA, SAM]))},
    E.VISITOR_NAMED: lambda d: {"name": d.draw(st.sampled_from(["Ana Ruiz", "Bo Li"]))},
    E.COMPANY_GIVEN: lambda d: {"company": "Acme"},
    E.PURPOSE_GIVEN: lambda d: {"purpose": "a demo"},
    E.BADGE_PRINTED: lambda d: {"name": "Ana Ruiz"},
    E.LANGUAGE_CHANGED: lambda d: {"language": "es"},
    E.PARTY_SIZE_GIVEN: lambda d: {"size": d.draw(st.integers(min_value=0, max_value=30))},
    E.TRANSFERRED: lambda d: {"reason": "visitor_asked"},
}


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_notify_host_never_runs_early_and_never_twice(data):
    s = Session()
    notified = 0
    for _ in range(data.draw(st.integers(min_value=1, max_value=40))):
        if tool_allowed(s, "notify_host"):
            assert s.state is S.NOTIFY_HOST
            assert s.confirmed_host is not None and s.visitor_name
            assert s.confirmed_host.employee_id in {c.employee_id for c in s.candidates}
        # Sometimes the gate is asked to run notify_host, as a model would.
        if data.draw(st.booleans()) and tool_allowed(s, "notify_host"):
            s.apply(E.HOST_NOTIFIED)
            notified += 1
            continue
        event = data.draw(st.sampled_from([e for e in E if e is not E.HOST_NOTIFIED]))
        facts = FACTS_FOR.get(event, lambda d: {})(data)
        try:
            s.apply(event, **facts)
        except TransitionNotAllowed:
            pass
        if s.done:
            break
    assert notified <= 1
    assert s.notified <= 1
