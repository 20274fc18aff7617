"""What a visitor's utterance means, for the rules engine: intents and the facts in it.

Pure text functions (English and Spanish), no I/O, no state. Everything is matched on folded
text (lower case, no accents), so "Sí", "si" and "SI" are the same word.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "a couple": 2, "both": 2, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
}


def fold(text: str) -> str:
    """Lower case, accents removed, apostrophes dropped, other punctuation kept for splitting."""
    norm = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in norm if not unicodedata.combining(c)).lower()
    plain = re.sub(r"[\u2019'`]", "", plain)
    return " ".join(plain.replace("¿", " ").replace("¡", " ").split())


def words(text: str) -> list[str]:
    """The folded words of ``text``."""
    return re.findall(r"[a-z0-9]+", fold(text))


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


YES = _rx(r"^(yes|yeah|yep|yup|ya|yah|correct|right|exactly|sure|indeed|ok|okay|affirmative"
          r"|that(s| is) (right|correct|him|her|them|it|the one)|uh huh|mhm|absolutely|definitely"
          r"|si|claro|correcto|exacto|eso es|asi es|por supuesto|de acuerdo|vale)\b",
          r"^(that one|the first one)$")
NO = _rx(r"^(no|nope|nah|not|wrong|incorrect|negative)\b", r"\bthe other (one|person)\b",
         r"\b(la otra|el otro|otra persona)\b", r"\bthats not\b", r"\bnot (him|her|them|that)\b")
OTHER_ONE = _rx(r"\bthe other\b", r"\b(la otra|el otro)\b", r"\banother one\b")
HUMAN = _rx(
    r"\b(talk|speak|speaking|talking)( to| with)( a| an| the| some)? ?(real |actual |live )?"
    r"(person|human|someone|somebody|receptionist|operator|agent|people|staff|man|woman)\b",
    r"\b(real|actual|live) (person|human)\b", r"\breceptionist\b", r"\bfront desk\b",
    r"\b(a|an) (human|operator)\b", r"\bhuman being\b",
    r"\b(get|need|want) (a|some) (person|human)\b",
    r"\b(una persona|un humano|recepcionista|hablar con alguien|la recepcion)\b",
)
GIVE_UP = _rx(r"\bnever ?mind\b", r"\bcome back (later|tomorrow|another)\b",
              r"\bforget (it|about it)\b",
              r"\b(im|i am) leaving\b", r"\bgood ?bye\b", r"^bye\b", r"\bcancel\b",
              r"\bdont bother\b", r"\bno importa\b", r"\bolvid(e|a)lo\b",
              r"\bvuelvo (mas tarde|luego|despues|manana)\b", r"\badios\b", r"\bme voy\b",
              r"\bill (come|be) back\b")
CONTACT = _rx(r"\b(phone|number|cell|mobile|email|e mail|address|extension"
              r"|contact (details|info))\b",
              r"\b(telefono|correo|celular|movil|direccion|numero)\b")
OVERRIDE = _rx(r"\bignore (your|all|the|any|previous|prior)\b", r"\bsystem( override| prompt|:)",
               r"\b(admin|administrator|developer|debug|god) mode\b", r"\byou are now\b",
               r"\bnew instructions\b", r"\bdisregard\b", r"\bjailbreak\b", r"\bpretend (to|you)\b",
               r"\b(notify|tell|alert|message|page|email) (everyone|everybody|all)\b",
               r"\blist (all|every)\b", r"\ball access\b", r"\bprint \d+ badges?\b",
               r"\b\d+ badges\b", r"\b(ignora|olvida) (tus|las) instrucciones\b")
EMPLOYEE = _rx(r"\b(lost|forgot|left|misplaced) (my|the) "
               r"(badge|card|keycard|key card|access card|pass)\b",
               r"\b(i|we) work here\b", r"\bim an? (employee|staff member)\b",
               r"\b(perdi|olvide) mi (tarjeta|credencial|gafete)\b")
DELIVERY = _rx(r"\b(delivery|deliveries|delivering|package|packages|parcel|courier|shipment"
               r"|envelope|sign for|signature|fedex|ups|dhl|paquete|entrega|envio|mensajeria"
               r"|flowers|dropping off|drop off|food order|lunch order|catering"
               r"|sobre para)\b")
OTHER_VISITORS = _rx(r"\bwho else\b", r"\bother (visitors|guests|people visiting)\b",
                     r"\b(anyone|anybody|who) else (is )?(visiting|here|coming)\b",
                     r"\bwho (is|s) (visiting|coming) today\b", r"\bquien mas\b")
FORGOT_HOST = _rx(
    r"\b(forgot|forget|forgotten|dont remember|do not remember|cant remember|cannot remember"
    r"|dont know|do not know|not sure|no idea|dont recall|cant recall)\b",
    r"\b(no recuerdo|no me acuerdo|no se|olvide)\b",
)
MEETING_HINT = _rx(r"\binterview\b", r"\bworkshop\b", r"\bentrevista\b", r"\b(your|the) \w+ team\b",
                   r"\bsomeone (from|in)\b", r"\bmeeting at\b", r"\bwith your\b")
SPANISH = _rx(r"\b(hola|buenos dias|buenas tardes|buenas noches|vengo|tengo una|me llamo|soy|quiero"
              r"|quisiera|gracias|por favor|senor|senora|cita|reunion|busco|usted|donde|estoy)\b",
              r"^si\b")
ENGLISH = _rx(r"\b(hello|hi|the|to see|i am|im|my name|meeting|please|thanks|with|here)\b")

HOST_CUES = (
    "im here to see", "i am here to see", "here to see", "here to meet", "here to visit",
    "im here for", "i am here for", "here for", "supposed to meet with", "supposed to meet",
    "supposed to see", "a meeting with", "an appointment with", "meeting with", "appointment with",
    "meet with", "meeting is with", "appointment is with", "interview is with",
    "meeting was with", "i meant", "i mean", "meant to say", "im meeting", "i am meeting",
    "im seeing", "to see", "looking for", "visiting",
    "delivery for", "package for", "parcel for", "packages for", "envelope for", "addressed to",
    "its for", "it is for", "for", "tell", "let", "vengo a ver a", "vengo a ver", "vine a ver a",
    "cita con", "reunion con", "busco a", "buscando a", "paquete para", "entrega para", "para",
)
SELF_CUES = ("my name is", "my names", "name is", "the name is", "this is", "i am", "im", "its",
             "me llamo", "mi nombre es", "soy", "yo soy")
COMPANY_CUES = ("were from", "we are from", "im from", "i am from", "i work for", "i work at",
                "im with", "i am with", "representing", "on behalf of", "from", "with",
                "vengo de", "de parte de", "de", "somos de")
PURPOSE_CUES = ("about", "regarding", "to discuss", "for the", "for a", "for an", "re",
                "sobre", "para la", "para el", "para una", "para un", "por la", "por el")
NOT_A_NAME = frozenset(
    "here there from looking supposed a an the not sure just meeting visiting with early late "
    "sorry fine ok okay leaving going trying back in at on calling delivering so very really "
    "afraid good great well here to for delivering dropping picking waiting expected expecting "
    "meant new visitor candidate interviewing interested part one two three four of us we "
    "with and but also still just yes no hi hello thanks thank please is was it its that this "
    "my your our his her their what who when where why how which do does did have has had "
    "be been being am are were will would should could can may might must shall i you he she "
    "they them me him us name called sign signing package delivery parcel about regarding re "
    "today tomorrow now then actually oh wait hey um uh er hm mister mr mrs ms miss dr doctor "
    "prof professor sir madam senor senora sr sra srta de del la el los las y con para por un "
    "una buenos buenas dias tardes hola vengo ver tengo cita reunion soy llamo mi su si gracias "
    "favor en lo le se no".split()
) | frozenset(
    # Words that would turn a badge into a pass: never part of a visitor's name.
    "all access vip admin administrator security staff employee badge pass escort unlimited "
    "full root system override guest none nobody".split()
)
NAME_STOP = re.compile(
    r",|;|\.|\?|!| and | y | from | with | of | at | here | for | about | i | im | we | were "
    r"| de | del | con | para | sobre | its | its | thats | but | who | which | please "
)


@dataclass
class Parsed:
    """The facts found in one utterance."""

    host_text: str | None = None
    visitor_name: str | None = None
    party: list[str] = field(default_factory=list)
    party_size: int | None = None
    company: str | None = None
    purpose: str | None = None


def is_spanish(text: str) -> bool:
    """True when the utterance reads as Spanish rather than English."""
    f = fold(text)
    return bool(SPANISH.search(f)) and len(SPANISH.findall(f)) >= len(ENGLISH.findall(f))


def yes_no(text: str) -> bool | None:
    """True for yes, False for no, None when the answer is neither."""
    f = fold(re.sub(r"[,.!?]", " ", text)).strip()
    f = re.sub(r"^(oh|um|uh|well|hmm|ah|so)\s+", "", f)
    if NO.search(f):
        return False
    if YES.search(f):
        return True
    return None


def cut_at_stop(segment: str) -> str:
    """The text up to the first clause boundary."""
    match = NAME_STOP.search(f" {segment} ")
    return segment if match is None else f" {segment} "[: match.start()].strip()


def name_like(segment: str, *, max_words: int = 4) -> str | None:
    """A person's name at the start of ``segment`` ("katie norris, with an n" -> "Katie Norris")."""
    tokens = [t for t in re.findall(r"[a-z][a-z-]*", cut_at_stop(segment))]
    tokens = [t for t in tokens if t not in ("mr", "mrs", "ms", "dr", "miss", "mister")]
    out: list[str] = []
    for tok in tokens:
        if tok in NOT_A_NAME or len(out) == max_words:
            break
        out.append(tok)
    if not out or (len(out) == 1 and len(out[0]) < 2):
        return None
    return " ".join("-".join(p.capitalize() for p in w.split("-")) for w in out)


