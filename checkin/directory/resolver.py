"""Resolve a spoken host name to one employee, a short list to ask about, or nobody.

Owns the name index (built once per directory) and the decision found / ambiguous / not_found.
A wrong "found" notifies the wrong person, so the rule is: say "found" only when one person
explains every name token of the query clearly better than anyone else; when a few people fit
about equally (Sarah/Sara, Clark/Clarke, two Marcuses) ask; when nobody fits, say so.

How a lookup works, without ever looping over the whole directory in Python:
1. ``name_tokens`` strips carriers and honorifics and collapses spelled letters.
2. Every span of adjacent tokens ("olu shegun" -> "olushegun") is looked up in the part index
   (exact, phonetic keys, and a SymSpell-style deletion index for typos) -> candidate parts.
3. Candidate people come from those parts (``(first, last)`` pair index for two-part readings,
   per-part postings for one-part readings); each gets a score from part similarity and how
   many query tokens it explains.
4. The best score, the margin to the runner-up and the query shape decide the status.

Imports: directory.model, directory.normalize; rapidfuzz and jellyfish only.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from checkin.directory.matching import (
    ASK_WINDOW,
    MAX_ASK,
    Candidate,
    PartIndex,
    decide,
    part_similarity,
    phone_similarity,
    phonemes,
    rank,
    sound_key,
    sounds_similarity,
    squash,
)
from checkin.directory.model import Employee
from checkin.directory.normalize import (
    CARRIER_WORDS,
    HONORIFICS,
    fold,
    has_spelling,
    parse_name_query,
)
from checkin.directory.normalize import words as utterance_words

__all__ = ["Match", "NameResolver", "Resolution"]

Status = Literal["found", "ambiguous", "not_found"]
FIRST, LAST = 0, 1
MAX_TOKENS = 6  # longer name parts than this are ASR chatter; keep the last ones
MAX_SPAN = 3  # join at most three adjacent fragments ("olu shegun" + ...)
MAX_POSTINGS = 400  # bearers of one part considered (a common first name at 50,000 people)
FEW_POSTINGS = 12  # ... when that part explains only some of the query's tokens
ONE_PART_MISSING_COST = 0.3  # as Candidate.final: per query token a one-part reading leaves out
PRUNE_BELOW = 0.35  # one-part readings this far below the best are only near misses ...
KEEP_FAR = 30  # ... and are not read once this many people are in
KEEP_RANKED = 60  # first-pass readings kept for the decision, best first
SQUASH_TOP = 15  # candidates re-read as a run-together string
HONORIFIC_FIRST_COST = 0.15  # "Dr. Adam" means a Mr/Ms Adam far more often than an Adam X
# Surname particles: "Van" alone must not stand for "van der Maes".
PARTICLES = frozenset({"van", "von", "der", "den", "del", "della", "dos", "das", "des", "bin",
                       "ibn", "bint", "ben", "abu", "ter", "ten", "les", "san", "st"})
Offer = Callable[..., None]
PARTIAL = "~"  # posting-key prefix: one word of a multi-word name ("palmer" of "James-Palmer")
PARTIAL_FACTOR = 0.9  # naming only part of a multi-word name is weaker evidence
ANCHOR_FLOOR = 0.5  # an anchored reading's other part must be at least this close
ANCHOR_TOP = 3  # bearers of the anchor kept per leftover text, best first
# Words that end a request rather than continue a name ("... Tootell please", "... im here").
CLOSERS = frozenset({"please", "pls", "thanks", "thank", "thankyou", "you", "im", "i", "am",
                     "here", "now", "today"})
EXTRA_TOP = 10  # carried readings kept per query: the rest cannot be the best reading
MAX_GLUE = 2  # trailing carrier words a name may have been split into ("to tell")
PHON_GRAM = 3  # phoneme n-grams indexed per whole name
PHON_COMMON = 1000  # n-grams borne by more people than this say nothing; skipped
PHON_TOP = 25  # people re-read by phonemes, by shared n-grams
PHON_FLOOR = 0.6  # a phonetic reading must be at least this close as a whole
PHON_TWIN = 0.95  # another whole name this close in sound blocks an inexact "found"
# Carrier words that may really be the start of a misheard name ("is a bully" for Isabelly),
# unlike the words that end a request ("to see", "for", "with") and never start one.
REQUEST_ENDS = frozenset({"see", "for", "with", "to", "meet", "meeting", "visit", "visiting",
                          "here", "im", "i", "am", "tell", "know", "let", "please", "hi",
                          "hello", "hey", "looking", "find", "call", "was", "name",
                          "named", "called", "appointment", "interview", "contact", "reach",
                          "ask", "inform", "notify", "speak", "talk", "ring", "buzz"})


@dataclass(frozen=True, slots=True)
class Match:
    """One candidate employee with a similarity score in 0..1 (higher is better)."""

    employee: Employee
    score: float


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer: found (one match), ambiguous (best first) or not_found (near misses).

    ambiguous usually holds 2..6 people to choose between; it holds one when a lone, inexactly
    heard name points at a single person ("Mr Lindkvist"): confirm it, do not assume it.
    """

    status: Status
    matches: tuple[Match, ...]


