"""Fit the "found" model of the name resolver on the shared dev queries, with cross-validation.

    .venv/bin/python bench/fit_decision.py [--cost 12] [--write]

For every dev query whose best reading is not exact (exact readings follow a fixed rule) and
that no sound-alike rule already keeps from "found" (a same-sounding runner-up, a phonetic
twin: ``NameResolver.phonetic_twins``), the features of ``matching.features`` are the input
and "the best reading is the person meant" is the label; a false "found" (wrong person, or
anyone for a not-found query) is weighted ``--cost`` times a missed one. The model is an
L2-regularised logistic regression on standardised features, solved by plain gradient descent
(standard library only). Its cut-off is the lowest that keeps false accepts on the training
queries within ``--budget`` (a share of all training queries, exact ones included: 0.25%
against the 0.5% target).

Generalisation is checked by leaving out one directory size at a time (different people) and a
random half of the queries; the held-out lines are what to read. ``--write`` prints the
constants to paste into ``checkin/directory/matching.py`` (FOUND_MODEL, P_FOUND).

``--clear`` checks the clear-winner rule (``matching.clear_winner``) instead, on the rows the
model leaves unfound: for each fold it picks the lowest ``P_CLEAR`` of a grid with no false
accept on the training rows, and reports the held-out rows at that cut-off and at the one in
the code.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import zlib

from checkin.directory import matching
from checkin.directory.normalize import has_spelling, parse_name_query
from checkin.directory.resolve_cli import load_directory
from checkin.directory.resolver import MAX_TOKENS, NameResolver

BENCH_DIR = os.environ.get("NAMES_BENCH_DIR", "/work/shared/names")
SIZES = (200, 5000, 50000)
# features, label (1 = right person), size, qid hash, clear-winner support of the best reading
Row = tuple[tuple[float, ...], int, int, int, float]
CLEAR_GRID = (0.05, 0.075, 0.1, 0.125, 0.15, 0.2, 0.25, 0.3)


def rows() -> tuple[list[Row], dict[int, int]]:
    """Feature rows of the dev queries whose answer the model decides."""
    data = os.path.join(BENCH_DIR, "data")
    with open(os.path.join(data, "queries_dev.jsonl"), encoding="utf-8") as f:
        queries = [json.loads(line) for line in f if line.strip()]
    out: list[Row] = []
    counts = {size: sum(q["size"] == size for q in queries) for size in SIZES}
    for size in SIZES:
        resolver = NameResolver(load_directory(os.path.join(data, f"directory_{size}.json")))
        for q in (q for q in queries if q["size"] == size):
            spelled = has_spelling(q["text"])
            cands, stray = resolver._decided_readings(q["text"], None, spelled)
            ranked = matching.rank(cands)
            if not ranked or ranked[0].exact:
                continue
            if len(ranked) > 1 and matching.sounds_alike(ranked[0], ranked[1]):
                continue  # never "found": the runner-up sounds the same
            if not spelled and resolver.phonetic_twins(q["text"], None, ranked[0]):
                continue  # never "found": someone else's whole name sounds the same
            best = resolver._employees[ranked[0].index].id
            exp = q["expected"]
            good = exp["type"] in ("unique", "garbled") and best in exp["ids"]
            x = matching.features(ranked, stray)
            lone = len(ranked[0].sims) == 1 and not ranked[0].joined
            tokens = parse_name_query(q["text"])[0][-MAX_TOKENS:]
            support = 0.0 if lone or ranked[0].final < matching.MIN_PART_SIM else \
                resolver.clear_support(tokens, ranked[0].index)
            out.append((x, int(good), size, zlib.crc32(q["qid"].encode()), support))
    return out, counts


def fit(train: list[Row], cost: float, l2: float = 0.01, steps: int = 3000) -> list[float]:
    """Weights (intercept first) of a cost-weighted logistic regression in raw feature units."""
    k = len(train[0][0])
    mean = [sum(r[0][j] for r in train) / len(train) for j in range(k)]
    sd = [math.sqrt(sum((r[0][j] - mean[j]) ** 2 for r in train) / len(train)) or 1.0
          for j in range(k)]
    xs = [[(r[0][j] - mean[j]) / sd[j] for j in range(k)] for r in train]
    ys = [r[1] for r in train]
    ws = [1.0 if y else cost for y in ys]
    total = sum(ws)
    w = [0.0] * (k + 1)
    for _ in range(steps):
        grad = [0.0] * (k + 1)
        for x, y, wt in zip(xs, ys, ws, strict=True):
            z = w[0] + sum(a * b for a, b in zip(w[1:], x, strict=True))
            err = wt * (1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z)))) - y)
            grad[0] += err
            for j in range(k):
                grad[j + 1] += err * x[j]
        w = [w[0] - 0.5 * grad[0] / total] + [
            w[j + 1] - 0.5 * (grad[j + 1] / total + l2 * w[j + 1]) for j in range(k)]
    raw = [w[j + 1] / sd[j] for j in range(k)]
    return [w[0] - sum(raw[j] * mean[j] for j in range(k)), *raw]


def prob(w: list[float], x: tuple[float, ...]) -> float:
    """The model's probability for one feature row."""
    z = w[0] + sum(a * b for a, b in zip(w[1:], x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def cutoff(w: list[float], train: list[Row], budget: int) -> float:
    """The lowest probability cut-off that keeps training false accepts within ``budget``."""
    scored = sorted(((prob(w, r[0]), r[1]) for r in train), reverse=True)
    fas, p_cut = 0, 1.0
    for p, y in scored:
        fas += not y
        if fas > budget:
            break
        p_cut = p
    return p_cut


def report(name: str, w: list[float], p: float, test: list[Row]) -> tuple[int, int]:
    """Print hits and false accepts of the fitted rule on ``test``."""
    hits = sum(1 for r in test if r[1] and prob(w, r[0]) >= p)
    fas = sum(1 for r in test if not r[1] and prob(w, r[0]) >= p)
    pos = sum(r[1] for r in test)
    print(f"{name:28} rows={len(test):4}  found right {hits:3}/{pos:3}  false accepts {fas}")
    return hits, fas


def clear_hits(test: list[Row], p_clear: float) -> tuple[int, int]:
    """Right and wrong "found"s of the clear-winner rule at ``p_clear`` on rows the model
    leaves unfound."""
    right = wrong = 0
    for x, label, _, _, support in test:
        p = matching.found_probability(x)
        if p < matching.P_FOUND and x[0] >= matching.MIN_PART_SIM and p >= p_clear \
                and x[1] >= matching.CLEAR_MARGIN and support >= matching.MIN_PART_SIM:
            right += label
            wrong += not label
    return right, wrong


def check_clear(data: list[Row]) -> None:
    """Cross-validate the clear-winner cut-off (see the module docstring)."""
    folds = [(f"held-out size {s}", [r for r in data if r[2] != s], [r for r in data if r[2] == s])
             for s in SIZES]
    for seed in range(10):
        rnd = random.Random(seed)
        half = {h for h in {r[3] for r in data} if rnd.random() < 0.5}
        folds += [(f"held-out random half #{seed}", [r for r in data if r[3] in half],
                   [r for r in data if r[3] not in half])]
    for name, train, test in folds:
        p = min((c for c in CLEAR_GRID if clear_hits(train, c)[1] == 0), default=1.0)
        right, wrong = clear_hits(test, p)
        at_code = clear_hits(test, matching.P_CLEAR)
        print(f"{name:28} fold cut-off {p:.3f}: {right:2} right, {wrong} false accepts;"
              f"  at P_CLEAR {matching.P_CLEAR}: {at_code[0]:2} right, {at_code[1]} false accepts")
    right, wrong = clear_hits(data, matching.P_CLEAR)
    print(f"{'all (P_CLEAR in the code)':28} {right} right, {wrong} false accepts")


def main() -> int:
    """Fit, cross-validate, and print the constants."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cost", type=float, default=12.0)
    ap.add_argument("--budget", type=float, default=0.0025)
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--clear", action="store_true", help="check the clear-winner rule instead")
    args = ap.parse_args()
    data, counts = rows()
    if args.clear:
        check_clear(data)
        return 0

    def budget(sizes: set[int]) -> int:
        return int(args.budget * sum(counts[s] for s in sizes))

    print("features:", ", ".join(matching.FEATURES))
    for size in SIZES:
        train = [r for r in data if r[2] != size]
        w = fit(train, args.cost)
        report(f"held-out size {size}", w, cutoff(w, train, budget(set(SIZES) - {size})),
               [r for r in data if r[2] == size])
    for seed in range(3):
        rnd = random.Random(seed)
        half = {h for h in {r[3] for r in data} if rnd.random() < 0.5}
        train = [r for r in data if r[3] in half]
        w = fit(train, args.cost)
        report(f"held-out random half #{seed}", w, cutoff(w, train, budget(set(SIZES)) // 2),
               [r for r in data if r[3] not in half])
    w = fit(data, args.cost)
    p = cutoff(w, data, budget(set(SIZES)))
    report("all (training fit)", w, p, data)
    if args.write:
        print("FOUND_MODEL = (" + ", ".join(f"{v:.3f}" for v in w) + ")")
        print(f"P_FOUND = {p:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
