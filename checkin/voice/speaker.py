"""The bot's mouth on one call: PCM -> 20 ms Twilio media frames, one mark per sentence.

Marks tell us what the caller actually heard: Twilio echoes a mark once the audio queued before
it has played. After a ``clear`` (barge-in) it echoes the pending marks too, so only marks that
came back *before* the clear count as heard; the rest are kept as ``unheard`` so a reply cut off
by a cough can be said again.

Audio comes as 16 kHz PCM (resampled and encoded here, at the edge) or, from an engine that
declares ``audio_format = "ulaw_8000"`` (ElevenLabs), as 8 kHz mu-law that is only cut into
20 ms frames: no decode/encode round trip. Imports ``checkin.voice`` modules only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from checkin.voice.audio import PCM_16K, PCM_RATE, ULAW_8K, PcmFramer, PhoneEncoder, UlawFramer
from checkin.voice.twilio_stream import clear_message, mark_message, media_message

Send = Callable[[str], Awaitable[None]]


class Speaker:
    """Sends audio and marks on a Media Stream and tracks which sentences were played."""

    def __init__(self, send: Send, stream_sid: str, *, wire_format: str = ULAW_8K) -> None:
        self._send = send
        self._wire = wire_format  # PCM_16K: the kiosk's browser edge, which takes PCM frames
        self._sid = stream_sid
        self._outstanding: dict[str, str] = {}  # mark name -> the sentence before it
        self._idle = asyncio.Event()
        self._idle.set()
        self._count = 0
        self.queued_s = 0.0  # audio sent but not yet confirmed played, roughly
        self.first_audio_at: float | None = None  # perf_counter of the first frame ever sent
        self.last_frame_at: float | None = None
        self.say_first_frame_at: float | None = None  # first frame of the latest say()

    @property
    def speaking(self) -> bool:
        """Whether Twilio still has audio of ours queued or playing."""
        return bool(self._outstanding)

    async def say(self, pcm: AsyncIterator[bytes], sentence: str, *, rate: int = PCM_RATE,
                  audio_format: str = PCM_16K) -> int:
        """Send one sentence's audio in 20 ms frames, then its mark; returns frames sent.

        ``audio_format`` ``ulaw_8000``: the chunks are already Twilio's format (``rate`` unused).
        """
        encoder: PcmFramer | UlawFramer | PhoneEncoder
        if self._wire == PCM_16K:
            encoder = PcmFramer(rate, ulaw=audio_format == ULAW_8K)
        else:
            encoder = UlawFramer() if audio_format == ULAW_8K else PhoneEncoder(rate)
        self.say_first_frame_at = None
        sent = 0
        async for chunk in pcm:
            for frame in encoder.frames(chunk):
                await self._frame(frame)
                sent += 1
        for frame in encoder.flush():
            await self._frame(frame)
            sent += 1
        if sent:
            await self.mark(sentence)
        return sent

    async def say_pcm(self, pcm: bytes, sentence: str, *, rate: int = PCM_RATE,
                      audio_format: str = PCM_16K) -> int:
        """``say`` for audio already in memory (cached phrases)."""

        async def once() -> AsyncIterator[bytes]:
            yield pcm

        return await self.say(once(), sentence, rate=rate, audio_format=audio_format)

    async def _frame(self, frame: bytes) -> None:
        now = time.perf_counter()
        if self.first_audio_at is None:
            self.first_audio_at = now
        if self.say_first_frame_at is None:
            self.say_first_frame_at = now
        self.last_frame_at = now
        await self._send(media_message(self._sid, frame))

    async def mark(self, sentence: str) -> None:
        """Queue a mark after the audio sent so far."""
        self._count += 1
        name = f"s{self._count}"  # never the text: marks travel through Twilio's logs
        self._outstanding[name] = sentence
        self._idle.clear()
        await self._send(mark_message(self._sid, name))

    def on_mark(self, name: str) -> str | None:
        """Twilio played up to ``name``; returns the sentence heard (None: stale or unknown)."""
        sentence = self._outstanding.pop(name, None)
        if not self._outstanding:
            self._idle.set()
        return sentence

    async def clear(self) -> list[str]:
        """Barge-in: drop Twilio's queued audio; returns the sentences not heard, in order."""
        unheard = list(self._outstanding.values())
        self._outstanding.clear()
        self._idle.set()
        await self._send(clear_message(self._sid))
        return unheard

    async def played(self, timeout_s: float) -> bool:
        """Wait until every mark has come back (False on timeout)."""
        try:
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
