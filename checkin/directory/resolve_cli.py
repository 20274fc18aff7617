"""JSON-lines front end of the name resolver (the protocol of the names benchmark).

Owns reading a directory file (JSON ``{"employees": [...]}`` or CSV) and the request/reply
loop: ``{"op": "load", ...}`` -> ``{"ok": true}``, ``{"op": "resolve", "qid", "text"}`` ->
``{"qid", "status", "id" | "candidates"}``. Only protocol lines go to stdout.
Imports: directory.model, directory.resolver.
"""

from __future__ import annotations

import csv
import gc
import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from checkin.directory.model import Employee
from checkin.directory.resolver import NameResolver, Resolution

_FALSE = {"0", "false", "no", "n", "inactive", ""}


def _employee(row: Mapping[str, Any]) -> Employee:
    """One directory record (JSON object or CSV row) as an Employee."""
    active = row.get("active", True)
    if isinstance(active, str):
        active = active.strip().lower() not in _FALSE
    aliases = row.get("aliases") or ()
    if isinstance(aliases, str):
        aliases = [a.strip() for a in aliases.split("|") if a.strip()]
    return Employee(
        id=str(row["id"]), first_name=str(row.get("first_name") or ""),
        last_name=str(row.get("last_name") or ""), department=str(row.get("department") or ""),
        title=str(row.get("title") or ""), email=str(row.get("email") or ""),
        phone=str(row.get("phone") or ""), slack_id=str(row.get("slack_id") or ""),
        active=bool(active), aliases=tuple(aliases),
    )


def load_directory(path: str) -> list[Employee]:
    """Employees from a directory JSON (``{"employees": [...]}`` or a list) or CSV file."""
    with open(path, encoding="utf-8", newline="") as f:
        if path.lower().endswith(".csv"):
            return [_employee(r) for r in csv.DictReader(f)]
        data = json.load(f)
    rows: Iterable[Mapping[str, Any]] = data["employees"] if isinstance(data, dict) else data
    return [_employee(r) for r in rows]


def reply(qid: Any, res: Resolution) -> dict[str, Any]:
    """The protocol reply for one resolution."""
    out: dict[str, Any] = {"qid": qid, "status": res.status}
    if res.status == "found":
        out["id"] = res.matches[0].employee.id
    elif res.status == "ambiguous":
        out["candidates"] = [m.employee.id for m in res.matches]
    return out


def _write(stdout: TextIO, obj: Mapping[str, Any]) -> None:
    stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    stdout.flush()


def _build(path: str) -> NameResolver:
    resolver = NameResolver(load_directory(path))
    # The index is millions of long-lived objects; freezing them keeps the cyclic GC from
    # rescanning them in the middle of a lookup (a multi-millisecond latency spike).
    gc.collect()
    gc.freeze()
    return resolver


def run_jsonl(stdin: TextIO, stdout: TextIO, directory: str | None) -> int:
    """Serve the JSON-lines protocol until stdin closes; returns the process exit code."""
    resolver = _build(directory) if directory else None
    for line in stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            _write(stdout, {"status": "error", "error": "bad json"})
            continue
        op = msg.get("op", "resolve")
        if op == "load":
            path = msg.get("directory") or msg.get("directory_csv")
            try:
                resolver = _build(path)
            except (OSError, KeyError, ValueError) as exc:
                _write(stdout, {"ok": False, "error": type(exc).__name__})
                continue
            _write(stdout, {"ok": True})
        elif resolver is None:
            _write(stdout, {"qid": msg.get("qid"), "status": "error", "error": "no directory"})
        else:
            _write(stdout, reply(msg.get("qid"), resolver.resolve(str(msg.get("text", "")))))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m checkin.directory.resolve_cli [DIRECTORY]``; else the ``load`` message says."""
    args = sys.argv[1:] if argv is None else argv
    directory = args[0] if args else os.environ.get("NAMES_DIRECTORY") or None
    return run_jsonl(sys.stdin, sys.stdout, directory)


if __name__ == "__main__":
    sys.exit(main())
