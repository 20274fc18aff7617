"""Name-part similarity, the part index behind it, and the found/ambiguous/not_found rule.

Owns the numbers: how alike two name parts are (edit distance blended with phonetic-key
agreement), which directory parts a query span can reach (exact, phonetic, SymSpell-style
deletions: all dict lookups), and how candidate scores become a status. Pure; imports only
rapidfuzz, jellyfish and numpy, nothing from checkin.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import jellyfish
import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA, Levenshtein

MIN_PART_SIM = 0.6  # below this two name parts are unrelated
MAX_PART_HITS = 25  # similar parts kept per query span, best first
BULK = 8  # more candidate parts than this are scored in one call (part_similarities)
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
# Logistic model for "found" on a reading that is not exact: intercept, then one weight per
# entry of FEATURES. Fitted by bench/fit_decision.py (see there); P_FOUND is its cut-off.
FOUND_MODEL = (-18.884, 5.684, 7.147, 1.558, 0.092, 0.672, -1.700, 3.495, -0.006, 0.636, 1.169,
               -1.502, 6.319, 1.417, 2.445, -1.503, 3.129, -0.475, -0.015)
P_FOUND = 0.377
# A clear winner the model is less sure of is still "found" (``clear_winner``): at least this
# chance, this far ahead of the runner-up, and both name parts related by spelling. Chosen with
# margin on the dev set's cross-validation folds (bench/fit_decision.py --clear).
P_CLEAR = 0.15
CLEAR_MARGIN = 0.05
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
    phon = ((ka[0] == kb[0] and ka[0] != "") + (ka[1] == kb[1] and ka[1] != "")
            + (ka[2] == kb[2] and ka[2] != "")) / 3.0
    return min(0.99, base + (1.0 - base) * 0.5 * phon)


def part_similarities(text: str, parts: list[str]) -> list[float]:
    """``part_similarity(text, p)`` for every part at once, the same numbers: the edit
    similarities in C (rapidfuzz cdist), the phonetic keys from the cache."""
    ratio = process.cdist([text], parts, scorer=fuzz.ratio, dtype=np.float64)[0] / 100.0
    osa = process.cdist([text], parts, scorer=OSA.normalized_similarity, dtype=np.float64)[0]
    base = np.maximum(ratio, osa)
    m, n, x = _keys(text)
    phon = np.fromiter(((k[0] == m and m != "") + (k[1] == n and n != "")
                        + (k[2] == x and x != "") for k in map(_keys, parts)),
                       dtype=np.float64, count=len(parts)) / 3.0
    sims = np.minimum(0.99, base + (1.0 - base) * 0.5 * phon)
    out: list[float] = sims.tolist()
    for k, p in enumerate(parts):
        if p == text or not p:
            out[k] = 1.0 if p == text else 0.0
    return out


def _deletes(word: str, depth: int) -> set[str]:
    """All strings reachable from ``word`` by deleting up to ``depth`` characters."""
    out = {word}
    level = {word}
    for _ in range(min(depth, len(word) - 1)):
        level = {w[:k] + w[k + 1:] for w in level for k in range(len(w))}
        out |= level
    return out


def _depth(word: str) -> int:
    return 1 if len(word) <= 4 else 2


class PartIndex:
    """Every distinct name part, reachable by exact form, phonetic key or a few deletions."""

    def __init__(self) -> None:
        self._parts: set[str] = set()
        self._build_key: dict[str, set[str]] = defaultdict(set)
        self._build_delete: dict[str, set[str]] = defaultdict(set)
        self._by_key: dict[str, tuple[str, ...]] = {}
        self._by_delete: dict[str, tuple[str, ...]] = {}

    def add(self, part: str) -> None:
        """Index one part (idempotent)."""
        if not part or part in self._parts:
            return
        self._parts.add(part)
        for tag, key in zip("mns", _keys(part), strict=True):
            if key:
                self._build_key[tag + key].add(part)
        for d in _deletes(part, _depth(part)):
            self._build_delete[d].add(part)

    def freeze(self) -> None:
        """Finish building: plain dicts of sorted tuples (a miss must not insert an empty set;
        tuples of strings are no work for the cyclic garbage collector, sets are)."""
        self._by_key = {k: tuple(sorted(v)) for k, v in self._build_key.items()}
        self._by_delete = {k: tuple(sorted(v)) for k, v in self._build_delete.items()}
        self._build_key, self._build_delete = defaultdict(set), defaultdict(set)

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
            if key:
                found.update(self._by_key.get(tag + key, ()))
        for d in _deletes(text, _depth(text)):
            found.update(self._by_delete.get(d, ()))
        if len(found) > BULK:
            parts = list(found)
            scored: Iterable[tuple[str, float]] = zip(parts, part_similarities(text, parts),
                                                      strict=True)
        else:
            scored = ((p, part_similarity(text, p)) for p in found)
        # ties by spelling: the kept set must not depend on the process's string hashing
        kept = sorted((ps for ps in scored if ps[1] >= MIN_PART_SIM),
                      key=lambda ps: (-ps[1], ps[0]))
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
    parts: tuple[str, ...] = ()  # the directory parts this reading matched, as sims
    heard: tuple[str, ...] = ()  # the query text read as each of those parts
    carried: bool = False  # read with carrier words glued to a name word ("to tell" -> totell)
    anchored: bool = False  # one exact part, the rest compared with that person's other part
    phonetic: bool = False  # found by comparing the whole query with whole names as phonemes
    # score after the penalty for query tokens this reading leaves unexplained (computed once:
    # ranking reads it many times per query)
    final: float = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        per_token = 0.08 if len(self.sims) == 2 else 0.3
        object.__setattr__(self, "final", self.score - per_token * (self.n_tokens - self.covered))

    @property
    def exact(self) -> bool:
        """Every query token is, letter for letter, one of this person's name parts."""
        return (not (self.joined or self.carried or self.phonetic)
                and self.covered == self.n_tokens
                and min(self.sims) >= 1.0)


