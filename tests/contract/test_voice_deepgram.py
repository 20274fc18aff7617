"""DeepgramSpeechToText (the real deepgram-sdk 7.x) against the fake Deepgram WebSocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from checkin.errors import ProviderError, ProviderUnavailable
from checkin.providers import SpeechEvent, SpeechStarted, Transcript
from checkin.voice.audio import ULAW_8K, audio_format
from checkin.voice.deepgram import DeepgramSpeechToText
from checkin.voice.fallback import FallbackSpeechToText, ProviderHealth
from tests.fakeservers.fake_deepgram import FakeDeepgram, frames, loud_ulaw, silence_ulaw

pytestmark = [pytest.mark.contract,
              pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # websockets.legacy


def turn(speech_s: float = 0.5, silence_s: float = 0.6) -> list[bytes]:
    return frames(loud_ulaw(speech_s) + silence_ulaw(silence_s))


async def feed(chunks: list[bytes], *, pause_after: int | None = None,
               pause_s: float = 0.0) -> AsyncIterator[bytes]:
    for i, chunk in enumerate(chunks):
        if pause_after is not None and i == pause_after:
            await asyncio.sleep(pause_s)
        await asyncio.sleep(0.001)  # faster than real time; the fake keeps the audio clock
        yield chunk


def stt_for(fake: FakeDeepgram, **kw: object) -> DeepgramSpeechToText:
    options: dict[str, object] = {"keepalive_s": 2.0, "reconnect_delay_s": 0.01,
                                  "connect_timeout_s": 3.0, **kw}
    return DeepgramSpeechToText(api_key="test-key", base_url=fake.url,
                                keyterms=["Priya Patel", "Sara Lindqvist"], **options)  # type: ignore[arg-type]


async def collect(stt: DeepgramSpeechToText | FallbackSpeechToText,
                  audio: AsyncIterator[bytes]) -> list[SpeechEvent]:
    async with asyncio.timeout(10):
        return [e async for e in stt.transcripts(audio)]


def utterances(events: list[SpeechEvent]) -> list[str]:
    return [e.text for e in events if isinstance(e, Transcript) and e.end_of_utterance]


async def test_a_turn_is_transcribed_with_the_phone_options_and_all_audio_sent():
    with FakeDeepgram(["I am here to see Priya Patel."]) as fake:
        stt = stt_for(fake)
        audio = turn()
        events = await collect(stt, feed(audio))
    assert audio_format(stt) == ULAW_8K
    assert isinstance(events[0], SpeechStarted)
    assert utterances(events) == ["I am here to see Priya Patel."]
    (conn,) = fake.connections
    q = conn.query
    assert q["model"] == ["nova-3"] and q["encoding"] == ["mulaw"]
    assert q["sample_rate"] == ["8000"] and q["channels"] == ["1"]
    assert q["interim_results"] == ["true"] and q["vad_events"] == ["true"]
    assert q["endpointing"] == ["300"] and q["utterance_end_ms"] == ["1000"]
    assert q["keyterm"] == ["Priya Patel", "Sara Lindqvist"]
    assert conn.headers["authorization"] == "Token test-key"
    # Every byte, silence included, straight through (mu-law: one byte per 1/8000 s).
    assert conn.audio_bytes == sum(map(len, audio)) and conn.silent_frames > 20
    assert conn.close_stream


async def test_interim_results_come_before_the_final_and_the_end_of_turn():
    with FakeDeepgram(["Sara Lindqvist please"]) as fake:
        events = await collect(stt_for(fake), feed(turn()))
    texts = [(e.text, e.is_final, e.end_of_utterance) for e in events
             if isinstance(e, Transcript)]
    assert texts == [("Sara", False, False), ("Sara Lindqvist please", True, False),
                     ("Sara Lindqvist please", True, True)]


async def test_utterance_end_closes_the_turn_when_speech_final_never_comes():
    with FakeDeepgram(["Yes.", "My name is Alex."], speech_final=False) as fake:
        events = await collect(stt_for(fake), feed(turn() + turn()))
    assert utterances(events) == ["Yes.", "My name is Alex."]
    assert sum(isinstance(e, SpeechStarted) for e in events) == 2
    assert any(m["type"] == "UtteranceEnd" for m in fake.connections[0].sent)


async def test_a_cough_ends_the_turn_with_no_words():
    with FakeDeepgram([""]) as fake:
        events = await collect(stt_for(fake, no_words_s=0.2),
                               feed(turn(0.2, 0.1), pause_after=12, pause_s=0.4))
    assert isinstance(events[0], SpeechStarted)
    assert utterances(events)[0] == ""


async def test_keepalive_goes_out_while_no_audio_flows():
    with FakeDeepgram(["Hello."]) as fake:
        events = await collect(stt_for(fake, keepalive_s=0.1),
                               feed(turn(), pause_after=10, pause_s=0.35))
    assert utterances(events) == ["Hello."]
    assert fake.connections[0].keepalives >= 2


async def test_a_dropped_socket_is_reconnected_and_the_call_goes_on():
    with FakeDeepgram(["First turn.", "Second turn."], drop_after_s={1: 1.2}) as fake:
        audio = turn(0.5, 0.6) + turn(0.5, 0.6)
        events = await collect(stt_for(fake), feed(audio))
    assert utterances(events) == ["First turn.", "Second turn."]
    assert len(fake.connections) == 2 and fake.connections[0].dropped
    sent = sum(c.audio_bytes for c in fake.connections)
    assert sent >= sum(map(len, audio))  # nothing lost; the frame cut mid-send goes again


async def test_a_socket_that_keeps_dropping_is_given_up():
    with FakeDeepgram(["x"], drop_after_s={n: 0.1 for n in range(1, 10)}) as fake:
        stt = stt_for(fake, reconnects=2)
        with pytest.raises(ProviderUnavailable) as err:
            await collect(stt, feed(turn(1.0, 1.0)))
    assert err.value.code == "stt-connection-lost"
    assert len(fake.connections) == 3


class RecordingOffline:
    """The offline recogniser's stand-in: PCM in (it counts bytes), one scripted turn out."""

    def __init__(self) -> None:
        self.pcm_bytes = 0

    async def transcripts(self, audio: AsyncIterator[bytes]) -> AsyncIterator[SpeechEvent]:
        async for chunk in audio:
            self.pcm_bytes += len(chunk)
        yield Transcript("offline heard you", is_final=True, end_of_utterance=True)


async def test_a_rejected_key_hands_the_call_to_the_offline_recogniser():
    with FakeDeepgram(["never"], api_key="the-right-key") as fake:
        offline = RecordingOffline()
        health = ProviderHealth(mode="deepgram", engine="deepgram", fallback="offline")
        stt = FallbackSpeechToText(stt_for(fake), offline, health)
        audio = turn()
        events = await collect(stt, feed(audio))
    assert fake.rejected == 1 and not fake.connections
    assert utterances(events) == ["offline heard you"]
    assert stt.failed_over and health.snapshot()["last_error"] == "stt-auth-failed"
    # The offline engine got the caller's audio as 16 kHz PCM (2 bytes x 2 samples per byte),
    # less the few frames the Deepgram side had queued before the handshake failed.
    assert offline.pcm_bytes >= (sum(map(len, audio)) - 3 * 160) * 4


async def test_provider_errors_are_provider_errors():
    # Nothing listens on this port: connection refused, retried, then given up.
    stt = DeepgramSpeechToText(api_key="k", base_url="http://127.0.0.1:9", reconnects=1,
                               reconnect_delay_s=0.01)
    with pytest.raises(ProviderError):
        await collect(stt, feed(turn(0.1, 0.1)))
