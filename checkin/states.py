"""The check-in state machine: states, events, the one transition table, and the tool gate.

This module is the spine of a visit and is deliberately pure: standard library only, no I/O and
no imports from the rest of checkin. Tools and the dialogue engine report *what happened* as an
``Event``; only ``advance()`` decides where the visit goes next, and only ``tool_allowed()``
decides whether a tool may run. Both the rules engine and an LLM go through the same gate, so no
prompt can widen what a state allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class CheckInState(StrEnum):
    """Where a visit is; the names are the customer's and part of the product's interface."""

    GREETING = "GREETING"
    IDENTIFY_HOST = "IDENTIFY_HOST"
    DISAMBIGUATE = "DISAMBIGUATE"
    CONFIRM_HOST = "CONFIRM_HOST"
    COLLECT_VISITOR_INFO = "COLLECT_VISITOR_INFO"
    NOTIFY_HOST = "NOTIFY_HOST"
    COMPLETE = "COMPLETE"
    TRANSFER_HUMAN = "TRANSFER_HUMAN"
    ERROR = "ERROR"


class Event(StrEnum):
    """Past-tense facts reported by tools, the dialogue engine and the channel."""

    VISITOR_SPOKE = "visitor_spoke"
    SILENCE_TIMED_OUT = "silence_timed_out"
    SILENCE_LIMIT_REACHED = "silence_limit_reached"
    MISUNDERSTOOD = "misunderstood"
    HOST_FOUND = "host_found"
    HOST_AMBIGUOUS = "host_ambiguous"
    HOST_NOT_FOUND = "host_not_found"
    HOST_LEFT = "host_left"
    MEETING_FOUND = "meeting_found"
    MEETING_NOT_FOUND = "meeting_not_found"
    HOST_CONFIRMED = "host_confirmed"
    HOST_REJECTED = "host_rejected"
    VISITOR_NAMED = "visitor_named"
    COMPANY_GIVEN = "company_given"
    PURPOSE_GIVEN = "purpose_given"
    DELIVERY_ANNOUNCED = "delivery_announced"
    PARTY_SIZE_GIVEN = "party_size_given"
    LANGUAGE_CHANGED = "language_changed"
    VISITOR_INFO_COMPLETED = "visitor_info_completed"
    HOST_NOTIFIED = "host_notified"
    NOTIFY_FAILED = "notify_failed"
    BADGE_PRINTED = "badge_printed"
    CHECKIN_COMPLETED = "checkin_completed"
    TRANSFERRED = "transferred"
    VISITOR_LEFT = "visitor_left"
    FAILED = "failed"


S = CheckInState
E = Event

TERMINAL: frozenset[CheckInState] = frozenset({S.COMPLETE, S.TRANSFER_HUMAN, S.ERROR})

# Events every live state accepts: a person can always be asked for, the visitor can always walk
# away, silence is always possible and anything can fail.
_ALWAYS: dict[Event, CheckInState | None] = {
    E.TRANSFERRED: S.TRANSFER_HUMAN,
    E.VISITOR_LEFT: S.GREETING,
    E.SILENCE_TIMED_OUT: None,  # None: stay where you are
    E.SILENCE_LIMIT_REACHED: S.GREETING,
    E.MISUNDERSTOOD: None,
    E.FAILED: S.ERROR,
}

# Naming a (new) host is possible until the host has been notified: visitors change their mind.
_HOST_SEARCH: dict[Event, CheckInState | None] = {
    E.HOST_FOUND: S.CONFIRM_HOST,
    E.HOST_AMBIGUOUS: S.DISAMBIGUATE,
    E.HOST_NOT_FOUND: S.IDENTIFY_HOST,
    E.HOST_LEFT: S.IDENTIFY_HOST,
    E.MEETING_FOUND: S.CONFIRM_HOST,
    E.MEETING_NOT_FOUND: None,
}

# Facts about the visitor can be given at any point of the conversation ("hi, I'm Linda from
# Brightwater and I'm here to see...").
_VISITOR_FACTS: dict[Event, CheckInState | None] = {
    E.DELIVERY_ANNOUNCED: None,
    E.PARTY_SIZE_GIVEN: None,
    E.LANGUAGE_CHANGED: None,
    E.VISITOR_NAMED: None,
    E.COMPANY_GIVEN: None,
    E.PURPOSE_GIVEN: None,
}


def _live(**specific: CheckInState | None) -> dict[Event, CheckInState | None]:
    table = {**_ALWAYS, **_VISITOR_FACTS}
    table.update({Event(k): v for k, v in specific.items()})
    return table


TRANSITIONS: Mapping[CheckInState, Mapping[Event, CheckInState | None]] = {
    S.GREETING: {**_live(visitor_spoke=S.IDENTIFY_HOST)},
    S.IDENTIFY_HOST: {**_live(), **_HOST_SEARCH},
    S.DISAMBIGUATE: {
        **_live(host_confirmed=S.COLLECT_VISITOR_INFO, host_rejected=S.IDENTIFY_HOST),
        **_HOST_SEARCH,
    },
    S.CONFIRM_HOST: {
        **_live(host_confirmed=S.COLLECT_VISITOR_INFO, host_rejected=S.IDENTIFY_HOST),
        **_HOST_SEARCH,
    },
    S.COLLECT_VISITOR_INFO: {
        **_live(visitor_info_completed=S.NOTIFY_HOST),
        **_HOST_SEARCH,
    },
    S.NOTIFY_HOST: {
        **_ALWAYS,
        E.VISITOR_NAMED: None,  # a group's other members, named while badges print
        E.LANGUAGE_CHANGED: None,
        E.HOST_NOTIFIED: None,
        E.NOTIFY_FAILED: None,
        E.BADGE_PRINTED: None,
        E.CHECKIN_COMPLETED: S.COMPLETE,
    },
    S.COMPLETE: {},
    S.TRANSFER_HUMAN: {},
    S.ERROR: {},
}
"""state -> event -> next state (None: stay). A pair missing from the table is illegal."""


TOOLS: frozenset[str] = frozenset(
    {"lookup_employee", "search_meetings", "notify_host", "print_badge", "transfer_to_human"}
)

_FIND = frozenset({"lookup_employee", "search_meetings", "transfer_to_human"})

TOOLS_BY_STATE: Mapping[CheckInState, frozenset[str]] = {
    S.GREETING: frozenset({"transfer_to_human"}),
    S.IDENTIFY_HOST: _FIND,
    S.DISAMBIGUATE: _FIND,
    S.CONFIRM_HOST: _FIND,
    S.COLLECT_VISITOR_INFO: _FIND,
    S.NOTIFY_HOST: frozenset({"notify_host", "print_badge", "transfer_to_human"}),
    S.COMPLETE: frozenset(),
    S.TRANSFER_HUMAN: frozenset(),
    S.ERROR: frozenset(),
}


def advance(state: CheckInState, event: Event) -> CheckInState:
    """Return the state after ``event``; raise ``TransitionNotAllowed`` for an illegal pair."""
    table = TRANSITIONS[state]
    if event not in table:
        raise TransitionNotAllowed(state, event)
    nxt = table[event]
    return state if nxt is None else nxt


class TransitionNotAllowed(Exception):
    """The table has no transition for this (state, event) pair, or a guard refused it.

    Defined here rather than in ``checkin.errors`` so that this module stays import-free;
    ``checkin.errors.TransitionNotAllowed`` is this class.
    """

    def __init__(self, state: str, event: str, reason: str = "") -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"event {event!r} is not allowed in state {state!r}{detail}")
        self.state = state
        self.event = event


@dataclass(frozen=True, slots=True)
class Candidate:
    """An employee the visitor may mean, with the resolver's score."""

    employee_id: str
    name: str
    department: str = ""
    score: float = 0.0


