"""RulesLanguageModel: the deterministic offline receptionist.

It produces what an LLM would (words to say plus tool calls) from the visit's state and the
visitor's words, and goes through the very same gate: tools run via ``turn.call_tool`` and
facts are reported via ``turn.report``, both checked by the state machine. It is the default
with no keys and the fallback when a cloud model fails mid-visit, so every decision is derived
from the session's state and facts; the little it remembers (what it last asked) only makes it
more polite. Imports: providers, states, llm.understanding, llm.phrases.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from checkin.llm import understanding as u
from checkin.llm.phrases import say
from checkin.providers import ModelTurn, ToolResult
from checkin.states import Candidate, CheckInState, Event, Session

S = CheckInState
E = Event
NO_COMPANY = re.compile(r"^(none|no company|nobody|no one|n a|na|myself|self|independent"
                        r"|im a candidate|candidate|ninguna|ninguno|nada)\b")
REPEAT = re.compile(r"\b(repeat|say (that|it) again|come again|pardon|what did you say|repita)\b")
ORDINALS = {"first": 0, "1st": 0, "primera": 0, "primero": 0, "second": 1, "2nd": 1,
            "segunda": 1, "segundo": 1, "third": 2, "3rd": 2, "tercera": 2, "tercero": 2}
SPELL_NOISE = re.compile(r"\b(first name|last name|surname|family name|its|thats|spelled|the"
                         r"|apellido|nombre|es|se escribe)\b")


class DepartmentIndex(Protocol):
    """Tells which departments a sentence names (so "from Finance" is not a company)."""

    def departments_in(self, text: str) -> list[str]:
        """Departments mentioned in ``text``."""
        ...


@dataclass
class _Memory:
    last_line: str = ""
    question: str = ""
    asked: set[str] = field(default_factory=set)
    spelled_for: str | None = None
    calendar: bool = False
    last_host_text: str = ""
    asked_count: dict[str, int] = field(default_factory=dict)


@dataclass
class _Turn:
    """One turn's working set: the model turn plus what to say."""

    turn: ModelTurn
    out: list[str] = field(default_factory=list)

    @property
    def s(self) -> Session:
        return self.turn.session

    @property
    def lang(self) -> str:
        return self.turn.session.language

    def say(self, key: str, **values: Any) -> None:
        self.out.append(say(key, self.lang, **values))

    async def tool(self, tool_name: str, /, **args: Any) -> ToolResult:
        return await self.turn.call_tool(tool_name, args)


