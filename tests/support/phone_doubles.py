"""Doubles for the phone loop: an in-memory Media Stream, scripted speech engines and dialogue.

Real classes that record what happened (STYLE 2), so a test can assert that a cancel reached
every generator's ``finally``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from checkin.errors import ProviderError
from checkin.providers import SpeechEvent, SpeechStarted, Transcript

SID = "MZ" + "2" * 32
CALL = "CA" + "1" * 32


def start_frame(**params: str) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": SID, "start": {
        "streamSid": SID, "accountSid": "AC" + "0" * 32, "callSid": CALL, "tracks": ["inbound"],
        "customParameters": params,
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})


def media_frame(payload_b64: str = base64.b64encode(b"\xff" * 160).decode()) -> str:
    return json.dumps({"event": "media", "streamSid": SID, "media": {
        "track": "inbound", "chunk": "1", "timestamp": "20", "payload": payload_b64}})


class MemorySocket:
    """Twilio's side of a Media Stream, in memory. Marks echo at once unless ``hold_marks``."""

    def __init__(self, *, hold_marks: bool = False) -> None:
        self.inbound: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed = asyncio.Event()
        self.hold_marks = hold_marks
        self.held: list[str] = []
        self._changed = asyncio.Event()

    async def receive(self) -> str | None:
        if self.closed.is_set() and self.inbound.empty():
            return None
        return await self.inbound.get()

    async def send(self, text: str) -> None:
        msg = json.loads(text)
        self.sent.append(msg)
        if msg["event"] == "mark":
            if self.hold_marks:
                self.held.append(msg["mark"]["name"])
            else:
                self.push({"event": "mark", "streamSid": SID, "mark": msg["mark"]})
        elif msg["event"] == "clear":
            for name in self.held:
                self.push({"event": "mark", "streamSid": SID, "mark": {"name": name}})
            self.held.clear()
        self._changed.set()

    async def close(self) -> None:
        self.closed.set()
        self.inbound.put_nowait(None)
        self._changed.set()

    def push(self, msg: dict[str, Any] | str) -> None:
        self.inbound.put_nowait(msg if isinstance(msg, str) else json.dumps(msg))

    def release_marks(self) -> None:
        for name in self.held:
            self.push({"event": "mark", "streamSid": SID, "mark": {"name": name}})
        self.held.clear()

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["event"] == kind]

    async def wait_for(self, predicate: Any, limit_s: float = 3.0) -> None:
        # Woken by every frame sent; also re-checked every 20 ms, because some conditions
        # (a generator's finally) change without a frame.
        async with asyncio.timeout(limit_s):
            while not predicate():
                self._changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.02)


class ScriptedSpeechToText:
    """Speech events pushed by the test; the audio is drained and counted."""

    def __init__(self, *, fail_with: ProviderError | None = None) -> None:
        self.events: asyncio.Queue[SpeechEvent] = asyncio.Queue()
        self.audio_chunks = 0
        self.fail_with = fail_with

    def speech(self) -> None:
        self.events.put_nowait(SpeechStarted())

    def utterance(self, text: str) -> None:
        self.events.put_nowait(Transcript(text, is_final=True, end_of_utterance=True))

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        async def drain() -> None:
            async for _ in audio:
                self.audio_chunks += 1

        drainer = asyncio.create_task(drain(), name="scripted-stt-drain")
        try:
            if self.fail_with is not None:
                raise self.fail_with
            while True:
                yield await self.events.get()
        finally:
            drainer.cancel()


class ScriptedTextToSpeech:
    """0.1 s of quiet PCM per chunk, ``chunks`` per sentence, ``delay_s`` before each chunk."""

    def __init__(self, *, chunks: int = 3, delay_s: float = 0.0,
                 fail_with: ProviderError | None = None) -> None:
        self.chunks = chunks
        self.delay_s = delay_s
        self.fail_with = fail_with
        self.spoken: list[str] = []
        self.started = 0
        self.finished = 0  # finally blocks reached (completed or cancelled)

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        self.started += 1
        try:
            async for sentence in text:
                if self.fail_with is not None:
                    raise self.fail_with
                self.spoken.append(sentence)
                for _ in range(self.chunks):
                    if self.delay_s:
                        await asyncio.sleep(self.delay_s)
                    yield b"\x10\x00" * 1600
        finally:
            self.finished += 1


class DirectPhrases:
    """Phrase cache double: synthesises through the given TTS every time, recording texts."""

    def __init__(self, tts: ScriptedTextToSpeech) -> None:
        self.tts = tts
        self.asked: list[str] = []

    async def pcm(self, text: str) -> bytes:
        self.asked.append(text)

        async def one() -> AsyncIterator[str]:
            yield text

        return b"".join([c async for c in self.tts.speech(one())])


@dataclass
class Turn:
    """One scripted reply: sentences, an optional gate before sentence ``gate_at``, and the
    visit's state after it."""

    sentences: list[str]
    gate_at: int | None = None
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    delay_s: float = 0.0
    done: bool = False
    transfer: bool = False


class ScriptedDialogue:
    """A receptionist that follows ``turns`` and records every call made to it."""

    def __init__(self, turns: list[Turn] | None = None) -> None:
        self.turns = list(turns or [])
        self.heard: list[tuple[str | None, float]] = []
        self.closed = 0
        self.streams_finished = 0
        self.done = False
        self.wants_transfer = False

    async def greeting(self) -> str:
        return "Hello, who are you here to see?"

    async def replies(self, utterance: str | None, *, silence_s: float = 0.0
                      ) -> AsyncIterator[str]:
        self.heard.append((utterance, silence_s))
        turn = self.turns.pop(0) if self.turns else Turn(["Okay."])
        try:
            if turn.delay_s:
                await asyncio.sleep(turn.delay_s)
            for i, sentence in enumerate(turn.sentences):
                if turn.gate_at == i:
                    await turn.gate.wait()
                yield sentence
            self.done, self.wants_transfer = turn.done, turn.transfer
        finally:
            self.streams_finished += 1

    async def close(self) -> None:
        self.closed += 1


class RecordingCallControl:
    """Records transfers; raises ``fail_with`` when set."""

    def __init__(self, fail_with: ProviderError | None = None) -> None:
        self.transfers: list[tuple[str, str]] = []
        self.fail_with = fail_with

    async def transfer(self, call_sid: str, number: str) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.transfers.append((call_sid, number))