@dataclass
class Session:
    """One visit's state and the facts gathered so far; mutated only through ``apply``."""

    state: CheckInState = S.GREETING
    candidates: tuple[Candidate, ...] = ()
    confirmed_host: Candidate | None = None
    visitor_name: str | None = None
    company: str | None = None
    purpose: str | None = None
    party_size: int = 1
    party_names: tuple[str, ...] = ()
    is_delivery: bool = False
    language: str = "en"
    misunderstandings: int = 0
    silences: int = 0
    notified: int = 0
    badges: tuple[str, ...] = field(default_factory=tuple)
    transfer_reason: str | None = None
    history: list[tuple[CheckInState, Event, CheckInState]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        """True once the visit has ended, by check-in, hand-over, failure or walking away."""
        return self.state in TERMINAL or self._ended_idle

    @property
    def _ended_idle(self) -> bool:
        return bool(self.history) and self.history[-1][1] in (
            E.VISITOR_LEFT,
            E.SILENCE_LIMIT_REACHED,
        )

    def apply(self, event: Event, **facts: object) -> CheckInState:
        """Check guards, record facts carried by ``event`` and move to the next state."""
        if self.done:
            raise TransitionNotAllowed(self.state, event, "the visit has ended")
        _check_guard(self, event, facts)
        before = self.state
        self.state = advance(before, event)
        _record(self, event, facts)
        self.history.append((before, event, self.state))
        return self.state


def _check_guard(s: Session, event: Event, facts: Mapping[str, object]) -> None:
    if event is E.HOST_CONFIRMED:
        host = facts.get("host")
        if not isinstance(host, Candidate) or host.employee_id not in {
            c.employee_id for c in s.candidates
        }:
            raise TransitionNotAllowed(s.state, event, "only a proposed candidate can be confirmed")
    elif event is E.VISITOR_INFO_COMPLETED:
        if s.confirmed_host is None or not s.visitor_name:
            raise TransitionNotAllowed(s.state, event, "host and visitor name are required")
    elif event is E.HOST_NOTIFIED and s.notified:
        raise TransitionNotAllowed(s.state, event, "the host has already been notified")
    elif event is E.BADGE_PRINTED and not s.notified:
        raise TransitionNotAllowed(s.state, event, "badges are printed after notifying")
    elif event is E.CHECKIN_COMPLETED and not s.notified:
        raise TransitionNotAllowed(s.state, event, "nobody has been notified")


def _record(s: Session, event: Event, facts: Mapping[str, object]) -> None:
    if event in (E.HOST_FOUND, E.HOST_AMBIGUOUS, E.MEETING_FOUND):
        s.candidates = tuple(_candidates(facts.get("candidates")))
        s.confirmed_host = None
    elif event in (E.HOST_NOT_FOUND, E.HOST_LEFT, E.HOST_REJECTED):
        s.misunderstandings += event is E.HOST_NOT_FOUND
        s.confirmed_host = None
    elif event is E.HOST_CONFIRMED:
        host = facts["host"]
        assert isinstance(host, Candidate)  # checked by _check_guard
        s.confirmed_host = host
    elif event is E.VISITOR_NAMED:
        s.visitor_name = str(facts["name"])
        size = facts.get("party_size")
        if isinstance(size, int) and 1 <= size <= 20:
            s.party_size = size
        party = facts.get("party")
        if isinstance(party, (list, tuple)) and party:
            s.party_names = tuple(str(n) for n in party)
            s.party_size = max(s.party_size, len(s.party_names))
    elif event is E.DELIVERY_ANNOUNCED:
        s.is_delivery = True
    elif event is E.PARTY_SIZE_GIVEN:
        size = facts.get("size")
        if isinstance(size, int) and 1 <= size <= 20:
            s.party_size = max(size, len(s.party_names))
    elif event is E.LANGUAGE_CHANGED:
        s.language = str(facts["language"])
    elif event is E.COMPANY_GIVEN:
        s.company = str(facts["company"])
    elif event is E.PURPOSE_GIVEN:
        s.purpose = str(facts["purpose"])
    elif event is E.HOST_NOTIFIED:
        s.notified += 1
    elif event is E.BADGE_PRINTED:
        s.badges = (*s.badges, str(facts["name"]))
    elif event is E.SILENCE_TIMED_OUT:
        s.silences += 1
    elif event is E.MISUNDERSTOOD:
        s.misunderstandings += 1
    elif event is E.TRANSFERRED:
        s.transfer_reason = str(facts.get("reason", ""))
    if event is not E.SILENCE_TIMED_OUT and event is not E.SILENCE_LIMIT_REACHED:
        s.silences = 0


def _candidates(value: object) -> list[Candidate]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple)) or not all(isinstance(c, Candidate) for c in value):
        raise TypeError("candidates must be a sequence of Candidate")
    return list(value)


