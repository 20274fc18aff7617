"""ClaudeLanguageModel: the receptionist as Claude, behind the same seam as the rules engine.

It streams the Messages API with the official ``anthropic`` SDK and yields text as it arrives
(the conversation cuts it into sentences for speech). Every ``tool_use`` goes through
``turn.call_tool`` (the state gate) or, for the internal fact tools of ``llm.facts``, through
``turn.report`` (the state machine's guards); the model is offered only the tools the state
allows now, and a refused call gets an error ``tool_result``. Failures (HTTP errors, mid-stream
errors, stalls, timeouts, malformed tool input) become ``ProviderError`` so the conversation
can hand the visit to the rules engine; a process-wide ``CircuitBreaker`` skips Claude after
repeated failures. Nothing here reads the environment or logs prompts, model text or tool
arguments. Imports: the anthropic SDK, providers, errors, states, llm.*; never tools/,
conversation, voice/ or notify/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, cast

import anthropic
import httpx2
import structlog

from checkin.errors import ProviderError, ProviderRejected, ProviderTimeout, ProviderUnavailable
from checkin.llm import facts
from checkin.llm.breaker import CircuitBreaker
from checkin.llm.prompt import PromptConfig, system_prompt
from checkin.llm.understanding import is_spanish
from checkin.llm.usage import VisitUsage
from checkin.providers import JsonObject, ModelTurn, ToolSpec
from checkin.states import Event, Session, tool_allowed

log = structlog.get_logger(__name__)

Message = dict[str, Any]
"""One Messages API message as sent on the wire (role + list of content blocks)."""

INTERRUPTED = "Interrupted: the visitor started speaking before this finished."


@dataclass(frozen=True, slots=True)
class ClaudeOptions:
    """Model, limits and timeouts (seconds) for one receptionist."""

    model: str = "claude-haiku-4-5"
    max_tokens: int = 300
    first_token_s: float = 3.0
    total_s: float = 15.0
    stall_s: float = 4.0
    tool_rounds: int = 5


def make_client(
    *, api_key: str, base_url: str | None, max_retries: int, timeout_s: float, connect_s: float
) -> anthropic.AsyncAnthropic:
    """The process's one SDK client (connection pool shared by every visit).

    ``max_retries`` is 0 by default in config: the SDK backs off 0.5-8 s between tries and
    honours ``retry-after`` without a cap, while the rules engine answers at once.
    """
    return anthropic.AsyncAnthropic(
        api_key=api_key, base_url=base_url or None, max_retries=max_retries,
        timeout=httpx2.Timeout(timeout_s, connect=connect_s),
    )


@dataclass
class _Block:
    kind: str  # "text" | "tool_use" | other (ignored)
    text: str = ""
    tool_id: str = ""
    name: str = ""
    json: str = ""
    input: JsonObject = field(default_factory=dict)


@dataclass
class _Reply:
    """One streamed assistant message, as far as it got."""

    blocks: dict[int, _Block] = field(default_factory=dict)
    stop_reason: str | None = None

    def content(self, *, complete: bool = True) -> list[JsonObject]:
        """Wire blocks; an unfinished reply keeps only its text (its tools never ran)."""
        out: list[JsonObject] = []
        for _, b in sorted(self.blocks.items()):
            if b.kind == "text" and b.text:
                out.append({"type": "text", "text": b.text})
            elif b.kind == "tool_use" and complete:
                out.append({"type": "tool_use", "id": b.tool_id, "name": b.name,
                            "input": b.input})
        return out

    @property
    def tool_uses(self) -> list[_Block]:
        return [b for _, b in sorted(self.blocks.items()) if b.kind == "tool_use"]


class ClaudeLanguageModel:
    """One visit's receptionist on Claude; the client and the breaker are the process's."""

    def __init__(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        options: ClaudeOptions,
        prompt: PromptConfig,
        breaker: CircuitBreaker,
        usage: VisitUsage | None = None,
        greeting: str = "Hi, welcome. Who are you here to see?",
    ) -> None:
        self._client = client
        self._opts = options
        self._prompt = prompt
        self._breaker = breaker
        self._usage = usage if usage is not None else VisitUsage(model=options.model)
        self._greeting = greeting
        self._messages: list[Message] = []

    @property
    def messages(self) -> list[Message]:
        """The conversation as Claude sees it (every tool_use followed by its tool_result)."""
        return self._messages

    def greeting(self, session: Session) -> str:
        """The configured greeting: instant, no model call while the visitor waits."""
        self._messages = [{"role": "user", "content": [{"type": "text", "text": "(arrives)"}]},
                          {"role": "assistant", "content": [{"type": "text",
                                                             "text": self._greeting}]}]
        return self._greeting

    async def respond(self, turn: ModelTurn) -> AsyncIterator[str]:
        """Stream the reply, running tools through the gate, until Claude has said its piece."""
        if not self._breaker.allow():
            raise ProviderUnavailable("llm", code="llm-circuit-open")
        self._follow_language(turn)
        convo = _Exchange(self._messages)
        convo.add("user", [{"type": "text", "text": _user_text(turn)}])
        spoke = False
        verdict = False
        try:
            for _ in range(self._opts.tool_rounds):
                reply = _Reply()
                convo.streaming = reply
                async with aclosing(self._round(turn, convo.wire(), reply)) as texts:
                    async for text in texts:
                        spoke = True
                        yield text
                convo.streaming = None
                convo.add("assistant", reply.content())
                if not reply.tool_uses:
                    break
                convo.add("user", [await self._run_tool(turn, use) for use in reply.tool_uses])
                spoke = False  # a tool result must be followed by something to say
            self._breaker.record_success()
            verdict = True
            self._complete_if_done(turn)
            if not spoke:
                yield facts.next_question(turn.session)
        except ProviderError as err:
            verdict = True
            if err.code != "llm-bad-tool-input":  # the model's slip, not the service's health
                self._breaker.record_failure(err.code)
            log.warning("llm_failed", code=err.code, state=turn.session.state)
            raise
        finally:
            if not verdict:
                self._breaker.abandon()
            self._messages = convo.committed()

    # -- one model call ------------------------------------------------------------------------

    async def _round(self, turn: ModelTurn, messages: list[Message],
                     reply: _Reply) -> AsyncGenerator[str, None]:
        tools = [_tool_param(t) for t in self._offered(turn)]
        request: dict[str, Any] = {
            "model": self._opts.model, "max_tokens": self._opts.max_tokens,
            "system": system_prompt(self._prompt, turn.session), "messages": messages,
        }
        if tools:
            request["tools"] = tools
        loop = asyncio.get_running_loop()
        first_deadline = loop.time() + self._opts.first_token_s
        total_deadline = loop.time() + self._opts.total_s
        usage = _Usage()
        try:
            async with asyncio.timeout_at(first_deadline):
                stream = await self._client.messages.create(stream=True, **request)
            async with stream:
                events = stream.__aiter__()
                started = False
                while True:
                    budget_end = (min(loop.time() + self._opts.stall_s, total_deadline)
                                  if started else first_deadline)
                    try:
                        async with asyncio.timeout_at(budget_end):
                            event = await events.__anext__()
                    except StopAsyncIteration:
                        break
                    except TimeoutError:
                        raise ProviderTimeout("llm", code=_timeout_code(
                            started, loop.time(), total_deadline)) from None
                    started = started or event.type == "content_block_start"
                    text = _accumulate(event, reply, usage)
                    if text:
                        yield text
        except TimeoutError:
            raise ProviderTimeout("llm", code="llm-first-token-timeout") from None
        except anthropic.APIStatusError as err:
            raise _status_error(err) from None
        except anthropic.APITimeoutError:
            raise ProviderTimeout("llm", code="llm-timeout") from None
        except anthropic.APIConnectionError:
            raise ProviderUnavailable("llm", code="llm-unreachable") from None
        except httpx2.TransportError:
            # The SDK lets a connection dropped mid-stream escape as the raw transport error.
            raise ProviderUnavailable("llm", code="llm-connection-lost") from None
        finally:
            if usage.seen:
                self._usage.add(input_tokens=usage.input, output_tokens=usage.output,
                                cache_write_tokens=usage.cache_write,
                                cache_read_tokens=usage.cache_read)
        if reply.stop_reason is None:
            raise ProviderUnavailable("llm", code="llm-stream-truncated")

    def _offered(self, turn: ModelTurn) -> list[ToolSpec]:
        # turn.tools reads the gate live, so a fact reported mid-turn (confirm_host) brings the
        # next step's tools; the gate is asked again anyway, here and when a call runs.
        product = [t for t in turn.tools if tool_allowed(turn.session, t.name)]
        return product + facts.offered(turn.session, self._prompt.languages)

    # -- tools -----------------------------------------------------------------------------------

    async def _run_tool(self, turn: ModelTurn, use: _Block) -> JsonObject:
        if use.name in facts.FACT_TOOLS:
            fact = facts.apply(use.name, use.input, turn, self._prompt.languages)
            if not fact.ok:
                log.warning("fact_rejected", tool=use.name, state=turn.session.state)
            return _tool_result(use.tool_id, {"ok": fact.ok, "message": fact.message},
                                error=not fact.ok)
        result = await turn.call_tool(use.name, use.input)
        if result.ok:
            return _tool_result(use.tool_id, result.data, error=False)
        return _tool_result(use.tool_id, {"error": result.error, "code": result.code},
                            error=True)

    def _follow_language(self, turn: ModelTurn) -> None:
        """Switch to Spanish when the visitor speaks it, before Claude is asked (and told)."""
        text, s = turn.utterance, turn.session
        if text and "es" in self._prompt.languages and s.language != "es" and is_spanish(text):
            turn.report(Event.LANGUAGE_CHANGED, language="es")

    @staticmethod
    def _complete_if_done(turn: ModelTurn) -> None:
        """Notified and no badge left to print: the check-in is over even if Claude forgot."""
        s = turn.session
        if s.notified and not s.done and not tool_allowed(s, "print_badge"):
            turn.report(Event.CHECKIN_COMPLETED)


# -- the wire ------------------------------------------------------------------------------------


class _Exchange:
    """This turn's messages on top of the committed history, kept valid for the API."""

    def __init__(self, history: Sequence[Message]) -> None:
        self._messages: list[Message] = [dict(m) for m in history]
        self.streaming: _Reply | None = None

    def add(self, role: str, blocks: list[JsonObject]) -> None:
        if not blocks:
            return
        last = self._messages[-1] if self._messages else None
        if last is not None and last["role"] == role:
            # Same role twice in a row (a barge-in left a tool_result last): merge into one
            # turn, tool_result blocks first as the API requires.
            last["content"] = [*last["content"], *blocks]
        else:
            self._messages.append({"role": role, "content": list(blocks)})

    def wire(self) -> list[Message]:
        return [dict(m) for m in self._messages]

    def committed(self) -> list[Message]:
        """What goes into history, also after a cancel: no tool_use without its tool_result."""
        if self.streaming is not None:
            self.add("assistant", self.streaming.content(complete=False))
            self.streaming = None
        return with_tool_results(self._messages)


