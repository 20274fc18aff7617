"""Text normalisation for spoken names: accents, case, punctuation, spelled letters, carriers.

Owns the step from a raw transcript ("I'm here to see Dr. S-A-R-A-H Chén, please") to the
name-bearing tokens (``["sarah", "chen"]``). Pure functions, standard library only; it must not
import anything from the rest of checkin, so the dialogue engine can reuse it freely.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["CARRIER_WORDS", "HONORIFICS", "collapse_spelling", "fold", "has_spelling",
           "name_tokens",
           "parse_name_query", "words"]

# Letters NFKD does not decompose into a base letter plus a combining mark.
_SPECIAL_LETTERS = str.maketrans({
    "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "ł": "l",
    "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ı": "i",
    "’": "'", "‘": "'", "ʼ": "'", "`": "'", "–": "-", "—": "-",
})

HONORIFICS: frozenset[str] = frozenset({
    "mr", "mrs", "ms", "mx", "miss", "missus", "mister", "misses", "dr", "doctor", "doc",
    "prof", "professor", "sir", "madam", "madame", "maam", "dame", "lady", "lord",
})

# Words that carry the request around the name ("i'm here to see", "could you let ... know").
# Only words that are (practically) never a first or last name belong here: a surname that
# is also an English word ("White", "Young", "May") must survive.
CARRIER_WORDS: frozenset[str] = frozenset("""
i im am is are was were be been being here there to too see seeing seen for with a the and of
at in on my me mine you your youre can could would shall should please pls hi hello hey
hiya heya yo good morning afternoon evening uh um umm er erm uhm hmm ah oh its it that thats
this these those have has had having got meeting meet meets appointment appt looking look
visit visiting visitor visiting tell telling let letting know knows arrived arrive arriving
ive id around expecting expected expects call calling find finding who whom whos name named
called there do does did want wanted like need needs needed some one ll dont whats hes shes
theyre d re s t ve m ok okay yes yeah yep so just also sorry thanks thank thankyou from about
by scheduled schedule booked interview supposed get give him her them their his someone
somebody person available office desk reception receptionist wondering if whether or not
we our us they he she today now right again come came coming back sign signing check checking
in into up an what which where how when anyone names mean meant guess think believe maybe
probably possibly kindly dear ya gonna wanna gotta lemme let's lets visitors guest
pick picking drop dropping off deliver delivering delivery package parcel waiting wait
inform notify notified ring buzz reach contact speak speaking talk talking
""".split())

_AS_IN = re.compile(r"\b([a-z])\s*(?:,\s*)?(?:as\s+in|like\s+in|like|for)\s+[a-z]+\b")
_DOUBLE = re.compile(r"\b(?:double|two)\s+([a-z])\b")
_HYPHEN_SPELLED = re.compile(r"\b[a-z](?:-[a-z]\b)+")
_TOKEN = re.compile(r"(\s*)(\S+)")


def fold(text: str) -> str:
    """Lower-case and strip accents: ``"Joško Ó Murchadha"`` -> ``"josko o murchadha"``."""
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL_LETTERS))
    return "".join(c for c in text if not unicodedata.combining(c)).lower()


def _letter(token: str) -> tuple[str, str] | None:
    """A spelled letter token ("a", "a.", "a,") as (letter, trailing mark), else None."""
    core = token.rstrip(",;:")
    trail = "," if core != token else ""
    if core.endswith("."):
        core, trail = core.rstrip("."), "."
    if len(core) == 1 and core.isalpha():
        return core, trail
    return None


# Which trailing mark may follow inside a run, by the run's own mark: "e. l. l. a." keeps its
# dots; "t a l i s s a, p a s s" ends at the comma; "s, a, r, a, h" ends after the bare "h".
_RUN_CONTINUES = {"": ("", ","), ".": (".",), ",": (",", "")}


def _join_letter_runs(text: str) -> str:
    """Join runs of two or more single letters into the word they spell.

    A double space, a change of style ("e. l. l. a." then "W H E E L E R"), a comma after a
    plainly spelled word, or any word ends a run, so two spelled names stay two words.
    """
    out: list[str] = []
    run: list[str] = []
    mark, prev_trail = "", ""

    def flush() -> None:
        out.extend(["".join(run)] if len(run) >= 2 else run)
        run.clear()

    for sep, token in _TOKEN.findall(text):
        letter = _letter(token)
        if letter is not None and run and len(sep) <= 1 and prev_trail == mark \
                and letter[1] in _RUN_CONTINUES[mark]:
            run.append(letter[0])
            prev_trail = letter[1]
            continue
        flush()
        if letter is not None:
            run.append(letter[0])
            mark = prev_trail = letter[1]
        else:
            out.append(token)
    flush()
    return " ".join(out)


def collapse_spelling(text: str) -> str:
    """Replace spelled-out letter runs by the word they spell; leave everything else.

    ``"That's S-A-R-A-H  c h e n"`` -> ``"that's sarah chen"``;
    ``"s as in sam, a, r, a, h"`` -> ``"sarah"``. The result is folded to lower case.
    """
    text = fold(text)
    text = _AS_IN.sub(r"\1", text)
    text = _DOUBLE.sub(r"\1 \1", text)
    text = _HYPHEN_SPELLED.sub(lambda m: m.group(0).replace("-", ""), text)
    return _join_letter_runs(text)


def has_spelling(text: str) -> bool:
    """Whether letters were spelled out ("F R Y"): spelling tells same-sounding names apart."""
    return collapse_spelling(text).split() != fold(text).split()


def words(text: str) -> list[str]:
    """Spelling-collapsed, accent-folded words with punctuation removed (apostrophes join)."""
    text = collapse_spelling(text).replace("'", "")
    return re.sub(r"[^a-z0-9]+", " ", text).split()


def parse_name_query(text: str) -> tuple[list[str], bool]:
    """Name tokens plus whether an honorific came right before them ("Dr. Adam" is a surname).

    ``"I'm here to see Dr. Adam"`` -> ``(["adam"], True)``.
    """
    tokens: list[str] = []
    honorific = False
    for w in words(text):
        if w in HONORIFICS:
            honorific = honorific or not tokens
        elif w not in CARRIER_WORDS and not w.isdigit():
            tokens.append(w)
    return tokens, honorific


def name_tokens(text: str) -> list[str]:
    """The name-bearing tokens of an utterance, without carrier words and honorifics.

    ``"Hi, I'm here to see Dr. Preeyah Patel"`` -> ``["preeyah", "patel"]``.
    """
    return [w for w in words(text) if w not in CARRIER_WORDS and w not in HONORIFICS
            and not w.isdigit()]
