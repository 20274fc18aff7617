"""Fact tools: how a cloud model tells the state machine what the visitor said.

The rules engine calls ``turn.report(event, **facts)`` directly; a model does it by calling one
of these internal tools, which this module maps onto ``turn.report``. They are not product
tools: they never reach the tool registry, never appear in the chat channel's ``actions`` and
can only report the facts ``states.MODEL_EVENTS`` allows; the state machine's guards still
decide (a host can only be confirmed if a lookup proposed them, the visit can only complete
after a notification). Imports: providers, states, llm.phrases; never tools/ or a vendor SDK.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from checkin.llm.phrases import say
from checkin.providers import JsonObject, ModelTurn, ToolSpec
from checkin.states import TRANSITIONS, CheckInState, Event, Session

S = CheckInState
E = Event

_STRING = {"type": "string", "maxLength": 200}
_NONE: JsonObject = {"type": "object", "properties": {}, "additionalProperties": False}


def _spec(name: str, description: str, schema: JsonObject | None = None) -> ToolSpec:
    return ToolSpec(name, description, schema or _NONE)


CONFIRM_HOST = _spec(
    "confirm_host",
    "The visitor said yes to a proposed host (or picked one of several). Use the employee_id "
    "of a candidate listed in the session facts; never someone the visitor did not settle on.",
    {"type": "object", "properties": {"employee_id": {"type": "string", "maxLength": 64}},
     "required": ["employee_id"], "additionalProperties": False},
)
REJECT_HOST = _spec("reject_host", "The visitor said the proposed host is not who they meant.")
RECORD_VISITOR = _spec(
    "record_visitor",
    "Record what the visitor told you about themselves: their own name (as they said it), "
    "the names of everyone in their group, company, purpose of the visit, or that they are "
    "delivering something. Only facts the visitor actually said; omit the rest.",
    {"type": "object", "properties": {
        "name": {**_STRING, "description": "The visitor's full name."},
        "party_names": {"type": "array", "items": _STRING, "maxItems": 20,
                        "description": "Everyone in the group, the visitor first."},
        "party_size": {"type": "integer", "minimum": 1, "maximum": 20},
        "company": {**_STRING, "description": "Their company; 'none' if they have none."},
        "purpose": {"type": "string", "maxLength": 300},
        "delivery": {"type": "boolean", "description": "True for a delivery or courier."},
    }, "additionalProperties": False},
)
SET_LANGUAGE = _spec(
    "set_language", "The visitor speaks another language; answer in it from now on.",
    {"type": "object", "properties": {"language": {"type": "string", "enum": ["en", "es"]}},
     "required": ["language"], "additionalProperties": False},
)
COMPLETE_VISITOR_INFO = _spec(
    "complete_visitor_info",
    "You have the confirmed host and the visitor's name (and asked for company and purpose): "
    "move on to notifying the host. notify_host is offered after this.",
)
COMPLETE_CHECKIN = _spec(
    "complete_checkin", "The host was notified and every badge printed: the check-in is done.",
)
VISITOR_LEFT = _spec("end_visit", "The visitor gave up or said they will come back later.")

FACT_TOOLS: dict[str, ToolSpec] = {t.name: t for t in (
    CONFIRM_HOST, REJECT_HOST, RECORD_VISITOR, SET_LANGUAGE, COMPLETE_VISITOR_INFO,
    COMPLETE_CHECKIN, VISITOR_LEFT,
)}


def _legal(s: Session, event: Event) -> bool:
    return not s.done and event in TRANSITIONS[s.state]


def offered(session: Session, languages: Sequence[str]) -> list[ToolSpec]:
    """The fact tools that make sense now (a fact the state would refuse is not offered)."""
    s = session
    out: list[ToolSpec] = []
    if _legal(s, E.HOST_CONFIRMED) and s.candidates:
        out.append(CONFIRM_HOST)
    if _legal(s, E.HOST_REJECTED):
        out.append(REJECT_HOST)
    if _legal(s, E.VISITOR_NAMED) and s.notified == 0:
        # After the notification the party is what the host was told: no names added later
        # (badges can only carry names known by then).
        out.append(RECORD_VISITOR)
    if _legal(s, E.LANGUAGE_CHANGED) and len(languages) > 1:
        out.append(SET_LANGUAGE)
    if _legal(s, E.VISITOR_INFO_COMPLETED) and s.confirmed_host and s.visitor_name:
        out.append(COMPLETE_VISITOR_INFO)
    if _legal(s, E.CHECKIN_COMPLETED) and s.notified:
        out.append(COMPLETE_CHECKIN)
    if _legal(s, E.VISITOR_LEFT) and s.notified == 0:
        out.append(VISITOR_LEFT)
    return out


@dataclass(frozen=True, slots=True)
class FactResult:
    """What a fact tool answers the model; ``ok`` False means nothing was recorded."""

    ok: bool
    message: str


NOT_AVAILABLE = FactResult(False, "That is not available at this step.")

# Words that turn a badge into a pass: a visitor name carrying one of them is refused.
_BADGE_WORDS = frozenset({
    "access", "all", "admin", "administrator", "vip", "staff", "employee", "security", "pass",
    "unlimited", "unrestricted", "escort", "badge", "visitor", "guest", "none", "unknown",
    "system", "override", "contractor", "level", "clearance",
})
_NAME = re.compile(r"^[^\W\d_]+(?:(?:\. ?|[ '\-])[^\W\d_]+)*\.?$")


def plausible_name(name: str) -> bool:
    """A person's name: letters, 1-5 words, no digits, no badge-privilege words."""
    text = unicodedata.normalize("NFC", " ".join(name.split()))
    if not 2 <= len(text) <= 80 or not _NAME.match(text):
        return False
    words = [w.strip(".'-").lower() for w in re.split(r"[ \-]", text)]
    return len(words) <= 5 and not any(w in _BADGE_WORDS for w in words)