def with_tool_results(messages: Sequence[Message]) -> list[Message]:
    """``messages`` where every tool_use has a tool_result in the next user message.

    A turn cancelled while its tools ran leaves tool_use blocks without results; Anthropic
    rejects such a history, so the missing results are added as errors ("interrupted").
    """
    out: list[Message] = [dict(m) for m in messages]
    i = 0
    while i < len(out):
        msg = out[i]
        ids = [b["id"] for b in msg["content"] if b.get("type") == "tool_use"] \
            if msg["role"] == "assistant" else []
        if ids:
            nxt = out[i + 1] if i + 1 < len(out) and out[i + 1]["role"] == "user" else None
            if nxt is None:
                nxt = {"role": "user", "content": []}
                out.insert(i + 1, nxt)
            have = {b.get("tool_use_id") for b in nxt["content"] if b.get("type") == "tool_result"}
            missing = [_tool_result(t, {"error": INTERRUPTED}, error=True)
                       for t in ids if t not in have]
            results = [b for b in nxt["content"] if b.get("type") == "tool_result"]
            others = [b for b in nxt["content"] if b.get("type") != "tool_result"]
            nxt["content"] = [*results, *missing, *others]
        i += 1
    return out


def _user_text(turn: ModelTurn) -> str:
    if turn.utterance is None:
        return f"(The visitor has said nothing for {turn.silence_s:.0f} seconds.)"
    return turn.utterance.strip() or "(inaudible)"


