"""Phone latency benchmark: the server's own share of "end of caller speech -> first audio out".

    .venv/bin/python bench/voice_latency.py run --levels 1,25,50,100 --duration 25
    .venv/bin/python bench/voice_latency.py offline --turns 8

``run`` starts three processes and measures one concurrency level after another:

* fakes (``taskset -c 1``): the fake Deepgram (endpointing 300 ms of audio silence) and the
  fake ElevenLabs (first byte 150 ms, then 100 ms of mu-law every 20 ms), on 127.0.0.1;
* the server (``taskset -c 0``): the real ``/voice/stream`` call loop (``PhoneCall``, Speaker,
  the real ``DeepgramSpeechToText`` and ``ElevenLabsTextToSpeech`` adapters through
  ``PhoneChannel``) under uvicorn, with a dialogue double whose first sentence comes 300 ms
  after the caller's turn (the LLM's first token), and a 5 ms event-loop lag probe;
* this process (``taskset -c 1``), the load generator: N simulated Twilio calls
  (``SimulatedCall``: 20 ms media frames in real time, marks echoed after playout), each
  speaking 0.8 s turns and timing the first bot frame after the end of its speech.

Per turn the server reports (perf_counter, one process): ``a`` the recogniser's end of turn
reaching the call loop, ``b``/``c`` the dialogue asked/first sentence, ``d``/``e`` the TTS
request/first chunk, ``f`` the first media frame written to the Twilio socket. Server share =
(f - a) - (c - b) - (e - d): everything the server did that was not waiting on a provider.
The client side gives the end-to-end number (end of caller speech -> first frame received),
which also holds the fakes' latencies and the load generator's own lag.

Breaking point: event-loop ticks late by more than 20 ms (a 20 ms frame deadline missed),
audible gaps in bot audio at the simulated handset, caller frames dropped by the server.

``offline`` measures the offline stack on this machine (Silero VAD end of speech + Whisper
tiny.en decode + flite), one call, flite ``slt`` caller speech, no taskset.
Everything binds 127.0.0.1; every child process is stopped at the end (and has a lifetime).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# At module level: FastAPI resolves the route's annotations against the module's globals.
from fastapi import FastAPI, WebSocket

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIRST = "Thanks, I have let Priya Patel know you are here."
SECOND = "Please take a seat."
LLM_S = 0.300


# ----------------------------------------------------------------------------------------
# fakes process


def cmd_fakes(args: argparse.Namespace) -> None:
    from tests.fakeservers.fake_deepgram import FakeDeepgram
    from tests.fakeservers.fake_elevenlabs import FakeElevenLabs

    dg = FakeDeepgram(default="I am here to see Priya Patel.", endpointing_s=0.3,
                      interim_after_s=0.2, lifetime_s=args.lifetime).start()
    el = FakeElevenLabs(first_byte_s=0.15, gap_s=0.02, chunk_bytes=800,
                        seconds_per_char=0.06, lifetime_s=args.lifetime).start()
    print(json.dumps({"deepgram": dg.url, "elevenlabs": el.url}), flush=True)
    # Serves until terminated (run() does) or the fakes' own lifetime ends.
    deadline = time.monotonic() + args.lifetime
    while time.monotonic() < deadline:
        time.sleep(1)


# ----------------------------------------------------------------------------------------
# server process


class BenchDialogue:
    """The receptionist's stand-in: first sentence ``llm_s`` after the turn, then a second."""

    def __init__(self, llm_s: float) -> None:
        self.llm_s = llm_s
        self.waits: list[float] = []  # (c - b) per turn

    async def greeting(self) -> str:
        return "Hi, welcome to Test Lobby. Who are you here to see?"

    async def replies(self, utterance: str | None, *, silence_s: float = 0.0
                      ) -> AsyncIterator[str]:
        asked = time.perf_counter()
        if self.llm_s:
            await asyncio.sleep(self.llm_s)
        self.waits.append(time.perf_counter() - asked)
        yield FIRST
        yield SECOND

    @property
    def done(self) -> bool:
        return False

    @property
    def wants_transfer(self) -> bool:
        return False

    async def close(self) -> None:
        pass


