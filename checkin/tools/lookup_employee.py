"""lookup_employee: find the host the visitor names, without ever guessing.

Answers found / ambiguous (candidates to ask about) / not_found / left. A person who left is
reported as such and never silently replaced by someone else.
"""

from __future__ import annotations

from checkin.directory.model import Employee
from checkin.directory.resolver import Match, Resolution
from checkin.directory.service import fold
from checkin.providers import JsonObject, ToolSpec
from checkin.states import Candidate, Event, Session
from checkin.tools.base import Tool, ToolContext, ToolOutcome, ok

SPEC = ToolSpec(
    name="lookup_employee",
    description=(
        "Find an employee in the company directory by the name the visitor said (it may be "
        "misheard, partial or spelled out). Returns found, ambiguous with candidates, "
        "not_found, or left (no longer with the company)."
    ),
    input_schema={
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "What the visitor said about the host.",
                     "maxLength": 300},
            "department": {"type": "string", "description": "Department, if the visitor said it.",
                           "maxLength": 100},
            "within_candidates": {"type": "boolean",
                                  "description": "Only choose among the candidates offered."},
        },
        "required": ["name"],
        "additionalProperties": False,
    },
)

MAX_CANDIDATES = 6
# A departed person wins only when they match clearly better than anyone still here.
LEFT_MARGIN = 0.1


def candidate(employee: Employee, score: float = 0.0) -> Candidate:
    """The state machine's view of an employee (no contact details)."""
    return Candidate(employee.id, employee.full_name, employee.department, round(score, 3))


def describe(c: Candidate, employee: Employee | None) -> JsonObject:
    """What the model may see about a candidate: never a phone number or an email."""
    return {"employee_id": c.employee_id, "name": c.name, "department": c.department,
            "title": employee.title if employee else "", "score": c.score}


async def handle(ctx: ToolContext, session: Session, args: JsonObject) -> ToolOutcome:
    """Resolve the name and report host_found / host_ambiguous / host_not_found / host_left."""
    directory = ctx.directory
    text = str(args["name"])
    depts = [str(args["department"])] if args.get("department") else directory.departments_in(text)
    name_text = directory.strip_departments(text) if depts else text
    pool: list[Employee] | None = None
    if args.get("within_candidates") and session.candidates:
        pool = [directory.by_id[c.employee_id] for c in session.candidates
                if c.employee_id in directory.by_id]
    matches = _matches(ctx, name_text, depts, pool)
    if pool is not None and not matches:
        # An unclear answer to "which one?" is not a new search: the candidates stand.
        return ok({"status": "not_found"})
    return _outcome(ctx, matches)


def _matches(
    ctx: ToolContext, name_text: str, depts: list[str], pool: list[Employee] | None
) -> list[Match]:
    resolver = ctx.directory.resolver
    has_name = any(ch.isalpha() for ch in name_text)
    if pool is not None:
        # "the one in marketing": the department narrows the pool; a name, if any, picks in it.
        narrowed = _in_departments([Match(e, 0.5) for e in pool], depts) if depts else []
        ids = {m.employee.id for m in narrowed} or {e.id for e in pool}
        if has_name:
            res = resolver.resolve_among(name_text, ids)
            if res.status != "not_found":
                return list(res.matches)
        if not narrowed:
            narrowed = _by_title(name_text, pool)
        return narrowed
    if not has_name:
        if not depts:
            return []
        staff = [Match(e, 0.5) for d in depts for e in ctx.directory.by_department.get(d, ())]
        return staff if len(staff) <= MAX_CANDIDATES else []
    resolution: Resolution = resolver.resolve(name_text)
    if resolution.status == "not_found":
        return []
    found = list(resolution.matches)
    return (_in_departments(found, depts) or found) if depts else found


def _by_title(text: str, pool: list[Employee]) -> list[Match]:
    """ "the technical writer": candidates whose job title the visitor mentioned."""
    said = f" {fold(text)} "
    return [Match(e, 0.5) for e in pool if e.title and f" {fold(e.title)} " in said]


def _in_departments(matches: list[Match], depts: list[str]) -> list[Match]:
    return [m for m in matches if m.employee.department in depts]


def _outcome(ctx: ToolContext, matches: list[Match]) -> ToolOutcome:
    if not matches:
        return ok({"status": "not_found"}, (Event.HOST_NOT_FOUND, {}))
    active = [m for m in matches if m.employee.active]
    best = max(matches, key=lambda m: m.score)
    best_active = max((m.score for m in active), default=-1.0)
    if not best.employee.active and best.score >= best_active + LEFT_MARGIN or not active:
        who = candidate(best.employee, best.score)
        return ok({"status": "left", "name": who.name,
                   "message": f"{who.name} is no longer with the company."},
                  (Event.HOST_LEFT, {"candidates": [who]}))
    cands = [candidate(m.employee, m.score) for m in active[:MAX_CANDIDATES]]
    shown = [describe(c, ctx.directory.by_id.get(c.employee_id)) for c in cands]
    if len(cands) == 1:
        return ok({"status": "found", "candidates": shown},
                  (Event.HOST_FOUND, {"candidates": cands}))
    return ok({"status": "ambiguous", "candidates": shown},
              (Event.HOST_AMBIGUOUS, {"candidates": cands}))


TOOL = Tool(SPEC, handle)