def _tool_param(spec: ToolSpec) -> JsonObject:
    return {"name": spec.name, "description": spec.description,
            "input_schema": spec.input_schema}


def _tool_result(tool_use_id: str, data: JsonObject, *, error: bool) -> JsonObject:
    return {"type": "tool_result", "tool_use_id": tool_use_id,
            "content": json.dumps(data, ensure_ascii=False), "is_error": error}


@dataclass
class _Usage:
    seen: bool = False
    input: int = 0
    output: int = 0
    cache_write: int = 0
    cache_read: int = 0

    def update(self, usage: Any) -> None:
        self.seen = True
        # message_start carries the input; message_delta's counts are cumulative.
        self.input = getattr(usage, "input_tokens", None) or self.input
        self.output = getattr(usage, "output_tokens", None) or self.output
        self.cache_write = getattr(usage, "cache_creation_input_tokens", None) or self.cache_write
        self.cache_read = getattr(usage, "cache_read_input_tokens", None) or self.cache_read


def _accumulate(event: Any, reply: _Reply, usage: _Usage) -> str:
    """Fold one stream event into ``reply``; return the text to speak now (maybe empty)."""
    kind = event.type
    if kind == "message_start":
        usage.update(event.message.usage)
    elif kind == "content_block_start":
        block = event.content_block
        if block.type == "tool_use":
            reply.blocks[event.index] = _Block("tool_use", tool_id=block.id, name=block.name)
        else:
            reply.blocks[event.index] = _Block(block.type)
    elif kind == "content_block_delta":
        b = reply.blocks.get(event.index)
        delta = event.delta
        if b is not None and delta.type == "text_delta" and b.kind == "text":
            b.text += delta.text
            return cast(str, delta.text)
        if b is not None and delta.type == "input_json_delta":
            b.json += delta.partial_json
    elif kind == "content_block_stop":
        b = reply.blocks.get(event.index)
        if b is not None and b.kind == "tool_use":
            b.input = _parse_input(b.json)
    elif kind == "message_delta":
        reply.stop_reason = event.delta.stop_reason or "end_turn"
        usage.update(event.usage)
    return ""


