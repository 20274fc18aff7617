"""Fixed phrases (greeting, filler, apologies) synthesised once per process and kept in memory.

The greeting must start within 300 ms of Twilio's ``start`` frame; synthesising it per call
would spend most of that. Only fixed, PII-free texts go through here. Imports ``checkin.voice``
and ``checkin.providers`` only.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator

from checkin.providers import TextToSpeech
from checkin.voice.audio import audio_format


class CachedPhrases:
    """An LRU of ``text -> 16 kHz PCM`` in front of a ``TextToSpeech``."""

    def __init__(self, tts: TextToSpeech, *, size: int = 32) -> None:
        self._tts = tts
        self._size = size
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._lock = asyncio.Lock()

    @property
    def audio_format(self) -> str:
        """What ``pcm()`` returns: the synthesiser's own format (mu-law 8 kHz for ElevenLabs)."""
        return audio_format(self._tts)

    async def pcm(self, text: str) -> bytes:
        """The audio for ``text``, synthesised on first use."""
        if text in self._cache:
            self._cache.move_to_end(text)
            return self._cache[text]
        async with self._lock:
            if text not in self._cache:
                self._cache[text] = b"".join([c async for c in self._tts.speech(_one(text))])
                while len(self._cache) > self._size:
                    self._cache.popitem(last=False)
            return self._cache[text]

    async def warm(self, *texts: str) -> None:
        """Synthesise ``texts`` now (at start-up), so the first call does not wait."""
        for text in texts:
            await self.pcm(text)


async def _one(text: str) -> AsyncIterator[str]:
    yield text
