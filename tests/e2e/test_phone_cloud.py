"""The phone channel on Deepgram and ElevenLabs (fake servers, real SDK/httpx), as configured.

``CHECKIN_STT=deepgram`` / ``CHECKIN_TTS=elevenlabs`` select the cloud engines, start-up fails
fast without their keys, ``/health`` shows each speech engine's state, and a call runs end to
end: the fake Deepgram hears the simulated caller, the receptionist answers through ElevenLabs.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from checkin.app import create_app
from checkin.config import load_settings
from checkin.directory.service import Directory
from checkin.errors import ConfigError
from checkin.runtime import Runtime, build_runtime
from checkin.voice.fallback import FallbackSpeechToText, FallbackTextToSpeech
from tests.e2e.phone_support import PUBLIC, TOKEN, phone_env, stream_url
from tests.e2e.test_serve import serving
from tests.fakeservers.fake_deepgram import FakeDeepgram, loud_ulaw
from tests.fakeservers.fake_elevenlabs import FakeElevenLabs
from tests.fakeservers.fake_twilio_media import SimulatedCall
from tests.support.factories import employees

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def cloud_env(deepgram_url: str, elevenlabs_url: str) -> dict[str, str]:
    return {"CHECKIN_STT": "deepgram", "CHECKIN_TTS": "elevenlabs",
            "DEEPGRAM_API_KEY": "test-key", "DEEPGRAM_BASE_URL": deepgram_url,
            "ELEVENLABS_API_KEY": "test-key", "ELEVENLABS_BASE_URL": elevenlabs_url,
            "ELEVENLABS_VOICE_ID": "voice-123"}


def write_config(tmp_path: Path) -> Path:
    config = tmp_path / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\n  reception_phone: '+15557654321'\n"
                      "paths:\n  calendar: ''\n", encoding="utf-8")
    return config


def cloud_runtime(tmp_path: Path, database_url: str, env: dict[str, str]) -> Runtime:
    settings = load_settings(write_config(tmp_path), {
        "CHECKIN_DATABASE_URL": database_url, "CHECKIN_BADGE_DIR": str(tmp_path / "b"), **env})
    runtime = build_runtime(settings)
    fixed = Directory(employees())

    async def directory() -> Directory:
        return fixed

    runtime.directory = directory
    return runtime


@pytest.mark.parametrize(("missing", "message"), [
    ("DEEPGRAM_API_KEY", "DEEPGRAM_API_KEY"),
    ("ELEVENLABS_API_KEY", "ELEVENLABS_API_KEY"),
    ("ELEVENLABS_VOICE_ID", "ELEVENLABS_VOICE_ID"),
])
def test_a_cloud_engine_without_its_key_stops_start_up(tmp_path, missing, message):
    env = cloud_env("http://127.0.0.1:9", "http://127.0.0.1:9")
    del env[missing]
    with pytest.raises(ConfigError, match=message):
        load_settings(write_config(tmp_path), env)


async def test_a_call_runs_on_deepgram_and_elevenlabs_and_health_shows_them(
        database_url, tmp_path, monkeypatch):
    phone_env(monkeypatch)
    with FakeDeepgram(["Good morning, I am here to see Priya Patel."]) as deepgram, \
            FakeElevenLabs(first_byte_s=0.02) as elevenlabs:
        runtime = cloud_runtime(tmp_path, database_url,
                                cloud_env(deepgram.url, elevenlabs.url))
        app = create_app(runtime, background_jobs=False)
        phone = app.state.phone
        assert isinstance(await phone.speech_to_text(), FallbackSpeechToText)
        assert isinstance(phone.text_to_speech(), FallbackTextToSpeech)
        async with serving(app) as base:
            async with SimulatedCall(stream_url(base), auth_token=TOKEN,
                                     signed_url=f"{PUBLIC.replace('https', 'wss')}/voice/stream",
                                     speed=3.0) as call:
                greeting = await call.bot_turn(after=0, timeout_s=10)
                call.say_pcm(_tone_pcm(1.0), 8000, trailing_silence_s=1.0)
                reply = await call.bot_turn(after=len(greeting), timeout_s=10)
            async with httpx.AsyncClient(base_url=base) as client:
                health = (await client.get("/health")).json()["providers"]
    assert greeting and reply
    (conn,) = deepgram.connections
    assert conn.query["keyterm"][:2] == ["Priya Patel", "Priya Raman"]
    assert conn.audio_bytes > 8000 * 2  # the caller's whole line, silence included
    spoken = [r.body["text"] for r in elevenlabs.requests]
    assert any("Priya" in text for text in spoken[1:]), spoken  # the receptionist understood
    assert health["stt"]["mode"] == "deepgram" and health["stt"]["status"] == "ok"
    assert health["stt"]["fallback"] == "whisper-tiny.en"
    assert health["tts"]["engine"] == "elevenlabs" and health["tts"]["status"] == "ok"
    assert health["tts"]["failovers"] == 0


def _tone_pcm(seconds: float) -> bytes:
    from checkin.voice.audio import ulaw_to_pcm16

    return ulaw_to_pcm16(loud_ulaw(seconds))
