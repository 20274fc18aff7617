"""Deepgram streaming speech-to-text for phone calls (deepgram-sdk 7.x, ``listen.v1.connect``).

The caller's 8 kHz mu-law goes to Deepgram exactly as Twilio sent it (``audio_format`` is
``ulaw_8000``, so the call loop does not decode it), every frame, silence included: Deepgram's
endpointing needs the silence to find the end of a turn. Query: nova-3, ``mulaw``/8000, interim
results, ``endpointing`` (300 ms), ``utterance_end_ms`` (1000 ms, the backup end of turn on
noisy lines), VAD events, smart format, and the directory's names as ``keyterm``s.

Turn assembly (``TurnAssembler``, pure): the first ``SpeechStarted`` or word of a turn becomes
one ``SpeechStarted`` (barge-in); ``is_final`` pieces are appended; ``speech_final`` (or
``UtteranceEnd`` when it never came) ends the turn with the whole utterance. A VAD start with
no words within ``no_words_s`` (a cough, a door) ends the turn with empty text, as the offline
recogniser does, so the call can say again what the barge-in cut off.

Keeping the socket alive: Twilio sends caller audio all the time, also while the bot speaks, and
all of it is forwarded. If no audio has gone out for ``keepalive_s`` (the bot is speaking and
Twilio paused the inbound track, or the call loop fell behind) a ``KeepAlive`` goes instead,
because Deepgram closes a socket that is silent for 10 s (NET-0001).

A dropped socket (network error, an abnormal close, a close we did not ask for) is reconnected
up to ``reconnects`` times; audio that arrived meanwhile waits in a bounded backlog and is sent
on the new socket. A rejected key (401/403) is not retried: ``ProviderRejected`` makes the
``FallbackSpeechToText`` wrapper hand the call to the offline recogniser. Transcripts are
never logged. Imports ``checkin.providers``, ``checkin.errors`` and ``checkin.voice`` only.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.api_error import ApiError
from deepgram.listen.v1.types import (
    ListenV1Error,
    ListenV1Results,
    ListenV1SpeechStarted,
    ListenV1UtteranceEnd,
)
from websockets.exceptions import WebSocketException

from checkin.errors import ProviderError, ProviderRejected, ProviderUnavailable
from checkin.providers import SpeechEvent, SpeechStarted, Transcript
from checkin.voice.audio import ULAW_8K

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.deepgram.com"
KEYTERM_LIMIT = 100  # Deepgram allows ~500 tokens of keyterms; a name is 2-4 tokens


def environment(base_url: str) -> DeepgramClientEnvironment:
    """The SDK environment for ``base_url`` (``http(s)://host[:port]``): the SDK has no base-URL
    option, so a local fake needs its WebSocket and REST bases spelled out."""
    scheme, _, rest = (base_url or DEFAULT_BASE_URL).rstrip("/").partition("://")
    secure = scheme in ("https", "wss")
    http = ("https://" if secure else "http://") + rest
    ws = ("wss://" if secure else "ws://") + rest
    return DeepgramClientEnvironment(base=http, production=ws, agent=ws, agent_rest=http)


@dataclass
class TurnAssembler:
    """Deepgram messages -> the call's speech events, one caller turn at a time (no I/O)."""

    finals: list[str] = field(default_factory=list)
    in_turn: bool = False
    words: bool = False
    started_at: float = 0.0  # time.monotonic() of the turn's start

    @property
    def awaiting_words(self) -> bool:
        """A VAD start with no words yet: a cough or a real start, the clock decides."""
        return self.in_turn and not self.words

    def speech_started(self, at_s: float = 0.0) -> list[SpeechEvent]:
        """Deepgram's VAD heard speech start."""
        if self.in_turn:
            return []  # one barge-in per turn; Deepgram sends one per onset
        self._start()
        return [SpeechStarted(at_s=at_s)]

    def results(self, text: str, *, is_final: bool, speech_final: bool) -> list[SpeechEvent]:
        """An interim or final result (``text`` may be empty during silence)."""
        out: list[SpeechEvent] = []
        text = text.strip()
        if text:
            if not self.in_turn:  # words without a VAD event (vad_events lost): still a start
                self._start()
                out.append(SpeechStarted())
            self.words = True
            if is_final:
                self.finals.append(text)
                out.append(Transcript(text, is_final=True))
            else:
                out.append(Transcript(" ".join([*self.finals, text])))
        if is_final and speech_final and self.finals:
            out.append(self._end())
        return out

    def utterance_end(self) -> list[SpeechEvent]:
        """``UtteranceEnd``: the end of turn when ``speech_final`` never came; else ignored."""
        if self.finals:
            return [self._end()]
        if self.in_turn and self.words:  # only interim words, never finalised: close the turn
            return [self._end()]
        return []

    def no_words(self) -> list[SpeechEvent]:
        """The VAD start had no words after all: an empty end of turn (a cough)."""
        if not self.awaiting_words:
            return []
        return [self._end()]

    def _start(self) -> None:
        self.in_turn, self.words, self.started_at = True, False, time.monotonic()

    def _end(self) -> Transcript:
        text = " ".join(self.finals)
        self.finals, self.in_turn, self.words = [], False, False
        return Transcript(text, is_final=True, end_of_utterance=True)


class DeepgramSpeechToText:
    """``SpeechToText`` on Deepgram's live API; one WebSocket per call."""

    audio_format = ULAW_8K

    def __init__(self, *, api_key: str, base_url: str = "", keyterms: Sequence[str] = (),
                 model: str = "nova-3", endpointing_ms: int = 300, utterance_end_ms: int = 1000,
                 keepalive_s: float = 4.0, connect_timeout_s: float = 5.0,
                 close_timeout_s: float = 3.0, reconnects: int = 3,
                 reconnect_delay_s: float = 0.2, no_words_s: float = 1.5,
                 backlog_s: float = 5.0, client: AsyncDeepgramClient | None = None) -> None:
        self._client = client or AsyncDeepgramClient(api_key=api_key,
                                                     environment=environment(base_url))
        self._api_key = api_key
        self._base_url = base_url
        self.keyterms = tuple(dict.fromkeys(k.strip() for k in keyterms if k.strip()))[
            :KEYTERM_LIMIT]
        self._model = model
        self._endpointing_ms = endpointing_ms
        self._utterance_end_ms = utterance_end_ms
        self.keepalive_s = keepalive_s
        self.connect_timeout_s = connect_timeout_s
        self.close_timeout_s = close_timeout_s
        self.reconnects = reconnects
        self.reconnect_delay_s = reconnect_delay_s
        self.no_words_s = no_words_s
        self.backlog_frames = max(1, int(backlog_s * 50))  # 20 ms Twilio frames

    def with_keyterms(self, keyterms: Sequence[str]) -> DeepgramSpeechToText:
        """The same engine (and SDK client) primed with other names: one per call."""
        clone = object.__new__(DeepgramSpeechToText)
        clone.__dict__.update(self.__dict__)
        clone.keyterms = tuple(dict.fromkeys(k.strip() for k in keyterms if k.strip()))[
            :KEYTERM_LIMIT]
        return clone

    def connect(self) -> AbstractAsyncContextManager[Any]:
        """Open one live socket (the SDK's async context manager)."""
        connect: AbstractAsyncContextManager[Any] = self._client.listen.v1.connect(
            model=self._model, encoding="mulaw", sample_rate=8000, channels=1,
            interim_results=True, endpointing=self._endpointing_ms,
            utterance_end_ms=self._utterance_end_ms, vad_events=True, smart_format=True,
            punctuate=True, language="en", keyterm=list(self.keyterms) or None)
        return connect

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """Speech events for ``audio`` (8 kHz mu-law) until it ends; ``ProviderError`` when
        Deepgram rejects us or cannot be reached again after a drop."""
        stream = _Stream(self, audio)
        runner = asyncio.create_task(stream.run(), name="deepgram-stream")
        turn = TurnAssembler()
        try:
            while True:
                timeout = None
                if turn.awaiting_words:
                    timeout = max(0.0, turn.started_at + self.no_words_s - time.monotonic())
                try:
                    item = await asyncio.wait_for(stream.inbox.get(), timeout)
                except TimeoutError:
                    for event in turn.no_words():
                        yield event
                    continue
                if item is None:
                    break
                if isinstance(item, ProviderError):
                    raise item
                for event in _events(turn, item):
                    yield event
            for event in turn.utterance_end():  # audio ended mid-turn: what we have
                yield event
        finally:
            runner.cancel()
            with suppress(asyncio.CancelledError):
                await runner
            log.info("stt_stream_closed", engine="deepgram", connections=stream.connections,
                     keepalives=stream.keepalives, dropped_frames=stream.dropped_frames)


def _events(turn: TurnAssembler, msg: Any) -> list[SpeechEvent]:
    if isinstance(msg, ListenV1Results):
        alternatives = msg.channel.alternatives
        text = alternatives[0].transcript if alternatives else ""
        return turn.results(text or "", is_final=bool(msg.is_final),
                            speech_final=bool(msg.speech_final))
    if isinstance(msg, ListenV1SpeechStarted):
        return turn.speech_started(float(msg.timestamp or 0.0))
    if isinstance(msg, ListenV1UtteranceEnd):
        return turn.utterance_end()
    return []


class _Dropped(Exception):
    """The socket failed in a way a new socket may fix."""

    def __init__(self, code: str, *, heard: bool = False) -> None:
        super().__init__(code)
        self.code = code
        self.heard = heard  # the socket delivered results before it failed


_Inbox = asyncio.Queue[Any]


class _Stream:
    """One call's audio pump and socket(s); results go to ``inbox`` for the generator."""

    def __init__(self, owner: DeepgramSpeechToText, audio: AsyncIterator[bytes]) -> None:
        self._owner = owner
        self._audio = audio
        # Raw SDK messages for the generator. The generator reads as fast as the call's inbox
        # lets it; 512 is minutes of results, so a full queue means the call is stuck: the
        # reader then waits (backpressure) and Deepgram buffers.
        self.inbox: _Inbox = asyncio.Queue(maxsize=512)
        # Caller audio not yet sent: a few seconds, to bridge a reconnect. When full the oldest
        # frame goes (and is counted): stale audio is worth less than the newest.
        self._backlog: deque[bytes] = deque(maxlen=owner.backlog_frames)
        self._have_audio = asyncio.Event()
        self._audio_done = False
        self.connections = 0
        self.keepalives = 0
        self.dropped_frames = 0

    async def run(self) -> None:
        pump = asyncio.create_task(self._pump(), name="deepgram-audio")
        try:
            await self._connections()
            await self.inbox.put(None)
        except ProviderError as err:
            await self.inbox.put(err)
        except Exception as err:  # an SDK surprise must reach the call as a provider failure
            log.warning("stt_failed", engine="deepgram", error_type=type(err).__name__)
            await self.inbox.put(ProviderUnavailable("stt", code="stt-failed"))
        finally:
            pump.cancel()
            with suppress(asyncio.CancelledError):
                await pump

    async def _pump(self) -> None:
        try:
            async for chunk in self._audio:
                if len(self._backlog) == self._backlog.maxlen:
                    self.dropped_frames += 1
                self._backlog.append(chunk)
                self._have_audio.set()
        finally:
            self._audio_done = True
            self._have_audio.set()

    async def _connections(self) -> None:
        failures = 0
        while True:
            try:
                await self._connection()
                return
            except _Dropped as drop:
                failures = 1 if drop.heard else failures + 1
                if failures > self._owner.reconnects:
                    log.warning("stt_gave_up", engine="deepgram", code=drop.code)
                    raise ProviderUnavailable("stt", code="stt-connection-lost") from None
                log.warning("stt_reconnecting", engine="deepgram", code=drop.code,
                            attempt=failures)
                await asyncio.sleep(self._owner.reconnect_delay_s * failures)

    async def _connection(self) -> None:
        """One socket, from handshake to a close we asked for; ``_Dropped`` otherwise."""
        owner = self._owner
        async with AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(owner.connect_timeout_s):
                    conn = await stack.enter_async_context(owner.connect())
            except ApiError as err:
                if err.status_code in (401, 403):
                    log.warning("stt_rejected", engine="deepgram", status=err.status_code)
                    raise ProviderRejected("stt", code="stt-auth-failed") from None
                raise _Dropped(f"stt-handshake-{err.status_code}") from None
            except TimeoutError:
                raise _Dropped("stt-connect-timeout") from None
            except (OSError, WebSocketException):
                raise _Dropped("stt-connect-failed") from None
            self.connections += 1
            log.info("stt_connected", engine="deepgram", connection=self.connections)
            state = {"closing": False, "heard": False}
            sender = asyncio.create_task(self._send(conn, state), name="deepgram-send")
            reader = asyncio.create_task(self._read(conn, state), name="deepgram-read")
            try:
                done, _ = await asyncio.wait({sender, reader},
                                             return_when=asyncio.FIRST_COMPLETED)
                if sender in done and sender.exception() is None and reader not in done:
                    # CloseStream sent: the last results, Metadata, then the server closes.
                    await asyncio.wait({reader}, timeout=owner.close_timeout_s)
                if reader.done() and not reader.cancelled() and reader.exception() is None \
                        and state["closing"]:
                    return
                raise _Dropped("stt-socket-dropped", heard=state["heard"])
            finally:
                for task in (sender, reader):
                    task.cancel()
                for task in (sender, reader):
                    with suppress(asyncio.CancelledError, Exception):
                        await task

    async def _send(self, conn: Any, state: dict[str, bool]) -> None:
        owner = self._owner
        while True:
            if not self._backlog:
                if self._audio_done:
                    state["closing"] = True
                    await conn.send_close_stream()
                    return
                self._have_audio.clear()
                try:
                    async with asyncio.timeout(owner.keepalive_s):
                        await self._have_audio.wait()
                except TimeoutError:
                    await conn.send_keep_alive()
                    self.keepalives += 1
                continue
            chunk = self._backlog.popleft()
            try:
                await conn.send_media(chunk)
            except BaseException:
                self._backlog.appendleft(chunk)  # not sent: the next socket sends it
                raise

    async def _read(self, conn: Any, state: dict[str, bool]) -> None:
        async for msg in conn:
            if isinstance(msg, ListenV1Error):
                # The description may quote our own frame back: log the variant only.
                log.warning("stt_server_error", engine="deepgram", variant=msg.variant)
                continue
            if isinstance(msg, ListenV1Results):
                state["heard"] = True
            if isinstance(msg, ListenV1Results | ListenV1SpeechStarted | ListenV1UtteranceEnd):
                await self.inbox.put(msg)
