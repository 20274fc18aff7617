"""Run the shared name-resolution benchmark against checkin's resolver and print its table.

    .venv/bin/python bench/names.py [--sizes 200,5000,50000] [--dump /tmp/per_query.jsonl]
    .venv/bin/python bench/names.py --cpu [--sizes 50000]

A thin wrapper around /work/shared/names/score.py (override with NAMES_BENCH_DIR): it runs the
scorer in its own folder with this interpreter and ``-m checkin.directory.resolve_cli``.

``--cpu`` instead times ``NameResolver.resolve`` in this process over the dev queries of each
size, by CPU time (``time.process_time_ns``), and prints p50/p95/p99: unlike the scorer's
wall clock it barely moves when other jobs load the machine, so old and new code compare
fairly (run the old one from a copy of the package on PYTHONPATH).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shlex
import subprocess
import sys
import time

BENCH_DIR = os.environ.get("NAMES_BENCH_DIR", "/work/shared/names")


def cpu_times(sizes: list[int]) -> None:
    """Print per-query CPU-time percentiles of ``resolve`` at each directory size."""
    from checkin.directory.resolve_cli import load_directory
    from checkin.directory.resolver import NameResolver

    data = os.path.join(BENCH_DIR, "data")
    with open(os.path.join(data, "queries_dev.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    for size in sizes:
        start = time.process_time()
        resolver = NameResolver(load_directory(os.path.join(data, f"directory_{size}.json")))
        load = time.process_time() - start
        gc.collect()
        gc.freeze()  # as resolve_cli does after loading
        ms: list[float] = []
        for q in (q for q in queries if q["size"] == size):
            t0 = time.process_time_ns()
            resolver.resolve(q["text"])
            ms.append((time.process_time_ns() - t0) / 1e6)
        ms.sort()

        def pct(p: float, ms: list[float] = ms) -> float:
            return ms[min(len(ms) - 1, round(p * (len(ms) - 1)))]

        print(f"size {size:6}  queries {len(ms):4}  CPU ms p50 {pct(0.5):.2f}  p95 {pct(0.95):.2f}"
              f"  p99 {pct(0.99):.2f}  max {ms[-1]:.2f}  mean {sum(ms) / len(ms):.2f}"
              f"  (index build {load:.2f} s CPU)")
        gc.unfreeze()


def main() -> int:
    """Run score.py with the JSON-lines resolver (or ``--cpu``); returns the exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200,5000,50000")
    ap.add_argument("--dump", help="per-query JSONL (write it under /tmp)")
    ap.add_argument("--cpu", action="store_true", help="in-process CPU time per query instead")
    args = ap.parse_args()
    if args.cpu:
        cpu_times([int(s) for s in args.sizes.split(",")])
        return 0
    cmd = f"{shlex.quote(sys.executable)} -m checkin.directory.resolve_cli"
    argv = [sys.executable, "score.py", "--cmd", cmd, "--sizes", args.sizes]
    if args.dump:
        argv += ["--dump", os.path.abspath(args.dump)]
    return subprocess.call(argv, cwd=BENCH_DIR)


if __name__ == "__main__":
    sys.exit(main())
