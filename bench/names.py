"""Run the shared name-resolution benchmark against checkin's resolver and print its table.

    .venv/bin/python bench/names.py [--sizes 200,5000,50000] [--dump /tmp/per_query.jsonl]

A thin wrapper around /work/shared/names/score.py (override with NAMES_BENCH_DIR): it runs the
scorer in its own folder with this interpreter and ``-m checkin.directory.resolve_cli``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys

BENCH_DIR = os.environ.get("NAMES_BENCH_DIR", "/work/shared/names")


def main() -> int:
    """Run score.py with the JSON-lines resolver; returns the scorer's exit code."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="200,5000,50000")
    ap.add_argument("--dump", help="per-query JSONL (write it under /tmp)")
    args = ap.parse_args()
    cmd = f"{shlex.quote(sys.executable)} -m checkin.directory.resolve_cli"
    argv = [sys.executable, "score.py", "--cmd", cmd, "--sizes", args.sizes]
    if args.dump:
        argv += ["--dump", os.path.abspath(args.dump)]
    return subprocess.call(argv, cwd=BENCH_DIR)


if __name__ == "__main__":
    sys.exit(main())
