"""ElevenLabsTextToSpeech (httpx streaming) against the fake ElevenLabs API, alone and in a call."""

from __future__ import annotations

import asyncio
import base64
import shutil
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from checkin.errors import ProviderRejected, ProviderTimeout, ProviderUnavailable
from checkin.voice.audio import ULAW_8K, audio_format
from checkin.voice.call import CallSettings, PhoneCall
from checkin.voice.elevenlabs import ElevenLabsTextToSpeech
from checkin.voice.fallback import FallbackTextToSpeech, ProviderHealth
from checkin.voice.offline import FliteTextToSpeech
from checkin.voice.phrases import CachedPhrases
from tests.fakeservers.fake_elevenlabs import FakeElevenLabs, tone_ulaw
from tests.support.phone_doubles import (
    CALL,
    SID,
    MemorySocket,
    ScriptedDialogue,
    ScriptedSpeechToText,
    Turn,
    start_frame,
)

pytestmark = pytest.mark.contract
VOICE = "voice-123"


def tts_for(fake: FakeElevenLabs, **kw: Any) -> ElevenLabsTextToSpeech:
    return ElevenLabsTextToSpeech(api_key="test-key", voice_id=VOICE, base_url=fake.url, **kw)


async def one(text: str) -> AsyncIterator[str]:
    yield text


async def timed(tts: ElevenLabsTextToSpeech, text: str) -> list[tuple[float, bytes]]:
    began = time.perf_counter()
    return [(time.perf_counter() - began, c) async for c in tts.speech(one(text))]


async def test_a_sentence_streams_as_mulaw_8k_chunks_with_the_documented_request():
    with FakeElevenLabs(first_byte_s=0.15, gap_s=0.05, chunk_bytes=800) as fake:
        tts = tts_for(fake)
        chunks = await timed(tts, "Welcome to Test Lobby.")  # 22 chars -> 1.1 s of audio
        await tts.aclose()
    assert audio_format(tts) == ULAW_8K
    (req,) = fake.requests
    assert req.voice_id == VOICE and req.headers["xi-api-key"] == "test-key"
    assert req.params["output_format"] == "ulaw_8000"
    assert req.params["optimize_streaming_latency"] == "3"
    assert req.body == {"text": "Welcome to Test Lobby.", "model_id": "eleven_flash_v2_5"}
    assert b"".join(c for _, c in chunks) == tone_ulaw(22 * 0.05)  # untouched bytes
    # Streamed, not buffered: the first chunk came after the first-byte latency, the last
    # one several gaps later.
    assert 0.15 <= chunks[0][0] < 0.5 and chunks[-1][0] - chunks[0][0] >= 0.2


@pytest.mark.parametrize(("status", "error", "code"), [
    (429, ProviderUnavailable, "tts-rate-limited"),
    (500, ProviderUnavailable, "tts-failed"),
    (401, ProviderRejected, "tts-auth-failed"),
])
async def test_http_errors_are_provider_errors(status, error, code):
    with FakeElevenLabs() as fake:
        fake.fail_next(status)
        tts = tts_for(fake)
        with pytest.raises(error) as err:
            await timed(tts, "Hello.")
        await tts.aclose()
    assert err.value.code == code


async def test_a_wrong_key_is_rejected():
    with FakeElevenLabs(api_key="other") as fake:
        tts = tts_for(fake)
        with pytest.raises(ProviderRejected):
            await timed(tts, "Hello.")
        await tts.aclose()


async def test_a_stream_cut_mid_sentence_is_a_broken_stream():
    with FakeElevenLabs(chunk_bytes=400, drop_after_bytes=800) as fake:
        fake.fail_next("drop")
        tts = tts_for(fake)
        got = bytearray()
        with pytest.raises(ProviderUnavailable) as err:
            async for chunk in tts.speech(one("A long enough sentence to be cut.")):
                got += chunk
        await tts.aclose()
    assert err.value.code == "tts-stream-broken" and len(got) == 800


async def test_a_stalled_stream_times_out():
    with FakeElevenLabs(chunk_bytes=400, drop_after_bytes=400, stall_s=3) as fake:
        fake.fail_next("stall")
        tts = tts_for(fake, read_s=0.3)
        began = time.perf_counter()
        with pytest.raises(ProviderTimeout):
            await timed(tts, "A sentence that stalls after its first chunk.")
        await tts.aclose()
    assert time.perf_counter() - began < 2


class TimedSocket(MemorySocket):
    """MemorySocket that notes when each media frame left the server."""

    def __init__(self) -> None:
        super().__init__()
        self.media_at: list[float] = []

    async def send(self, text: str) -> None:
        if '"media"' in text[:40]:
            self.media_at.append(time.perf_counter())
        await super().send(text)


def gaps_ms(arrivals: list[float], frame_s: float = 0.02) -> list[float]:
    """Where the caller's playout (20 ms per frame, starting at the first frame) ran dry."""
    out, ends = [], arrivals[0]
    for at in arrivals:
        if at > ends:
            out.append((at - ends) * 1000)
        ends = max(ends, at) + frame_s
    return out


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
async def test_elevenlabs_failing_mid_reply_hands_over_to_flite_with_no_silence():
    with FakeElevenLabs(first_byte_s=0.05, chunk_bytes=800, drop_after_bytes=1600) as fake:
        cloud = tts_for(fake)
        health = ProviderHealth(mode="elevenlabs", engine="elevenlabs", fallback="flite")
        tts = FallbackTextToSpeech(cloud, FliteTextToSpeech(), health)
        # greeting ok; reply sentence 1 ok; sentence 2 cut mid-stream; 3 is flite's anyway
        fake.fail_next(None, None, "drop")
        socket = TimedSocket()
        stt = ScriptedSpeechToText()
        dialogue = ScriptedDialogue([Turn(["Thanks, let me find Priya Patel for you.",
                                           "I have let her know you are here.",
                                           "Please take a seat."])])

        async def factory(start: object) -> ScriptedDialogue:
            return dialogue

        call = PhoneCall(socket, dialogue=factory, stt=stt, tts=tts,
                         phrases=CachedPhrases(tts),
                         settings=CallSettings(silence_s=30, filler_after_s=5))
        socket.push(start_frame(site="Test"))
        task = asyncio.create_task(call.run(), name="test-call")
        await socket.wait_for(lambda: len(socket.events("mark")) >= 1, 5)
        greeting_frames = len(socket.media_at)
        stt.utterance("I am here to see Priya Patel")
        await socket.wait_for(lambda: len(socket.events("mark")) >= 4, 5)
        socket.push({"event": "stop", "streamSid": SID, "stop": {"callSid": CALL}})
        await asyncio.wait_for(task, 5)
        await cloud.aclose()
    assert tts.failed_over and health.snapshot()["last_error"] == "tts-stream-broken"
    reply = socket.media_at[greeting_frames:]
    assert gaps_ms(reply) == []  # the caller never heard the line go dead
    # Sentence 1 went through byte for byte, in 160-byte frames (mu-law passed through).
    payloads = [base64.b64decode(m["media"]["payload"]) for m in socket.events("media")]
    first = tone_ulaw(len("Thanks, let me find Priya Patel for you.") * 0.05)
    assert b"".join(payloads[greeting_frames:])[:len(first) // 160 * 160] == \
        first[:len(first) // 160 * 160]
    assert all(len(p) == 160 for p in payloads)
