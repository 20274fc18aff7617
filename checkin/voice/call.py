"""One phone call: Twilio Media Stream in, dialogue in the middle, speech out. One TaskGroup.

    twilio frames -> PhoneDecoder.pcm() -> stt.transcripts() -> dialogue.replies()
                  -> tts.speech() per sentence -> Speaker (20 ms frames + marks) -> twilio frames

Tasks (all named, all in the call's TaskGroup): ``call-receive`` reads the socket,
``call-listen`` runs the recogniser, ``call-conduct`` takes turns; each reply is a
``call-reply`` task with its ``reply-text`` producer, so a barge-in is one ``cancel()``: Twilio
``clear``, the dialogue stream and pending synthesis stop, ``finally`` blocks close them.

The dialogue is handed in (``Dialogue`` below): this module imports ``checkin.providers``,
``checkin.errors`` and ``checkin.voice`` only, and knows nothing of tools, states or the DB.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

import structlog

from checkin.errors import ProviderError
from checkin.providers import SpeechEvent, SpeechStarted, SpeechToText, TextToSpeech, Transcript
from checkin.voice.audio import (
    L16_ENCODING,
    PCM_16K,
    PCM_RATE,
    ULAW_8K,
    PcmToUlaw,
    PhoneDecoder,
    audio_format,
)
from checkin.voice.speaker import Speaker
from checkin.voice.twilio_stream import (
    Connected,
    Dtmf,
    MalformedFrame,
    Mark,
    Media,
    Start,
    Stop,
    Unknown,
    parse_frame,
)

log = structlog.get_logger(__name__)


class Dialogue(Protocol):
    """The receptionist as the phone sees it (``Conversation`` behind an adapter)."""

    async def greeting(self) -> str:
        """The first line of the visit."""
        ...

    def replies(self, utterance: str | None, *, silence_s: float = 0.0) -> AsyncIterator[str]:
        """The reply to one turn, sentence by sentence (``None``: the caller stayed silent)."""
        ...

    @property
    def done(self) -> bool:
        """The visit has ended (checked in, transferred, given up)."""
        ...

    @property
    def wants_transfer(self) -> bool:
        """The visit ended by asking for a person."""
        ...

    async def close(self) -> None:
        """End the visit record in a defined state; safe to call more than once."""
        ...


class MediaSocket(Protocol):
    """The Media Streams WebSocket, whatever the server framework."""

    async def receive(self) -> str | None:
        """The next text frame; None once the socket is closed."""
        ...

    async def send(self, text: str) -> None:
        """Send one text frame (errors once closed are swallowed by the adapter)."""
        ...

    async def close(self) -> None:
        """Close the socket: with ``<Connect><Stream>`` and no later verb, Twilio hangs up."""
        ...


class CallControl(Protocol):
    """Changes a live call from outside the stream (Twilio REST)."""

    async def transfer(self, call_sid: str, number: str) -> None:
        """Redirect the call to dial ``number``; raise ``ProviderError`` when that fails."""
        ...


class PhraseCache(Protocol):
    """Fixed phrases (greeting, fillers) synthesised once per process."""

    async def pcm(self, text: str) -> bytes:
        """16 kHz PCM for ``text``."""
        ...


@runtime_checkable
class HostNews(Protocol):
    """A ``Dialogue`` that may have news from the host after check-in (optional extra)."""

    def host_news(self) -> AsyncIterator[str] | None:
        """Sentences to say as the host answers; the iterator ends when there is nothing
        more worth waiting for (its own time limit). None: hang up now."""
        ...


@dataclass(frozen=True)
class CallSettings:
    """How one call takes turns."""

    silence_s: float = 8.0
    filler_after_s: float = 0.3
    filler_text: str = "One moment, please."
    reception_phone: str = ""
    operator_request: str = "I would like to speak to a person at reception, please."
    played_timeout_s: float = 60.0
    sentence_queue: int = 4


@dataclass
class CallStats:
    """Timings of one call, for tests, ``checkin call`` and the benchmark (seconds)."""

    call_id: str = ""
    greeting_first_audio_s: float | None = None
    turn_first_audio_s: list[float] = field(default_factory=list)
    # From the recogniser's end of turn reaching the call loop to the reply's first frame out:
    # the server's share plus the dialogue's and synthesiser's own latency (the benchmark).
    turn_heard_to_audio_s: list[float] = field(default_factory=list)
    barge_ins: int = 0
    fillers: int = 0
    outcome: str = ""
    dropped_audio_frames: int = 0


DialogueFactory = Callable[[Start], Awaitable[Dialogue]]

# Conductor inbox items: ("speech",), ("utterance", text), ("dtmf", digit), ("stt_failed",),
# ("hangup",)
_Item = tuple[str, ...]


class PhoneCall:
    """Runs one call from the first frame to the hang-up; ``run()`` never raises."""

    def __init__(
        self, socket: MediaSocket, *, dialogue: DialogueFactory, stt: SpeechToText,
        tts: TextToSpeech, phrases: PhraseCache, control: CallControl | None = None,
        settings: CallSettings | None = None,
    ) -> None:
        self._socket = socket
        self._dialogue_factory = dialogue
        self._stt = stt
        self._tts = tts
        self._phrases = phrases
        # Formats are fixed per call: the caller's mu-law goes to a mu-law recogniser as it
        # came (no decode), and a mu-law synthesiser's audio goes to Twilio as it came.
        self._stt_ulaw = audio_format(stt) == ULAW_8K
        self._tts_format = audio_format(tts)
        self._phrase_format = audio_format(phrases)
        self._control = control
        self.settings = settings or CallSettings()
        self.stats = CallStats(call_id=uuid.uuid4().hex[:12])
        # Caller audio for the recogniser: 500 x 20 ms = 10 s (320 KB). The offline recogniser
        # stops reading while it decodes a turn (~0.5 s), so this must hold a few seconds. When
        # full the recogniser is hopelessly behind: the newest frame is dropped (and counted)
        # rather than blocking the socket reader, which must keep reading marks and stop.
        self._audio: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=500)
        # Conductor inbox: at most a few events arrive between two turns; 64 is generous and a
        # full inbox means the conductor is stuck, so the reader waits (backpressure).
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue(maxsize=64)
        self._speaker: Speaker | None = None
        self._dialogue: Dialogue | None = None
        self._start: Start | None = None
        self._reply: asyncio.Task[None] | None = None
        self._unheard: list[str] = []
        self._send_lock = asyncio.Lock()
        self._started_at = 0.0
        self._heard_at: float | None = None  # perf_counter of the last end of turn

    # -- the whole call ---------------------------------------------------------------------

    async def run(self) -> CallStats:
        """Serve the call until either side hangs up; the visit is always closed."""
        structlog.contextvars.bind_contextvars(call_id=self.stats.call_id)
        try:
            start = await self._await_start()
            if start is None:
                self.stats.outcome = "no_start"
                return self.stats
            self._start = start
            self._started_at = time.perf_counter()
            self._speaker = Speaker(self._send, start.stream_sid, wire_format=_wire(start))
            log.info("call_started", parameters=len(start.parameters))
            await self._run_tasks(start)
        except Exception as err:  # the handler must not die with a traceback (STYLE 5)
            log.error("call_failed", error_type=type(err).__name__)
            self.stats.outcome = self.stats.outcome or "error"
        finally:
            await self._finish()
        return self.stats

    async def _await_start(self) -> Start | None:
        while True:
            raw = await self._socket.receive()
            if raw is None:
                return None
            frame = self._parse(raw)
            if isinstance(frame, Start):
                return frame
            if isinstance(frame, Stop):
                return None

    async def _run_tasks(self, start: Start) -> None:
        self._dialogue = await self._dialogue_factory(start)
        async with asyncio.TaskGroup() as tg:
            receive = tg.create_task(self._receive(), name="call-receive")
            listen = tg.create_task(self._listen(), name="call-listen")
            conduct = tg.create_task(self._conduct(), name="call-conduct")
            await asyncio.wait([receive, conduct], return_when=asyncio.FIRST_COMPLETED)
            # Whoever finished first, the call is over: stop the others.
            for task in (receive, listen, conduct):
                task.cancel()

    async def _finish(self) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._reply
        if self._dialogue is not None:
            try:
                await self._dialogue.close()
            except Exception as err:  # the record may be lost; the call still ends cleanly
                log.error("visit_close_failed", error_type=type(err).__name__)
        await self._socket.close()
        log.info("call_ended", outcome=self.stats.outcome or "hung_up",
                 barge_ins=self.stats.barge_ins, fillers=self.stats.fillers,
                 dropped_audio_frames=self.stats.dropped_audio_frames)
        structlog.contextvars.unbind_contextvars("call_id")

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self._socket.send(text)

    # -- call-receive -----------------------------------------------------------------------

    def _parse(self, raw: str) -> Connected | Start | Media | Mark | Dtmf | Stop | Unknown | None:
        try:
            frame = parse_frame(raw)
        except MalformedFrame as err:
            log.warning("frame_skipped", code=err.reason, size=len(raw))
            return None
        if isinstance(frame, Unknown):
            log.warning("frame_skipped", code="unknown-event", event_name=frame.event)
        return frame

    async def _receive(self) -> None:
        inbound = _inbound(self._start, stt_ulaw=self._stt_ulaw)
        try:
            while True:
                raw = await self._socket.receive()
                if raw is None:
                    break
                frame = self._parse(raw)
                if isinstance(frame, Media):
                    self._feed(inbound(frame.payload))
                elif isinstance(frame, Mark) and self._speaker is not None:
                    self._speaker.on_mark(frame.name)
                elif isinstance(frame, Dtmf):
                    await self._inbox.put(("dtmf", frame.digit))
                elif isinstance(frame, Stop):
                    break
        finally:
            self._feed(None)
        self.stats.outcome = self.stats.outcome or "hung_up"
        await self._inbox.put(("hangup",))

    def _feed(self, pcm: bytes | None) -> None:
        try:
            self._audio.put_nowait(pcm)
        except asyncio.QueueFull:
            self.stats.dropped_audio_frames += 1
            if pcm is None:  # the end must get through: make room for it
                self._audio.get_nowait()
                self._audio.put_nowait(None)

    # -- call-listen ------------------------------------------------------------------------

    async def _caller_audio(self) -> AsyncIterator[bytes]:
        while (chunk := await self._audio.get()) is not None:
            yield chunk

    async def _listen(self) -> None:
        try:
            async with _closing(self._stt.transcripts(self._caller_audio())) as events:
                async for event in events:
                    if isinstance(event, Transcript) and event.end_of_utterance:
                        self._heard_at = time.perf_counter()
                    await self._inbox.put(_item(event))
        except ProviderError as err:
            log.warning("stt_failed", code=err.code)
            await self._inbox.put(("stt_failed",))

    # -- call-conduct -----------------------------------------------------------------------

    async def _conduct(self) -> None:
        assert self._dialogue is not None and self._speaker is not None
        dialogue, speaker = self._dialogue, self._speaker
        await self._greet(dialogue, speaker)
        caller_speaking = False
        while True:
            idle = not caller_speaking and not self._replying and not speaker.speaking
            item = await self._next(timeout_s=self.settings.silence_s if idle else None)
            kind = item[0] if item else "silence"
            if kind == "hangup":
                return
            if dialogue.done and not self._replying and not speaker.speaking:
                await self._end(dialogue, speaker)
                return
            if kind == "speech":
                caller_speaking = True
                await self._barge_in(dialogue)
            elif kind == "utterance":
                caller_speaking = False
                await self._on_utterance(dialogue, item[1] if item else "")
            elif kind == "dtmf" and item and item[1] == "0":
                await self._barge_in(dialogue)
                self._unheard = []
                self._start_reply(dialogue, self.settings.operator_request)
            elif kind == "stt_failed":
                await self._barge_in(dialogue)
                self._start_reply(dialogue, self.settings.operator_request)
            elif kind == "silence":
                self._start_reply(dialogue, None)

    async def _next(self, timeout_s: float | None) -> _Item | None:
        """The next inbox item; None after ``timeout_s`` of silence. Wakes up when the bot
        stops speaking, so the silence clock starts from the end of our own audio."""
        assert self._speaker is not None
        get = asyncio.ensure_future(self._inbox.get())
        waiters: set[asyncio.Future[object]] = {get}  # type: ignore[arg-type]
        if self._speaker.speaking or self._replying:
            waiters.add(asyncio.ensure_future(self._quiet()))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                if w is not get:
                    w.cancel()
        if get in done:
            return get.result()
        get.cancel()
        with suppress(asyncio.CancelledError):
            await get
        if get.done() and not get.cancelled():  # it raced in while we cancelled
            return get.result()
        return ("played",) if done else None

    async def _quiet(self) -> None:
        assert self._speaker is not None
        if self._reply is not None:
            with suppress(asyncio.CancelledError, Exception):
                await asyncio.shield(self._reply)
        await self._speaker.played(self.settings.played_timeout_s)

    @property
    def _replying(self) -> bool:
        return self._reply is not None and not self._reply.done()

    async def _greet(self, dialogue: Dialogue, speaker: Speaker) -> None:
        text = await dialogue.greeting()
        pcm = await self._phrases.pcm(text)
        await speaker.say_pcm(pcm, text, audio_format=self._phrase_format)
        if speaker.first_audio_at is not None:
            self.stats.greeting_first_audio_s = speaker.first_audio_at - self._started_at
            log.info("greeting_started",
                     latency_ms=round(self.stats.greeting_first_audio_s * 1000, 1))

    async def _on_utterance(self, dialogue: Dialogue, text: str) -> None:
        if not text.strip():
            # No words (a cough, a door): say again what the barge-in cut off, if anything.
            if self._unheard and not self._replying:
                unheard, self._unheard = self._unheard, []
                self._reply = asyncio.create_task(self._say_again(unheard), name="call-reply")
            return
        await self._barge_in(dialogue)
        self._unheard = []
        self._start_reply(dialogue, text)

    async def _barge_in(self, dialogue: Dialogue) -> None:
        """Stop talking at once: clear Twilio's queue and cancel the reply in flight."""
        assert self._speaker is not None
        if dialogue.done or not (self._replying or self._speaker.speaking):
            return
        self.stats.barge_ins += 1
        unheard = await self._speaker.clear()
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
            with suppress(asyncio.CancelledError):
                await self._reply
        self._unheard = unheard
        log.info("barge_in", unheard_sentences=len(unheard))

    def _start_reply(self, dialogue: Dialogue, utterance: str | None) -> None:
        silence = self.settings.silence_s if utterance is None else 0.0
        # Held in self._reply and awaited by _barge_in/_quiet/_finish: not a fire-and-forget.
        self._reply = asyncio.create_task(self._speak_reply(dialogue, utterance, silence),
                                          name="call-reply")

    async def _speak_reply(self, dialogue: Dialogue, utterance: str | None,
                           silence_s: float) -> None:
        """Speak the reply sentence by sentence while the dialogue is still writing it."""
        assert self._speaker is not None
        began = time.perf_counter()
        # Only a reply to words the recogniser just finished counts as a heard -> audio turn.
        heard_at, self._heard_at = (self._heard_at if utterance else None), None
        # Sentences written but not yet spoken; when full, the dialogue waits (backpressure).
        sentences: asyncio.Queue[str | None] = asyncio.Queue(self.settings.sentence_queue)
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._write(dialogue, utterance, silence_s, sentences),
                               name="reply-text")
                await self._voice(sentences, began, heard_at)
        except* ProviderError as group:
            codes = [e.code for e in group.exceptions if isinstance(e, ProviderError)]
            log.warning("reply_failed", codes=codes)
            await self._apologise()

    async def _write(self, dialogue: Dialogue, utterance: str | None, silence_s: float,
                     out: asyncio.Queue[str | None]) -> None:
        try:
            async with _closing(dialogue.replies(utterance, silence_s=silence_s)) as stream:
                async for sentence in stream:
                    await out.put(sentence)
        finally:
            with suppress(asyncio.QueueFull):
                out.put_nowait(None)

    async def _voice(self, sentences: asyncio.Queue[str | None], began: float,
                     heard_at: float | None) -> None:
        assert self._speaker is not None
        first = True
        while True:
            try:
                timeout = self.settings.filler_after_s if first else None
                sentence = await asyncio.wait_for(sentences.get(), timeout)
            except TimeoutError:
                # A slow tool (or model): fill the air once, then keep waiting.
                self.stats.fillers += 1
                await self._speaker.say_pcm(await self._phrases.pcm(self.settings.filler_text),
                                            self.settings.filler_text,
                                            audio_format=self._phrase_format)
                sentence = await sentences.get()
                first = False
            if sentence is None:
                return
            sent = await self._speaker.say(self._tts.speech(_one(sentence)), sentence,
                                           audio_format=self._tts_format)
            if first and sent and self._speaker.say_first_frame_at is not None:
                out_at = self._speaker.say_first_frame_at  # the sentence's first frame
                self.stats.turn_first_audio_s.append(out_at - began)
                if heard_at is not None:
                    self.stats.turn_heard_to_audio_s.append(out_at - heard_at)
                first = False

    async def _say_again(self, unheard: list[str]) -> None:
        assert self._speaker is not None
        for sentence in unheard:
            await self._speaker.say(self._tts.speech(_one(sentence)), sentence,
                                    audio_format=self._tts_format)

    async def _apologise(self) -> None:
        """A provider failed for good: say so (cached phrase) rather than leave dead air."""
        assert self._speaker is not None
        text = "Sorry, I'm having trouble. Let me get someone from reception for you."
        with suppress(ProviderError):
            await self._speaker.say_pcm(await self._phrases.pcm(text), text,
                                        audio_format=self._phrase_format)
        self.stats.outcome = "provider_failed"

    # -- the end ----------------------------------------------------------------------------

    async def _end(self, dialogue: Dialogue, speaker: Speaker) -> None:
        """The visit is over and the last words were played: transfer or hang up."""
        if dialogue.wants_transfer:
            await self._transfer(speaker)
            return
        news = dialogue.host_news() if isinstance(dialogue, HostNews) else None
        if news is not None:
            await self._say_host_news(news, speaker)
        self.stats.outcome = self.stats.outcome or "completed"

    async def _say_host_news(self, news: AsyncIterator[str], speaker: Speaker) -> None:
        """Stay on the line after check-in and say the host's answer as it comes
        ("Sarah is on the way."); a hang-up cancels this like any other wait."""
        async with _closing(news) as sentences:
            async for sentence in sentences:
                with suppress(ProviderError):
                    await speaker.say(self._tts.speech(_one(sentence)), sentence,
                                      audio_format=self._tts_format)
                    await speaker.played(self.settings.played_timeout_s)

    async def _transfer(self, speaker: Speaker) -> None:
        assert self._start is not None
        number = self.settings.reception_phone
        if number and self._control is not None:
            try:
                await self._control.transfer(self._start.call_sid, number)
                self.stats.outcome = "transferred"
                log.info("call_transferred")
                return
            except ProviderError as err:
                log.warning("transfer_failed", code=err.code)
        self.stats.outcome = "transfer_failed"
        if number:
            spoken = " ".join(number)  # digit by digit, as a receptionist would read it
            text = f"I couldn't put you through. Please call reception on {spoken}."
        else:
            text = "I couldn't put you through. Please ask at the front desk."
        with suppress(ProviderError):
            await speaker.say(self._tts.speech(_one(text)), "transfer-fallback",
                              audio_format=self._tts_format)
        await speaker.played(self.settings.played_timeout_s)


T = TypeVar("T")


@asynccontextmanager
async def _closing(stream: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Close an async generator when the block ends, so its ``finally`` runs now, not at GC."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


def _wire(start: Start | None) -> str:
    """The edge's audio: PCM from the kiosk's browser edge (``audio/l16``), else Twilio's."""
    if start is not None and start.encoding == L16_ENCODING and start.sample_rate == PCM_RATE:
        return PCM_16K
    return ULAW_8K


def _inbound(start: Start | None, *, stt_ulaw: bool) -> Callable[[bytes], bytes]:
    """Caller audio as the recogniser takes it, converting only when the formats differ."""
    if _wire(start) == PCM_16K:
        return PcmToUlaw().convert if stt_ulaw else bytes
    return bytes if stt_ulaw else PhoneDecoder().pcm


def _item(event: SpeechEvent) -> _Item:
    if isinstance(event, SpeechStarted):
        return ("speech",)
    if isinstance(event, Transcript) and event.end_of_utterance:
        return ("utterance", event.text)
    return ("partial",)


async def _one(sentence: str) -> AsyncIterator[str]:
    yield sentence