def _name_parts(name: str) -> tuple[list[str], list[str]]:
    """Index keys for one name field: the squashed whole, and the words of a multi-word name.

    Particles ("de", "van") are too short to find anyone by, so words under three letters are
    only part of the whole.
    """
    words = [w for w in squash_words(name) if w]
    whole = "".join(words)
    subwords = [w for w in words if len(w) >= 3 and w != whole and w not in PARTICLES]
    subwords = subwords if len(words) > 1 else []
    return ([whole] if whole else []), subwords


def squash_words(name: str) -> list[str]:
    """Folded words of a name field: ``"James-Palmer"`` -> ``["james", "palmer"]``."""
    return [squash(w) for w in fold(name).replace("-", " ").replace("'", "").split()]


class NameResolver:
    """Finds employees by a spoken, possibly misheard or spelled, name."""

    def __init__(self, employees: Iterable[Employee]) -> None:
        """Build the index once; lookups never scan the whole directory."""
        self._employees: list[Employee] = list(employees)
        self._by_id: dict[str, int] = {e.id: i for i, e in enumerate(self._employees)}
        self._first: list[str] = []
        self._last: list[str] = []
        self._parts = PartIndex()
        # part -> employees bearing it as first (incl. aliases) or last name
        self._postings: tuple[dict[str, list[int]], dict[str, list[int]]] = (
            defaultdict(list), defaultdict(list))
        # first part -> last part -> employees bearing both (read from the smaller side)
        self._pairs: dict[str, dict[str, list[int]]] = defaultdict(dict)
        self._partial_keys: set[str] = set()
        for i, e in enumerate(self._employees):
            firsts, first_words = _name_parts(e.first_name)
            for alias in e.aliases:
                firsts += _name_parts(alias)[0]
            lasts, last_words = _name_parts(e.last_name)
            self._first.append(firsts[0] if firsts else "")
            self._last.append(lasts[0] if lasts else "")
            self._add(i, firsts, first_words, lasts, last_words)
        self._parts.freeze()
        # frozen as tuples of ints: the cyclic garbage collector skips them (lists it rescans)
        self._bearers: tuple[dict[str, tuple[int, ...]], dict[str, tuple[int, ...]]] = (
            _frozen(self._postings[FIRST]), _frozen(self._postings[LAST]))
        self._pair_bearers = {f: _frozen(by) for f, by in self._pairs.items()}
        del self._postings, self._pairs
        self._phon_names: list[tuple[str, str]] = [
            (phonemes(f), phonemes(last)) for f, last in zip(self._first, self._last, strict=True)]
        grams: dict[str, list[int]] = defaultdict(list)
        for i, (pf, pl) in enumerate(self._phon_names):
            for g in dict.fromkeys(_grams(pf + pl)):
                grams[g].append(i)
        # postings as arrays (common n-grams dropped at load): a query counts them in C
        self._phon_grams: dict[str, npt.NDArray[np.int32]] = {
            g: np.asarray(ids, dtype=np.int32) for g, ids in grams.items()
            if len(ids) <= PHON_COMMON}
        # the second pass looks the same spans up again: remember recent lookups
        self._similar = lru_cache(maxsize=4096)(self._parts.similar)
        if self._employees:  # the first lookup pays one-off costs; not the first visitor
            self._resolve(f"{self._first[0]} {self._last[0]}x", None)
            self._similar.cache_clear()

    def _add(self, i: int, firsts: list[str], first_words: list[str], lasts: list[str],
             last_words: list[str]) -> None:
        """Post one employee under its parts; words of multi-word names are marked partial."""
        self._partial_keys.update(PARTIAL + w for w in first_words + last_words)
        for role, whole, words in ((FIRST, firsts, first_words), (LAST, lasts, last_words)):
            for p in dict.fromkeys(whole + [PARTIAL + w for w in words]):
                self._postings[role][p].append(i)
                self._parts.add(p.removeprefix(PARTIAL))
        for f in dict.fromkeys(firsts + [PARTIAL + w for w in first_words]):
            for last in dict.fromkeys(lasts + [PARTIAL + w for w in last_words]):
                self._pairs[f].setdefault(last, []).append(i)

    def resolve(self, text: str) -> Resolution:
        """Resolve an utterance against the whole directory."""
        return self._resolve(text, None)

    def resolve_among(self, text: str, ids: Collection[str]) -> Resolution:
        """Resolve an utterance only among the given employee ids (a "which one?" answer)."""
        allowed = {self._by_id[i] for i in ids if i in self._by_id}
        # The visitor picks among names we just read out: the exact spelling decides
        # (Steven Clark / Stephen Clarke) as it would for spelled letters.
        return self._resolve(text, allowed, among=True)

    # ------------------------------------------------------------------ lookup
    def _resolve(self, text: str, allowed: set[int] | None, among: bool = False) -> Resolution:
        spelled = among or has_spelling(text)
        cands, stray = self._decided_readings(text, allowed, spelled)
        tokens = parse_name_query(text)[0][-MAX_TOKENS:]
        status, ranked = decide(cands, stray=stray, spelled=spelled,
                                spelling=lambda c: self.clear_support(tokens, c.index))
        if status == "found" and not spelled and not ranked[0].exact:
            twins = self.phonetic_twins(text, allowed, ranked[0])
            if twins:  # someone else's whole name sounds the same: ask, do not guess
                status, ranked = "ambiguous", [ranked[0], *twins][:MAX_ASK]
        matches = tuple(Match(self._employees[c.index], round(c.final, 4)) for c in ranked)
        return Resolution(status, matches)

    def clear_support(self, tokens: list[str], idx: int) -> float:
        """How well the query words support person ``idx`` as a clear winner, 0..1.

        The words cut into two runs read as first and last name (either order, runs joined:
        "class and"): the weaker part's ``part_similarity`` at the best cut. 0.0 for a one-word
        query, and when a word is someone's exact name part that is none of this person's and
        does not sound exactly like one ("Joshua Fisher" for Joshua Fauser while a Mark Fisher
        exists is more likely someone who is not here; "jon" for John is the same sound).
        """
        first, last = self._first[idx], self._last[idx]
        own = {first, last, *squash_words(self._employees[idx].first_name),
               *squash_words(self._employees[idx].last_name)}
        sounds = {phonemes(p) for p in own}
        if any(self._parts.has(t) and t not in own and phonemes(t) not in sounds
               for t in tokens):
            return 0.0
        best = (-1.0, 0.0)
        for cut in range(1, len(tokens)):
            a, b = "".join(tokens[:cut]), "".join(tokens[cut:])
            for x, y in ((first, last), (last, first)):
                sims = (part_similarity(a, x), part_similarity(b, y))
                best = max(best, (sum(sims), min(sims)))
        return best[1]

    def phonetic_twins(self, text: str, allowed: set[int] | None,
                       best: Candidate) -> list[Candidate]:
        """Other people whose whole name sounds at least as close to the utterance as the
        inexact reading ``best`` does, and practically the same as the utterance or as the
        best's own name (phoneme similarity at least ``PHON_TWIN``): "steven huse" is Stephen
        House by spelling and Steven Hughes by sound.
        The spelling-based twin rule (``sound_key``) misses such pairs; a "found" would be a
        guess, so the resolver asks. Best first."""
        n = len(parse_name_query(text)[0][-MAX_TOKENS:])
        readings = self._phonetic(text, allowed, n)
        # the best's own phonetic reading when it has one: like is compared with like
        own = max((c.final for c in readings if c.index == best.index),
                  default=sounds_similarity(" ".join(best.heard), " ".join(best.parts)))
        name = "".join(self._phon_names[best.index])
        twins = rank([c for c in readings if c.index != best.index and c.final >= own and (
            c.final >= PHON_TWIN  # sounds like what was heard ...
            # ... or like the best's own name (Luís / Lewis, Shepard / Shepherd)
            or phone_similarity(name, "".join(self._phon_names[c.index])) >= PHON_TWIN)])
        return twins[:MAX_ASK - 1]

    def _decided_readings(
        self, text: str, allowed: set[int] | None, spelled: bool
    ) -> tuple[list[Candidate], bool]:
        """The readings the decision is made on, and the ``stray`` flag.

        The first pass reads the name words; when it finds nobody convincing, anchored readings
        (``_score_anchored``) and readings with carrier words glued back on are added; they can
        make a "found", never widen a question (bench/fit_decision.py fits on these too).
        """
        tokens = parse_name_query(text)[0][-MAX_TOKENS:]
        # decide() reads only the head of the ranking: the best, its runner-ups, and whoever
        # is within the asking window (a same-sounding twin there must still count)
        cands = _head(rank(self._readings(text, allowed)))
        stray = self._stray(tokens, cands)
        if spelled or decide(cands, stray=stray, spelled=spelled)[0] == "found":
            return cands, stray
        extra = self._anchored(tokens, allowed) + self._carried(text, allowed)
        extra += self._phonetic(text, allowed, len(tokens))
        cands += extra  # unmerged: decide() asks only about first-pass readings
        return cands, self._stray(tokens, cands)

    def _readings(
        self, text: str, allowed: set[int] | None, anchor: bool = False
    ) -> list[Candidate]:
        """Every scored reading of the utterance (bench/fit_decision.py studies these too)."""
        tokens, honorific = parse_name_query(text)
        tokens = tokens[-MAX_TOKENS:]
        if not tokens:
            return []
        cands = self._candidates(tokens, allowed, surname_first=honorific, anchor=anchor)
        if len(tokens) == 1:
            for halves in self._splits(tokens[0]):
                cands += self._candidates(halves, allowed)
        return cands

    def _carried(self, text: str, allowed: set[int] | None) -> list[Candidate]:
        """Second pass: readings with carrier words glued to a neighbouring name word.

        Speech recognisers split unfamiliar names into common words ("oliver to tell" for
        Tootell, "fiona were silly" for Worsley); those words were dropped as carriers. Only
        run when the first pass found nobody convincing, so the common case stays fast.
        """
        out: list[Candidate] = []
        for tokens in glued_variants(text):
            out += self._candidates(tokens[-MAX_TOKENS:], allowed, anchor=True, carried=True)
        # only the strongest can decide anything (they make "found" or nothing)
        return heapq.nsmallest(EXTRA_TOP, out, key=lambda c: (-c.final, -c.score, c.index))

    def _phonetic(self, text: str, allowed: set[int] | None, n: int) -> list[Candidate]:
        """Second pass: people whose whole name sounds like the whole query.

        The query's words (with the carrier words a recogniser may have split a name into) are
        turned into one phoneme string without word boundaries, so "is a bully" meets Isabelly
        and "napoli" meets Natalie. People come from shared phoneme n-grams (an index built
        once; common n-grams skipped), then each is compared as a whole, both name orders.
        """
        out: list[Candidate] = []
        if n == 0:
            return out
        for ws in phonetic_variants(text):
            query = "".join(phonemes(w) for w in ws)
            if len(query) < 4:
                continue
            posts = [p for g in dict.fromkeys(_grams(query))
                     if (p := self._phon_grams.get(g)) is not None]
            for idx in _most_common(posts, PHON_TOP):
                if allowed is not None and idx not in allowed:
                    continue
                cand = self._phonetic_reading(idx, ws, query, n)
                if cand is not None:
                    out.append(cand)
        return out

    def _phonetic_reading(self, idx: int, ws: list[str], query: str, n: int) -> Candidate | None:
        """One person's phonetic reading of the words ``ws``, or None if it is not close."""
        pf, pl = self._phon_names[idx]
        whole = max(phone_similarity(query, pf + pl), phone_similarity(query, pl + pf) - 0.02)
        if whole < PHON_FLOOR or not pf or not pl:
            return None
        # the cut of the query words that best matches first | last, for the part features
        phons = [phonemes(w) for w in ws]
        best_cut: tuple[float, tuple[float, float], int] = (-1.0, (whole, whole), 0)
        for cut in range(1, len(ws)):
            a, b = "".join(phons[:cut]), "".join(phons[cut:])
            sims = (phone_similarity(a, pf), phone_similarity(b, pl))
            best_cut = max(best_cut, (sum(sims), sims, cut))
        _, sims, cut = best_cut
        f, last = self._first[idx], self._last[idx]
        heard = ("".join(ws[:cut]), "".join(ws[cut:])) if cut else ("".join(ws), "")
        return Candidate(idx, whole, sims, n, n, parts=(f, last) if cut else (f + last, ""),
                         heard=heard, phonetic=True)

    def _stray(self, tokens: list[str], cands: list[Candidate]) -> bool:
        """Whether the best reading leaves out, or bends, a word that is someone's exact name.

        "Joshua Fisher" read as Joshua Fauser while Mark Fisher exists is more likely a person
        who is not here than a mishearing.
        """
        if not cands:
            return False
        best = rank(cands)[0]
        kept = {h for h, p in zip(best.heard, best.parts, strict=True) if h == p}
        return any(t not in kept and self._parts.has(t) for t in tokens)

    def _spans(self, tokens: list[str]) -> dict[tuple[int, int], dict[str, float]]:
        """For each span of adjacent tokens, the similar directory parts and their similarity."""
        spans: dict[tuple[int, int], dict[str, float]] = {}
        n = len(tokens)
        for i in range(n):
            for j in range(i + 1, min(n, i + MAX_SPAN) + 1):
                text = "".join(tokens[i:j])
                hits = self._similar(text)
                if hits:
                    partial = {PARTIAL + p: sim * PARTIAL_FACTOR for p, sim in hits.items()
                               if PARTIAL + p in self._partial_keys}
                    spans[(i, j)] = hits | partial
        return spans

    def _splits(self, token: str) -> list[list[str]]:
        """Ways to cut one run-together token ("ellawheeler") where a half is a known part."""
        if len(token) < 6:
            return []
        cuts = [c for c in range(2, len(token) - 1)
                if self._parts.has(token[:c]) or self._parts.has(token[c:])]
        cuts.sort(key=lambda c: -max(len(token[:c]) * self._parts.has(token[:c]),
                                     len(token[c:]) * self._parts.has(token[c:])))
        return [[token[:c], token[c:]] for c in cuts[:3]]

    def _candidates(
        self, tokens: list[str], allowed: set[int] | None, surname_first: bool = False,
        anchor: bool = False, carried: bool = False,
    ) -> list[Candidate]:
        """Score every person reachable from the spans; keep each person's best reading.

        ``surname_first``: an honorific came first, so a lone name is more likely a surname.
        ``anchor``: also read an exact part plus the rest as that person's other part (second
        pass only: see ``_score_anchored``).
        """
        n = len(tokens)
        spans = self._spans(tokens)
        best: dict[int, Candidate] = {}

        def offer(idx: int, score: float, sims: tuple[float, ...], covered: int,
                  parts: tuple[str, ...], heard: tuple[str, ...], anchored: bool = False) -> None:
            if allowed is not None and idx not in allowed:
                return
            cand = Candidate(idx, score, sims, covered, n, parts=parts, heard=heard,
                             anchored=anchored, carried=carried)
            cur = best.get(idx)
            if cur is None or cand.final > cur.final:
                best[idx] = cand

        # two-part readings: "first last" and "last first" over adjacent spans
        for (i, k), left in spans.items():
            for (k2, j), right in spans.items():
                if k2 != k:
                    continue
                covered = j - i
                said = ("".join(tokens[i:k]), "".join(tokens[k:j]))
                for order, (firsts, lasts) in enumerate(((left, right), (right, left))):
                    heard = said if order == 0 else said[::-1]
                    for f, sf in firsts.items():
                        by_last = self._pair_bearers.get(f)
                        if not by_last:
                            continue
                        if len(by_last) < len(lasts):
                            found = [(last, lasts[last], ids) for last, ids in by_last.items()
                                     if last in lasts]
                        else:
                            found = [(last, sl, by_last[last]) for last, sl in lasts.items()
                                     if last in by_last]
                        for last, sl, ids in found:
                            parts = (f.removeprefix(PARTIAL), last.removeprefix(PARTIAL))
                            score, sims = _pair_score(sf, sl, order), (sf, sl)
                            for idx in ids:
                                offer(idx, score, sims, covered, parts, heard)
        # one-part readings: a first name, a last name, or a whole name run together.
        # Groups (span, part, role) share one score; they are read best first, and once a
        # group is far below the best reading and enough people are in, the rest (near misses
        # nobody would be asked about) are skipped rather than posted person by person.
        groups: list[tuple[float, int, int, str, float, int]] = []
        for (i, j), hits in spans.items():
            for part, sim in hits.items():
                for role in (FIRST, LAST):
                    role_sim = sim - HONORIFIC_FIRST_COST * (surname_first and role == FIRST)
                    final = role_sim - ONE_PART_MISSING_COST * (n - (j - i))
                    groups.append((final, i, j, part, role_sim, role))
        groups.sort(key=lambda g: -g[0])
        top = max([groups[0][0] if groups else 0.0, *(c.final for c in best.values())])
        for final, i, j, part, role_sim, role in groups:
            far = final < top - PRUNE_BELOW
            if far and len(best) >= KEEP_FAR:
                break
            # a reading that leaves tokens unexplained only supplies near misses
            limit = MAX_POSTINGS if j - i == n and not far else FEW_POSTINGS
            one, heard_as = (part.removeprefix(PARTIAL),), ("".join(tokens[i:j]),)
            for idx in self._bearers[role].get(part, ())[:limit]:
                offer(idx, role_sim, (role_sim,), j - i, one, heard_as)
        if anchor:
            self._score_anchored(tokens, spans, offer)
        if not carried:  # glued tokens are already a join of the words heard
            self._score_squashed(tokens, best, allowed)
        return list(best.values())

    def _anchored(self, tokens: list[str], allowed: set[int] | None) -> list[Candidate]:
        """Second pass: the anchored readings of ``tokens`` (see ``_score_anchored``), each
        also re-read with the query run together (``_score_squashed``; still anchored: these
        readings may make a "found", never widen a question)."""
        n = len(tokens)
        best: dict[int, Candidate] = {}

        def offer(idx: int, score: float, sims: tuple[float, ...], covered: int,
                  parts: tuple[str, ...], heard: tuple[str, ...], anchored: bool = False) -> None:
            if allowed is not None and idx not in allowed:
                return
            cand = Candidate(idx, score, sims, covered, n, parts=parts, heard=heard,
                             anchored=anchored)
            cur = best.get(idx)
            if cur is None or cand.final > cur.final:
                best[idx] = cand

        if n >= 2:
            self._score_anchored(tokens, self._spans(tokens), offer)
            self._score_squashed(tokens, best, allowed)
        return [c if c.anchored else replace(c, anchored=True) for c in best.values()]

    def _score_anchored(self, tokens: list[str], spans: dict[tuple[int, int], dict[str, float]],
                        offer: Offer) -> None:
        """Read one exactly heard part plus the rest of the query as that person's other part.

        "jesse light": Jesse is exact, "light" is no directory part close enough to be looked
        up, yet among the Jesses one is Jesse White. The rest is compared with the other part
        of every bearer of the exact part (by spelling and by sound, in C via rapidfuzz).
        """
        n = len(tokens)
        if n < 2:
            return
        for (i, j), hits in spans.items():
            if i not in (0, n - (j - i)) or j - i == n:
                continue  # the exact part must sit at one end; the rest is the other end
            said = "".join(tokens[i:j])
            rest = "".join(tokens[:i] + tokens[j:])
            if len(rest) < 3 or hits.get(said, 0.0) < 1.0:
                continue
            for role in (FIRST, LAST):
                bearers = self._bearers[role].get(said, ())[:MAX_POSTINGS]
                if not bearers:
                    continue
                other = self._last if role == FIRST else self._first
                names = [other[b] for b in bearers]
                keys = [sound_key(o) for o in names]
                picks = {k for _, _, k in process.extract(
                    rest, names, scorer=fuzz.ratio, limit=ANCHOR_TOP)}
                picks |= {k for _, _, k in process.extract(
                    sound_key(rest), keys, scorer=fuzz.ratio, limit=ANCHOR_TOP)}
                for k in picks:
                    o = names[k]
                    sim = max(part_similarity(rest, o),
                              0.9 * fuzz.ratio(sound_key(rest), keys[k]) / 100.0)
                    if not o or sim < ANCHOR_FLOOR:
                        continue
                    order = int((role == FIRST) != (i == 0))
                    sims = (1.0, sim) if role == FIRST else (sim, 1.0)
                    parts = (said, o) if role == FIRST else (o, said)
                    heard = (said, rest) if role == FIRST else (rest, said)
                    offer(bearers[k], _pair_score(sims[0], sims[1], order), sims, n, parts,
                          heard, True)

    def _score_squashed(
        self, tokens: list[str], best: dict[int, Candidate], allowed: set[int] | None
    ) -> None:
        """Re-read the strongest candidates with the query run together ("ellawheeler").

        The joined string is cut near the length of the candidate's first (or last) name and
        each side compared with that part, so fragments split or joined anywhere still count
        while a shared first name alone cannot carry a long joined string.
        """
        if len(tokens) < 2:
            return
        joined = "".join(tokens)
        top = [c for c in sorted(best.values(), key=lambda c: -c.final)[:SQUASH_TOP]
               if self._first[c.index] and self._last[c.index]]
        if not top:
            return
        # upper bounds of part_similarity for every cut of the joined string against every
        # name part at stake, in one go (C): most cuts are hopeless and skip the exact score
        names = list(dict.fromkeys(p for c in top for p in (self._first[c.index],
                                                             self._last[c.index])))
        col = {p: k for k, p in enumerate(names)}
        cuts = range(1, len(joined))
        heads = _bounds([joined[:k] for k in cuts], names)
        tails = _bounds([joined[k:] for k in cuts], names)
        for c in top:
            f, last = self._first[c.index], self._last[c.index]
            score = 0.0
            for order, (a, b) in enumerate(((f, last), (last, f))):
                ha, tb = col[a], col[b]
                for cut in range(max(1, len(a) - 2), min(len(joined), len(a) + 3)):
                    ua, ub = heads[cut - 1][ha], tails[cut - 1][tb]
                    if _pair_score(ua, ub, order) <= max(score, c.final):
                        continue
                    sa = part_similarity(joined[:cut], a)
                    sb = part_similarity(joined[cut:], b)
                    score = max(score, _pair_score(sa, sb, order))
            if score > c.final:
                # keep a two-part reading's part detail: the decision looks at each part
                two = len(c.sims) == 2
                best[c.index] = Candidate(
                    c.index, score, c.sims if two else (score, score), len(tokens), len(tokens),
                    joined=True, parts=c.parts if two else (f + last,),
                    heard=c.heard if two else (joined,), carried=c.carried)