Status = Literal["found", "ambiguous", "not_found"]



def _thresholds(c: Candidate) -> tuple[float, float]:
    if c.joined:
        return T_JOINED
    return T_PAIR if len(c.sims) == 2 else T_ONE


FEATURES = ("final", "margin", "weakest", "exact_parts", "joined", "lone", "covered", "sound",
            "initials", "tokens", "stray", "rival", "sound_sim", "carried", "anchored",
            "phon", "phon_margin", "phonetic")


_MARGIN = FEATURES.index("margin")


def features(ranked: list[Candidate], stray: bool = False) -> tuple[float, ...]:
    """What the found/ask rule looks at for the best reading (see ``FEATURES`` for the order).

    All general: how well the best person fits, how far ahead of the runner-up, the weakest
    part, how many parts were heard exactly, the reading's shape, how many query tokens it
    explains, whether the heard words sound like (and start like) the name parts they were read
    as, and ``stray``: a query word that is someone's exact name was left out or bent.
    """
    best = ranked[0]
    second = ranked[1].final if len(ranked) > 1 else 0.0
    pairs = list(zip(best.heard, best.parts, strict=True)) or [("", "")]
    sound = sum(sound_key(h) == sound_key(p) for h, p in pairs) / len(pairs)
    initials = sum(h[:1] == p[:1] for h, p in pairs) / len(pairs)
    exact_parts = sum(h == p for h, p in pairs) / len(pairs)
    rivals = [c.final for c in ranked[1:] if c.covered >= best.covered]
    rival = min(best.final - max(rivals, default=0.0), 0.3)
    sound_sim = min(part_similarity(sound_key(h), sound_key(p)) for h, p in pairs)
    phon = _phon(best)
    phon_margin = min(phon - max((_phon(c) for c in ranked[1:4]), default=0.0), 0.3)
    return (best.final, min(best.final - second, 0.3), min(best.sims), exact_parts,
            float(best.joined), float(len(best.sims) == 1), best.covered / best.n_tokens,
            sound, initials, float(min(best.n_tokens, 4)), float(stray), rival, sound_sim,
            float(best.carried), float(best.anchored), phon, phon_margin, float(best.phonetic))