def names_list(segment: str) -> list[str]:
    """Several names joined by commas and "and" ("leah stone and tom ricci")."""
    parts = re.split(r",| and | y |&", f" {segment} ")
    out = []
    for part in parts:
        name = name_like(part.strip())
        if name:
            out.append(name)
    return out


def _after(f: str, cues: tuple[str, ...]) -> tuple[str, str] | None:
    """The first cue found (earliest, longest) and the text after it."""
    best: tuple[int, int, str] | None = None
    for cue in cues:
        for m in re.finditer(rf"(?:^|\s){re.escape(cue)}(?:\s|$)", f):
            key = (m.start(), -len(cue), cue)
            if best is None or key < best:
                best = key
            break
    if best is None:
        return None
    start, _neg, cue = best
    rest_at = f.find(cue, start) + len(cue)
    return cue, f[rest_at:].strip()


def self_name(f: str) -> str | None:
    """The speaker's own name, from "my name is ...", "i'm ...", "me llamo ..."."""
    for cue in SELF_CUES:
        for m in re.finditer(rf"(?:^|[\s,]){re.escape(cue)}\s+(.*)$", f):
            rest = m.group(1)
            first = rest.split(" ", 1)[0].strip(",.")
            if cue in ("im", "i am", "its", "soy", "yo soy", "this is") and (
                first in NOT_A_NAME or first in ("from", "with", "de")
            ):
                continue
            name = name_like(rest)
            if name:
                return name
    return None


