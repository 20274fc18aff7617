"""The Media Streams wire format: what we parse, and snapshots of exactly what we send."""

from __future__ import annotations

import json

import pytest

from checkin.voice.twilio_stream import (
    Dtmf,
    MalformedFrame,
    Mark,
    Media,
    Start,
    Stop,
    Unknown,
    clear_message,
    mark_message,
    media_message,
    parse_frame,
)
from tests.support.phone_doubles import SID, media_frame, start_frame

pytestmark = pytest.mark.unit


def test_outbound_media_snapshot() -> None:
    assert media_message(SID, b"\xff\xfe\x00") == (
        '{"event": "media", "streamSid": "MZ22222222222222222222222222222222", '
        '"media": {"payload": "//4A"}}')


def test_outbound_mark_snapshot() -> None:
    assert mark_message(SID, "s1") == (
        '{"event": "mark", "streamSid": "MZ22222222222222222222222222222222", '
        '"mark": {"name": "s1"}}')


def test_outbound_clear_snapshot() -> None:
    assert clear_message(SID) == (
        '{"event": "clear", "streamSid": "MZ22222222222222222222222222222222"}')


def test_outbound_frames_use_only_the_three_events_twilio_accepts() -> None:
    for text in (media_message(SID, b"\xff"), mark_message(SID, "x"), clear_message(SID)):
        assert json.loads(text)["event"] in {"media", "mark", "clear"}


def test_inbound_frames_parse() -> None:
    start = parse_frame(start_frame(site="hq", session_token="abc"))
    assert isinstance(start, Start)
    assert start.stream_sid == SID and start.call_sid.startswith("CA")
    assert start.parameters == {"site": "hq", "session_token": "abc"}
    media = parse_frame(media_frame())
    assert isinstance(media, Media) and media.payload == b"\xff" * 160
    assert media.timestamp_ms == 20
    assert parse_frame('{"event":"mark","mark":{"name":"s3"}}') == Mark("s3")
    assert parse_frame('{"event":"dtmf","dtmf":{"track":"inbound_track","digit":"0"}}') == Dtmf("0")
    assert parse_frame('{"event":"stop","stop":{}}') == Stop()
    assert parse_frame('{"event":"something-new"}') == Unknown("something-new")


@pytest.mark.parametrize("raw,code", [
    ("{not json", "not-json"),
    ("[1, 2]", "no-event"),
    ('{"event": "media"}', "bad-media"),
    ('{"event": "media", "media": {"payload": "***"}}', "bad-media"),
    ('{"event": "start", "start": {}}', "bad-start"),
    ('{"event": "dtmf", "dtmf": {"digit": ""}}', "bad-dtmf"),
])
def test_malformed_frames_raise_with_a_loggable_code(raw: str, code: str) -> None:
    with pytest.raises(MalformedFrame) as err:
        parse_frame(raw)
    assert err.value.reason == code