def _parse_input(raw: str) -> JsonObject:
    # Parsed strictly here, not with the SDK's partial-JSON helper: a truncated object must
    # not run a tool with half its arguments.
    try:
        value = json.loads(raw) if raw.strip() else {}
    except ValueError:
        raise ProviderRejected("llm", code="llm-bad-tool-input") from None
    if not isinstance(value, dict):
        raise ProviderRejected("llm", code="llm-bad-tool-input")
    return value


def _timeout_code(started: bool, now: float, total_deadline: float) -> str:
    if not started:
        return "llm-first-token-timeout"
    return "llm-timeout" if now >= total_deadline else "llm-stalled"


def _status_error(err: anthropic.APIStatusError) -> ProviderError:
    status = err.status_code
    kind = ""
    if isinstance(err.body, dict):
        detail = err.body.get("error")
        kind = str(detail.get("type", "")) if isinstance(detail, dict) else ""
    if status == 200:  # an `event: error` after the stream began; the SDK does not retry it
        code = "llm-overloaded" if kind == "overloaded_error" else "llm-stream-error"
        return ProviderUnavailable("llm", code=code)
    if status == 529 or kind == "overloaded_error":
        return ProviderUnavailable("llm", code="llm-overloaded")
    if status == 429:
        return ProviderUnavailable("llm", code="llm-rate-limited")
    if status >= 500:
        return ProviderUnavailable("llm", code="llm-server-error")
    if status in (401, 403):
        return ProviderRejected("llm", code="llm-auth")
    return ProviderRejected("llm", code="llm-bad-request")