def _phon(c: Candidate) -> float:
    """Phoneme similarity of everything a reading heard with everything it matched."""
    return sounds_similarity(" ".join(c.heard), " ".join(c.parts))


def found_probability(x: tuple[float, ...]) -> float:
    """The fitted chance that the best reading is the one person meant (logistic model)."""
    z = FOUND_MODEL[0] + sum(w * v for w, v in zip(FOUND_MODEL[1:], x, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def rank(cands: list[Candidate]) -> list[Candidate]:
    """Each person's best reading, best first."""
    merged: dict[int, Candidate] = {}
    for c in cands:
        if c.index not in merged or c.final > merged[c.index].final:
            merged[c.index] = c
    return sorted(merged.values(), key=lambda c: (-c.final, -c.score, c.index))


def decide(
    cands: list[Candidate], stray: bool = False, spelled: bool = False,
    spelling: Callable[[Candidate], float] | None = None,
) -> tuple[Status, list[Candidate]]:
    """Turn scored candidates into a status and the candidates to report, best first.

    An exact reading is found unless someone else reads exactly too or, when the name was
    said rather than spelled, sounds the same. Otherwise the fitted model decides "found",
    or ``clear_winner`` does, never for someone whose runner-up sounds the same; the rest is
    asked about or not found. ``spelling(c)``: how alike by spelling the query's words are to
    the person's first and to their last name, the weaker of the two (none: no clear winners).
    """
    ranked = rank(cands)
    if not ranked:
        return "not_found", []
    best = ranked[0]
    if best.exact:
        # a same-sounding name counts only if it reads about as well (not "Dr Adam" -> Adam X)
        twins = [c for c in ranked[1:] if c.exact or (
            not spelled and c.parts != best.parts and c.covered == best.covered
            and c.final >= best.final - ASK_WINDOW and sounds_alike(c, best))]
        if not twins:
            return "found", [best]
        return "ambiguous", _ask([best, *twins], ranked)
    twin = len(ranked) > 1 and sounds_alike(ranked[1], best)
    # a reading weaker than two related name parts is never "found", however lonely it is;
    # a lone name part heard inexactly ("Mr Lindkvist") is confirmed, never assumed
    lone = len(best.sims) == 1 and not best.joined
    if not twin and not lone and best.final >= MIN_PART_SIM:
        x = features(ranked, stray)
        p = found_probability(x)
        if p >= P_FOUND or (spelling is not None and clear_winner(x, p, spelling(best))):
            return "found", [best]
    # second-pass (glued, anchored, phonetic) readings may settle "found", never widen a question
    ranked = rank([c for c in cands if not (c.carried or c.anchored or c.phonetic)])
    if not ranked:
        return "not_found", []
    best = ranked[0]
    if best.final < _thresholds(best)[1]:
        return "not_found", [c for c in ranked[:3] if c.final >= MIN_PART_SIM]
    return "ambiguous", _ask([best], ranked)


def clear_winner(x: tuple[float, ...], p: float, support: float) -> bool:
    """Whether a reading the model is unsure of is still plainly the one person meant.

    "vanessa watch" (Vanessa Watts) or "riley whie" (Riley White): the model sees a weak part,
    yet nobody else comes close. Found when the reading is ``CLEAR_MARGIN`` ahead of the
    runner-up, the model gives it at least ``P_CLEAR``, and ``support`` (the weaker name part's
    similarity by spelling, 0 when a query word is someone else's name: see
    ``NameResolver.clear_support``) is at least ``MIN_PART_SIM``: a sound-alike is not enough.
    """
    return p >= P_CLEAR and x[_MARGIN] >= CLEAR_MARGIN and support >= MIN_PART_SIM


def _ask(first: list[Candidate], ranked: list[Candidate]) -> list[Candidate]:
    """Whom to ask about: ``first``, then everyone within ``ASK_WINDOW`` of the best."""
    floor = max(ASK_FLOOR, ranked[0].final - ASK_WINDOW)
    out = list(first[:MAX_ASK])
    seen = {c.index for c in out}
    for c in ranked:  # best first: stop at the floor or when the list is full
        if len(out) >= MAX_ASK or c.final < floor:
            break
        if c.index not in seen:
            out.append(c)
            seen.add(c.index)
    return out

# Spelling rules that keep the sound and drop the spelling: "Sean"/"Shaun", "Clark"/"Clarke",
# "Smith"/"Smyth", "Steven"/"Stephen", "Newman"/"Neumann", "Shepherd"/"Sheppard".
_SOUND_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pat), rep) for pat, rep in (
        (r"(?<=[^aeiou][aeiou][^aeiouyw])e$", "E"),  # a magic e: "rose" is not "ross"
        (r"pherd$", "perd"), (r"ph", "f"), (r"v", "f"), (r"ck", "k"), (r"q", "k"),
        (r"x", "ks"), (r"c(?=[eiy])", "s"), (r"c", "k"), (r"z", "s"),
        (r"(?<=[aeiou])w(?![aeiou])", "u"), (r"(?<=[^aeiou])e$", ""), (r"y", "i"),
        (r"(?<=.)h", ""), (r"(.)\1+", r"\1"),
    ))