def _head(ranked: list[Candidate]) -> list[Candidate]:
    """The first ``KEEP_RANKED`` readings, and any more within ``ASK_WINDOW`` of the best."""
    if len(ranked) <= KEEP_RANKED:
        return ranked
    floor = ranked[0].final - ASK_WINDOW
    end = KEEP_RANKED
    while end < len(ranked) and ranked[end].final >= floor:
        end += 1
    return ranked[:end]


def _frozen(index: dict[str, list[int]]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(ids) for k, ids in index.items()}


def glued_variants(text: str) -> list[list[str]]:
    """Name tokens with the carrier words inside or just after the name glued on.

    ``"fiona were silly"`` -> ``[["fiona", "weresilly"]]``; ``"oliver to tell please"`` ->
    ``[["oliver", "totell"]]``; ``"job cost of"`` -> ``[["job", "costof"]]``. Carriers before the
    first name word ("here to see") and closers ("please", "im here") are never glued.
    """
    ws = [w for w in utterance_words(text) if not w.isdigit() and w not in HONORIFICS]
    names = [k for k, w in enumerate(ws) if w not in CARRIER_WORDS]
    if not names:
        return []
    a, b = names[0], names[-1]
    end = b + 1
    while end < len(ws) and end - b <= MAX_GLUE and ws[end] not in CLOSERS:
        end += 1
    window = ws[a:end]
    if all(w not in CARRIER_WORDS for w in window):
        return []
    forward: list[str] = []  # carriers join the next name word; trailing ones stand alone
    pending = ""
    for w in window:
        pending += w
        if w not in CARRIER_WORDS:
            forward.append(pending)
            pending = ""
    if pending:
        if len(pending) >= 4:
            forward.append(pending)
        else:
            forward[-1] += pending
    backward: list[str] = []  # carriers join the previous name word
    for w in window:
        if w in CARRIER_WORDS and backward:
            backward[-1] += w
        else:
            backward.append(w)
    return [list(v) for v in dict.fromkeys((tuple(forward), tuple(backward)))]


