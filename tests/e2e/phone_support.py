"""Shared set-up for the phone tests: Twilio-like environment and a runtime on a fixed office."""

from __future__ import annotations

from pathlib import Path

from checkin.config import load_settings
from checkin.directory.service import Directory
from checkin.runtime import Runtime, build_runtime
from tests.support.factories import employees

PUBLIC = "https://bot.example.test"
TOKEN = "test-auth-token"
ACCOUNT = "AC" + "0" * 31 + "1"


def phone_env(monkeypatch, *, api_base: str = "", signatures: str = "on") -> None:
    """The variables a deployment sets for the phone channel."""
    monkeypatch.setenv("CHECKIN_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("CHECKIN_TWILIO_SIGNATURES", signatures)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT)
    if api_base:
        monkeypatch.setenv("TWILIO_API_BASE_URL", api_base)
    for var in ("TWILIO_REGION", "TWILIO_EDGE"):
        monkeypatch.delenv(var, raising=False)


def phone_runtime(tmp_path: Path, database_url: str, *, reception: str = "+15557654321",
                  extra_yaml: str = "") -> Runtime:
    """A runtime whose directory is the test office (factories.employees)."""
    config = tmp_path / "config.yaml"
    config.write_text(
        f"site:\n  company: Test Lobby\n  reception_phone: '{reception}'\n"
        f"paths:\n  calendar: ''\n{extra_yaml}", encoding="utf-8")
    settings = load_settings(config, {"CHECKIN_DATABASE_URL": database_url,
                                      "CHECKIN_BADGE_DIR": str(tmp_path / "badges")})
    runtime = build_runtime(settings)
    fixed = Directory(employees())

    async def directory() -> Directory:
        return fixed

    runtime.directory = directory
    return runtime


def stream_url(base: str) -> str:
    """ws:// URL of the stream route of a server at ``base`` (http://127.0.0.1:port)."""
    return base.replace("http://", "ws://", 1) + "/voice/stream"