_VOWELS = re.compile(r"[aeiou]+")
_FINAL_VOWELS = re.compile(r"[aeiou]+$")


def _final_vowel(group: str) -> str:
    """The sound class of a word-final vowel group: Daniella ends in A, Benigno in O."""
    if group[-1] == "a" and group != "ea":
        return "A"
    if group[-1] == "o" or group.startswith("o"):
        return "O"
    return "U" if group[-1] == "u" else "I"


@lru_cache(maxsize=200_000)
def sound_key(part: str) -> str:
    """A coarse pronunciation key: equal keys mean the names sound the same when spoken.

    Spelling variants collapse ("sean"/"shaun" -> "san", "kerley"/"curley" -> "karlI") while
    an extra syllable or a different final vowel keeps names apart ("daniel" -> "danal",
    "daniella" -> "danalA"). Interior vowels are all alike: a heard name rarely tells them apart.
    """
    for pat, rep in _SOUND_RULES:
        part = pat.sub(rep, part)
    tail = _FINAL_VOWELS.search(part)
    end = _final_vowel(tail.group(0)) if tail else ""
    stem = part[: tail.start()] if tail else part
    return _VOWELS.sub("a", stem) + end


def sounds_alike(a: Candidate, b: Candidate) -> bool:
    """Whether two readings name parts that sound the same (Steven Clark / Stephen Clarke)."""
    return len(a.parts) == len(b.parts) and all(
        sound_key(x) == sound_key(y) for x, y in zip(a.parts, b.parts, strict=True))


