"""Name-part similarity, the part index behind it, and the found/ambiguous/not_found rule.

Owns the numbers: how alike two name parts are (edit distance blended with phonetic-key
agreement), which directory parts a query span can reach (exact, phonetic, SymSpell-style
deletions: all dict lookups), and how candidate scores become a status. Pure; imports only
rapidfuzz and jellyfish, nothing from checkin.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Literal

import jellyfish
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

MIN_PART_SIM = 0.6  # below this two name parts are unrelated
MAX_PART_HITS = 25  # similar parts kept per query span, best first
# Thresholds by the kind of reading that produced the best candidate: (found, ask).
# A lone name part must match exactly to be "found" (and sound very close to be asked about);
# a first + last reading can absorb a typo in each part; a run-together reading sits between.
T_PAIR = (0.78, 0.74)
T_JOINED = (0.84, 0.74)
T_ONE = (0.97, 0.90)
MIN_FOUND_PART = 0.8  # each part of a "found" reading must be at least this close on its own
MARGIN = 0.10  # the best must beat the runner-up by this much to be "found"
ASK_WINDOW = 0.20  # ask about everyone within this of the best
ASK_FLOOR = 0.70
MAX_ASK = 6
_NON_ALPHA = re.compile(r"[^a-z]")


def squash(text: str) -> str:
    """Letters only: ``"o'brien"`` -> ``"obrien"`` (input already folded)."""
    return _NON_ALPHA.sub("", text)


@lru_cache(maxsize=200_000)
def _keys(part: str) -> tuple[str, str, str]:
    """Phonetic keys of a part: metaphone, NYSIIS and Soundex (without its first letter)."""
    if not part:
        return ("", "", "")
    return (jellyfish.metaphone(part), jellyfish.nysiis(part), jellyfish.soundex(part)[1:])


@lru_cache(maxsize=200_000)
def part_similarity(a: str, b: str) -> float:
    """How alike two name parts sound and look, 0..1 (1 only for equal strings).

    Edit similarity first; agreeing phonetic keys close half the remaining gap, so "sera" and
    "sarah" (same keys) come out near 0.83 while "lauren" and "lorna" stay near 0.7.
    """
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    base = max(fuzz.ratio(a, b) / 100.0, OSA.normalized_similarity(a, b))
    ka, kb = _keys(a), _keys(b)
    phon = sum(x == y and x != "" for x, y in zip(ka, kb, strict=True)) / 3.0
    return min(0.99, base + (1.0 - base) * 0.5 * phon)


def _deletes(word: str, depth: int) -> set[str]:
    """All strings reachable from ``word`` by deleting up to ``depth`` characters."""
    out = {word}
    for d in range(1, min(depth, len(word) - 1) + 1):
        for idx in combinations(range(len(word)), d):
            out.add("".join(c for k, c in enumerate(word) if k not in idx))
    return out


def _depth(word: str) -> int:
    return 1 if len(word) <= 4 else 2


class PartIndex:
    """Every distinct name part, reachable by exact form, phonetic key or a few deletions."""

    def __init__(self) -> None:
        self._parts: set[str] = set()
        self._by_key: dict[str, set[str]] = defaultdict(set)
        self._by_delete: dict[str, set[str]] = defaultdict(set)

    def add(self, part: str) -> None:
        """Index one part (idempotent)."""
        if not part or part in self._parts:
            return
        self._parts.add(part)
        for tag, key in zip("mns", _keys(part), strict=True):
            if key:
                self._by_key[tag + key].add(part)
        for d in _deletes(part, _depth(part)):
            self._by_delete[d].add(part)

    def freeze(self) -> None:
        """Finish building (plain dicts: a miss must not insert an empty set)."""
        self._by_key = dict(self._by_key)
        self._by_delete = dict(self._by_delete)

    def has(self, part: str) -> bool:
        """Whether ``part`` is exactly some name part in the directory."""
        return part in self._parts

    def similar(self, text: str) -> dict[str, float]:
        """Directory parts similar to ``text`` with their similarity, best first."""
        if not text:
            return {}
        found: set[str] = set()
        if text in self._parts:
            found.add(text)
        for tag, key in zip("mn", _keys(text)[:2], strict=False):
            found |= self._by_key.get(tag + key, set()) if key else set()
        for d in _deletes(text, _depth(text)):
            found |= self._by_delete.get(d, set())
        scored = ((p, part_similarity(text, p)) for p in found)
        kept = sorted((ps for ps in scored if ps[1] >= MIN_PART_SIM), key=lambda ps: -ps[1])
        return dict(kept[:MAX_PART_HITS])


@dataclass(frozen=True, slots=True)
class Candidate:
    """One person's best reading of the query: raw score, part similarities, tokens explained."""

    index: int
    score: float
    sims: tuple[float, ...]  # (first, last) for a two-part reading, (part,) for a one-part one
    covered: int
    n_tokens: int
    joined: bool = False  # read from the run-together query rather than from aligned tokens

    @property
    def final(self) -> float:
        """Score after the penalty for query tokens this reading leaves unexplained."""
        missing = self.n_tokens - self.covered
        per_token = 0.08 if len(self.sims) == 2 else 0.3
        return self.score - per_token * missing


Status = Literal["found", "ambiguous", "not_found"]


def _thresholds(c: Candidate) -> tuple[float, float]:
    if c.joined:
        return T_JOINED
    return T_PAIR if len(c.sims) == 2 else T_ONE


def decide(cands: list[Candidate]) -> tuple[Status, list[Candidate]]:
    """Turn scored candidates into a status and the candidates to report, best first."""
    merged: dict[int, Candidate] = {}
    for c in cands:
        if c.index not in merged or c.final > merged[c.index].final:
            merged[c.index] = c
    ranked = sorted(merged.values(), key=lambda c: (-c.final, -c.score, c.index))
    if not ranked:
        return "not_found", []
    best = ranked[0]
    t_found, t_ask = _thresholds(best)
    if best.final < t_ask:
        return "not_found", [c for c in ranked[:3] if c.final >= MIN_PART_SIM]
    second = ranked[1].final if len(ranked) > 1 else 0.0
    if best.final >= t_found and best.final - second >= MARGIN and min(best.sims) >= MIN_FOUND_PART:
        return "found", [best]
    floor = max(ASK_FLOOR, best.final - ASK_WINDOW)
    return "ambiguous", [c for c in ranked if c.final >= floor][:MAX_ASK]
