"""``checkin call``: place a simulated phone call against a running server, as Twilio would.

It opens the Media Stream (signed like Twilio when an auth token is known), speaks each
``--say`` text (through the offline synthesiser, flite) or ``--wav`` file in turn, waits for the
bot's answer after each, and prints what the bot said (transcribed with the offline recogniser)
with timings. ``--save`` writes the whole call (caller and bot, as heard) to a WAV file.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path
from typing import Any

from checkin.config import Settings
from checkin.voice.audio import Resampler, read_wav, write_wav
from checkin.voice.offline import FliteTextToSpeech, WhisperEngine
from checkin.voice.simulator import BotSegment, SimulatedCall


def register(sub: Any) -> None:
    """Add ``call`` to the command line."""
    p = sub.add_parser("call", help="place a simulated phone call against a running server")
    p.add_argument("--url", default="ws://127.0.0.1:8080/voice/stream",
                   help="the server's stream WebSocket (default %(default)s)")
    p.add_argument("--say", action="append", default=[], metavar="TEXT",
                   help="a caller turn, spoken by flite (repeat for more turns)")
    p.add_argument("--wav", action="append", default=[], type=Path, metavar="FILE",
                   help="a caller turn from a 16-bit WAV file (after the --say turns)")
    p.add_argument("--voice", default="slt", help="flite voice for --say (default slt)")
    p.add_argument("--save", type=Path, help="write the call audio to this WAV file")
    p.add_argument("--speed", type=float, default=1.0, help="clock speed (default real time)")
    p.add_argument("--no-transcribe", action="store_true",
                   help="do not transcribe the bot (prints timings only)")
    p.set_defaults(handler=run)


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """Make the call and print the transcript with timings."""
    turns: list[tuple[str, bytes, int]] = []
    tts = FliteTextToSpeech(voice=args.voice)
    for text in args.say:
        pcm, rate = await tts.synthesize(text)
        turns.append((text, pcm, rate))
    for path in args.wav:
        pcm, rate = read_wav(path.read_bytes())
        turns.append((path.name, pcm, rate))
    engine = None if args.no_transcribe else WhisperEngine()
    token = os.environ.get("TWILIO_AUTH_TOKEN", "")
    public = os.environ.get("CHECKIN_PUBLIC_URL", "").rstrip("/")
    signed = (public.replace("https://", "wss://").replace("http://", "ws://") + "/voice/stream"
              if public else "")
    recording: list[tuple[float, bytes]] = []  # (start s, 8 kHz PCM)
    async with SimulatedCall(args.url, auth_token=token, signed_url=signed,
                             speed=args.speed) as call:
        await _show(call, await call.bot_turn(after=0), engine, recording)
        for label, pcm, rate in turns:
            if call.closed.is_set():
                break
            before = len(call.segments)
            start = call.elapsed()
            length = call.say_pcm(pcm, rate, trailing_silence_s=1.0)
            recording.append((start, _to_8k(pcm, rate)))
            print(f"[{start:6.2f}s] caller: {label}  ({length:.1f} s)", flush=True)
            await _show(call, await call.bot_turn(after=before, timeout_s=60), engine, recording)
        closed = call.closed.is_set()
    print(f"call ended ({'the bot hung up' if closed else 'we hung up'}) "
          f"after {call.elapsed():.1f} s", flush=True)
    if args.save:
        args.save.write_bytes(write_wav(_mix(recording), 8000))
        print(f"saved {args.save}", flush=True)
    return 0


async def _show(call: SimulatedCall, segments: list[BotSegment], engine: WhisperEngine | None,
                recording: list[tuple[float, bytes]]) -> None:
    if not segments:
        return
    pcm = call.bot_pcm(segments)
    recording.append((segments[0].started_at, pcm))
    text = "(not transcribed)"
    if engine is not None:
        pcm16 = Resampler(8000, 16000).process(pcm)
        text = await asyncio.to_thread(engine.transcribe, pcm16)
    cut = " [cut off]" if any(s.cleared for s in segments) else ""
    print(f"[{segments[0].started_at:6.2f}s] bot: {text}  ({len(pcm) / 16000:.1f} s){cut}",
          flush=True)


def _to_8k(pcm: bytes, rate: int) -> bytes:
    return Resampler(rate, 8000).process(pcm)


def _mix(parts: list[tuple[float, bytes]]) -> bytes:
    import numpy as np

    end = max((int(t * 8000) + len(p) // 2 for t, p in parts), default=0)
    out = np.zeros(end, dtype=np.int32)
    for t, p in parts:
        x = np.frombuffer(p, dtype="<i2")
        i = int(t * 8000)
        out[i : i + x.size] += x
    return np.clip(out, -32768, 32767).astype("<i2").tobytes()