# ---------------------------------------------------------------- phonemes
# A small grapheme-to-phoneme approximation for names, English spelling first with the common
# international spellings (German sch/ei/ie/w, Spanish j/ll/ñ-less, Slavic cz/sz/w, Dutch ij).
# One character per phoneme: S = sh, Z = zh, C = ch, J = j in "john", T = th, N = ng, Y = the
# vowel of "eye"; vowels a e i o u. Good enough to compare names by sound, not to speak them.
_G2P_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pat), rep) for pat, rep in (
        (r"pherd$", "perd"), (r"^mc", "mak"), (r"^kn", "n"), (r"^wr", "r"), (r"^ps", "s"),
        (r"^gn", "n"),
        (r"^x", "z"), (r"^wh", "w"), (r"^h(?=[^aeiouy])", ""),
        (r"tch", "C"), (r"sch", "S"), (r"(?<=[aeiou])ch(?=[^aeiou]|$)", "k"), (r"chr", "kr"),
        (r"sh", "S"), (r"sz", "S"), (r"cz", "C"), (r"ch", "C"), (r"ph", "f"), (r"th", "T"),
        (r"eigh", "E"), (r"igh", "Y"), (r"ough", "o"), (r"augh", "of"), (r"^gh", "g"), (r"gh", ""),
        (r"dg(?=[eiy])", "J"), (r"ck", "k"), (r"qu", "kw"), (r"q", "k"), (r"x", "ks"),
        (r"c(?=[eiy])", "s"), (r"c", "k"), (r"g(?=[ei])", "J"), (r"tz|zz", "ts"),
        (r"ng$", "N"), (r"mb$", "m"), (r"(?<=[aeiou])ll(?=[aeiou])", "l"),
        (r"(?<=[^aeiou][aeiou][^aeiouyw])e$", ""), (r"(?<=[^aeiouy])e$", ""),
        (r"(?<=[^aeiou])es$", "s"), (r"ij", "Y"), (r"ei|ey$|ai|ay", "E"), (r"oe|oi|oy", "O"),
        (r"ee|ea|ie|ey", "i"), (r"oo|ou|ue|ew", "u"), (r"au|aw|oa|ow$", "o"),
        (r"^y(?=[aeiou])", "H"), (r"(?<=[aeiou])y(?=[aeiou])", "H"),
        (r"(?<=[^aeiouE])y(?=[^aeiou]|$)", "i"), (r"(?<=[aeiouE])y", ""), (r"y", "i"),
        (r"(?<=[aeiou])w(?![aeiou])", "u"), (r"(?<=.)h", ""), (r"j", "J"), (r"E", "e"),
        (r"O", "oi"), (r"H", "y"), (r"(.)\1+", r"\1"),
    ))
# Coarse classes: phonemes a listener (or a recogniser) easily confuses share one letter.
_PHONE_CLASS = str.maketrans({
    "p": "P", "b": "P", "t": "T", "d": "T", "T": "T", "k": "K", "g": "K", "f": "F", "v": "F",
    "w": "F", "s": "S", "z": "S", "S": "S", "Z": "S", "C": "S", "J": "S", "m": "M", "n": "M",
    "N": "M", "l": "L", "r": "L", "y": "V", "h": "", "a": "V", "e": "V", "i": "V", "o": "V",
    "u": "V", "Y": "V",
})
_DOUBLE_CLASS = re.compile(r"(.)\1+")


@lru_cache(maxsize=200_000)
def phonemes(word: str) -> str:
    """Approximate phonemes of a folded word: ``"stephen"`` -> ``"stefen"``, ``"knight"`` ->
    ``"nYt"``, ``"schmidt"`` -> ``"Smidt"``; equal-sounding spellings mostly agree."""
    word = squash(word)
    for pat, rep in _G2P_RULES:
        word = pat.sub(rep, word)
    return word


@lru_cache(maxsize=200_000)
def phone_classes(phones: str) -> str:
    """The coarse class string of a phoneme string (voicing, place and vowels merged)."""
    return _DOUBLE_CLASS.sub(r"\1", phones.translate(_PHONE_CLASS))


def phone_similarity(a: str, b: str) -> float:
    """How alike two phoneme strings are, 0..1: edit similarity where a substitution inside
    a coarse class (p/b, s/z, e/i, m/n...) costs half of one across classes."""
    if not a or not b:
        return 0.0
    fine = Levenshtein.normalized_similarity(a, b)
    coarse = Levenshtein.normalized_similarity(phone_classes(a), phone_classes(b))
    return 0.5 * (fine + coarse)


@lru_cache(maxsize=200_000)
def sounds_similarity(heard: str, name: str) -> float:
    """Phoneme similarity of two folded texts, spaces ignored (splits and joins are free)."""
    return phone_similarity("".join(phonemes(w) for w in heard.split()),
                            "".join(phonemes(w) for w in name.split()))
