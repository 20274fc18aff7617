"""The per-call loop (checkin.voice.call) on an in-memory Media Stream with scripted engines."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest
from structlog.testing import capture_logs

from checkin.errors import ProviderUnavailable
from checkin.voice.call import CallSettings, PhoneCall
from checkin.voice.fallback import FallbackSpeechToText, FallbackTextToSpeech
from tests.support.phone_doubles import (
    CALL,
    SID,
    DirectPhrases,
    MemorySocket,
    RecordingCallControl,
    ScriptedDialogue,
    ScriptedSpeechToText,
    ScriptedTextToSpeech,
    Turn,
    media_frame,
    start_frame,
)

pytestmark = pytest.mark.unit


class Rig:
    """A call wired to doubles, running in the background."""

    def __init__(self, dialogue: ScriptedDialogue, *, hold_marks: bool = False,
                 control: RecordingCallControl | None = None, stt: object = None,
                 tts: object = None, **settings: object) -> None:
        self.socket = MemorySocket(hold_marks=hold_marks)
        self.stt = ScriptedSpeechToText()
        self.tts: ScriptedTextToSpeech = tts or ScriptedTextToSpeech()  # type: ignore[assignment]
        self.dialogue = dialogue
        self.control = control or RecordingCallControl()
        defaults: dict[str, object] = {"silence_s": 30.0, "filler_after_s": 5.0,
                                       "reception_phone": "+15557654321"}
        self.call = PhoneCall(self.socket, dialogue=self._factory, stt=stt or self.stt,
                              tts=self.tts, phrases=DirectPhrases(self.tts),
                              control=self.control,
                              settings=CallSettings(**{**defaults, **settings}))  # type: ignore
        self.task: asyncio.Task[object] | None = None

    async def _factory(self, start: object) -> ScriptedDialogue:
        return self.dialogue

    async def __aenter__(self) -> Rig:
        self.socket.push({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self.socket.push(start_frame(site="Test"))
        self.task = asyncio.create_task(self.call.run(), name="test-call")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        if not self.task.done():
            self.socket.push({"event": "stop", "streamSid": SID, "stop": {"callSid": CALL}})
        await asyncio.wait_for(self.task, timeout=5)

    async def until(self, predicate: Callable[[], bool], limit_s: float = 3.0) -> None:
        await self.socket.wait_for(predicate, limit_s)

    def marks(self) -> int:
        return len(self.socket.events("mark"))


def leftover_tasks() -> list[str]:
    return sorted(t.get_name() for t in asyncio.all_tasks()
                  if t is not asyncio.current_task() and not t.done())


async def test_greeting_is_sent_in_20ms_frames_with_a_mark_within_300ms() -> None:
    async with Rig(ScriptedDialogue()) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        media = rig.socket.events("media")
        assert media and all(len(base64.b64decode(m["media"]["payload"])) == 160 for m in media)
        assert all(m["streamSid"] == SID for m in rig.socket.sent)
        assert rig.socket.sent[-1]["event"] == "mark"
        assert rig.call.stats.greeting_first_audio_s is not None
        assert rig.call.stats.greeting_first_audio_s < 0.3
    assert rig.dialogue.closed == 1


async def test_a_reply_is_spoken_sentence_by_sentence_while_it_is_still_being_written() -> None:
    turn = Turn(["Priya Patel in Engineering.", "Is that right?"], gate_at=1)
    async with Rig(ScriptedDialogue([turn])) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("I'm here to see Priya")
        await rig.until(lambda: rig.marks() >= 2)  # sentence 1 is out before sentence 2 exists
        assert rig.tts.spoken[-1] == "Priya Patel in Engineering."
        turn.gate.set()
        await rig.until(lambda: rig.marks() >= 3)
        assert rig.tts.spoken[-1] == "Is that right?"


async def test_barge_in_clears_twilio_and_cancels_reply_and_synthesis() -> None:
    turn = Turn(["First sentence.", "Never written."], gate_at=1)
    tts = ScriptedTextToSpeech(chunks=50, delay_s=0.02)  # a slow synthesiser, mid-sentence
    async with Rig(ScriptedDialogue([turn]), tts=tts) as rig:
        await rig.until(lambda: rig.marks() >= 1)  # greeting (spoken through the phrases double)
        rig.stt.utterance("Priya")
        await rig.until(lambda: tts.started >= 2 and len(rig.socket.events("media")) > 280)
        rig.stt.speech()  # the caller talks over the bot
        await rig.until(lambda: rig.socket.events("clear"))
        # The barge-in is over once the reply task has unwound (bounded wait, no sleep).
        await rig.until(lambda: not [n for n in leftover_tasks()
                                     if n.startswith(("call-reply", "reply-"))])
        assert rig.call.stats.barge_ins == 1
        assert rig.dialogue.streams_finished == 1  # the dialogue stream reached its finally
        assert tts.finished == tts.started  # and so did every synthesis stream
        sent = len(rig.socket.sent)
        await asyncio.sleep(0.1)  # nothing more may be sent for the cancelled reply
        assert len(rig.socket.sent) == sent
    assert leftover_tasks() == []


async def test_a_cough_over_the_bot_gets_the_unheard_sentences_said_again() -> None:
    turn = Turn(["Priya Patel in Engineering.", "Is that right?"])
    async with Rig(ScriptedDialogue([turn]), hold_marks=True) as rig:
        await rig.until(lambda: len(rig.socket.held) >= 1)
        rig.socket.release_marks()
        rig.stt.utterance("Priya")
        await rig.until(lambda: len(rig.socket.held) >= 2)
        rig.stt.speech()
        await rig.until(lambda: rig.socket.events("clear"))
        rig.stt.utterance("")  # no words: a cough
        await rig.until(lambda: rig.tts.spoken[-2:] == ["Priya Patel in Engineering.",
                                                        "Is that right?"]
                        and len(rig.tts.spoken) >= 5)
        assert [u for u, _ in rig.dialogue.heard] == ["Priya"]  # the dialogue was not asked


async def test_a_slow_turn_gets_one_filler_phrase_first() -> None:
    turn = Turn(["Found her."], delay_s=0.4)
    async with Rig(ScriptedDialogue([turn]), filler_after_s=0.1) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("Priya")
        await rig.until(lambda: rig.marks() >= 3)
        assert rig.call.stats.fillers == 1
        assert rig.tts.spoken[-2:] == ["One moment, please.", "Found her."]


async def test_silence_after_the_bot_stops_asks_the_dialogue_again() -> None:
    async with Rig(ScriptedDialogue([Turn(["Are you still there?"])]), silence_s=0.2) as rig:
        await rig.until(lambda: bool(rig.dialogue.heard), limit_s=3)
        assert rig.dialogue.heard[0] == (None, 0.2)
        await rig.until(lambda: rig.marks() >= 2)


async def test_malformed_and_unknown_frames_are_skipped_and_logged_without_payloads() -> None:
    with capture_logs() as logs:
        async with Rig(ScriptedDialogue()) as rig:
            for bad in ("not json", '{"no": "event"}', '{"event": "media", "media": {}}',
                        media_frame("%%%notbase64SECRET"), '{"event": "vendor-extension"}',
                        '{"event": "dtmf", "dtmf": {"digit": "12"}}'):
                rig.socket.push(bad)
            rig.socket.push(media_frame())
            rig.stt.utterance("Priya")
            await rig.until(lambda: rig.dialogue.heard == [("Priya", 0.0)])
    skipped = [e for e in logs if e["event"] == "frame_skipped"]
    assert len(skipped) == 6, [e.get("code") for e in skipped]
    assert "SECRET" not in repr(logs)
    assert rig.call.stats.outcome == "hung_up"


async def test_dtmf_zero_asks_for_a_person_and_the_call_is_redirected() -> None:
    turn = Turn(["Connecting you to reception."], done=True, transfer=True)
    async with Rig(ScriptedDialogue([turn])) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.socket.push({"event": "dtmf", "streamSid": SID,
                         "dtmf": {"track": "inbound_track", "digit": "0"}})
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert rig.dialogue.heard[0][0] == rig.call.settings.operator_request
    assert rig.control.transfers == [(CALL, "+15557654321")]
    assert rig.call.stats.outcome == "transferred"
    assert rig.dialogue.closed == 1 and rig.socket.closed.is_set()


async def test_a_failed_transfer_tells_the_caller_the_number() -> None:
    control = RecordingCallControl(fail_with=ProviderUnavailable("twilio", code="x"))
    turn = Turn(["Connecting you."], done=True, transfer=True)
    async with Rig(ScriptedDialogue([turn]), control=control) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("a person please")
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert "+ 1 5 5 5 7 6 5 4 3 2 1" in rig.tts.spoken[-1]
    assert rig.call.stats.outcome == "transfer_failed"


async def test_a_finished_visit_hangs_up_after_the_goodbye_has_played() -> None:
    turn = Turn(["Thanks, Alex.", "Please take a seat."], done=True)
    async with Rig(ScriptedDialogue([turn]), hold_marks=True) as rig:
        await rig.until(lambda: len(rig.socket.held) >= 1)
        rig.socket.release_marks()
        rig.stt.utterance("Alex")
        await rig.until(lambda: len(rig.socket.held) >= 2)
        await asyncio.sleep(0.05)
        assert not rig.socket.closed.is_set()  # the goodbye has not played yet
        rig.socket.release_marks()
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert rig.call.stats.outcome == "completed" and rig.socket.closed.is_set()


async def test_a_hang_up_mid_reply_closes_the_visit_and_leaves_nothing_running() -> None:
    turn = Turn(["One.", "Two."], gate_at=1)
    async with Rig(ScriptedDialogue([turn])) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("Priya")
        await rig.until(lambda: rig.marks() >= 2)
        rig.socket.push({"event": "stop", "streamSid": SID, "stop": {"callSid": CALL}})
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert rig.dialogue.closed == 1 and rig.dialogue.streams_finished == 1
    assert leftover_tasks() == []


async def test_a_socket_that_closes_before_start_ends_quietly() -> None:
    socket = MemorySocket()
    tts = ScriptedTextToSpeech()
    dialogue = ScriptedDialogue()

    async def factory(start: object) -> ScriptedDialogue:
        return dialogue

    call = PhoneCall(socket, dialogue=factory, stt=ScriptedSpeechToText(), tts=tts,
                     phrases=DirectPhrases(tts))
    socket.push("garbage")
    socket.inbound.put_nowait(None)
    stats = await asyncio.wait_for(call.run(), 3)
    assert stats.outcome == "no_start" and dialogue.closed == 0


async def test_a_failed_recogniser_is_replaced_by_the_fallback() -> None:
    broken = ScriptedSpeechToText(fail_with=ProviderUnavailable("stt", code="stt-down"))
    fallback = ScriptedSpeechToText()
    stt = FallbackSpeechToText(broken, fallback)
    async with Rig(ScriptedDialogue(), stt=stt) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        fallback.utterance("Priya")
        await rig.until(lambda: rig.dialogue.heard == [("Priya", 0.0)])
    assert stt.failed_over


async def test_a_failed_synthesiser_is_replaced_by_the_fallback() -> None:
    broken = ScriptedTextToSpeech(fail_with=ProviderUnavailable("tts", code="tts-down"))
    fallback = ScriptedTextToSpeech()
    tts = FallbackTextToSpeech(broken, fallback)
    async with Rig(ScriptedDialogue([Turn(["Hello there."])]), tts=tts) as rig:
        await rig.until(lambda: rig.marks() >= 1)
        rig.stt.utterance("hi")
        await rig.until(lambda: rig.marks() >= 2)
    assert fallback.spoken[-1] == "Hello there." and tts.failed_over


async def test_when_every_recogniser_fails_the_caller_is_handed_to_a_person() -> None:
    stt = ScriptedSpeechToText(fail_with=ProviderUnavailable("stt", code="stt-down"))
    turn = Turn(["Connecting you to reception."], done=True, transfer=True)
    async with Rig(ScriptedDialogue([turn]), stt=stt) as rig:
        await asyncio.wait_for(rig.task, 3)  # type: ignore[arg-type]
    assert rig.dialogue.heard[0][0] == rig.call.settings.operator_request
    assert rig.control.transfers == [(CALL, "+15557654321")]


Waiter = Callable[[], Awaitable[None]]