def tool_allowed(s: Session, tool: str) -> bool:
    """The gate: may ``tool`` run now, given the state *and* the facts of this visit?"""
    if s.done or tool not in TOOLS_BY_STATE[s.state]:
        return False
    if tool == "notify_host":
        return s.notified == 0 and s.confirmed_host is not None and bool(s.visitor_name)
    if tool == "print_badge":
        return s.notified > 0 and not s.is_delivery and len(s.badges) < max(1, s.party_size)
    return True


def allowed_tools(s: Session) -> frozenset[str]:
    """The tools to offer the model right now (a subset of ``TOOLS_BY_STATE[s.state]``)."""
    return frozenset(t for t in TOOLS_BY_STATE[s.state] if tool_allowed(s, t))


# Facts a language model may report about what the visitor said. Everything else (who was
# found, who was notified, which badge printed) can only come from a tool that ran.
MODEL_EVENTS: frozenset[Event] = frozenset({
    E.VISITOR_SPOKE, E.MISUNDERSTOOD, E.HOST_CONFIRMED, E.HOST_REJECTED, E.VISITOR_NAMED,
    E.COMPANY_GIVEN, E.PURPOSE_GIVEN, E.DELIVERY_ANNOUNCED, E.PARTY_SIZE_GIVEN, E.LANGUAGE_CHANGED,
    E.VISITOR_INFO_COMPLETED, E.CHECKIN_COMPLETED, E.VISITOR_LEFT, E.SILENCE_TIMED_OUT,
    E.SILENCE_LIMIT_REACHED,
})
