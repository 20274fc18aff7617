"""A phone check-in end to end: flite speech -> Twilio Media Streams -> Whisper -> receptionist
-> flite -> Media Streams, with the app under uvicorn and the real offline engines."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from sqlalchemy import select

from checkin.app import create_app
from checkin.visits import Visit
from tests.e2e.phone_support import PUBLIC, TOKEN, phone_env, phone_runtime, stream_url
from tests.e2e.test_serve import serving
from tests.fakeservers.fake_twilio_media import SimulatedCall, caller_voice

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed "
                       "(scripts/test installs it)"),
]


async def say(call: SimulatedCall, text: str) -> list:
    pcm, rate = await caller_voice(text)
    before = len(call.segments)
    call.say_pcm(pcm, rate, trailing_silence_s=1.0)
    return await call.bot_turn(after=before, timeout_s=30)


async def test_a_caller_checks_in_by_voice(database_url, tmp_path, monkeypatch):
    phone_env(monkeypatch)
    runtime = phone_runtime(tmp_path, database_url)
    app = create_app(runtime, background_jobs=False)
    async with serving(app) as base:
        async with SimulatedCall(stream_url(base), auth_token=TOKEN,
                                 signed_url=f"{PUBLIC.replace('https', 'wss')}/voice/stream",
                                 parameters={"site": "Test"}, speed=3.0) as call:
            greeting = await call.bot_turn(after=0, timeout_s=30)
            # How fast it starts is bench/'s job (and a unit test's, with doubles); on two busy
            # cores the real models may take a moment to load.
            assert greeting
            await say(call, "Good morning, I am here to see Priya Patel.")
            await say(call, "Yes, that's right.")
            await say(call, "My name is Alex Morgan from Globex.")
            if not call.closed.is_set():  # the receptionist may also ask what the visit is for
                await say(call, "I have a meeting with her.")
            await asyncio.wait_for(call.closed.wait(), 30)  # the bot hangs up after its goodbye
        assert call.clears == 0
    engine_sessions = runtime.sessions
    async with engine_sessions() as db:
        visit = (await db.execute(select(Visit))).scalars().one()
    assert visit.channel == "phone"
    assert visit.outcome == "checked_in", visit.state
    assert visit.ended_at is not None
