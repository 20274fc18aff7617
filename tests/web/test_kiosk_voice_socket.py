"""The spoken kiosk's WebSocket (``/kiosk/stream``): the wire protocol, typed answers on the
socket, and a check-in spoken with flite through the offline recogniser (Whisper tiny.en)."""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from checkin.visits import Visit
from checkin.voice.audio import L16_ENCODING, PCM_RATE
from checkin.voice.browser_stream import BrowserEdge, start_event
from checkin.voice.twilio_stream import Mark, Media, Start, Stop, parse_frame
from tests.web.kiosk_voice_support import TabletClient, visitor_speech

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed "
                       "(scripts/test installs it)"),
]


class MemoryBrowser:
    """A ``BrowserSocket`` fed from a list, recording what the edge sends."""

    def __init__(self, frames: list[str | bytes]) -> None:
        self.frames = list(frames)
        self.sent: list[str | bytes] = []
        self.closed = False

    async def receive(self) -> str | bytes | None:
        return self.frames.pop(0) if self.frames else None

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)

    async def close(self) -> None:
        self.closed = True


async def test_the_edge_translates_the_kiosk_protocol_to_media_stream_events():
    pcm = b"\x01\x00" * 320
    browser = MemoryBrowser([pcm, json.dumps({"type": "start", "language": "en"}), pcm,
                             json.dumps({"type": "mark", "name": "s1"}),
                             json.dumps({"type": "text", "text": "  yes  please "}),
                             "not json", json.dumps({"type": "stop"})])
    edge = BrowserEdge(browser)
    start = parse_frame(await edge.receive() or "")  # audio before start is skipped
    assert isinstance(start, Start)
    assert (start.encoding, start.sample_rate) == (L16_ENCODING, PCM_RATE)
    assert start.parameters == {"channel": "kiosk", "language": "en"}
    media = parse_frame(await edge.receive() or "")
    assert isinstance(media, Media) and media.payload == pcm
    assert parse_frame(await edge.receive() or "") == Mark("s1")
    assert isinstance(parse_frame(await edge.receive() or ""), Stop)  # text and junk: no event
    assert await edge.typed() == "yes please"
    assert await edge.receive() is None
    # Outbound: audio as binary frames, marks and clear as the kiosk's own JSON.
    await edge.send(json.dumps({"event": "media", "streamSid": edge.stream_sid,
                                "media": {"payload": "AAEC"}}))
    await edge.send(json.dumps({"event": "mark", "streamSid": edge.stream_sid,
                                "mark": {"name": "s2"}}))
    await edge.send(json.dumps({"event": "clear", "streamSid": edge.stream_sid}))
    await edge.caption("visitor", "hello")
    assert browser.sent == [
        '{"type": "ready", "sample_rate": 16000}', b"\x00\x01\x02",
        '{"type": "mark", "name": "s2"}', '{"type": "clear"}',
        '{"type": "caption", "role": "visitor", "text": "hello", "final": true}']
    assert json.loads(start_event("KSabc", language="es"))["start"]["mediaFormat"] == {
        "encoding": "audio/l16", "sampleRate": 16000, "channels": 1}


def _latest_kiosk_visit(served) -> Visit:
    url = served.runtime.settings.database_url
    engine = create_engine(url)
    try:
        with Session(engine) as db:
            query = select(Visit).where(Visit.channel == "kiosk").order_by(
                Visit.started_at.desc())
            return db.scalars(query).first()
    finally:
        engine.dispose()


def test_typed_answers_on_the_socket_check_a_visitor_in(served):
    tablet = TabletClient.open(served.url)
    try:
        greeting = tablet.next_turn()
        assert greeting["ask"] == "host" and greeting["text"]
        assert tablet.messages[0] == {"type": "ready", "sample_rate": 16000}
        tablet.type("Margaret Okafor")
        assert tablet.next_turn()["ask"] == "yes_no"
        tablet.type("yes")
        tablet.next_turn()
        tablet.type("My name is Jane Visitor")
        turn = tablet.next_turn()
        if not turn["done"]:
            tablet.type("I am with Acme")
            turn = tablet.next_turn()
        assert turn["done"] and turn["ask"] == "none"
        tablet.wait_closed()  # the server hangs up once the goodbye has played
    finally:
        tablet.close()
    assert tablet.audio_bytes > PCM_RATE  # more than half a second of the bot's voice
    assert "Margaret Okafor" in tablet.captions("visitor")
    visit = _latest_kiosk_visit(served)
    assert visit.outcome == "checked_in" and (visit.visitor_name or "").startswith("Jane")


def test_a_visitor_checks_in_by_voice_over_the_socket(served):
    tablet = TabletClient.open(served.url)
    try:
        tablet.next_turn()
        tablet.speak(visitor_speech("Good morning, I am here to see Margaret Okafor."))
        confirm = tablet.next_turn()
        assert confirm["ask"] == "yes_no", confirm
        tablet.speak(visitor_speech("Yes, that's right."))
        tablet.next_turn()
        tablet.speak(visitor_speech("My name is Alex Morgan from Globex."))
        turn = tablet.next_turn()
        if not turn["done"]:  # the receptionist may also ask what the visit is for
            tablet.speak(visitor_speech("I have a meeting with her."))
            turn = tablet.next_turn()
        assert turn["done"], turn
        tablet.wait_closed()
    finally:
        tablet.close()
    heard = " ".join(tablet.captions("visitor")).lower()
    assert "margaret" in heard and "morgan" in heard
    assert {"type": "state", "state": "hearing"} in tablet.messages
    visit = _latest_kiosk_visit(served)
    assert visit.outcome == "checked_in" and visit.host_name == "Margaret Okafor"


def test_a_page_from_another_site_is_refused(served):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        connect(served.url.replace("http", "ws", 1) + "/kiosk/stream",
                origin="https://evil.example", open_timeout=10)


def test_pcm_frames_for_the_browser_are_20_ms_and_padded_with_silence():
    from checkin.voice.audio import PcmFramer, pcm16_to_ulaw

    framer = PcmFramer()
    assert [len(f) for f in framer.frames(b"\x01\x00" * 500)] == [640]
    assert framer.flush() == [b"\x01\x00" * 180 + b"\x00" * 280]
    ulaw = PcmFramer(ulaw=True)  # a cloud voice's 8 kHz mu-law, decoded and resampled
    frames = ulaw.frames(pcm16_to_ulaw(b"\x00\x00" * 320)) + ulaw.flush()  # 40 ms
    assert [len(f) for f in frames] == [640, 640]
