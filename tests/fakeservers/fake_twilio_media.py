"""The fake Twilio Media Streams client used by tests: ``checkin.voice.simulator`` plus helpers.

The simulator lives in the package because ``checkin call`` uses it too; this module adds what
only tests need: flite-synthesised caller speech and a one-call context manager.
"""

from __future__ import annotations

from checkin.voice.offline import FliteTextToSpeech
from checkin.voice.simulator import BotSegment, SimulatedCall

__all__ = ["BotSegment", "SimulatedCall", "caller_voice"]

# The caller speaks with a different flite voice than the bot (kal16), as a stranger would.
_CALLER = FliteTextToSpeech(voice="slt")


async def caller_voice(text: str) -> tuple[bytes, int]:
    """(PCM, rate) of ``text`` in the caller's synthetic voice."""
    return await _CALLER.synthesize(text)
