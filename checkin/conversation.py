"""One visit's dialogue, the same for every channel (phone, kiosk, typed chat).

It asks the LanguageModel for a reply, offering only the tools the current state allows, runs
every tool call through the registry's gate, applies the events tools and the model report to
the state machine, keeps the visit record's trail, and yields the reply sentence by sentence
with any directory phone number or email redacted. When the model fails, the rest of the visit
is the fallback model's (the rules engine), from the same state and facts.
Imports: states, providers, tools, visits, db, errors; never voice/, notify/ or a vendor SDK.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from checkin.db import transaction, utcnow
from checkin.errors import ProviderError
from checkin.llm.usage import VisitUsage
from checkin.providers import (
    JsonObject,
    LanguageModel,
    ModelTurn,
    ToolAction,
    ToolResult,
    ToolSpec,
)
from checkin.states import (
    MODEL_EVENTS,
    CheckInState,
    Event,
    Session,
    TransitionNotAllowed,
)
from checkin.tools.base import ToolContext
from checkin.tools.registry import ToolRegistry
from checkin.visits import Visit, add_event

log = structlog.get_logger(__name__)

# Not after or before a digit: "555. 0138" must reach the redactor as one piece, also when
# the stream's chunk ends right after "555. ".
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!\d[.!?])\s+(?!\d)")
_PHONE_LIKE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


class _LiveTools(Sequence[ToolSpec]):
    """``ModelTurn.tools`` read from the gate on every access: a model that moves the visit on
    mid-turn (confirms the host, completes the visitor's info) is offered the next step's
    tools in its next call, and never more than the state allows."""

    def __init__(self, registry: ToolRegistry, session: Session) -> None:
        self._registry = registry
        self._session = session

    def _now(self) -> list[ToolSpec]:
        return self._registry.specs_for(self._session)

    def __getitem__(self, index: int) -> ToolSpec:  # type: ignore[override]
        return self._now()[index]

    def __len__(self) -> int:
        return len(self._now())

    def __iter__(self) -> Iterator[ToolSpec]:
        return iter(self._now())


@dataclass
class Reply:
    """A whole reply, as the typed channels report it."""

    text: str
    state: CheckInState
    done: bool
    actions: list[ToolAction] = field(default_factory=list)


def outcome_of(session: Session) -> str:
    """The visit's outcome in one word, for the record and the dashboards."""
    last = session.history[-1][1] if session.history else None
    if session.state is CheckInState.COMPLETE:
        return "delivered" if session.is_delivery else "checked_in"
    if session.state is CheckInState.TRANSFER_HUMAN:
        return "transferred"
    if session.state is CheckInState.ERROR:
        return "error"
    if last is Event.SILENCE_LIMIT_REACHED:
        return "no_answer"
    if last is Event.VISITOR_LEFT:
        return "abandoned"
    return "disconnected"


class Conversation:
    """Drives one visit: greeting, then one reply per visitor turn, until it is done."""

    def __init__(
        self,
        *,
        model: LanguageModel,
        registry: ToolRegistry,
        ctx: ToolContext,
        fallback: LanguageModel | None = None,
        session: Session | None = None,
        usage: VisitUsage | None = None,
    ) -> None:
        self.session = session or Session()
        self._usage = usage
        self._model = model
        self._fallback = fallback
        self._registry = registry
        self._ctx = ctx
        self._actions: list[ToolAction] = []
        self._trail: list[tuple[str, str, JsonObject]] = []
        self._history: list[dict[str, str]] = []

    @property
    def visit_id(self) -> str:
        """The id of this visit's record."""
        return self._ctx.visit_id

    async def greet(self) -> Reply:
        """The first line of the visit."""
        text = self._redact(self._model.greeting(self.session))
        self._history.append({"role": "assistant", "content": text})
        await self._flush()
        return Reply(text, self.session.state, self.session.done)

    async def reply(self, utterance: str | None, *, silence_s: float = 0.0) -> Reply:
        """The whole reply to one visitor turn (``None``: the visitor stayed silent)."""
        parts = [chunk async for chunk in self.replies(utterance, silence_s=silence_s)]
        actions, self._actions = self._actions, []
        return Reply(" ".join(parts).strip(), self.session.state, self.session.done, actions)

    async def replies(self, utterance: str | None, *, silence_s: float = 0.0) -> AsyncIterator[str]:
        """Stream the reply to one visitor turn, one sentence at a time."""
        if self.session.done:
            return
        if utterance is not None:
            self._history.append({"role": "user", "content": utterance})
            if self.session.state is CheckInState.GREETING:
                self._apply(Event.VISITOR_SPOKE, {})
        said: list[str] = []
        try:
            async for sentence in self._sentences(self._model, utterance, silence_s):
                said.append(sentence)
                yield sentence
        except (ProviderError, TimeoutError) as err:
            code = err.code if isinstance(err, ProviderError) else "llm-timeout"
            log.warning("model_failed", code=code, state=self.session.state)
            self._trail.append(("model_failed", self.session.state, {"code": code}))
            if self._fallback is None:
                raise
            # The rest of the visit is the fallback's, from the same state and facts. If the
            # failed model already asked its question, the visitor has something to answer.
            self._model, self._fallback = self._fallback, None
            if not (said and said[-1].rstrip().endswith("?")):
                async for sentence in self._sentences(self._model, utterance, silence_s):
                    said.append(sentence)
                    yield sentence
        finally:
            self._history.append({"role": "assistant", "content": " ".join(said)})
            await self._flush()

    async def _sentences(
        self, model: LanguageModel, utterance: str | None, silence_s: float
    ) -> AsyncIterator[str]:
        turn = ModelTurn(
            utterance=utterance, session=self.session,
            tools=_LiveTools(self._registry, self.session), call_tool=self._call_tool,
            report=self._report, history=tuple(self._history), silence_s=silence_s,
            now=self._ctx.now(),
        )
        buffer = ""
        async for chunk in model.respond(turn):
            buffer += chunk
            *complete, buffer = _SENTENCE_END.split(buffer)
            for sentence in complete:
                yield self._redact(sentence)
        if buffer.strip():
            yield self._redact(buffer.strip())

    async def _call_tool(self, name: str, args: JsonObject) -> ToolResult:
        before = self.session.state
        outcome = await self._registry.run(self._ctx, self.session, name, args)
        for event, facts in outcome.events:
            self._apply(event, facts)
        result = outcome.result
        kind = "tool_called" if result.code != "tool-not-allowed" else "tool_rejected"
        self._trail.append((kind, before, {
            "tool": name, "ok": result.ok, "code": result.code,
            "scores": [c.get("score") for c in result.data.get("candidates", [])],
        }))
        if result.ok:
            self._actions.append(ToolAction(name, dict(args), dict(result.data)))
        return result

    def _report(self, event: Event, **facts: Any) -> None:
        """Facts the model learnt from the visitor; tool-only events are refused."""
        if event not in MODEL_EVENTS:
            log.warning("report_rejected", reported=str(event), state=self.session.state)
            return
        self._apply(event, facts)

    def _apply(self, event: Event, facts: dict[str, Any]) -> None:
        before = self.session.state
        try:
            after = self.session.apply(event, **facts)
        except TransitionNotAllowed:
            log.warning("transition_rejected", reported=str(event), state=before)
            self._trail.append(("transition_rejected", before, {"event": str(event)}))
            return
        if after is not before:
            structlog.contextvars.bind_contextvars(state=str(after))
            log.info("state_changed", trigger=str(event), previous=str(before), state=str(after))
        self._trail.append(("state_changed", before, {"event": str(event), "to": str(after)}))

    def _redact(self, text: str) -> str:
        """Never let a directory phone number or email reach the visitor, whoever wrote it."""
        directory = self._ctx.directory

        def withhold(match: re.Match[str]) -> str:
            found = match.group(0)
            if not directory.is_contact(found):
                return found
            is_email = "@" in found
            log.warning("output_redacted", kind="email" if is_email else "phone")
            return "[address withheld]" if is_email else "[number withheld]"

        return _PHONE_LIKE.sub(withhold, _EMAIL_LIKE.sub(withhold, text))

    async def close(self) -> None:
        """End the visit record (called by the channel when the session ends for any reason)."""
        await self._flush(final=True)

    async def _flush(self, *, final: bool = False) -> None:
        trail, self._trail = self._trail, []
        s = self.session
        async with transaction(self._ctx.sessions) as db:
            visit = await db.get(Visit, self.visit_id)
            if visit is None:
                return
            for kind, state, data in trail:
                add_event(session=db, visit_id=visit.id, kind=kind, state=state, data=data)
            visit.state = s.state
            visit.language = s.language
            if s.visitor_name and not visit.visitor_name:
                visit.visitor_name = s.visitor_name
            if s.company and not visit.company:
                visit.company = s.company
            visit.transfer_reason = s.transfer_reason or visit.transfer_reason
            if self._usage is not None and self._usage.requests:
                u = self._usage
                visit.llm_model = u.model or None
                visit.llm_requests = u.requests
                visit.llm_input_tokens = u.input_tokens + u.cache_write_tokens + u.cache_read_tokens
                visit.llm_output_tokens = u.output_tokens
                visit.llm_cost_usd_micros = u.cost_usd_micros
            if (s.done or final) and visit.ended_at is None:
                visit.ended_at = utcnow()
                visit.outcome = outcome_of(s)
                log.info("visit_ended", outcome=visit.outcome, state=s.state,
                         turns=sum(1 for m in self._history if m["role"] == "user"))