class RulesLanguageModel:
    """A receptionist made of rules: no network, no key, same tools and gate as a real model."""

    def __init__(
        self,
        *,
        company: str = "our office",
        languages: Iterable[str] = ("en", "es"),
        silence_reprompts: int = 2,
        silence_action: str = "end",
        departments: DepartmentIndex | None = None,
        max_misunderstandings: int = 3,
    ) -> None:
        self._company = company
        self._languages = frozenset(languages)
        self._reprompts = silence_reprompts
        self._silence_action = silence_action
        self._departments = departments
        self._max_misunderstandings = max_misunderstandings
        self._m = _Memory()

    def greeting(self, session: Session) -> str:
        """The first line of every visit."""
        line = say("greeting", session.language, company=self._company)
        self._remember(say("ask_host", session.language), {"host"})
        return line

    async def respond(self, turn: ModelTurn) -> AsyncIterator[str]:
        """Decide, act through the gate, and yield what to say (one chunk per sentence group)."""
        t = _Turn(turn)
        if turn.utterance is None:
            await self._silence(t)
        elif REPEAT.search(u.fold(turn.utterance)) and self._m.last_line:
            t.out.append(self._m.last_line)
        else:
            await self._understand(t, turn.utterance)
        line = " ".join(t.out).strip() or say("pardon", t.lang)
        self._m.last_line = line
        yield line

    # -- bookkeeping -------------------------------------------------------------------------

    def _remember(self, question: str, asked: set[str]) -> None:
        self._m.question = question
        self._m.asked = asked
        for slot in asked:
            self._m.asked_count[slot] = self._m.asked_count.get(slot, 0) + 1

    def _ask(self, t: _Turn, key: str, asked: set[str], **values: Any) -> None:
        t.say(key, **values)
        self._remember(t.out[-1], asked)

    def _current_question(self, t: _Turn) -> str:
        if self._m.question:
            return self._m.question
        return say("ask_host", t.lang)

    # -- silence -------------------------------------------------------------------------------

    async def _silence(self, t: _Turn) -> None:
        if t.s.silences < self._reprompts:
            t.turn.report(E.SILENCE_TIMED_OUT)
            t.say("still_there", question=self._current_question(t))
            return
        if self._silence_action == "transfer":
            await self._transfer(t, "no_answer", "transfer")
        else:
            t.turn.report(E.SILENCE_LIMIT_REACHED)
            t.say("silence_end")

    # -- the dispatcher ----------------------------------------------------------------------

    async def _understand(self, t: _Turn, text: str) -> None:
        f = u.fold(text)
        if "es" in self._languages and t.s.language != "es" and u.is_spanish(text):
            t.turn.report(E.LANGUAGE_CHANGED, language="es")
        if u.HUMAN.search(f):
            await self._transfer(t, "visitor_asked", "transfer")
            return
        # "never mind, I'm here to see X" (or a recogniser's "Bye, I'm here to see X") names a
        # host: that is not leaving.
        if u.GIVE_UP.search(f) and not u.host_segment(f):
            t.turn.report(E.VISITOR_LEFT)
            t.say("give_up")
            return
        if u.EMPLOYEE.search(f):
            await self._transfer(t, "employee", "employee_transfer")
            return
        if u.DELIVERY.search(f) and not t.s.is_delivery and t.s.notified == 0:
            t.turn.report(E.DELIVERY_ANNOUNCED)
        state = t.s.state
        if state is S.CONFIRM_HOST:
            await self._confirming(t, text)
        elif state is S.DISAMBIGUATE:
            await self._disambiguating(t, text)
        elif state is S.COLLECT_VISITOR_INFO:
            await self._collecting(t, text)
        elif state is S.NOTIFY_HOST:  # taking over from a model that failed mid-check-in
            await self._check_in(t)
        else:
            await self._identifying(t, text)

    async def _transfer(self, t: _Turn, reason: str, phrase: str, **values: Any) -> None:
        await t.tool("transfer_to_human", reason=reason)
        t.say(phrase, **values)

    # -- IDENTIFY_HOST -------------------------------------------------------------------------

    async def _identifying(self, t: _Turn, text: str) -> None:
        f = u.fold(text)
        parsed = u.parse(text)
        self._record_info(t, parsed, positional=self._positional_slots(), raw=text)
        manipulative = bool(u.CONTACT.search(f) and re.search(r"\b(what|whats|give|tell|share|send"
                                                              r"|list|cual|dame)\b", f))
        override = bool(u.OVERRIDE.search(f))
        host_text = parsed.host_text
        if u.OTHER_VISITORS.search(f):
            t.say("no_other_visitors")
        if manipulative or override:
            t.say("no_contact" if manipulative else "no_override")
            if host_text is None or manipulative:
                self._ask(t, "ask_host", {"host"})
                return
        if self._m.calendar or (host_text is None and (u.FORGOT_HOST.search(f)
                                                       or u.MEETING_HINT.search(f))):
            if await self._calendar(t, text):
                return
        if self._m.spelled_for is not None and u.yes_no(text) is not None \
                and len(u.words(text)) <= 2:
            # "yes" to "could you spell it?": ask for the letters again.
            self._misunderstood(t)
            self._ask(t, "spell_host", {"spell"})
            return
        if host_text is None and u.says_nothing_about_a_person(f):
            self._ask(t, "ask_recipient" if t.s.is_delivery else "ask_host", {"host"})
            return
        if host_text is None:
            host_text = self._fallback_host_text(f, parsed)
        if not host_text:
            self._misunderstood(t)
            if not t.s.done:
                key = "ask_recipient" if t.s.is_delivery else "ask_host_again"
                self._ask(t, key, {"host"})
            return
        await self._lookup(t, host_text, spelled=self._m.spelled_for is not None,
                           doubtful=override)

    def _fallback_host_text(self, f: str, parsed: u.Parsed) -> str | None:
        text = f
        for piece in (parsed.company, parsed.purpose):
            if piece:
                text = text.replace(piece, " ")
        if parsed.visitor_name:
            text = text.replace(u.fold(parsed.visitor_name), " ")
        text = re.sub(r"\b(from|about|regarding|my name is|im|i am|me llamo|soy|de)\b\s*$", "",
                      text)
        return text.strip(" ,.") or None

    async def _lookup(self, t: _Turn, host_text: str, *, spelled: bool = False,
                      doubtful: bool = False) -> None:
        """Look the host up; ``doubtful``: the words came with a manipulation attempt."""
        query = self._spelling_cleaned(host_text) if spelled else host_text
        self._m.last_host_text = host_text if not spelled else self._m.last_host_text
        result = await t.tool("lookup_employee", name=query)
        status = result.data.get("status") if result.ok else "error"
        if status == "ambiguous" and spelled and self._m.last_host_text:
            first = self._m.last_host_text.split()[0]
            narrowed = await t.tool("lookup_employee", name=f"{first} {query}",
                                    within_candidates=True)
            if narrowed.ok and narrowed.data.get("status") in ("found", "ambiguous"):
                result, status = narrowed, narrowed.data["status"]
        if doubtful and status == "not_found":
            self._ask(t, "ask_host", {"host"})
            return
        await self._after_lookup(t, result, status or "error", spelled=spelled)

    async def _after_lookup(self, t: _Turn, result: ToolResult, status: str,
                            *, spelled: bool = False) -> None:
        if status == "found":
            self._propose(t, t.s.candidates[0])
        elif status == "ambiguous":
            self._ask_which(t, list(t.s.candidates))
        elif status == "left":
            await self._transfer(t, "host_left", "host_left", name=result.data.get("name", ""))
        elif status == "not_found" and not spelled and self._m.spelled_for is None:
            self._m.spelled_for = self._m.last_host_text or "?"
            self._ask(t, "spell_host", {"spell"})
        elif status == "not_found":
            await self._transfer(t, "host_not_found", "not_found_transfer")
        else:
            await self._transfer(t, "other", "not_understood_transfer")

    @staticmethod
    def _spelling_cleaned(text: str) -> str:
        parts = [u.collapse_spelled(p) for p in re.split(r"[,;]", u.fold(text))]
        return " ".join(SPELL_NOISE.sub(" ", " ".join(parts)).split())

    def _propose(self, t: _Turn, c: Candidate) -> None:
        self._ask(t, "confirm_host", {"confirm"}, name=c.name, department=c.department or "")

    def _ask_which(self, t: _Turn, cands: list[Candidate]) -> None:
        if len(cands) > 3:
            self._ask(t, "which_many", {"which_one"})
            return
        joiner = f", {say('or', t.lang)} "
        options = joiner.join(f"{c.name} {say('in', t.lang)} {c.department}" for c in cands)
        self._ask(t, "which_one", {"which_one"}, count=_count(len(cands), t.lang), options=options)

    def _misunderstood(self, t: _Turn) -> bool:
        t.turn.report(E.MISUNDERSTOOD)
        return t.s.misunderstandings >= self._max_misunderstandings

    # -- calendar ------------------------------------------------------------------------------

    async def _calendar(self, t: _Turn, text: str) -> bool:
        """Look for the visitor's meeting; False when the calendar cannot help."""
        s = t.s
        if not (s.visitor_name or s.company):
            if self._m.asked_count.get("calendar", 0) >= 2:
                self._m.calendar = False
                return False
            self._m.calendar = True
            self._ask(t, "ask_name_for_calendar", {"name", "company", "calendar"})
            return True
        self._m.calendar = False
        args: dict[str, Any] = {"topic": u.fold(text)}
        if s.visitor_name:
            args["visitor_name"] = s.visitor_name
        if s.company:
            args["company"] = s.company
        result = await t.tool("search_meetings", **args)
        status = result.data.get("status") if result.ok else "not_found"
        if status == "found":
            meeting = result.data["meetings"][0]
            c = t.s.candidates[0]
            self._ask(t, "confirm_meeting", {"confirm"}, time=_spoken_time(meeting["time"]),
                      name=c.name, department=c.department)
            return True
        if status in ("ambiguous", "left"):
            await self._after_lookup(t, result, str(status))
            return True
        self._ask(t, "meeting_not_found", {"host"})
        return True

    # -- DISAMBIGUATE --------------------------------------------------------------------------

    async def _disambiguating(self, t: _Turn, text: str) -> None:
        f = u.fold(text)
        cands = list(t.s.candidates)
        pick = _ordinal(f, cands)
        if pick is not None:
            result = await t.tool("lookup_employee", name=pick.name, within_candidates=True)
        else:
            result = await t.tool("lookup_employee", name=text, within_candidates=True)
        status = result.data.get("status") if result.ok else "not_found"
        if status == "found":
            await self._confirmed(t, t.s.candidates[0], text)
            return
        if status == "ambiguous":
            self._ask_which(t, list(t.s.candidates))
            return
        parsed = u.parse(text)
        if parsed.host_text:
            await self._lookup(t, parsed.host_text)
            return
        if u.yes_no(text) is False and not u.OTHER_ONE.search(f):
            # "none of them" / "no": the person they mean is not among those offered.
            t.turn.report(E.HOST_REJECTED)
            self._ask(t, "host_rejected", {"host"})
            return
        if self._misunderstood(t):
            await self._transfer(t, "not_understood", "not_understood_transfer")
            return
        t.say("pardon")
        self._ask_which(t, cands)

    # -- CONFIRM_HOST --------------------------------------------------------------------------

    async def _confirming(self, t: _Turn, text: str) -> None:
        answer = u.yes_no(text)
        parsed = u.parse(text)
        proposed = t.s.candidates[0] if t.s.candidates else None
        if answer is True and proposed is not None and not self._names_other(parsed, proposed):
            await self._confirmed(t, proposed, text)
            return
        if answer is False or parsed.host_text:
            await self._rejected(t, text, parsed)
            return
        if self._misunderstood(t):
            await self._transfer(t, "not_understood", "not_understood_transfer")
            return
        t.say("confirm_again", question=self._m.question)

    @staticmethod
    def _names_other(parsed: u.Parsed, proposed: Candidate) -> bool:
        if not parsed.host_text:
            return False
        said = set(parsed.host_text.split())
        return not said & set(u.fold(proposed.name).split())

    async def _rejected(self, t: _Turn, text: str, parsed: u.Parsed) -> None:
        f = u.fold(text)
        others = [c for c in t.s.candidates[1:]]
        departments = self._departments.departments_in(text) if self._departments else []
        if parsed.host_text:
            await self._lookup(t, parsed.host_text)
            return
        if departments or (u.OTHER_ONE.search(f) and others):
            hint = text if departments else others[0].name
            result = await t.tool("lookup_employee", name=hint, within_candidates=True)
            if result.ok and result.data.get("status") in ("found", "ambiguous"):
                await self._after_lookup(t, result, str(result.data["status"]))
                return
        rest = re.sub(r"^(no|nope|nah)\b[ ,.]*", "", f).strip()
        rest = re.sub(r"\b(thats not|not) (who|him|her|them|it)\b.*$", "", rest).strip()
        if rest and len(rest.split()) >= 2 and not u.OTHER_ONE.search(rest):
            result = await t.tool("lookup_employee", name=rest)
            status = result.data.get("status") if result.ok else ""
            if status in ("found", "ambiguous", "left"):
                await self._after_lookup(t, result, str(status))
                return
        t.turn.report(E.HOST_REJECTED)
        self._ask(t, "host_rejected", {"host"})

    async def _confirmed(self, t: _Turn, host: Candidate, text: str) -> None:
        t.turn.report(E.HOST_CONFIRMED, host=host)
        self._record_info(t, u.parse(text), positional=())
        await self._next_step(t)

    # -- COLLECT_VISITOR_INFO ------------------------------------------------------------------

    async def _collecting(self, t: _Turn, text: str) -> None:
        f = u.fold(text)
        parsed = u.parse(text)
        if parsed.host_text and re.search(r"\b(actually|instead|not|wrong|sorry|meeting is with"
                                          r"|here to see|appointment is with)\b", f):
            result = await t.tool("lookup_employee", name=parsed.host_text)
            status = result.data.get("status") if result.ok else ""
            confirmed = t.s.confirmed_host
            new = [c.employee_id for c in t.s.candidates]
            if status in ("found", "ambiguous", "left") and (
                confirmed is None or new != [confirmed.employee_id]
            ):
                await self._after_lookup(t, result, str(status))
                return
            if confirmed is not None and status == "found":
                t.turn.report(E.HOST_CONFIRMED, host=confirmed)
        if t.s.visitor_name and self._correction(t, f):
            # The correction took the turn the visitor would have used to answer; ask again.
            for slot, known in (("company", t.s.company), ("purpose", t.s.purpose)):
                if known is None and self._m.asked_count.get(slot) == 1:
                    self._m.asked_count[slot] = 0
            await self._next_step(t)
            return
        slots = self._positional_slots() or self._taking_over(t.s)
        self._record_info(t, parsed, positional=slots, raw=text)
        await self._next_step(t)

    def _taking_over(self, s: Session) -> tuple[str, ...]:
        """The slots still missing, when this engine took the visit over from a failed model
        (which asked the question, so this engine's memory holds none)."""
        if self._m.asked:
            return ()
        pending = (("name", s.visitor_name), ("company", s.company), ("purpose", s.purpose))
        return tuple(slot for slot, value in pending if value is None)

    def _positional_slots(self) -> tuple[str, ...]:
        """The slots an answer fills in order: those just asked, then any still missing."""
        order = ("name", "company", "purpose")
        asked = tuple(s for s in order if s in self._m.asked)
        return asked + tuple(s for s in order if s not in asked and asked) if asked else ()

    def _correction(self, t: _Turn, f: str) -> bool:
        """Apply "sorry, my name is X" / "it's keller not geller"; True when the name changed."""
        if not re.search(r"\b(misspoke|sorry|actually|wait|correction|not|i meant|mistake)\b", f):
            return False
        spelled = u.collapse_spelled(f)
        explicit = re.search(r"\b(?:my name is|my names|name is|me llamo|mi nombre es)\s+(.*)$",
                             spelled)
        new = u.name_like(explicit.group(1)) if explicit else None
        parts = [p.strip() for p in spelled.split(",") if p.strip()]
        if new is None and parts:
            tail = u.name_like(re.sub(r"^(its|it is|im|i am)\s+", "", parts[-1]))
            if tail and len(tail.split()) >= 2:
                new = tail
        swap = re.search(r"\b(?:its|it is)\s+([a-z]+)\s+not\s+([a-z]+)\b", spelled)
        if new is None and swap and t.s.visitor_name:
            good, bad = swap.groups()
            fixed = [good.capitalize() if w.lower() == bad else w for w in t.s.visitor_name.split()]
            new = " ".join(fixed)
        if new is None:
            new = u.self_name(spelled)
        if not new or u.fold(new) == u.fold(t.s.visitor_name or ""):
            return False
        party = [new if u.fold(p) == u.fold(t.s.visitor_name or "") else p
                 for p in t.s.party_names]
        t.turn.report(E.VISITOR_NAMED, name=new, party=party)
        return True

    def _record_info(self, t: _Turn, parsed: u.Parsed, *, positional: tuple[str, ...],
                     raw: str | None = None) -> None:
        name, party, company, purpose = (parsed.visitor_name, list(parsed.party),
                                         parsed.company, parsed.purpose)
        if raw is not None and positional:
            name, party, company, purpose = self._positional(
                raw, positional, name, party, company, purpose,
                party_size=max(parsed.party_size or 1, t.s.party_size))
        if company and self._departments and self._departments.departments_in(company):
            company = None
        if name:
            members = [name, *[p for p in party if u.fold(p) != u.fold(name)]]
            size = max(parsed.party_size or 1, len(members), t.s.party_size)
            t.turn.report(E.VISITOR_NAMED, name=name, party=members if len(members) > 1 else [],
                          party_size=size)
        elif parsed.party_size and parsed.party_size > t.s.party_size:
            t.turn.report(E.PARTY_SIZE_GIVEN, size=parsed.party_size)
        if company and not t.s.company:
            t.turn.report(E.COMPANY_GIVEN, company=_title(company))
        if purpose and not t.s.purpose:
            t.turn.report(E.PURPOSE_GIVEN, purpose=purpose)

    def _positional(self, raw: str, slots: tuple[str, ...], name: str | None, party: list[str],
                    company: str | None, purpose: str | None, *, party_size: int = 1
                    ) -> tuple[str | None, list[str], str | None, str | None]:
        """Answers to "your name, company and reason?" arrive in that order, comma-separated.

        Parts that already gave a fact through a cue ("my name is ...", "from ...") are not
        handed out again; while a group's names are still missing, name-like parts are names.
        """
        parts = [p.strip() for p in u.fold(raw).split(",") if p.strip()]
        cued = [u.fold(x) for x in (name, company, purpose) if x]
        pending = [s for s in slots if not {"name": name, "company": company,
                                            "purpose": purpose}[s]]
        for part in parts:
            if re.search(r"\b(with me|and)\b", part) and "name" not in pending and name:
                extra = u.names_list(re.sub(r"^.*\bwith me (are|is)?\b", "", u.list_only(part)))
                party.extend(p for p in extra if p not in party)
                continue
            if any(c and c in part for c in cued):
                rest = part
                for c in cued:
                    rest = re.sub(rf"\b(?:from|with|de|about|regarding|at)?\s*{re.escape(c)}\b",
                                  " ", rest)
                found = u.name_like(rest) if pending and pending[0] == "name" else None
                if found:
                    name = found
                    pending.pop(0)
                continue
            known = len({u.fold(n) for n in [*(name and [name] or []), *party]})
            if name and "name" in slots and known < party_size and u.name_like(part):
                party.extend(n for n in u.names_list(part) if n not in party)
                continue
            if not pending:
                break
            slot = pending.pop(0)
            if slot == "name":
                found = u.self_name(part) or u.name_like(part)
                if found is None:
                    pending.insert(0, slot)
                    continue
                name = found
                party.extend(n for n in u.names_list(part)
                             if u.fold(n) != u.fold(found) and n not in party)
            elif slot == "company":
                cleaned = re.sub(r"^(im |i am |were |we are )?(with|from|de|at|for) ", "", part)
                company = "" if NO_COMPANY.search(cleaned) else u.cut_company(cleaned)
            else:
                purpose = re.sub(r"^(its|it is|im here for|here for|tengo|for) ", "", part)
        return name, party, company, purpose

    # -- the end of the check-in ---------------------------------------------------------------

    async def _next_step(self, t: _Turn) -> None:
        s = t.s
        asked = self._m.asked_count
        group = s.party_size > max(1, len(s.party_names))
        if not s.visitor_name:
            if asked.get("name", 0) >= 3:
                await self._transfer(t, "not_understood", "not_understood_transfer")
            elif s.is_delivery:
                self._ask(t, "ask_delivery_info", {"name", "company"})
            elif group and not asked.get("name"):
                self._ask(t, "ask_group_info", {"name", "company", "purpose"})
            else:
                self._ask(t, "ask_name", {"name"})
            return
        if group and not asked.get("names") and len(s.party_names) < 2:
            self._ask(t, "ask_names", {"name", "names"})
            return
        if s.company is None and s.purpose is None and not asked.get("company") \
                and not asked.get("purpose") and not s.is_delivery:
            self._ask(t, "ask_company_purpose", {"company", "purpose"},
                      visitor=s.visitor_name.split()[0])
            return
        if s.company is None and not asked.get("company"):
            self._ask(t, "ask_company", {"company"})
            return
        if s.purpose is None and not asked.get("purpose") and not s.is_delivery:
            self._ask(t, "ask_purpose", {"purpose"})
            return
        await self._check_in(t)

    async def _check_in(self, t: _Turn) -> None:
        s = t.s
        host = s.confirmed_host
        assert host is not None  # COLLECT_VISITOR_INFO is only reached with a confirmed host
        if s.state is S.COLLECT_VISITOR_INFO:
            t.turn.report(E.VISITOR_INFO_COMPLETED)
        label = _label(s)
        args: dict[str, Any] = {"employee_id": host.employee_id, "visitor_name": label,
                                "party_size": s.party_size, "delivery": s.is_delivery}
        if s.company:
            args["company"] = s.company
        if s.purpose:
            args["purpose"] = s.purpose
        # Already notified when a failed model got that far: never a second notification.
        result = await t.tool("notify_host", **args) if not s.notified else None
        if result is not None and not result.ok:
            await self._transfer(t, "notify_failed", "notify_failed", host=host.name)
            return
        first = host.name.split()[0]
        # The outbox keeps trying and reception is alerted; never promise what did not happen.
        reached = result is None or bool(result.data.get("delivered", True))
        if s.is_delivery:
            t.turn.report(E.CHECKIN_COMPLETED)
            t.say("done_delivery" if reached else "done_pending", host=first)
            return
        printed = 0
        people = (list(s.party_names) or [s.visitor_name or ""])[: max(1, s.party_size)]
        for person in people:
            if u.fold(person) in {u.fold(b) for b in s.badges}:
                printed += 1  # printed before a failed model handed the visit over
                continue
            badge = await t.tool("print_badge", visitor_name=person, host_name=host.name)
            printed += badge.ok
        t.turn.report(E.CHECKIN_COMPLETED)
        visitor = (s.visitor_name or "").split()[0]
        # a badge that did not print waits at reception, and the visitor is told so
        done = "done_visit" if printed == len(people) else \
            "done_visit_some_badges" if printed else "done_visit_no_badge"
        if not reached:
            t.say("pending_host", host=first)
            done = {"done_visit": "done_badge", "done_visit_some_badges": "done_some_badges",
                    "done_visit_no_badge": "done_no_badge"}[done]
        t.say(done, visitor=visitor, host=first)


def _label(s: Session) -> str:
    names = list(s.party_names) or [s.visitor_name or ""]
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _title(text: str) -> str:
    return " ".join(w if w.isupper() else w.capitalize() for w in text.split())


def _count(n: int, lang: str) -> str:
    words = {"en": {2: "two", 3: "three"}, "es": {2: "dos", 3: "tres"}}
    return words.get(lang, words["en"]).get(n, str(n))


def _spoken_time(hhmm: str) -> str:
    hour, minute = (int(x) for x in hhmm.split(":"))
    suffix = "a.m." if hour < 12 else "p.m."
    hour12 = hour % 12 or 12
    return f"{hour12}:{minute:02d} {suffix}" if minute else f"{hour12} {suffix}"


def _ordinal(f: str, cands: list[Candidate]) -> Candidate | None:
    for word, idx in ORDINALS.items():
        if re.search(rf"\b{word}\b", f) and idx < len(cands):
            return cands[idx]
    if re.search(r"\b(last one|the last|la ultima|el ultimo)\b", f) and cands:
        return cands[-1]
    return None


Clock = Callable[[], float]