def company_of(f: str, host_text: str | None = None) -> str | None:
    """The visitor's company, from "from X", "I'm with X", "de X"; never the host's department."""
    for cue in COMPANY_CUES:
        for m in re.finditer(rf"(?:^|[\s,]){re.escape(cue)}\s+(.*)$", f):
            rest = cut_company(m.group(1))
            if not rest or (host_text and rest in host_text):
                continue
            # "with" and "de" name a company only after the visitor introduced themselves.
            before = f[: m.start() + 1]
            if cue in ("with", "de") and not re.search(r"(^|,)\s*(im|i am|were|me llamo|soy)\b|,",
                                                      before):
                continue
            if rest.split()[0] in _NOT_COMPANY_START:
                continue
            return rest
    return None


_NOT_COMPANY_START = frozenset(
    {"me", "us", "my", "the", "a", "an", "your", "un", "una", "la", "el"}
)


def cut_company(segment: str) -> str:
    """A company name ends where the next clause starts."""
    m = re.search(r",|\.|;| and | here | i | im | were | about | for | to | y | para | sobre "
                  r"| tengo | vengo | with me ", f" {segment} ")
    out = f" {segment} "[: m.start()] if m else segment
    out = re.sub(r"^(the company|company|a company called)\s+", "", out.strip())
    return out.strip(" ,.")


def purpose_of(f: str) -> str | None:
    """The reason for the visit, from "about X", "regarding X", "sobre X"."""
    found = _after(f, PURPOSE_CUES)
    if found is None:
        return None
    cue, rest = found
    rest = re.split(r",|\.|;| and i | and my | i am | im | but ", rest)[0].strip()
    if not rest or len(rest) < 3:
        return None
    if cue in ("for the", "for a", "for an", "para la", "para el", "para una", "para un"):
        rest = f"{cue.split()[-1]} {rest}"
    return rest


