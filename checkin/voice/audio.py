"""Audio at the edge of a call: G.711 mu-law <-> 16-bit PCM, resampling, 20 ms framing.

Inside checkin audio is one format, ``PCM_RATE`` Hz mono signed 16-bit little-endian PCM; Twilio
speaks 8 kHz mu-law. Everything here is vectorised numpy (table look-ups and one FIR
convolution per chunk), never a per-sample Python loop. audioop is not used: it is deprecated in
3.11/3.12 and audioop-lts only installs on 3.13+. Imports nothing from checkin.
"""

from __future__ import annotations

import io
import wave
from math import gcd

import numpy as np
import numpy.typing as npt

PCM_RATE = 16_000
"""The one PCM sample rate used between the edge converters, STT and TTS."""

TWILIO_RATE = 8_000
FRAME_MS = 20
TWILIO_FRAME_BYTES = TWILIO_RATE * FRAME_MS // 1000  # 160 mu-law bytes = 20 ms

_BIAS = 0x84

PCM_16K = "pcm_16000"
"""Audio format name: 16-bit mono PCM at ``PCM_RATE`` (what every engine speaks by default)."""
ULAW_8K = "ulaw_8000"
"""Audio format name: G.711 mu-law at 8 kHz, Twilio's own; Deepgram and ElevenLabs speak it too,
so a cloud engine that declares it gets the caller's bytes, or sends the bot's, untouched."""


def audio_format(provider: object) -> str:
    """The audio a speech engine consumes or yields: its ``audio_format`` attribute, if any.

    Not part of the ``SpeechToText``/``TextToSpeech`` Protocols on purpose: every engine that
    says nothing is PCM 16 kHz, so test doubles and the offline engines need no change.
    """
    fmt = getattr(provider, "audio_format", PCM_16K)
    return fmt if fmt in (PCM_16K, ULAW_8K) else PCM_16K


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    # One entry per possible int16 sample (64 KiB): encoding a chunk is then a single take().
    # Same arithmetic as CPython's audioop.lin2ulaw (14-bit, floor shift), so results match it.
    samples = np.arange(-32768, 32768, dtype=np.int32) >> 2
    mask = np.where(samples < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(samples), 8159) + (_BIAS >> 2)
    seg_ends = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
    segment = np.searchsorted(seg_ends, magnitude, side="left")
    value = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    value = np.where(segment >= 8, 0x7F, value)  # the clipped peaks
    return ((value ^ mask) & 0xFF).astype(np.uint8)


_DECODE = _ulaw_decode_table()
_ENCODE = _ulaw_encode_table()