def phonetic_variants(text: str) -> list[list[str]]:
    """The word sequences a phonetic reading compares: the name words, the name words with
    carriers glued back (``glued_variants``), and the name with up to two carrier words just
    before it that may have been its start ("is a bully moray" for Isabelly Moraes)."""
    tokens = parse_name_query(text)[0][-MAX_TOKENS:]
    out = [tokens] + glued_variants(text)
    ws = [w for w in utterance_words(text) if not w.isdigit() and w not in HONORIFICS]
    names = [k for k, w in enumerate(ws) if w not in CARRIER_WORDS]
    if names:
        start = names[0]
        while start > 0 and names[0] - start < MAX_GLUE and ws[start - 1] not in REQUEST_ENDS:
            start -= 1
        if start < names[0]:
            out.append(ws[start:names[0]] + tokens)
    return [list(v) for v in dict.fromkeys(tuple(v) for v in out if v)]


def _most_common(posts: list[npt.NDArray[np.int32]], k: int) -> list[int]:
    """The ``k`` ids found in most of the posting arrays, most first (ties: lower id first)."""
    if not posts:
        return []
    ids, counts = np.unique(np.concatenate(posts), return_counts=True)
    order = np.lexsort((ids, -counts))[:k]
    return [int(i) for i in ids[order]]


def _grams(phones: str) -> list[str]:
    """Phoneme n-grams of a whole name or query, ends marked."""
    padded = "^" + phones + "$"
    return [padded[k:k + PHON_GRAM] for k in range(len(padded) - PHON_GRAM + 1)]


def _bounds(texts: list[str], parts: list[str]) -> list[list[float]]:
    """Upper bounds of ``part_similarity`` for every text against every part (rows: texts):
    its edit similarity with full phonetic-key agreement (1.0 where equal)."""
    ratio = process.cdist(texts, parts, scorer=fuzz.ratio, dtype=np.float64) / 100.0
    osa = process.cdist(texts, parts, scorer=OSA.normalized_similarity, dtype=np.float64)
    base = np.maximum(ratio, osa)
    bound = np.minimum(0.99, base + (1.0 - base) * 0.5)
    bound[base >= 1.0] = 1.0
    rows: list[list[float]] = bound.tolist()
    return rows


def _pair_score(first_sim: float, last_sim: float, order: int) -> float:
    """A two-part reading's score: the mean, pulled down by a weak part; reversed order costs."""
    weak = min(first_sim, last_sim)
    score = (first_sim + last_sim) / 2 - 0.5 * max(0.0, 0.85 - weak)
    return score - 0.02 * order