def apply(name: str, args: JsonObject, turn: ModelTurn, languages: Sequence[str]) -> FactResult:
    """Report the fact tool ``name`` to the state machine through ``turn.report``."""
    s = turn.session
    if name not in {t.name for t in offered(s, languages)}:
        return NOT_AVAILABLE
    if not isinstance(args, dict):
        return FactResult(False, "Arguments must be an object.")
    handler = _HANDLERS[name]
    return handler(turn, args)


def _reported(turn: ModelTurn, event: Event, **facts: Any) -> bool:
    """Report and tell whether the state machine accepted it (its history grew)."""
    before = len(turn.session.history)
    turn.report(event, **facts)
    return len(turn.session.history) > before


def _confirm(turn: ModelTurn, args: JsonObject) -> FactResult:
    wanted = str(args.get("employee_id", ""))
    host = next((c for c in turn.session.candidates if c.employee_id == wanted), None)
    if host is None:
        return FactResult(False, "Only a candidate from the last lookup can be confirmed.")
    if not _reported(turn, E.HOST_CONFIRMED, host=host):
        return NOT_AVAILABLE
    return FactResult(True, f"Confirmed {host.name}. Now collect the visitor's details.")


def _reject(turn: ModelTurn, args: JsonObject) -> FactResult:
    ok = _reported(turn, E.HOST_REJECTED)
    return FactResult(ok, "Noted. Ask who they are here to see." if ok else NOT_AVAILABLE.message)


def _record(turn: ModelTurn, args: JsonObject) -> FactResult:
    s = turn.session
    problems: list[str] = []
    recorded: list[str] = []
    if args.get("delivery") is True and not s.is_delivery and s.notified == 0:
        if _reported(turn, E.DELIVERY_ANNOUNCED):
            recorded.append("delivery")
    party = [str(n) for n in args.get("party_names") or [] if isinstance(n, str)]
    name = str(args.get("name") or (party[0] if party else "")).strip()
    if name or party:
        if not plausible_name(name) or not all(plausible_name(p) for p in party):
            problems.append("a name was refused: only people's real names can be recorded")
        else:
            size = args.get("party_size")
            facts: dict[str, Any] = {"name": name}
            if party:
                facts["party"] = [name, *[p for p in party if p.lower() != name.lower()]]
            if isinstance(size, int) and not isinstance(size, bool):
                facts["party_size"] = size
            if _reported(turn, E.VISITOR_NAMED, **facts):
                recorded.append("name")
    for key, event in (("company", E.COMPANY_GIVEN), ("purpose", E.PURPOSE_GIVEN)):
        value = args.get(key)
        if isinstance(value, str) and value.strip():
            if _reported(turn, event, **{key: value.strip()}):
                recorded.append(key)
            else:
                problems.append(f"{key} cannot be changed at this step")
    if not recorded and not problems:
        problems.append("nothing to record")
    message = f"Recorded: {', '.join(recorded) or 'nothing'}."
    if problems:
        message += " " + "; ".join(problems).capitalize() + "."
    return FactResult(bool(recorded), message)


def _language(turn: ModelTurn, args: JsonObject) -> FactResult:
    ok = _reported(turn, E.LANGUAGE_CHANGED, language=str(args.get("language", "en")))
    return FactResult(ok, "Language set." if ok else NOT_AVAILABLE.message)


def _simple(event: Event, message: str) -> Callable[[ModelTurn, JsonObject], FactResult]:
    def handler(turn: ModelTurn, args: JsonObject) -> FactResult:
        ok = _reported(turn, event)
        return FactResult(ok, message if ok else NOT_AVAILABLE.message)

    return handler


_HANDLERS: dict[str, Callable[[ModelTurn, JsonObject], FactResult]] = {
    "confirm_host": _confirm,
    "reject_host": _reject,
    "record_visitor": _record,
    "set_language": _language,
    "complete_visitor_info": _simple(
        E.VISITOR_INFO_COMPLETED, "Now call notify_host for the confirmed host."),
    "complete_checkin": _simple(E.CHECKIN_COMPLETED, "Check-in complete. Say goodbye."),
    "end_visit": _simple(E.VISITOR_LEFT, "The visit has ended. Say goodbye."),
}


def next_question(session: Session) -> str:
    """What to say when a model went quiet after a tool: the question the state asks next."""
    s, lang = session, session.language
    if s.state is S.COMPLETE:
        host = s.confirmed_host.name.split()[0] if s.confirmed_host else ""
        if s.is_delivery:
            return say("done_delivery", lang, host=host)
        visitor = (s.visitor_name or "").split()[0] if s.visitor_name else ""
        return say("done_visit", lang, visitor=visitor, host=host)
    if s.state is S.TRANSFER_HUMAN:
        return say("transfer", lang)
    if s.done:
        return say("give_up", lang)
    if s.state is S.CONFIRM_HOST and s.candidates:
        c = s.candidates[0]
        return say("confirm_host", lang, name=c.name, department=c.department)
    if s.state is S.DISAMBIGUATE:
        return say("which_many", lang)
    if s.state in (S.COLLECT_VISITOR_INFO, S.NOTIFY_HOST):
        if not s.visitor_name:
            return say("ask_name", lang)
        if s.company is None and not s.is_delivery:
            return say("ask_company", lang)
        if s.purpose is None and not s.is_delivery:
            return say("ask_purpose", lang)
        return say("pardon", lang)
    return say("ask_recipient" if s.is_delivery else "ask_host", lang)