def party_of(f: str) -> tuple[int | None, list[str]]:
    """The size of a group and the other members named ("three of us", "with me are ...")."""
    size = None
    m = re.search(r"\b(\d+|two|three|four|five|six|seven|eight|a couple) of us\b", f) or re.search(
        r"\b(?:we are|were|there are|somos|we have) (\d+|two|three|four|five|six|dos|tres|cuatro"
        r"|cinco|seis)\b(?! (minutes|oclock|pm|am))", f)
    if m:
        raw = m.group(1)
        size = int(raw) if raw.isdigit() else NUMBER_WORDS.get(raw)
    if re.search(r"\b(both of us|the two of us|nosotros dos)\b", f):
        size = 2
    others: list[str] = []
    w = re.search(r"\bwith me (?:are|is|its|were)?\s*(.*)$", f) or re.search(
        r"\b(?:and )?(?:my colleagues?|my coworkers?|my team ?mates?) (?:are |is )?(.*)$", f)
    if w:
        others = names_list(list_only(w.group(1)))
    return size, others


def list_only(segment: str) -> str:
    """A list of names ends at the first comma after its "and" ("a and b, acme" -> "a and b")."""
    joined = re.search(r"\band\b|\by\b", segment)
    start = joined.end() if joined else 0
    comma = segment.find(",", start)
    return segment if comma < 0 else segment[:comma]


_ES_HONORIFIC = re.compile(r"\b(?:la |el )?(?:senora|senor|senorita|sra|sr|srta|dona|don"
                           r"|doctora|doctor|dra)\b")


def host_segment(f: str) -> str | None:
    """The words that name the host ("... here to see laura bianchi about ..." -> laura bianchi)."""
    # "busco a la señora Bianchi": the article and title are not part of the name.
    f = " ".join(_ES_HONORIFIC.sub(" ", f).split())
    found = _after(f, HOST_CUES)
    while found is not None and re.match(r"(the|a|an|my|our|your|this|that|some|una|un|la|el)\b",
                                         found[1]):
        # "here for the meeting with X": the cue introduced a thing, look further on.
        found = _after(found[1], HOST_CUES)
    if found is None:
        return None
    cue, rest = found
    rest = re.sub(r"^(al|a)\s+", "", rest)
    if cue in ("for", "para", "tell", "let") and not rest:
        return None
    rest = re.split(
        r"\babout\b|\bregarding\b|\bit needs\b|\bneeds a\b|\bthat needs\b|\band print\b"
        r"|\band (im|i am|my name|were|we are)\b|,? ?(were|we are|im|i am) from\b|\bsobre\b"
        r"|\bfor (the|a|an) \b|\bi need\b|\bi have\b|\bto discuss\b|\btoday\b"
        r"|\bat (\d|ten|nine|eleven|noon)|\bthen\b|\bim here\b|\bplease\b"
        r"|\bknow (im|i am|were)\b|\bnot\b|\bbut\b",
        rest,
    )[0]
    rest = rest.strip(" ,.")
    return rest or None


FILLER = frozenset(
    "hi hello hey good morning afternoon evening whats what up ive got have has i im a an the "
    "delivery package parcel packages courier envelope here for to with so yeah ok okay please "
    "thanks thank you um uh er there just dropping off drop this is it some flowers food order "
    "signature sign needs need needed today hola buenos buenas dias tardes tengo un una paquete "
    "entrega traigo para".split()
)


def says_nothing_about_a_person(f: str) -> bool:
    """True when every word is filler ("hey, I've got a delivery"): nobody was named."""
    return all(w in FILLER for w in re.findall(r"[a-z]+", f))


def parse(text: str) -> Parsed:
    """Everything this utterance says about the host and the visitor."""
    f = fold(text)
    out = Parsed()
    out.host_text = host_segment(f)
    out.visitor_name = self_name(f)
    if out.visitor_name and out.host_text and fold(out.visitor_name) in out.host_text:
        out.visitor_name = None
    out.company = company_of(f, out.host_text)
    out.purpose = purpose_of(f)
    if out.purpose and out.host_text and out.host_text in out.purpose:
        out.purpose = None
    out.party_size, out.party = party_of(f)
    return out


def collapse_spelled(f: str) -> str:
    """Join letters spelled one by one ("k e l l e r, w e i" -> "keller, wei"); words stay."""
    return re.sub(
        r"\b(?:[a-z][\s-]+){2,}[a-z]\b",
        lambda m: re.sub(r"[\s-]+", "", m.group(0)),
        f,
    )
