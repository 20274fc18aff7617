"""ReplyHub: in-process fan-out of host news (answers, escalations) to the visit's channel.

The database is the record (visit events); this hub only makes the news instant for a channel
in the same process (a phone call under ``checkin serve`` hears "Sarah is on the way" the moment
the Slack button is pressed). Channels in other processes poll the record instead; see
``checkin.host_replies.HostReplyFeed``, which combines both. Imports: providers only, so voice/
gets replies through ``providers.HostReplies`` without knowing about Slack or SMS.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import structlog

from checkin.providers import HostReply

log = structlog.get_logger(__name__)

# A visit gets a handful of news items (an answer, maybe an escalation); a listener that lets 16
# pile up has stopped reading, so further news is dropped for it (the record still has them).
QUEUE_SIZE = 16


class ReplyHub:
    """Publish/subscribe of ``HostReply`` by visit id, within one process."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[asyncio.Queue[HostReply]]] = {}

    def publish(self, reply: HostReply) -> int:
        """Hand ``reply`` to every listener of its visit; returns how many got it."""
        delivered = 0
        for queue in self._listeners.get(reply.visit_id, set()):
            try:
                queue.put_nowait(reply)
                delivered += 1
            except asyncio.QueueFull:
                log.warning("host_reply_dropped", visit_id=reply.visit_id, kind=reply.kind)
        return delivered

    def subscribe(self, visit_id: str) -> asyncio.Queue[HostReply]:
        """A queue that receives the visit's news from now on; ``unsubscribe`` it when done."""
        queue: asyncio.Queue[HostReply] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._listeners.setdefault(visit_id, set()).add(queue)
        return queue

    def unsubscribe(self, visit_id: str, queue: asyncio.Queue[HostReply]) -> None:
        """Stop delivering to ``queue``."""
        listeners = self._listeners.get(visit_id, set())
        listeners.discard(queue)
        if not listeners:
            self._listeners.pop(visit_id, None)

    async def updates(self, visit_id: str) -> AsyncIterator[HostReply]:
        """Yield the visit's news published from now on; runs until the caller stops."""
        queue = self.subscribe(visit_id)
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(visit_id, queue)

    def listening(self, visit_id: str) -> bool:
        """True while some channel listens to this visit (tests wait on this)."""
        return bool(self._listeners.get(visit_id))
