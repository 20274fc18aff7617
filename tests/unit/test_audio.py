"""Edge audio conversion: mu-law tables, streaming resampling, framing (checkin.voice.audio)."""

from __future__ import annotations

import numpy as np
import pytest

from checkin.voice.audio import (
    Framer,
    PhoneDecoder,
    PhoneEncoder,
    Resampler,
    pcm16_to_ulaw,
    read_wav,
    ulaw_to_pcm16,
    write_wav,
)

pytestmark = pytest.mark.unit


def tone(freq: float, rate: int, seconds: float = 1.0, amp: int = 10_000) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64)


def test_mulaw_known_values_and_round_trip() -> None:
    assert pcm16_to_ulaw(b"\x00\x00") == b"\xff"  # digital silence is 0xFF on the wire
    assert ulaw_to_pcm16(b"\xff") == b"\x00\x00"
    assert ulaw_to_pcm16(b"\x00") == np.array([-32124], "<i2").tobytes()
    x = samples(tone(440, 8000))
    back = samples(ulaw_to_pcm16(pcm16_to_ulaw(x.astype("<i2").tobytes())))
    # G.711 keeps about 38 dB SNR on a loud tone.
    snr = 10 * np.log10(np.sum(x**2) / np.sum((x - back) ** 2))
    assert snr > 30


def test_every_mulaw_code_decodes_and_re_encodes_to_itself() -> None:
    codes = bytes(range(256))
    again = pcm16_to_ulaw(ulaw_to_pcm16(codes))
    # 0x7F and 0xFF are both zero; everything else is its own code.
    assert sum(a != b for a, b in zip(codes, again, strict=True)) <= 1


@pytest.mark.parametrize("src,dst", [(16000, 8000), (8000, 16000), (22050, 8000)])
def test_resampling_keeps_a_speech_band_tone_and_the_length(src: int, dst: int) -> None:
    r = Resampler(src, dst)
    pcm = tone(1000, src)
    out = b"".join(r.process(pcm[i : i + 700]) for i in range(0, len(pcm), 700))
    y = samples(out)
    assert abs(len(y) - dst) <= 2
    peak = np.abs(y[len(y) // 4 :]).max()
    assert 9_000 < peak < 11_000


def test_downsampling_filters_what_8khz_cannot_carry() -> None:
    y = samples(Resampler(16000, 8000).process(tone(5000, 16000)))
    assert np.sqrt(np.mean(y[200:] ** 2)) < 300  # 5 kHz would alias to 3 kHz without the FIR


def test_framer_cuts_20ms_frames_and_pads_the_last() -> None:
    f = Framer(160)
    assert [len(x) for x in f.push(b"\x01" * 400)] == [160, 160]
    last = f.flush()
    assert len(last) == 1 and last[0] == b"\x01" * 80 + b"\xff" * 80
    assert f.flush() == []


def test_phone_encoder_and_decoder_round_trip_at_the_edge() -> None:
    enc, dec = PhoneEncoder(16000), PhoneDecoder(16000)
    frames = enc.frames(tone(700, 16000)) + enc.flush()
    assert all(len(fr) == 160 for fr in frames) and len(frames) == 50
    back = samples(b"".join(dec.pcm(fr) for fr in frames))
    assert 15_900 <= len(back) <= 16_000


def test_wav_round_trip() -> None:
    pcm = tone(300, 16000, 0.1)
    assert read_wav(write_wav(pcm, 16000)) == (pcm, 16000)


def test_mulaw_engines_are_framed_without_conversion_and_pcm_ones_default() -> None:
    import asyncio

    from checkin.voice.audio import PCM_16K, ULAW_8K, PcmToUlaw, UlawFramer, audio_format
    from checkin.voice.speaker import Speaker

    class Mulaw:
        audio_format = ULAW_8K

    assert audio_format(Mulaw()) == ULAW_8K and audio_format(object()) == PCM_16K
    framer = UlawFramer()
    assert framer.frames(bytes(range(200))) == [bytes(range(160))]
    assert framer.flush() == [bytes(range(160, 200)) + b"\xff" * 120]
    assert len(PcmToUlaw().convert(b"\x00\x00" * 320)) == 160  # 20 ms at 16 kHz -> 8 kHz

    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    async def speak() -> int:
        async def chunks():  # type: ignore[no-untyped-def]
            yield bytes(range(256)) + bytes(64)

        return await Speaker(send, "MZ1").say(chunks(), "s", audio_format=ULAW_8K)

    assert asyncio.run(speak()) == 2
    import base64
    import json

    payloads = [base64.b64decode(json.loads(m)["media"]["payload"]) for m in sent[:2]]
    assert b"".join(payloads) == bytes(range(256)) + bytes(64)  # byte for byte
