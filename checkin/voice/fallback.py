"""Fallback wrappers: when a cloud speech provider fails mid-call, the offline one takes over.

Fallback is a wrapper, not code in each adapter (STYLE 2). Once the primary has failed the call
stays on the fallback: flapping between engines mid-conversation sounds worse than either.
Imports ``checkin.providers`` and ``checkin.errors`` only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog

from checkin.errors import ProviderError
from checkin.providers import SpeechEvent, SpeechToText, TextToSpeech

log = structlog.get_logger(__name__)


class FallbackSpeechToText:
    """``primary`` until it raises ``ProviderError``, then ``fallback`` on the same audio."""

    def __init__(self, primary: SpeechToText, fallback: SpeechToText) -> None:
        self._primary = primary
        self._fallback = fallback
        self.failed_over = False

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        """Events from the primary; after its failure, from the fallback."""
        if not self.failed_over:
            try:
                async for event in self._primary.transcripts(audio):
                    yield event
                return
            except ProviderError as err:
                log.warning("stt_failed_over", code=err.code)
                self.failed_over = True
        # The audio iterator is a queue: the fallback carries on from where the primary stopped.
        async for event in self._fallback.transcripts(audio):
            yield event


class FallbackTextToSpeech:
    """``primary`` until it raises ``ProviderError``; the failed sentence is said again."""

    def __init__(self, primary: TextToSpeech, fallback: TextToSpeech) -> None:
        self._primary = primary
        self._fallback = fallback
        self.failed_over = False

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        """Audio from the primary; after its failure, the rest (from the failed sentence on)
        from the fallback."""
        async for sentence in text:
            if not self.failed_over:
                try:
                    async for chunk in self._primary.speech(_one(sentence)):
                        yield chunk
                    continue
                except ProviderError as err:
                    log.warning("tts_failed_over", code=err.code)
                    self.failed_over = True
            async for chunk in self._fallback.speech(_one(sentence)):
                yield chunk


async def _one(sentence: str) -> AsyncIterator[str]:
    yield sentence
