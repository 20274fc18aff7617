"""``/api/kiosk/visits/{id}/host-news``: the host's answer on the tablet after check-in.

When a kiosk visit checks in, ``checkin.api.kiosk`` ends the visit's dialogue but hands it to
``KioskNews.remember`` first: for ``notify.visitor_wait_s`` the page may long-poll this route
and show (and speak) "Sarah is on the way." in the visit's language. The session id stays the
only key, a random token only that tablet knows; nothing is returned but sentences for the
visitor standing there, and an entry is forgotten after its answer or its time is up.
Imports: runtime, host_replies, states (via host_replies), conversation (types only).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from pydantic import BaseModel, Field

from checkin.conversation import Conversation
from checkin.host_replies import visitor_replies, waits_for_host
from checkin.runtime import Runtime

router = APIRouter(prefix="/api/kiosk", tags=["kiosk"])

POLL_S = 20.0  # one long poll; well under proxies' idle timeouts
MAX_WAITING = 50  # checked-in visitors still waiting in one lobby; beyond that, drop the oldest


class HostNews(BaseModel):
    """News since ``seen``: sentences to show and say, and whether to ask again."""

    sentences: list[str] = Field(default_factory=list)
    more: bool = False  # ask again (with seen + len(sentences))
    wait_s: float = 0.0  # how much longer the page should stay up for an answer


@dataclass(frozen=True)
class _Waiting:
    visit_id: str
    language: str
    until: float  # time.monotonic()


class KioskNews:
    """The checked-in kiosk visits of this process that still wait for their host."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._waiting: dict[str, _Waiting] = {}

    def remember(self, sid: str, conversation: Conversation) -> None:
        """Keep a finished visit listening, if it checked in and someone can answer."""
        wait_s = self._runtime.visitor_wait_s
        if wait_s <= 0 or not waits_for_host(conversation.session):
            return
        now = time.monotonic()
        self._waiting = {k: w for k, w in self._waiting.items() if w.until > now}
        while len(self._waiting) >= MAX_WAITING:
            self._waiting.pop(next(iter(self._waiting)))
        self._waiting[sid] = _Waiting(conversation.visit_id, conversation.session.language,
                                      now + wait_s)

    def forget(self, sid: str) -> None:
        """Stop listening for ``sid`` (answered, or timed out)."""
        self._waiting.pop(sid, None)

    async def poll(self, sid: str, seen: int) -> HostNews:
        """News after the first ``seen`` sentences, waiting up to ``POLL_S`` for some."""
        waiting = self._waiting.get(sid)
        feed = self._runtime.host_replies
        remaining = waiting.until - time.monotonic() if waiting else 0.0
        if waiting is None or feed is None or remaining <= 0:
            self.forget(sid)
            return HostNews()
        index, final, sentences = 0, False, []
        async for reply in visitor_replies(feed, waiting.visit_id,
                                           wait_s=min(remaining, POLL_S)):
            index += 1
            final = reply.final
            if index > seen:
                sentences.append(reply.sentence(waiting.language))
                break  # answer the page now; it asks again for anything after this
        remaining = waiting.until - time.monotonic()
        if final or remaining <= 0:
            self.forget(sid)
            return HostNews(sentences=sentences)
        return HostNews(sentences=sentences, more=True, wait_s=round(remaining, 1))


def kiosk_news(app: FastAPI) -> KioskNews:
    """The app's ``KioskNews`` (made on first use, so ``create_app`` needs no change)."""
    news = getattr(app.state, "kiosk_news", None)
    if news is None:
        news = app.state.kiosk_news = KioskNews(app.state.runtime)
    assert isinstance(news, KioskNews)
    return news


@router.get("/visits/{session_id}/host-news", response_model=HostNews,
            summary="The host's answer after a kiosk check-in (long poll)")
async def host_news(request: Request, session_id: str,
                    seen: Annotated[int, Query(ge=0, le=50)] = 0) -> HostNews:
    """Sentences from the host after the first ``seen``; ``more`` false when done waiting."""
    return await kiosk_news(request.app).poll(session_id, seen)