class TimedTTS:
    """Wraps the call's synthesiser and notes how long each first sentence waited for audio."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.audio_format = getattr(inner, "audio_format", "pcm_16000")
        self.waits: list[float] = []  # (e - d) per first sentence

    async def speech(self, text: AsyncIterator[str]) -> AsyncIterator[bytes]:
        sentences = [s async for s in text]

        async def again() -> AsyncIterator[str]:
            for s in sentences:
                yield s

        asked, first = time.perf_counter(), True
        async for chunk in self._inner.speech(again()):
            if first and sentences == [FIRST]:
                self.waits.append(time.perf_counter() - asked)
            first = False
            yield chunk


def cmd_server(args: argparse.Namespace) -> None:
    import structlog
    import uvicorn

    from checkin.api.twilio import _StarletteSocket, phone_channel
    from checkin.config import load_settings
    from checkin.directory.service import Directory
    from checkin.runtime import build_runtime
    from checkin.voice.call import CallSettings, PhoneCall
    from tests.support.factories import employees

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # errors only
    tmp = Path(tempfile.mkdtemp(prefix="bench-voice-"))
    env = {"CHECKIN_DATABASE_URL": f"sqlite:///{tmp}/b.db", "CHECKIN_BADGE_DIR": str(tmp)}
    if args.stack == "cloud":
        env.update({"CHECKIN_STT": "deepgram", "CHECKIN_TTS": "elevenlabs",
                    "DEEPGRAM_API_KEY": "test-key", "DEEPGRAM_BASE_URL": args.deepgram,
                    "ELEVENLABS_API_KEY": "test-key", "ELEVENLABS_BASE_URL": args.elevenlabs,
                    "ELEVENLABS_VOICE_ID": "bench-voice"})
    config = tmp / "config.yaml"
    config.write_text("site:\n  company: Test Lobby\npaths:\n  calendar: ''\n", encoding="utf-8")
    settings = load_settings(config, env)
    runtime = build_runtime(settings)
    fixed = Directory(employees())

    async def directory() -> Directory:
        return fixed

    runtime.directory = directory
    channel = phone_channel(runtime, {"CHECKIN_TWILIO_SIGNATURES": "off"})
    # Filler after 1 s, not 0.3 s: the dialogue's 300 ms is the model's first token, not a slow
    # tool, and a filler would be the first audio of every turn.
    call_settings = CallSettings(silence_s=60, filler_after_s=1.0)
    results: list[dict[str, Any]] = []
    lag = {"ticks": 0, "late_20ms": 0, "max_ms": 0.0, "samples": []}
    app = FastAPI()

    @app.websocket("/voice/stream")
    async def stream(websocket: WebSocket) -> None:  # the production route, stats kept
        await websocket.accept()
        dialogue = BenchDialogue(args.llm_s)
        tts = TimedTTS(channel.text_to_speech())

        async def factory(start: Any) -> BenchDialogue:
            return dialogue

        call = PhoneCall(_StarletteSocket(websocket), dialogue=factory,
                         stt=await channel.speech_to_text(), tts=tts,
                         phrases=channel.phrases, settings=call_settings)
        stats = await call.run()
        results.append({"heard_to_audio": stats.turn_heard_to_audio_s,
                        "llm_waits": dialogue.waits, "tts_waits": tts.waits,
                        "dropped": stats.dropped_audio_frames, "outcome": stats.outcome})

    @app.get("/bench/results")
    async def get_results() -> dict[str, Any]:
        out = {"calls": list(results), "lag": {k: v for k, v in lag.items() if k != "samples"},
               "lag_p99_ms": _pct(lag["samples"], 99) if lag["samples"] else 0.0}
        results.clear()
        lag.update(ticks=0, late_20ms=0, max_ms=0.0, samples=[])
        return out

    async def probe() -> None:
        # 5 ms ticks: how late the loop wakes up is how late a 20 ms frame would be.
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.005)
            late = (time.perf_counter() - t - 0.005) * 1000
            lag["ticks"] += 1
            lag["samples"].append(late)
            lag["max_ms"] = max(lag["max_ms"], late)
            if late > 20:
                lag["late_20ms"] += 1

    @app.on_event("startup")
    async def start_probe() -> None:
        app.state.probe = asyncio.create_task(probe(), name="lag-probe")
        await channel.phrases.warm("Hi, welcome to Test Lobby. Who are you here to see?")
        channel.prepare()

    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="error", ws="websockets",
                lifespan="on", timeout_graceful_shutdown=2)


# ----------------------------------------------------------------------------------------
# load generator


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


async def one_call(url: str, speech: tuple[bytes, int], turns: int, deadline: float,
                   ramp_s: float, out: dict[str, list[float]], speed: float = 1.0) -> None:
    from checkin.voice.audio import FRAME_MS
    from checkin.voice.simulator import SimulatedCall

    await asyncio.sleep(random.uniform(0, ramp_s))
    pcm, rate = speech
    async with SimulatedCall(url, speed=speed) as call:
        await call.bot_turn(after=0, timeout_s=20)
        for _ in range(turns):
            if time.perf_counter() > deadline or call.closed.is_set():
                break
            before_frames = sum(1 for f in call.sent_frames if f.get("event") == "media")
            length = call.say_pcm(pcm, rate, trailing_silence_s=0.0)
            # The microphone sends queued frames in real time from now: speech ends then.
            end_of_speech = time.perf_counter() + length
            call.say_pcm(b"", rate, trailing_silence_s=1.5)
            arrivals = _MediaArrivals(call, before_frames)
            segments = await call.bot_turn(after=len(call.segments), timeout_s=20)
            if not segments:
                out["timeouts"].append(1)
                continue
            first = arrivals.first_after(end_of_speech)
            if first is not None:
                out["e2e"].append(first - end_of_speech)
            out["gaps"].extend(arrivals.gaps())
            await asyncio.sleep(random.uniform(0.2, 0.8) + FRAME_MS / 1000)


class _MediaArrivals:
    """Arrival times of the bot's media frames from now on (the simulator keeps the frames)."""

    def __init__(self, call: Any, skip: int) -> None:
        self.times: list[float] = []
        original = call._on_server

        def stamp(msg: dict[str, Any]) -> None:
            if msg.get("event") == "media":
                self.times.append(time.perf_counter())
            original(msg)

        call._on_server = stamp

    def first_after(self, t: float) -> float | None:
        return next((x for x in self.times if x >= t - 0.02), None)

    def gaps(self) -> list[float]:
        """ms of dead air inside the reply: a frame arriving after the handset ran out."""
        out: list[float] = []
        if not self.times:
            return out
        ends = self.times[0]
        for at in self.times:
            if at > ends + 0.005:  # 5 ms of slack: the handset's jitter buffer
                out.append((at - ends) * 1000)
            ends = max(ends, at) + 0.02
        return out