def ulaw_to_pcm16(data: bytes) -> bytes:
    """Decode G.711 mu-law bytes to 16-bit PCM at the same rate (b"\\xff" -> b"\\x00\\x00")."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)].astype("<i2").tobytes()


def pcm16_to_ulaw(data: bytes) -> bytes:
    """Encode 16-bit PCM to G.711 mu-law at the same rate (b"\\x00\\x00" -> b"\\xff")."""
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int32)
    return _ENCODE[samples + 32768].tobytes()


class Resampler:
    """Streaming rational-ratio resampler for 16-bit mono PCM, with its state between chunks.

    Polyphase FIR: conceptually upsample by ``up``, low-pass with a windowed sinc at the lower
    Nyquist and keep every ``down``-th sample, but only the kept outputs are computed (one
    gather and one dot product per chunk). Example: ``Resampler(16000, 8000).process(b)`` on
    640 bytes (20 ms) returns about 320 bytes.
    """

    def __init__(self, src_rate: int, dst_rate: int, *, taps_per_phase: int = 16) -> None:
        g = gcd(src_rate, dst_rate)
        self.up, self.down = dst_rate // g, src_rate // g
        self.src_rate, self.dst_rate = src_rate, dst_rate
        n = taps_per_phase * max(self.up, self.down)
        cutoff = 0.5 / max(self.up, self.down)  # normalised to the upsampled rate
        t = np.arange(n) - (n - 1) / 2
        taps = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(n) * self.up
        self._per_phase = -(-n // self.up)  # taps per polyphase branch
        padded = np.zeros(self._per_phase * self.up)
        padded[:n] = taps
        self._bank = padded.reshape(self._per_phase, self.up)  # bank[j, ph] = h[ph + j*up]
        self._history = np.zeros(self._per_phase - 1)
        self._consumed = 0  # input samples seen before this chunk
        self._next_out = 0  # index of the next output sample

    def process(self, data: bytes) -> bytes:
        """Resample one chunk; output length follows the ratio over the whole stream."""
        if self.up == self.down:
            return data[: len(data) // 2 * 2]
        x = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float64)
        if not x.size:
            return b""
        ext = np.concatenate([self._history, x])
        last_in = self._consumed + x.size - 1
        last_out = (last_in * self.up) // self.down  # outputs whose newest input we have
        m = np.arange(self._next_out, last_out + 1)
        pos = m * self.down
        newest, phase = pos // self.up, pos % self.up
        local = newest - (self._consumed - (self._per_phase - 1))
        idx = local[:, None] - np.arange(self._per_phase)[None, :]
        y = np.einsum("mj,mj->m", ext[idx], self._bank[:, phase].T)
        self._next_out = last_out + 1
        self._consumed += x.size
        self._history = ext[-(self._per_phase - 1):] if self._per_phase > 1 else ext[:0]
        return bytes(np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes())


class Framer:
    """Cuts a byte stream into fixed-size frames, carrying the remainder between calls.

    Example: ``Framer(160).push(b"x" * 400)`` -> two 160-byte frames, 80 bytes kept;
    ``flush()`` then returns the last 80 bytes padded with ``pad`` to a full frame.
    """

    def __init__(self, size: int, *, pad: bytes = b"\xff") -> None:
        self.size = size
        self._pad = pad
        self._rest = b""

    def push(self, data: bytes) -> list[bytes]:
        """The complete frames now available."""
        buf = self._rest + data
        whole = len(buf) // self.size * self.size
        self._rest = buf[whole:]
        return [buf[i : i + self.size] for i in range(0, whole, self.size)]

    def flush(self) -> list[bytes]:
        """The last partial frame, padded (mu-law silence by default); empty when none."""
        rest, self._rest = self._rest, b""
        if not rest:
            return []
        return [rest + self._pad * (self.size - len(rest))]

    def reset(self) -> None:
        """Forget buffered bytes (after a barge-in)."""
        self._rest = b""


class PhoneEncoder:
    """PCM at ``src_rate`` in, 20 ms Twilio mu-law frames out (resample + encode + frame)."""

    def __init__(self, src_rate: int = PCM_RATE) -> None:
        self._resampler = Resampler(src_rate, TWILIO_RATE)
        self._framer = Framer(TWILIO_FRAME_BYTES)

    def frames(self, pcm: bytes) -> list[bytes]:
        """The complete 160-byte mu-law frames for this chunk of PCM."""
        return self._framer.push(pcm16_to_ulaw(self._resampler.process(pcm)))

    def flush(self) -> list[bytes]:
        """The padded last frame of an utterance."""
        return self._framer.flush()


class UlawFramer:
    """``PhoneEncoder`` for audio that is already 8 kHz mu-law: framing only, no conversion."""

    def __init__(self) -> None:
        self._framer = Framer(TWILIO_FRAME_BYTES)

    def frames(self, ulaw: bytes) -> list[bytes]:
        """The complete 160-byte frames now available."""
        return self._framer.push(ulaw)

    def flush(self) -> list[bytes]:
        """The padded last frame of an utterance."""
        return self._framer.flush()


class PcmToUlaw:
    """Streaming 16 kHz PCM -> 8 kHz mu-law, unframed (an offline engine standing in for a
    mu-law cloud engine after a fail-over, so the call keeps one output format)."""

    def __init__(self, src_rate: int = PCM_RATE) -> None:
        self._resampler = Resampler(src_rate, TWILIO_RATE)

    def convert(self, pcm: bytes) -> bytes:
        """Mu-law for this chunk of PCM (the resampler keeps its state between chunks)."""
        return pcm16_to_ulaw(self._resampler.process(pcm))


class PhoneDecoder:
    """Twilio mu-law 8 kHz in, PCM at ``dst_rate`` out."""

    def __init__(self, dst_rate: int = PCM_RATE) -> None:
        self._resampler = Resampler(TWILIO_RATE, dst_rate)

    def pcm(self, ulaw: bytes) -> bytes:
        """PCM for one media payload."""
        return self._resampler.process(ulaw_to_pcm16(ulaw))


def read_wav(data: bytes) -> tuple[bytes, int]:
    """(16-bit mono PCM, sample rate) from a WAV file's bytes; stereo is mixed down."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit WAV is supported")
        frames = w.readframes(w.getnframes())
        rate, channels = w.getframerate(), w.getnchannels()
    if channels > 1:
        x = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).mean(axis=1)
        frames = x.astype("<i2").tobytes()
    return frames, rate


def write_wav(pcm: bytes, rate: int) -> bytes:
    """A 16-bit mono WAV file holding ``pcm``."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def rms_dbfs(pcm: bytes) -> float:
    """Loudness of a PCM chunk in dBFS (-inf for digital silence)."""
    x = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    if not x.size:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x * x)))
    return 20 * float(np.log10(rms / 32768)) if rms > 0 else float("-inf")


L16_ENCODING = "audio/l16"
"""A stream's ``start`` encoding for 16-bit PCM (RFC 2586's name): the kiosk's browser edge
sends and receives ``PCM_RATE`` PCM, so a call on it skips the mu-law round trip."""


class PcmFramer:
    """``PhoneEncoder`` for an edge that speaks PCM: 20 ms frames of ``PCM_RATE`` PCM.

    Example: ``PcmFramer().frames(b"\\0" * 1000)`` -> one 640-byte frame, 360 bytes kept.
    ``ulaw=True`` takes 8 kHz mu-law (a cloud synthesiser's own format) and decodes it first.
    """

    def __init__(self, src_rate: int = PCM_RATE, *, ulaw: bool = False) -> None:
        self._decoder = PhoneDecoder() if ulaw else None
        self._resampler = Resampler(src_rate, PCM_RATE)
        self._framer = Framer(PCM_RATE * 2 * FRAME_MS // 1000, pad=b"\x00")

    def frames(self, chunk: bytes) -> list[bytes]:
        """The complete 640-byte PCM frames for this chunk."""
        pcm = self._decoder.pcm(chunk) if self._decoder else self._resampler.process(chunk)
        return self._framer.push(pcm)

    def flush(self) -> list[bytes]:
        """The last frame of an utterance, padded with digital silence."""
        return self._framer.flush()
