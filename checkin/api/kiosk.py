"""``/api/kiosk``: the lobby tablet's typed check-in, driven through the same ``Conversation``.

A kiosk visit is held in memory under a random id for as long as the tablet keeps talking; it
is closed (and its visit record ended) after ``IDLE_S`` without a turn, or when the page ends
it. The host search returns names and departments only, never contact details. Nothing here
returns anything about an earlier visit. No sign-in: the tablet stands in the public lobby,
like the phone line; the number of open kiosk visits is bounded. Imports: runtime,
conversation, directory, states, web.latency.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Annotated, Literal

import structlog
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from checkin.api.kiosk_replies import kiosk_news
from checkin.conversation import Conversation, Reply
from checkin.directory.service import fold
from checkin.runtime import Runtime
from checkin.states import CheckInState

log = structlog.get_logger(__name__)
router = APIRouter(prefix="/api/kiosk", tags=["kiosk"])

IDLE_S = 120.0
MAX_OPEN = 20  # tablets in one lobby; more means someone is scripting us

Ask = Literal["host", "choice", "yes_no", "text", "none"]


class HostSuggestion(BaseModel):
    """A directory entry as the lobby may see it."""

    name: str
    department: str


class StartIn(BaseModel):
    """Start a visit in this language."""

    language: Literal["en", "es"] = "en"


class TurnIn(BaseModel):
    """What the visitor typed or tapped (None or empty: they said nothing)."""

    text: str | None = Field(None, max_length=500)


class KioskTurn(BaseModel):
    """The receptionist's answer and what kind of answer the page should offer next."""

    session_id: str
    text: str
    state: str
    done: bool
    ask: Ask
    choices: list[HostSuggestion] = Field(default_factory=list)


@dataclass
class _Open:
    conversation: Conversation
    last_turn: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class KioskVisits:
    """The open kiosk visits of this process."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._open: dict[str, _Open] = {}

    def __len__(self) -> int:
        return len(self._open)

    async def start(self, language: str) -> tuple[str, Conversation]:
        """Open a visit; raises 429 when too many are open."""
        await self.expire()
        if len(self._open) >= MAX_OPEN:
            raise HTTPException(429, "too many kiosk visits in progress")
        conversation = await self._runtime.new_conversation(channel="kiosk")
        conversation.session.language = language
        sid = secrets.token_urlsafe(24)
        self._open[sid] = _Open(conversation)
        return sid, conversation

    def get(self, sid: str) -> _Open:
        """The open visit ``sid`` (404 when unknown or expired)."""
        found = self._open.get(sid)
        if found is None:
            raise HTTPException(404, "this visit has ended; start again")
        return found

    async def end(self, sid: str) -> None:
        """Close the visit (idempotent)."""
        found = self._open.pop(sid, None)
        if found is not None:
            await found.conversation.close()

    async def expire(self) -> None:
        """Close visits whose tablet went quiet."""
        cutoff = time.monotonic() - IDLE_S
        for sid in [s for s, o in self._open.items() if o.last_turn < cutoff]:
            log.info("kiosk_visit_expired")
            await self.end(sid)

    async def aclose(self) -> None:
        """Close everything (shutdown)."""
        for sid in list(self._open):
            await self.end(sid)


def next_prompt(state: CheckInState, *, done: bool, choices: bool) -> Ask:
    """What the tablet offers next (typed or spoken kiosk), from the visit's state."""
    if done:
        return "none"
    if state in (CheckInState.GREETING, CheckInState.IDENTIFY_HOST):
        return "host"
    if state is CheckInState.DISAMBIGUATE:
        return "choice" if choices else "host"
    if state is CheckInState.CONFIRM_HOST:
        return "yes_no"
    return "text"


def _choices(reply: Reply) -> list[HostSuggestion]:
    for action in reply.actions:
        candidates = action.result.get("candidates")
        if action.tool == "lookup_employee" and isinstance(candidates, list):
            return [HostSuggestion(name=str(c.get("name", "")),
                                   department=str(c.get("department") or ""))
                    for c in candidates if isinstance(c, dict)][:6]
    return []


def _turn(sid: str, reply: Reply) -> KioskTurn:
    choices = _choices(reply) if reply.state is CheckInState.DISAMBIGUATE else []
    return KioskTurn(session_id=sid, text=reply.text, state=str(reply.state), done=reply.done,
                     ask=next_prompt(reply.state, done=reply.done, choices=bool(choices)),
                     choices=choices)


def _visits(request: Request) -> KioskVisits:
    visits: KioskVisits = request.app.state.kiosk
    return visits


@router.get("/hosts", response_model=list[HostSuggestion], summary="Host name suggestions")
async def hosts(request: Request,
                q: Annotated[str, Query(min_length=1, max_length=80)]) -> list[HostSuggestion]:
    """Up to 8 active employees whose name, alias or department starts with the typed words."""
    words = fold(q).split()
    if not words:
        return []
    directory = await request.app.state.runtime.directory()
    out: list[HostSuggestion] = []
    for e in directory.employees:
        if not e.active:
            continue
        tokens = fold(" ".join((e.full_name, *e.aliases, e.department))).split()
        if all(any(t.startswith(w) for t in tokens) for w in words):
            out.append(HostSuggestion(name=e.full_name, department=e.department))
    out.sort(key=lambda h: (not fold(h.name).startswith(words[0]), h.name))
    return out[:8]


@router.post("/visits", response_model=KioskTurn, summary="Start a kiosk visit",
             responses={429: {"description": "too many kiosk visits open"}})
async def start(request: Request, body: StartIn) -> KioskTurn:
    """Open a visit record and return the greeting."""
    sid, conversation = await _visits(request).start(body.language)
    return _turn(sid, await conversation.greet())


@router.post("/visits/{session_id}/reply", response_model=KioskTurn, summary="One visitor turn",
             responses={404: {"description": "the visit ended or expired"}})
async def reply(request: Request, session_id: str, body: TurnIn) -> KioskTurn:
    """The receptionist's reply to what the visitor typed or tapped."""
    visits = _visits(request)
    await visits.expire()
    found = visits.get(session_id)
    async with found.lock:  # a double tap must not run two turns of one visit at once
        text = (body.text or "").strip() or None
        began = time.perf_counter()
        answer = await found.conversation.reply(text, silence_s=0.0 if text else 8.0)
        request.app.state.reply_latency.record("kiosk", time.perf_counter() - began)
        found.last_turn = time.monotonic()
    if answer.done:
        kiosk_news(request.app).remember(session_id, found.conversation)  # host's answer
        await visits.end(session_id)
    return _turn(session_id, answer)


@router.post("/visits/{session_id}/end", status_code=204, response_class=Response,
             summary="End a kiosk visit")
async def end(request: Request, session_id: str) -> Response:
    """The tablet went back to its welcome screen; the visit record is closed."""
    await _visits(request).end(session_id)
    return Response(status_code=204)