async def run_level(url: str, n: int, duration: float, turns: int,
                    speech: tuple[bytes, int]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"e2e": [], "gaps": [], "timeouts": []}
    deadline = time.perf_counter() + duration
    ramp = min(5.0, 0.05 * n)
    tasks = [asyncio.create_task(one_call(url, speech, turns, deadline, ramp, out),
                                 name=f"bench-call-{i}") for i in range(n)]
    try:
        async with asyncio.timeout(duration + 40):
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [type(o).__name__ for o in outcomes if isinstance(o, BaseException)]
        if errors:
            print(f"calls failed: {errors[:5]} ({len(errors)})", file=sys.stderr, flush=True)
            out["timeouts"].extend([1] * len(errors))
    except TimeoutError:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


def _wait_port(port: int, timeout_s: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tone(seconds: float) -> tuple[bytes, int]:
    import numpy as np

    t = np.arange(int(seconds * 8000)) / 8000
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype("<i2").tobytes(), 8000


def cmd_run(args: argparse.Namespace) -> None:
    import httpx
    import psutil

    os.sched_setaffinity(0, {1})
    py = sys.executable
    here = str(Path(__file__).resolve())
    fakes = subprocess.Popen(["taskset", "-c", "1", py, here, "fakes", "--lifetime", "3600"],
                             stdout=subprocess.PIPE, text=True)
    server: subprocess.Popen[str] | None = None
    try:
        urls = json.loads(fakes.stdout.readline())  # type: ignore[union-attr]
        port = _free_port()
        server = subprocess.Popen(["taskset", "-c", "0", py, here, "server", "--port", str(port),
                                   "--deepgram", urls["deepgram"],
                                   "--elevenlabs", urls["elevenlabs"],
                                   "--llm-s", str(args.llm_s)], text=True)
        _wait_port(port)
        proc = psutil.Process(server.pid)
        url = f"ws://127.0.0.1:{port}/voice/stream"
        speech = _tone(0.8)
        asyncio.run(run_level(url, 1, 6, 2, speech))  # warm-up: imports, connection pools
        httpx.get(f"http://127.0.0.1:{port}/bench/results")
        rows = []
        for n in args.levels:
            rss0 = proc.memory_info().rss
            cpu0, t0 = proc.cpu_times(), time.perf_counter()
            client = asyncio.run(run_level(url, n, args.duration, args.turns, speech))
            cpu1, t1 = proc.cpu_times(), time.perf_counter()
            rss1 = proc.memory_info().rss
            time.sleep(1.0)  # let the calls' close() finish
            server_side = httpx.get(f"http://127.0.0.1:{port}/bench/results", timeout=30).json()
            rows.append(_summarise(n, client, server_side, cpu1.user + cpu1.system
                                   - cpu0.user - cpu0.system, t1 - t0, rss0, rss1))
            print(json.dumps(rows[-1]), flush=True)
        print(_table(rows), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2), encoding="utf-8")
    finally:
        for p in (server, fakes):
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def _summarise(n: int, client: dict[str, list[float]], server: dict[str, Any], cpu_s: float,
               wall_s: float, rss0: int, rss1: int) -> dict[str, Any]:
    share: list[float] = []
    heard: list[float] = []
    dropped = 0
    for call in server["calls"]:
        dropped += call["dropped"]
        for h, llm, tts in zip(call["heard_to_audio"], call["llm_waits"], call["tts_waits"],
                               strict=False):
            heard.append(h)
            share.append(h - llm - tts)
    gaps = client["gaps"]
    return {
        "calls": n, "turns": len(share),
        "server_share_ms_p50": round(_pct(share, 50) * 1000, 1),
        "server_share_ms_p95": round(_pct(share, 95) * 1000, 1),
        "heard_to_audio_ms_p95": round(_pct(heard, 95) * 1000, 1),
        # The same minus the *nominal* 300 + 150 ms: also charges the server with any lateness
        # of the fakes and of its own timers (an upper bound on its share).
        "server_share_nominal_ms_p95": round((_pct(heard, 95) - LLM_S - 0.150) * 1000, 1),
        "e2e_ms_p50": round(_pct(client["e2e"], 50) * 1000, 1),
        "e2e_ms_p95": round(_pct(client["e2e"], 95) * 1000, 1),
        "cpu_core_pct": round(cpu_s / wall_s * 100, 1),
        "cpu_pct_per_call": round(cpu_s / wall_s * 100 / n, 2),
        "rss_mb": round(rss1 / 2**20, 1),
        "rss_mb_per_call": round(max(0, rss1 - rss0) / 2**20 / n, 2),
        "loop_late_20ms": server["lag"]["late_20ms"],
        "loop_lag_p99_ms": round(server["lag_p99_ms"], 1),
        "loop_lag_max_ms": round(server["lag"]["max_ms"], 1),
        "gaps": len(gaps), "gap_ms_max": round(max(gaps), 1) if gaps else 0.0,
        "dropped_caller_frames": dropped, "turn_timeouts": len(client["timeouts"]),
    }


