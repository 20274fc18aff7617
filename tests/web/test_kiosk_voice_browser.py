"""A spoken check-in on ``/kiosk`` in headless Chromium, whose fake microphone plays a WAV
made with flite: the page streams it to ``/kiosk/stream`` and shows the conversation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from checkin.visits import Visit
from tests.web.conftest import ARGS, CHROMIUM
from tests.web.kiosk_voice_support import fake_microphone_wav

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed "
                       "(scripts/test installs it)"),
]

# What the visitor says, each followed by a pause long enough for a reply on two busy cores
# (the page does not wait for the bot: a visitor who talks over it is a barge-in, which the
# loop handles, but each answer must reach the receptionist after the previous question).
LINES = [("Good morning, I am here to see Margaret Okafor.", 4.5), ("Yes, that's right.", 4.5),
         ("My name is Alex Morgan from Globex.", 4.5), ("I have a meeting with her.", 6.0)]


@pytest.fixture
def voice_browser(tmp_path: Path):
    """Chromium whose microphone plays the visitor's lines once (``%noloop``)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (scripts/test installs it with apt-get)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    wav = tmp_path / "visitor.wav"
    wav.write_bytes(fake_microphone_wav(LINES, lead_s=1.5))
    args = [*ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required"]
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield chromium
        chromium.close()


def test_a_visitor_checks_in_by_voice_on_the_kiosk(voice_browser, served, screenshots):
    context = voice_browser.new_context(viewport={"width": 1180, "height": 820},
                                        base_url=served.url)
    context.grant_permissions(["microphone"])
    context.set_default_timeout(30_000)
    kiosk = context.new_page()
    asked: list[str] = []
    kiosk.on("request", lambda request: asked.append(request.url))
    try:
        kiosk.goto("/kiosk?done=3")
        kiosk.get_by_role("button", name="Check in").click()
        kiosk.wait_for_selector("#voice-status[data-state]", state="visible")
        kiosk.wait_for_selector("#caption:not(:empty)")
        kiosk.screenshot(path=screenshots / "kiosk-voice-listening.png")
        kiosk.wait_for_function(
            "document.querySelector('#heard').textContent.includes('Margaret')")
        kiosk.wait_for_selector("#yesno", state="visible")  # tapping still works mid-voice
        assert "Margaret Okafor" in kiosk.locator("#caption").inner_text()
        kiosk.screenshot(path=screenshots / "kiosk-voice-confirm.png")
        kiosk.wait_for_selector("#done", state="visible", timeout=60_000)
        assert "Margaret" in kiosk.locator("#done-text").inner_text()
        kiosk.screenshot(path=screenshots / "kiosk-voice-done.png")
        kiosk.wait_for_selector("#welcome", state="visible")  # back by itself, nothing kept
        assert "Alex" not in kiosk.locator("body").inner_text()
        # The spoken visit's host news comes over its socket, not the typed long-poll.
        assert not [url for url in asked if "/null/" in url or "host-news" in url]
    finally:
        context.close()
    engine = create_engine(served.runtime.settings.database_url)
    try:
        with Session(engine) as db:
            visit = db.scalars(select(Visit).where(Visit.channel == "kiosk")
                               .order_by(Visit.started_at.desc())).first()
    finally:
        engine.dispose()
    assert visit is not None and visit.outcome == "checked_in"
    assert visit.host_name == "Margaret Okafor"