def _table(rows: list[dict[str, Any]]) -> str:
    head = ("| calls | turns | server share p50 / p95 ms (nominal p95) | "
            "end to end p50 / p95 ms | "
            "server CPU (% of core 0) | CPU per call | RSS (per call) | loop late >20 ms "
            "(p99 lag) | gaps (max) | dropped frames |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        lines.append(
            f"| {r['calls']} | {r['turns']} | {r['server_share_ms_p50']} / "
            f"{r['server_share_ms_p95']} ({r['server_share_nominal_ms_p95']}) | "
            f"{r['e2e_ms_p50']} / {r['e2e_ms_p95']} | "
            f"{r['cpu_core_pct']} | {r['cpu_pct_per_call']} % | {r['rss_mb']} MB "
            f"({r['rss_mb_per_call']} MB) | {r['loop_late_20ms']} ({r['loop_lag_p99_ms']} ms) |"
            f" {r['gaps']} ({r['gap_ms_max']} ms) | {r['dropped_caller_frames']} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------
# offline stack


def cmd_offline(args: argparse.Namespace) -> None:
    import httpx

    from checkin.voice.offline import FliteTextToSpeech

    port = _free_port()
    here = str(Path(__file__).resolve())
    server = subprocess.Popen([sys.executable, here, "server", "--port", str(port), "--stack",
                               "offline", "--llm-s", "0"], text=True)
    try:
        _wait_port(port)
        time.sleep(3)  # the Whisper model loads in the background at start-up
        pcm, rate = asyncio.run(FliteTextToSpeech(voice="slt").synthesize(
            "Good morning, I am here to see Priya Patel."))
        url = f"ws://127.0.0.1:{port}/voice/stream"
        client = asyncio.run(run_level(url, 1, 120, args.turns, (pcm, rate)))
        time.sleep(1)
        server_side = httpx.get(f"http://127.0.0.1:{port}/bench/results", timeout=30).json()
        heard = [h for c in server_side["calls"] for h in c["heard_to_audio"]]
        e2e = client["e2e"]
        print(json.dumps({
            "turns": len(e2e), "e2e_ms": [round(x * 1000) for x in e2e],
            "e2e_ms_p50": round(_pct(e2e, 50) * 1000), "e2e_ms_p95": round(_pct(e2e, 95) * 1000),
            "heard_to_audio_ms_p50": round(_pct(heard, 50) * 1000, 1),
            "heard_to_audio_ms_p95": round(_pct(heard, 95) * 1000, 1)}), flush=True)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 25, 50, 100])
    r.add_argument("--duration", type=float, default=25.0, help="seconds per level")
    r.add_argument("--turns", type=int, default=6, help="most turns per call")
    r.add_argument("--llm-s", type=float, default=LLM_S)
    r.add_argument("--json", help="also write the rows here")
    f = sub.add_parser("fakes")
    f.add_argument("--lifetime", type=float, default=3600)
    s = sub.add_parser("server")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--stack", choices=["cloud", "offline"], default="cloud")
    s.add_argument("--deepgram", default="")
    s.add_argument("--elevenlabs", default="")
    s.add_argument("--llm-s", type=float, default=LLM_S)
    o = sub.add_parser("offline")
    o.add_argument("--turns", type=int, default=8)
    args = p.parse_args()
    {"run": cmd_run, "fakes": cmd_fakes, "server": cmd_server, "offline": cmd_offline}[
        args.cmd](args)


if __name__ == "__main__":
    main()
