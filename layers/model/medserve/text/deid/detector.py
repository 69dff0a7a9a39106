"""De-identification of clinical text: the HIPAA Safe Harbor identifiers of a note, found and removed.

Contract:

* :func:`detect` returns the identifiers of ``text`` as :class:`Entity` objects, sorted and never
  overlapping: ``type`` (one of :data:`TYPES`), ``begin``/``end`` (character offsets into the
  input, Python ``str`` indexing: ``text[begin:end]`` is the identifier) and ``score`` (the rule's
  confidence in [0, 1]: a ranking aid, not a calibrated probability).
* :func:`redact` replaces them: ``tag`` writes ``[TYPE]``; ``mask`` writes one ``*`` per character
  (line breaks kept), so every offset of the input is still valid in the output; ``surrogate``
  writes realistic fake values, consistent within the document (the same name always becomes the
  same fake name, token by token, so "John Smith" and "Mr. Smith" stay one person), and shifts
  every date by one random per-document number of days, so intervals between dates are kept.
* :func:`deidentify` does both.

Method: rules and word lists, tuned for recall (a missed identifier is a privacy breach, a false
alarm only hides a word). Structured identifiers (e-mail, URL, IP, SSN, phone, fax, labelled
numbers, dates, ages over 89, street addresses, ZIP codes) are found by patterns; names by titles,
credentials, labels, relations and name lists; cities by "City, ST" and place cues; facilities by
their institution words. A name or number found once is then found everywhere in the note.
``medserve eval deid`` measures recall and precision per type on the annotated corpus in
``tests/data/deid_corpus.txt``.

No function here logs anything: the text, the entities and the fakes are patient data.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import random
import re
import secrets
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from medserve.text.deid import lexicon as lex

__all__ = [
    "MAX_CHARACTERS",
    "MODES",
    "TYPES",
    "VERSION",
    "Deidentified",
    "Entity",
    "deidentify",
    "detect",
    "redact",
]

VERSION = "1.0.0"
MAX_CHARACTERS = 20_000  # per API request (413 beyond); S3 notes have their own limit
TYPES = (
    "NAME",
    "ADDRESS",
    "CITY",
    "ZIP",
    "DATE",
    "AGE",
    "PHONE",
    "FAX",
    "EMAIL",
    "SSN",
    "MRN",
    "HEALTH_PLAN",
    "ACCOUNT",
    "LICENSE",
    "VEHICLE",
    "DEVICE",
    "URL",
    "IP",
    "ID",
    "FACILITY",
)
Mode = Literal["tag", "mask", "surrogate"]
MODES: tuple[Mode, ...] = ("tag", "mask", "surrogate")


@dataclass(frozen=True, slots=True)
class Entity:
    """One identifier: ``text[begin:end]`` is of ``type``."""

    type: str
    begin: int
    end: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {"type": self.type, "begin": self.begin, "end": self.end, "score": self.score}


@dataclass(frozen=True)
class Deidentified:
    entities: list[Entity]
    redacted_text: str
    mode: Mode


# Which candidate wins where two overlap: structured patterns before word-list guesses.
_PRIORITY = {
    "EMAIL": 100,
    "URL": 98,
    "IP": 97,
    "SSN": 96,
    "MRN": 90,
    "HEALTH_PLAN": 90,
    "ACCOUNT": 90,
    "LICENSE": 90,
    "VEHICLE": 90,
    "DEVICE": 90,
    "PHONE": 85,
    "FAX": 85,
    "DATE": 80,
    "AGE": 80,
    "ADDRESS": 75,
    "ZIP": 72,
    "FACILITY": 60,
    "NAME": 50,
    "CITY": 40,
    "ID": 30,
}


@dataclass(frozen=True, slots=True)
class _Candidate:
    type: str
    begin: int
    end: int
    score: float
    priority: int = 0

    @classmethod
    def of(cls, type_: str, begin: int, end: int, score: float, bonus: int = 0) -> _Candidate:
        return cls(type_, begin, end, score, _PRIORITY[type_] + bonus)


# ----------------------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    begin: int
    end: int

    @property
    def lower(self) -> str:
        return self.text.lower()


_L = r"[^\W\d_]"  # a letter, any script: José, Zoë, Sinéad
_WORD = re.compile(rf"{_L}(?:{_L}|['\u2019](?={_L}))*(?:-{_L}(?:{_L}|['\u2019](?={_L}))*)*")
_CREDENTIAL_SET = frozenset(lex.CREDENTIALS)
_MONTH_WORDS = frozenset(
    [m.lower() for m in calendar.month_name[1:]]
    + ["jan", "feb", "mar", "apr", "jun", "jul", "aug"]
    + ["sep", "sept", "oct", "nov", "dec"]
)


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _index_at(tokens: list[_Token], offset: int) -> int:
    """Index of the first token beginning at or after ``offset`` (len(tokens) if none)."""
    lo, hi = 0, len(tokens)
    while lo < hi:
        mid = (lo + hi) // 2
        if tokens[mid].begin < offset:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _base(word: str) -> str:
    """The word without a possessive ('s) ending."""
    return word[:-2] if word.endswith(("'s", "\u2019s")) else word


_NAME_PARTS = re.compile(r"[-'\u2019]")


def _is_capitalised(word: str) -> bool:
    w = _base(word)
    if len(w) < 2 or not w[0].isupper():
        return False
    if w.isupper():
        return True
    if w[1:].islower():
        return True  # the common case, without the split below
    parts = _NAME_PARTS.split(w)
    # Title case per part: Smith, O'Brien, Al-Sayed, McAllister, MacDonald
    return all(p[:1].isupper() or p.islower() for p in parts if p) and any(c.islower() for c in w)


def _namey(token: _Token, *, allow_caps: bool = True) -> bool:
    """Could this token be part of a name (capitalised, not a known non-name word)?"""
    word = _base(token.text)
    lower = word.lower()
    if not _is_capitalised(word):
        return False
    if word.isupper() and not allow_caps:
        return False
    if lower in lex.NOT_NAME_WORDS or lower in _MONTH_WORDS or lower in lex.TITLES:
        return False
    if word.isupper() and (word in lex.STATE_CODES or word in _CREDENTIAL_SET or len(word) < 2):
        return False
    if word.isupper() and len(word) <= 3 and not _in_name_lists(lower):
        return False  # IP, CBC, ICU: abbreviations, not initials of a person
    return word not in _CREDENTIAL_SET


def _in_name_lists(lower: str) -> bool:
    return lower in lex.FIRST_NAMES or lower in lex.SURNAMES


def _has_listed_name(text: str, span: tuple[int, int]) -> bool:
    return any(_in_name_lists(_base(w.group().lower())) for w in _WORD.finditer(text[span[0] : span[1]]))


# ----------------------------------------------------------------------------------- recognisers

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_URL = re.compile(
    r"(?i)\b(?:https?://|ftp://|www\.)[^\s<>\"'()]+"
    # Bounded labels (DNS: at most 63 characters) and depth: unbounded, every word boundary of a long
    # run like "a-a-a-..." or "1.1.1...." would scan to its end, quadratic in the note's length.
    r"|\b[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,15}\.(?:com|org|net|edu|gov|io|health|us|info|biz)"
    r"(?:/[^\s<>\"'()]*)?"
)
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.]\d)"
)
_IPV6 = re.compile(
    r"(?i)(?<![\w:])(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}(?![\w:])"
    r"|(?<![\w:])(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,5})?(?![\w:])"
)
_HANDLE = re.compile(r"(?<![\w@.])@([A-Za-z0-9_][A-Za-z0-9_.]{2,29})\b")
_SSN = re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])")
_SSN_LABELLED = re.compile(
    r"(?i)\b(?:ssn|ss#|soc(?:ial)?\s*sec(?:urity)?(?:\s*(?:number|no\.?|num|#))?)\s*[:#]?\s*(?:of\s+)?"
    r"(\d{3}[- ]?\d{2}[- ]?\d{4}|\d{4})\b"
)

_PHONE = re.compile(
    r"(?<![\w-])(?:\+?1[\s.-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}"
    r"(?:\s*(?:x|ext\.?|extension)\s*\d{1,5})?(?![\w-])"
)
_PHONE_INTL = re.compile(r"(?<![\w+])\+(?:[2-9]\d{0,2})(?:[\s.-]\(?\d{1,4}\)?){2,5}(?![\w-])")
_PHONE_CONTEXT = (
    r"(?:phone|ph|tel|telephone|cell|mobile|home|work|pager|page|beeper|call|callback|contact|fax|number)"
)
_PHONE_SHORT = re.compile(
    rf"(?i)\b{_PHONE_CONTEXT}\b\.?\s*(?:#|no\.?|number)?\s*[:#]?\s*(?:at\s+)?"
    r"(\d{3}[-.]\d{4}|\d-\d{4}|\d{10}|\d{5})\b"
)
_EXTENSION = re.compile(r"(?i)(?<![A-Za-z])(?:x|ext\.?\s*|extension\s+)(\d{4,5})\b")
_FAX_BEFORE = re.compile(r"(?i)(?:\bfax\b|\bfacsimile\b|\bF:)[^\n]{0,28}$")
_PHONE_BEFORE = re.compile(
    r"(?i)(?:\b(?:phone|ph|tel|telephone|cell|mobile|pager|call|callback|line)\b|\b[PTC]:)[^\n]{0,28}$"
)
_FAX_AFTER = re.compile(r"(?i)^\s*\(?fax\b")

_ID_VALUE = r"(?=[A-Za-z0-9./-]*\d)[A-Za-z0-9](?:[A-Za-z0-9./-]{0,30}[A-Za-z0-9])"
_ID_LABELS: dict[str, str] = {
    "MRN": r"mrn|mr\s?#|med(?:ical)?\s+rec(?:ord)?s?(?:\s+(?:number|no\.?|num|#))?"
    r"|record\s*(?:#|no\.?|number)"
    r"|chart\s*(?:#|no\.?|number)|patient\s+id|pt\s+id|hospital\s*(?:#|no\.?|number)|unit\s+(?:no\.?|number)",
    "HEALTH_PLAN": r"member\s*(?:id|#|no\.?|number)|policy\s*(?:#|no\.?|number|id)?"
    r"|group\s*(?:#|no\.?|number|id)"
    r"|subscriber\s*(?:id|#|no\.?|number)|insurance\s*(?:id|#|no\.?|number)|medicare(?:\s+(?:id|mbi|#|no\.?|number))?"
    r"|medicaid(?:\s+(?:id|#|no\.?|number))?|mbi|hicn|beneficiary\s*(?:id|#|no\.?|number)|plan\s*(?:id|#|no\.?)"
    r"|health\s+plan\s*(?:id|#|no\.?|number)?",
    "ACCOUNT": r"acct\.?|account|billing\s*(?:#|no\.?|number|id)|invoice\s*(?:#|no\.?|number)|claim",
    "LICENSE": r"licen[cs]e|lic\.?|npi|dea|certificate|cert\.?|cdl|driver'?s?\s+licen[cs]e|dl"
    r"|state\s+licen[cs]e"
    r"|board\s+certification|upin",
    "VEHICLE": r"vin|vehicle\s*(?:id|#|no\.?)|licen[cs]e\s+plate|plate|tag\s*#",
    "DEVICE": r"serial(?:\s+(?:number|no\.?|#))?|s/n|sn|device\s*(?:id|#|no\.?)|udi|implant\s*(?:id|#)"
    r"|monitor\s*(?:id|#)|pump\s*(?:id|#)|generator\s*(?:id|#)|imei|mac\s+address",
    "ID": r"id|identifier|accession|specimen(?:\s+id)?|case|requisition|barcode|order|reference|ref\.?"
    r"|confirmation|ticket|encounter|visit\s+(?:id|#|no\.?)|fin|csn|episode|study\s+id|sample(?:\s+id)?"
    r"|police\s+report|report|badge|employee\s+id|student\s+id|passport|tracking",
}
_LABELLED = [
    (
        type_,
        re.compile(
            rf"(?i)\b(?:{labels})\s*(?:#|no\.?|num(?:ber)?\.?|id)?(?:\s+(?:on|in)\s+(?:chart|file|record))?"
            rf"\s*[:#=]?\s*#?\s*({_ID_VALUE})(?![A-Za-z0-9])"
        ),
    )
    for type_, labels in _ID_LABELS.items()
]
_PLATE = re.compile(
    r"(?i)\b(?:licen[cs]e\s+plate|plate|tag)\s*(?:#|no\.?|number)?\s*[:#]?\s*"
    r"((?=[A-Z0-9 -]*\d)[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,5})\b"
)
_HASH_ID = re.compile(r"(?<![\w&])#\s?(" + _ID_VALUE + r")(?![A-Za-z0-9])")
_LONG_NUMBER = re.compile(r"(?<![\d.,/-])\d{7,}(?![\d.,/]\d|\d)")
_DASHED_NUMBER = re.compile(r"(?<![\w.,/-])(\d{2,})-(\d{4,})(?![\w-])")
_ALNUM_ID = re.compile(r"(?<![\w-])(?=[A-Z0-9-]*\d{4})[A-Z]{1,4}-?\d{4,}[A-Z0-9-]*(?![\w-])")
# Upper-case codes mixing letters and digits (serials, plan ids): "4TR7-HN2-YK55", "PJN7734021".
_MIXED_ID = re.compile(
    r"(?<![\w-])(?=(?:[A-Z-]*\d){3})(?=(?:[\d-]*[A-Z]){2})[A-Z0-9](?:[A-Z0-9-]{4,28})[A-Z0-9](?![\w-])"
)
_VIN = re.compile(r"(?<![\w-])[A-HJ-NPR-Z0-9]{17}(?![\w-])")

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?"
_YEAR = r"(?:(?:19|20)\d{2}|'\d{2})"
_WEEKDAY = r"(?:Mon|Tues?|Wed(?:nes)?|Thu(?:rs)?|Fri|Sat(?:ur)?|Sun)(?:day)?"
_DATE_PATTERNS = [
    (re.compile(rf"(?i)\b{_MONTH}\.?\s+{_DAY}(?:,?\s+{_YEAR})?(?![\w/])"), 0.95),
    (re.compile(rf"(?i)\b{_DAY}\s+(?:of\s+)?{_MONTH}\.?(?:,?\s+{_YEAR})?(?![\w/])"), 0.9),
    (re.compile(rf"(?i)\b{_MONTH}\.?,?\s+(?:of\s+)?{_YEAR}\b"), 0.9),
    (re.compile(rf"(?i)\b\d{{1,2}}-{_MONTH}-(?:\d{{4}}|\d{{2}})\b"), 0.95),
    (re.compile(r"(?<![\w/.-])\d{1,2}([/.-])\d{1,2}\1(?:\d{4}|\d{2})(?![\w/-]|\.\d)"), 0.95),
    (re.compile(r"(?<![\w/.-])\d{4}([-/.])\d{1,2}\1\d{1,2}(?![\w/-]|\.\d)"), 0.95),
    (re.compile(r"(?<![\w/.-])(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\w/.-])"), 0.8),
    (re.compile(r"(?<![\w/.-])(?:19|20)\d{2}-(?:0[1-9]|1[0-2])(?![\w/-]|\.\d)"), 0.75),
]
_MONTH_DAY = re.compile(r"(?<![\w/.,-])(?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01])(?![\w/]|\.\d|,\d)")
_DATE_CUES = frozenset(
    """on since from to until till through thru by dated date dos seen admitted discharged started rtc return
    recheck revisit repeat
    stopped began begun scheduled visit f/u fu follow-up followup up appt appointment of last next at labs lab
    placed inserted removed given obtained held changed resumed restarted
    before after surgery note shift received collected drawn performed done week due starting
    effective as between and monday tuesday wednesday thursday friday saturday sunday mon tue tues
    wed thu thur thurs fri sat sun""".split()
)
_NOT_DATE_AFTER = re.compile(
    r"(?i)^\s*(?:tabs?|tablets?|caps?|capsules?|pills?|doses?|strength|of\b|cups?|inch|in\b)"
)
_MONTH_DAY_RANGE = re.compile(
    r"(?<![\w/.,-])((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))\s*(?:-|\u2013|to|through|thru)\s*"
    r"((?:0?[1-9]|1[0-2])/(?:0?[1-9]|[12]\d|3[01]))(?![\w/]|\.\d)"
)
_ORDINAL_DAY = re.compile(r"(?i)\bthe\s+((?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th))\b")
_HOLIDAYS = {
    "christmas eve": (12, 24),
    "christmas day": (12, 25),
    "christmas": (12, 25),
    "new year's eve": (12, 31),
    "new years eve": (12, 31),
    "new year's day": (1, 1),
    "new years day": (1, 1),
    "new year's": (1, 1),
    "thanksgiving": (11, 25),
    "easter": (4, 10),
    "halloween": (10, 31),
    "independence day": (7, 4),
    "fourth of july": (7, 4),
    "memorial day": (5, 28),
    "labor day": (9, 4),
    "valentine's day": (2, 14),
    "mother's day": (5, 12),
    "father's day": (6, 16),
    "veterans day": (11, 11),
    "hanukkah": (12, 15),
    "passover": (4, 15),
}
_HOLIDAY = re.compile(
    r"\b(?:"
    + "|".join(re.escape(h).replace("'", "['\u2019]?") for h in sorted(_HOLIDAYS, key=len, reverse=True))
    + r")\b",
    re.IGNORECASE,
)
_MONTH_ALONE = re.compile(
    r"\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
)
_MONTH_CUES = frozenset(
    "in of since until till during early late mid last next this by before after around".split()
)

_AGE_PATTERNS = [
    re.compile(
        r"(?i)(?<![\d.])(9\d|1[01]\d)(?=\s*-?\s*(?:years?[- ]old|yrs?[- ]old|year[- ]old|yrs?\b|y/o"
        r"|y\.o\.?|yo\b"
        r"|-yo\b|years? of age)|[MF]\b|\s[MF]\b)"
    ),
    re.compile(r"(?i)\b(?:aged?|age:)\s*(9\d|1[01]\d)\b"),
    re.compile(r"(?<=[a-z],\s)(9\d|1[01]\d)(?=,)|(?<=[a-z]\s\()(9\d|1[01]\d)(?=\))"),
]

_STREET_SUFFIX = (
    r"(?:Street|St|Avenue|Ave|Av|Road|Rd|Boulevard|Blvd|Lane|Ln|Drive|Dr|Court|Ct|Way|Place|Pl|Terrace|Ter"
    r"|Circle|Cir|Highway|Hwy|Parkway|Pkwy|Trail|Trl|Square|Sq|Loop|Row|Path|Pike|Alley|Plaza|Turnpike"
    r"|Crescent|Expressway|Expy|Freeway|STREET|AVENUE|ROAD|DRIVE|LANE|BLVD|ST|AVE|RD|DR|LN)"
)
_UNIT = (
    r"(?:,?[ \t]*(?:Apt|Apartment|Unit|Suite|Ste|Room|Rm|Fl|Floor|Bldg|Building|#)\.?\s*#?\s*"
    r"[A-Za-z0-9-]{1,6})?"
)
_ADDRESS = re.compile(
    r"(?<![\w-])\d{1,6}[A-Za-z]?[ \t]+(?:(?:[NSEW]|North|South|East|West|NE|NW|SE|SW)\.?[ \t]+)?"
    r"(?:(?:[A-Z][A-Za-z'\u2019-]*|\d{1,3}(?:st|nd|rd|th))[ \t]+){1,3}" + _STREET_SUFFIX + r"\b\.?" + _UNIT
)
_NAMED_STREET = re.compile(
    r"(?<![\w-])(?:[A-Z][a-z'\u2019-]+[ \t]+){1,3}"
    r"(?:Street|Avenue|Boulevard|Road|Lane|Drive|Terrace|Parkway|Highway)\b"
)
_ROUTE = re.compile(r"\b(?:Route|Rte\.?|Highway|Hwy\.?|Interstate|I-|US-|SR-)\s?\d{1,3}\b")
_PO_BOX = re.compile(r"(?i)\bP\.?\s?O\.?\s+Box\s+\d{1,6}\b")
_STATE_CODE = "|".join(sorted(lex.STATE_CODES))
_STATE_NAME = "|".join(re.escape(s.title()) for s in sorted(lex.STATE_NAMES, key=len, reverse=True))
_ZIP_AFTER_STATE = re.compile(rf"\b(?:{_STATE_CODE}|{_STATE_NAME})\.?,?\s+(\d{{5}}(?:-\d{{4}})?)(?![\d-])")
_ZIP_LABELLED = re.compile(r"(?i)\bzip(?:\s*code)?\s*[:#]?\s*(\d{5}(?:-\d{4})?)\b")
_CITY_STATE = re.compile(
    rf"(?<=[A-Za-z.'\u2019]),[ \t]*(?:{_STATE_CODE}|{_STATE_NAME})\b\.?(?:,?[ \t]+(\d{{5}}))?"
)
_PLACE_CUES = re.compile(
    r"(?i)\b(?:lives|living|resides|residing|resident|moved|relocated|originally|born|raised|grew\s+up|native"
    r"|visiting|visited|travel(?:l)?ed|traveling|travelling|trip|flew|drove|returned|returning|near|outside)"
    r"(?:\s+(?:him|her|them|me|us))?\s+(?:back\s+)?(?:in|to|from|of|at|near)?\s*(?=[A-Z])"
    r"|\bhome\s+(?:to|in)\s+(?=[A-Z])"
)

# Words of at most 40 characters: unbounded, every capital of a long run ("AAAA...") would scan to
# its end, quadratic in the note's length.
_FACILITY_LOWER_SUFFIX = re.compile(
    r"((?:(?:St\.|Mt\.|[A-Z][A-Za-z'\u2019&.-]{0,39})\s+){0,3}[A-Z][A-Za-z'\u2019&.-]{0,39})\s+"
    r"(?:plant|factory|mill|mine|warehouse|shipyard|base|campus|refinery|office)\b"
)
_WORKS_AT = re.compile(
    r"(?i:\b(?:works?|working|worked|employed|employee|volunteers?|volunteering|student|teaches|teacher|enrolled"
    r"|job|employer|school|retired|laid\s+off|fired|resigned))"
    r"(?:\s+(?i:as)\s+(?i:a|an)\s+[a-z]+(?:\s+[a-z]+)?|\s+[a-z]+)?\s+(?i:at|for|with|from)\s+(?:the\s+)?(?=[A-Z])"
)
_SAINT = re.compile(r"\b(?:St\.?|Saint|Mt\.?|Mount)\s+[A-Z][a-z]+(?:['\u2019]s)\b")
_HOSPITAL_ABBREVIATION = re.compile(r"\b(?:at|to|from)\s+(?:the\s+)?([A-Z]{1,4}(?:H|MC|HC))\b")
_TRANSFER = re.compile(
    r"(?i)\b(?:transferred|transfer|admitted|discharged|sent|referred)\s+(?:from|to)\s+(?=[A-Z])"
)

# Credentials that are also everyday abbreviations ("Recommend PT", "PA state"): only after a comma.
_AMBIGUOUS_CREDENTIALS = frozenset({"PT", "OT", "PA", "DO", "RD", "LD", "CMA", "EMT", "MS", "SLP"})
_CREDENTIAL_AFTER = re.compile(
    r"^(?:,\s*|\s+)(?:"
    + "|".join(re.escape(c) for c in sorted(lex.CREDENTIALS, key=len, reverse=True))
    + r"|PGY-?\d|MS\d|M\d)(?![\w-])"
)
_ROLE = re.compile(
    r"(?i)\b(?:"
    + "|".join(re.escape(r).replace(r"\ ", r"\s+") for r in sorted(lex.ROLE_WORDS, key=len, reverse=True))
    + r")\b\s*(?:\([^)\n]{0,20}\)\s*)?[:#\-\u2013\u2014]?[ \t]*"
)
_RELATION = re.compile(
    r"(?i)\b(?:"
    + "|".join(sorted(lex.RELATION_WORDS, key=len, reverse=True))
    + r")s?(?:-in-law)?\b[ \t]*[:,(\-\u2013\u2014]?[ \t]*"
)
_TITLE = re.compile(
    r"\b(?:Dr|DR|Mr|MR|Mrs|MRS|Ms|MS|Miss|Mx|Prof|Professor|Doctor|Sister|Father|Fr|Rev|Reverend|Pastor|Rabbi"
    r"|Imam|Nurse|dr|mr|mrs|ms)\b\.?(?:\s+(?:and|&)\s+(?:Dr|Mr|Mrs|Ms)s?\.?)?[ \t]+"
)


def _candidates(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    yield from _structured(text)
    yield from _dates(text)
    yield from _places(text, tokens)
    yield from _facilities(text, tokens)
    yield from _names(text, tokens)


def _structured(text: str) -> Iterator[_Candidate]:
    for m in _EMAIL.finditer(text):
        yield _Candidate.of("EMAIL", m.start(), m.end(), 0.99)
    for m in _URL.finditer(text):
        end = m.end()
        while end > m.start() and text[end - 1] in ".,;:!?)]":
            end -= 1
        if "@" not in text[max(0, m.start() - 1) : m.start()]:
            yield _Candidate.of("URL", m.start(), end, 0.95)
    for m in _IPV4.finditer(text):
        yield _Candidate.of("IP", m.start(), m.end(), 0.95)
    for m in _IPV6.finditer(text):
        if sum(c.isalpha() for c in m.group()) or m.group().count(":") >= 4:
            yield _Candidate.of("IP", m.start(), m.end(), 0.85)
    for m in _HANDLE.finditer(text):
        yield _Candidate.of("ID", m.start(1), m.end(1), 0.7)
    for m in _SSN.finditer(text):
        yield _Candidate.of("SSN", m.start(), m.end(), 0.97)
    for m in _SSN_LABELLED.finditer(text):
        yield _Candidate.of("SSN", m.start(1), m.end(1), 0.97)
    for pattern, score in ((_PHONE, 0.95), (_PHONE_INTL, 0.85)):
        for m in pattern.finditer(text):
            digits = sum(c.isdigit() for c in m.group())
            if 7 <= digits <= 15:
                yield _Candidate.of(_phone_type(text, m.start(), m.end()), m.start(), m.end(), score)
    for m in _PHONE_SHORT.finditer(text):
        yield _Candidate.of(_phone_type(text, m.start(1), m.end(1)), m.start(1), m.end(1), 0.8)
    for m in _EXTENSION.finditer(text):
        yield _Candidate.of("PHONE", m.start(1), m.end(1), 0.7)
    for type_, pattern in _LABELLED:
        for m in pattern.finditer(text):
            value = m.group(1)
            if type_ == "ID" and _is_time_range(value):
                continue
            yield _Candidate.of(type_, m.start(1), m.end(1), 0.9, bonus=min(len(m.group()) // 4, 5))
    for m in _PLATE.finditer(text):
        yield _Candidate.of("VEHICLE", m.start(1), m.end(1), 0.85)
    for m in _HASH_ID.finditer(text):
        before = text[max(0, m.start() - 12) : m.start()].lower()
        if sum(c.isdigit() for c in m.group(1)) >= 4 and len(m.group(1)) >= 5 and "lot" not in before:
            yield _Candidate.of("ID", m.start(1), m.end(1), 0.6)
    for m in _VIN.finditer(text):
        value = m.group()
        if sum(c.isdigit() for c in value) >= 3 and sum(c.isalpha() for c in value) >= 3:
            yield _Candidate.of("VEHICLE", m.start(), m.end(), 0.8)
    for pattern, score in ((_ALNUM_ID, 0.5), (_MIXED_ID, 0.45)):
        for m in pattern.finditer(text):
            if sum(c.isalnum() for c in m.group()) < 6:
                continue  # "CA-125", "HER2-3+": lab names, not identifiers
            if not re.search(r"(?i)\b(?:lot|model)\b", text[max(0, m.start() - 10) : m.start()]):
                yield _Candidate.of("ID", m.start(), m.end(), score)
    for m in _LONG_NUMBER.finditer(text):
        yield _Candidate.of("ID", m.start(), m.end(), 0.45)
    for m in _DASHED_NUMBER.finditer(text):
        if not _is_time_range(m.group()) and not _is_year_range(m.group(1), m.group(2)):
            yield _Candidate.of("ID", m.start(), m.end(), 0.45)
    for m in _AGE_PATTERNS[0].finditer(text):
        yield _Candidate.of("AGE", m.start(1), m.end(1), 0.9)
    for pattern in _AGE_PATTERNS[1:]:
        for m in pattern.finditer(text):
            group = 1 if m.group(1) else 2
            yield _Candidate.of("AGE", m.start(group), m.end(group), 0.8)


def _is_time_range(value: str) -> bool:
    m = re.fullmatch(r"(\d{2})(\d{2})-(\d{2})(\d{2})", value)
    return (
        bool(m)
        and int(m.group(1)) < 24
        and int(m.group(3)) < 24
        and int(m.group(2)) < 60
        and int(m.group(4)) < 60
    )


def _is_year_range(a: str, b: str) -> bool:
    return bool(re.fullmatch(r"(?:19|20)\d\d", a) and re.fullmatch(r"(?:19|20)\d\d", b))


def _phone_type(text: str, begin: int, end: int) -> str:
    before = text[max(0, begin - 30) : begin]
    fax = _FAX_BEFORE.search(before)
    phone = _PHONE_BEFORE.search(before)
    if _FAX_AFTER.match(text[end : end + 8]):
        return "FAX"
    if fax and (not phone or fax.start() > phone.start()):
        return "FAX"
    return "PHONE"


def _dates(text: str) -> Iterator[_Candidate]:
    for pattern, score in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            value = m.group()
            if value[:3].lower() == "may" and not value[0].isupper():
                continue  # "may 2 ..." is a verb
            if _valid_numeric_date(value):
                yield _Candidate.of("DATE", m.start(), m.end(), score)
    for m in _MONTH_DAY.finditer(text):
        if _NOT_DATE_AFTER.match(text[m.end() : m.end() + 12]):
            continue
        words = re.findall(
            r"[A-Za-z/-]+", text[max(0, text.rfind("\n", 0, m.start()) + 1, m.start() - 30) : m.start()]
        )
        at_time = re.match(r"\s+(?:at|@)\s*\d", text[m.end() : m.end() + 8])
        if (
            (words and any(w.lower() in _DATE_CUES for w in words[-3:]))
            or text[m.start() - 1 : m.start()] == "("
            or at_time
        ):
            yield _Candidate.of("DATE", m.start(), m.end(), 0.75)
    for m in _MONTH_DAY_RANGE.finditer(text):
        for group in (1, 2):
            yield _Candidate.of("DATE", m.start(group), m.end(group), 0.8)
    for m in _ORDINAL_DAY.finditer(text):
        yield _Candidate.of("DATE", m.start(1), m.end(1), 0.6)
    for m in _HOLIDAY.finditer(text):
        if m.group()[0].isupper():
            yield _Candidate.of("DATE", m.start(), m.end(), 0.7)
    for m in _MONTH_ALONE.finditer(text):
        word = m.group(1)
        if word in ("May", "March", "April", "June", "August"):
            previous = re.findall(r"[A-Za-z]+", text[max(0, m.start() - 15) : m.start()])
            if not previous or previous[-1].lower() not in _MONTH_CUES:
                continue
        yield _Candidate.of("DATE", m.start(), m.end(), 0.6)


def _valid_numeric_date(value: str) -> bool:
    """Calendar sanity for all-digit forms; textual forms pass."""
    parts = re.split(r"[/.-]", value)
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        return True
    if len(parts[0]) == 4:
        y, m, d = (int(p) for p in parts)
        return 1 <= m <= 12 and 1 <= d <= 31 and 1850 <= y <= 2100
    a, b = int(parts[0]), int(parts[1])
    return (1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)


def _places(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    for pattern, score in ((_ADDRESS, 0.9), (_PO_BOX, 0.95), (_NAMED_STREET, 0.65), (_ROUTE, 0.6)):
        for m in pattern.finditer(text):
            yield _Candidate.of("ADDRESS", m.start(), m.end(), score)
    for pattern in (_ZIP_AFTER_STATE, _ZIP_LABELLED):
        for m in pattern.finditer(text):
            yield _Candidate.of("ZIP", m.start(1), m.end(1), 0.95)
    by_begin = {t.begin: i for i, t in enumerate(tokens)}
    by_end = {t.end: i for i, t in enumerate(tokens)}
    # "Evanston, IL 60201", "Nashville, TN": the capitalised words before the comma.
    for m in _CITY_STATE.finditer(text):
        end = m.start()
        while end > 0 and text[end - 1] == ".":
            end -= 1
        i = by_end.get(end)
        if i is None:
            continue
        span = _city_words_before(text, tokens, i)
        if span is None:
            continue
        begin, stop = span
        phrase = text[begin:stop].lower()
        state = m.group().strip(" ,.\t").split()[0]
        has_zip = m.group(1) is not None
        if state in ("MD", "PA", "DO", "ME", "OR", "IN") and not has_zip and phrase not in lex.CITIES:
            continue  # "John Smith, MD" is a physician, not Maryland
        yield _Candidate.of("CITY", begin, stop, 0.9 if has_zip else 0.8)
    # Cities of the word list.
    for i, token in enumerate(tokens):
        if token.lower not in _CITY_FIRST_WORDS or not _is_capitalised(token.text):
            continue
        for length in (4, 3, 2, 1):
            if i + length > len(tokens):
                continue
            phrase_tokens = tokens[i : i + length]
            if any(not _is_capitalised(t.text) and t.lower not in ("st",) for t in phrase_tokens):
                continue
            gaps = (text[a.end : b.begin] for a, b in itertools.pairwise(phrase_tokens))
            if any(not _CITY_GAP.fullmatch(gap) for gap in gaps):
                continue
            phrase = re.sub(r"\s+", " ", text[phrase_tokens[0].begin : phrase_tokens[-1].end]).lower()
            if phrase in lex.CITIES:
                word = phrase_tokens[0].lower
                ambiguous = length == 1 and (word in lex.FIRST_NAMES or word in lex.SURNAMES)
                yield _Candidate.of(
                    "CITY", phrase_tokens[0].begin, phrase_tokens[-1].end, 0.5 if ambiguous else 0.75
                )
                break
    # "lives in Kettering", "moved from Dayton": capitalised words after a place cue.
    for m in _PLACE_CUES.finditer(text):
        i = by_begin.get(m.end())
        if i is None:
            continue
        words = []
        for token in tokens[i : i + 3]:
            if words and not re.fullmatch(r"[ \t]+", text[words[-1].end : token.begin]):
                break
            if (
                not _is_capitalised(token.text)
                or token.lower in lex.NOT_NAME_WORDS
                or token.lower in _MONTH_WORDS
            ):
                break
            words.append(token)
        if not words:
            continue
        phrase = text[words[0].begin : words[-1].end].lower()
        if phrase in lex.STATE_NAMES or phrase in lex.COUNTRIES or words[0].lower in lex.TITLES:
            continue
        if text[words[0].begin : words[-1].end].isupper() and phrase not in lex.CITIES:
            continue  # a heading, not a place
        yield _Candidate.of("CITY", words[0].begin, words[-1].end, 0.6)
    # "... memory care in Kettering.": a name-shaped word closing a clause after "in".
    for m in _IN_PLACE.finditer(text):
        i = by_begin.get(m.end())
        if i is None:
            continue
        run = [tokens[i]]
        if (
            i + 1 < len(tokens)
            and text[run[0].end : tokens[i + 1].begin] == " "
            and _name_shaped(tokens[i + 1])
        ):
            run.append(tokens[i + 1])
        if all(_name_shaped(t) for t in run) and _CLAUSE_END.match(text, run[-1].end):
            yield _Candidate.of("CITY", run[0].begin, run[-1].end, 0.4)


_IN_PLACE = re.compile(r"\bin[ \t]+(?=[A-Z])")
_CLAUSE_END = re.compile(r"[ \t]*(?:[.,;:!?)]|\n|$)")
_CITY_FIRST_WORDS = frozenset(c.split()[0] for c in lex.CITIES)
_CITY_GAP = re.compile(r"[ .]+|\s")


def _city_words_before(text: str, tokens: list[_Token], i: int) -> tuple[int, int] | None:
    words = []
    j = i
    while j >= 0 and len(words) < 3:
        token = tokens[j]
        if words and not re.fullmatch(r"[ \t]+|\.[ \t]*", text[token.end : words[-1].begin]):
            break
        if not _is_capitalised(token.text) and token.lower not in ("st",):
            break
        if token.lower in lex.STREET_SUFFIXES and words:
            break
        if token.lower in lex.NOT_NAME_WORDS and token.lower not in lex.CITIES:
            break
        words.append(token)
        j -= 1
    if not words:
        return None
    return words[-1].begin, words[0].end


def _facilities(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    lowered = [t.lower for t in tokens]
    for i in range(len(tokens)):
        for suffix in _suffix_matches(lowered, i):
            last = i + suffix - 1
            words = tokens[i : last + 1]
            if not all(_is_capitalised(w.text) or w.lower in ("of", "and", "for", "the") for w in words):
                continue
            begin = _facility_start(text, tokens, i)
            if begin is None:
                continue
            end = _facility_tail(text, tokens, last)
            span_tokens = [t for t in tokens if begin <= t.begin and t.end <= end]
            if not any(
                t.lower not in lex.GENERIC_FACILITY_WORDS and _base(t.lower) not in lex.GENERIC_FACILITY_WORDS
                for t in span_tokens
            ):
                continue
            yield _Candidate.of("FACILITY", begin, end, 0.8)
    for m in _KNOWN_FACILITY.finditer(text):
        if text[m.start()].isupper():
            yield _Candidate.of("FACILITY", m.start(), m.end(), 0.8)
    for m in _SAINT.finditer(text):
        yield _Candidate.of("FACILITY", m.start(), m.end(), 0.7)
    for m in _FACILITY_LOWER_SUFFIX.finditer(text):
        words = m.group(1).split()
        if any(w.lower().strip(".") not in lex.GENERIC_FACILITY_WORDS | lex.NOT_NAME_WORDS for w in words):
            start = m.start(1)
            while text[start:].lower().startswith(("the ", "a ")):
                start = text.index(" ", start) + 1
            yield _Candidate.of("FACILITY", start, m.end(1), 0.6)
    for m in _HOSPITAL_ABBREVIATION.finditer(text):
        yield _Candidate.of("FACILITY", m.start(1), m.end(1), 0.55)
    for pattern in (_WORKS_AT, _TRANSFER):
        for m in pattern.finditer(text):
            span = _capitalised_run(text, tokens, m.end(), 5, connectors=("of", "and", "&", "for"))
            if span and text[span[0] : span[1]].lower() not in lex.CITIES | lex.STATE_NAMES | lex.COUNTRIES:
                yield _Candidate.of("FACILITY", span[0], span[1], 0.6)


_KNOWN_FACILITY = re.compile(
    r"(?i)(?<![\w-])(?:"
    + "|".join(re.escape(n) for n in sorted(lex.KNOWN_FACILITIES, key=len, reverse=True))
    + r")(?![\w-])"
)
_SUFFIXES_BY_FIRST: dict[str, list[tuple[str, ...]]] = {}
for _suffix in sorted((tuple(s.split()) for s in lex.FACILITY_SUFFIXES), key=len, reverse=True):
    _SUFFIXES_BY_FIRST.setdefault(_suffix[0], []).append(_suffix)


def _suffix_matches(lowered: list[str], i: int) -> list[int]:
    """Length (in tokens) of the longest facility suffix starting at token i, if any."""
    for suffix in _SUFFIXES_BY_FIRST.get(lowered[i], ()):
        if tuple(lowered[i : i + len(suffix)]) == suffix:
            return [len(suffix)]
    return []


def _facility_start(text: str, tokens: list[_Token], suffix_at: int) -> int | None:
    """Walk back from a suffix over the capitalised words of the institution's name."""
    begin = None
    j = suffix_at - 1
    taken = 0
    while j >= 0 and taken < 6:
        token = tokens[j]
        gap = text[token.end : tokens[j + 1].begin]
        if not re.fullmatch(r"[ \t]+|\.[ \t]+|[ \t]*&[ \t]*", gap):
            break
        if token.lower in ("of", "and", "for", "the") and j > 0 and _is_capitalised(tokens[j - 1].text):
            j -= 1
            continue
        if not (_is_capitalised(token.text) or token.text in ("St", "Mt")):
            break
        if token.lower in lex.TITLES and token.lower not in ("st", "mt", "saint", "mount"):
            break
        begin = token.begin
        taken += 1
        j -= 1
    return begin


def _facility_tail(text: str, tokens: list[_Token], last: int) -> int:
    """'Hospital of the University of Pennsylvania': extend over a trailing 'of ...' name."""
    end = tokens[last].end
    j = last + 1
    while j + 1 < len(tokens) and tokens[j].lower == "of":
        k = j + 1
        if tokens[k].lower == "the" and k + 1 < len(tokens):
            k += 1
        run = _capitalised_run(text, tokens, tokens[k].begin, 4, connectors=())
        if not run or not re.fullmatch(r"[ \t]+", text[end : tokens[j].begin]):
            break
        end = run[1]
        j = _index_at(tokens, end)
    return end


def _capitalised_run(
    text: str, tokens: list[_Token], start: int, limit: int, connectors: tuple[str, ...]
) -> tuple[int, int] | None:
    """Span of up to ``limit`` capitalised words from the token at offset ``start``."""
    index = _index_at(tokens, start)
    if index >= len(tokens) or tokens[index].begin != start:
        return None
    words: list[_Token] = []
    for token in tokens[index : index + limit + 2]:
        if words and not re.fullmatch(r"[ \t]+|[ \t]*&[ \t]*", text[words[-1].end : token.begin]):
            break
        if token.lower in connectors and words:
            words.append(token)
            continue
        if not _is_capitalised(token.text) or token.lower in lex.NOT_NAME_WORDS:
            break
        words.append(token)
        if len([w for w in words if w.lower not in connectors]) >= limit:
            break
    while words and words[-1].lower in connectors:
        words.pop()
    return (words[0].begin, words[-1].end) if words else None


# ----------------------------------------------------------------------------------------- names


def _name_at(
    text: str, tokens: list[_Token], i: int, *, limit: int = 4, caps: bool = True
) -> tuple[int, int] | None:
    """The name starting at token i: capitalised words and initials on one line, at most ``limit``."""
    words: list[tuple[int, int]] = []
    j = i
    while j < len(tokens) and len(words) < limit:
        token = tokens[j]
        if words:
            gap = text[words[-1][1] : token.begin]
            if not re.fullmatch(r"[ \t]|\.[ \t]?", gap):
                break
            if gap.startswith(".") and words[-1][1] - words[-1][0] > 1:
                break  # a full stop after a whole word ends the sentence
        if len(token.text) == 1 and token.text.isupper():
            end = token.end + 1 if text[token.end : token.end + 1] == "." else token.end
            words.append((token.begin, end))
            j += 1
            continue
        if not _namey(token, allow_caps=caps):
            break
        end = token.end - 2 if token.text.endswith(("'s", "\u2019s")) else token.end
        words.append((token.begin, end))
        if end != token.end:
            break
        j += 1
    if not words:
        return None
    return words[0][0], words[-1][1]


def _names(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    by_begin = {t.begin: i for i, t in enumerate(tokens)}
    # 1. Titles: "Dr. Feldman", "Mrs. Thornton", "Father Michael".
    for m in _TITLE.finditer(text):
        i = by_begin.get(m.end())
        if i is not None:
            span = _name_at(text, tokens, i)
            if span:
                yield _Candidate.of("NAME", *span, 0.95)
    # 2. Credentials after a name: "Robert Feldman, MD", "Shawna, RN", "J. Whitcombe, PGY-2".
    for i, token in enumerate(tokens):
        after = text[token.end : token.end + 14]
        credential = _CREDENTIAL_AFTER.match(after)
        if token.text.endswith(("'s", "\u2019s")) or not credential:
            continue
        comma = credential.group().startswith(",")
        if not comma and credential.group().strip() in _AMBIGUOUS_CREDENTIALS:
            continue
        start = _name_start_before(text, tokens, i)
        if start is None:
            continue
        span = (start, token.end)
        if comma or " " in text[start : token.end] or _has_listed_name(text, span):
            yield _Candidate.of("NAME", *span, 0.9)
    # 3. Labels and roles: "Patient: ...", "Attending: ...", "seen by ...", "phlebotomist Ray".
    for pattern in (_ROLE, _RELATION):
        for m in pattern.finditer(text):
            i = by_begin.get(m.end())
            if i is None:
                continue
            span = _labelled_name(text, tokens, i)
            if not span:
                continue
            punctuated = pattern is _RELATION or bool(re.search(r"[:#\-\u2013\u2014,(]", m.group()))
            if not (punctuated or " " in text[span[0] : span[1]] or _has_listed_name(text, span)):
                continue  # "contact Tandem support": a label word without a name after it
            if span:
                yield _Candidate.of("NAME", *span, 0.85)
                # "parents Daniel and Ana Martinez"
                rest = re.match(r"[ \t]+(?:and|&)[ \t]+", text[span[1] :])
                if rest:
                    k = by_begin.get(span[1] + rest.end())
                    second = _labelled_name(text, tokens, k) if k is not None else None
                    if second:
                        yield _Candidate.of("NAME", *second, 0.85)
    # 4. "recorded by Harriet Vogel", "given by Nkechi Obi".
    for m in _BY.finditer(text):
        i = by_begin.get(m.end())
        span = _name_at(text, tokens, i, limit=3, caps=False) if i is not None else None
        if span:
            if all(
                _name_shaped(t) or _in_name_lists(_base(t.lower)) or len(t.text) == 1
                for t in tokens
                if span[0] <= t.begin < span[1]
            ):
                yield _Candidate.of("NAME", *span, 0.7)
    # Signature initials ("—JRT", "JRT/mk") and nicknames ('goes by "Rocky"', "Winnie, as she prefers").
    for m in _SIGNATURE_INITIALS.finditer(text):
        group = 1 if m.group(1) else 2
        if m.group(group) not in _CREDENTIAL_SET and m.group(group) not in lex.STATE_CODES:
            yield _Candidate.of("NAME", m.start(group), m.end(group), 0.6)
    for m in _NICKNAME.finditer(text):
        i = by_begin.get(m.end())
        span = _name_at(text, tokens, i, limit=2) if i is not None else None
        if span:
            yield _Candidate.of("NAME", *span, 0.75)
    for token in tokens:
        if _is_capitalised(token.text) and _PREFERS_AFTER.match(text[token.end : token.end + 24]):
            yield _Candidate.of("NAME", token.begin, token.end, 0.6)
    # 5. Names of no list ("Yevgenia Sorokina presents ...").
    yield from _unknown_names(text, tokens)
    # 6. Name lists: a given name followed by capitalised words, or a distinctive surname.
    for i, token in enumerate(tokens):
        word = _base(token.text)
        lower = word.lower()
        if not _is_capitalised(word) or lower in lex.NOT_NAME_WORDS:
            continue
        if lower in lex.FIRST_NAMES and not _eponym_use(text, token):
            span = _name_at(text, tokens, i)
            if span is None:
                continue
            multiword = span[1] > token.end + 1
            if lower in lex.AMBIGUOUS_FIRST_NAMES and not (multiword and _next_is_surname(tokens, i)):
                continue
            if word.isupper() and not multiword:
                continue
            yield _Candidate.of("NAME", *span, 0.8 if multiword else 0.7)
        elif lower in lex.SURNAMES and lower not in lex.AMBIGUOUS_SURNAMES and not _eponym_use(text, token):
            if word.isupper() and not (i + 1 < len(tokens) and tokens[i + 1].text.isupper()):
                continue
            end = token.end - 2 if token.text.endswith(("'s", "\u2019s")) else token.end
            yield _Candidate.of("NAME", token.begin, end, 0.65)


_REPORTING_VERB = re.compile(
    r"[ \t]+(?:reports|reported|presents|presented|is|was|has|had|denies|denied|states|stated|complains"
    r"|prefers"
    r"|notes|noted|feels|felt|lives|lived|works|worked|arrived|returns|returned|underwent|tolerated|agrees|agreed"
    r"|declines|declined|endorses|endorsed|says|said|came|comes|continues|remains|visits|visited|called|asked"
    r"|wants|wanted|understands|verbalized|ambulated|slept|fell|died|passed|lost|drives|drove|smokes|drinks"
    r"|completed|requested|refused|consented|signed|joined|attended|missed|took|takes|uses|used|will|would)\b"
)
_DEMOGRAPHICS = re.compile(
    r"^,?[ \t]*\(?\d{1,3}(?:[ \t]*(?:y/?o|yo|years?|yrs?|-year-old|[MF]\b)|[ \t]*[,)])"
)
_BY = re.compile(r"\bby[ \t]+(?=[^\W\d_])")
_SIGNATURE_INITIALS = re.compile(
    r"(?m)^[ \t]*(?:[\u2014\u2013-]{1,2}|/s/)[ \t]*([A-Z]{2,4})[ \t]*$|\b([A-Z]{2,4})/[a-z]{2,4}[ \t]*$"
)
_NICKNAME = re.compile(
    r"(?i:\b(?:goes\s+by|known\s+as|prefers\s+to\s+be\s+called|a\.?k\.?a\.?|nicknamed?|calls\s+(?:him|her)self))"
    r"[ \t]*[\"\u201c'\u2018(]?[ \t]*(?=[^\W\d_])"
)
_PREFERS_AFTER = re.compile(r"^,?[ \t]+as[ \t]+(?:he|she|they)[ \t]+prefers?\b")


def _name_shaped(token: _Token) -> bool:
    """Title case, not an everyday, clinical or calendar word: how unknown names look."""
    word = _base(token.text)
    lower = word.lower()
    if len(word) < 2 or word.isupper() or not _is_capitalised(word):
        return False
    return not (
        lower in lex.COMMON_WORDS
        or lower in lex.NOT_NAME_WORDS
        or lower in _MONTH_WORDS
        or lower in lex.TITLES
        or lower in lex.STATE_NAMES
        or lower in lex.COUNTRIES
        or lower in lex.STREET_SUFFIXES
        or lower in lex.GENERIC_FACILITY_WORDS
        or word in _CREDENTIAL_SET
    )


def _unknown_names(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    """Names of no list: runs of name-shaped words, and single ones with a cue after them."""
    i = 0
    while i < len(tokens):
        if not _name_shaped(tokens[i]) or _eponym_use(text, tokens[i]):
            i += 1
            continue
        run = [tokens[i]]
        j = i + 1
        while j < len(tokens) and len(run) < 3:
            gap = text[run[-1].end : tokens[j].begin]
            if gap not in (" ", "\t") or run[-1].text.endswith(("'s", "\u2019s")):
                break
            if not _name_shaped(tokens[j]):
                break
            run.append(tokens[j])
            j += 1
        begin, end = run[0].begin, run[-1].end
        if run[-1].text.endswith(("'s", "\u2019s")):
            end -= 2
        after = text[end : end + 24]
        if len(run) >= 2:
            yield _Candidate.of("NAME", begin, end, 0.5)
        elif _REPORTING_VERB.match(after) or _DEMOGRAPHICS.match(after):
            yield _Candidate.of("NAME", begin, end, 0.55)
        i = j


def _next_is_surname(tokens: list[_Token], i: int) -> bool:
    for token in tokens[i + 1 : i + 3]:
        if len(token.text) == 1:
            continue
        return _base(token.lower) in lex.SURNAMES or _base(token.lower) not in lex.NOT_NAME_WORDS
    return False


def _eponym_use(text: str, token: _Token) -> bool:
    """ "Parkinson's disease", "Graves disease", "Bell's palsy": clinical words, not people."""
    if _base(token.lower) not in lex.EPONYMS:
        return False
    return bool(
        re.match(
            r"(?:['\u2019]s)?\s+(?:disease|syndrome|sign|palsy|test|score|scale|maneuver|lymphoma|sarcoma|tumor|esophagus|ulcer"
            r"|phenomenon|reflex|criteria|classification|fracture|node|arthritis|thyroiditis|encephalopathy|aneurysm)",
            text[token.end - (2 if token.text.endswith(("'s", "\u2019s")) else 0) :],
            re.IGNORECASE,
        )
    )


def _name_start_before(text: str, tokens: list[_Token], i: int) -> int | None:
    """Walk back from token i (the last word before a credential) over a name on the same line."""
    start = None
    j = i
    count = 0
    while j >= 0 and count < 4:
        token = tokens[j]
        if start is not None:
            gap = text[token.end : start]
            if not re.fullmatch(r"[ \t]+|\.[ \t]+|,[ \t]*", gap):
                break
            if gap.startswith(",") and count > 1:
                break  # "Smith, John" is one name; "Cardiology, Smith, John" is not
        is_initial = len(token.text) == 1 and token.text.isupper()
        if not (is_initial or _namey(token)):
            break
        start = token.begin
        count += 1
        j -= 1
    return start


def _labelled_name(text: str, tokens: list[_Token], i: int) -> tuple[int, int] | None:
    """A name right after a label: "First [M.] Last", or "LAST, FIRST [M.]"."""
    span = _name_at(text, tokens, i, limit=4)
    if span is None:
        return None
    inverted = re.match(r",[ \t]*", text[span[1] :])
    if inverted:
        k = _index_at(tokens, span[1] + inverted.end())
        if k < len(tokens) and tokens[k].begin == span[1] + inverted.end():
            rest = _name_at(text, tokens, k, limit=3)
            if rest and span[1] - span[0] > 1 and text[span[0] : span[1]].count(" ") == 0:
                same_case = text[span[0] : span[1]].isupper() == text[rest[0] : rest[1]].isupper()
                first = _base(tokens[k].lower)
                if same_case and (first in lex.FIRST_NAMES or text[span[0] : span[1]].isupper()):
                    return span[0], rest[1]
    return span


# ------------------------------------------------------------------------------------ resolution


def _resolve(candidates: Iterable[_Candidate], text: str) -> list[_Candidate]:
    """Non-overlapping entities covering every candidate's characters (recall is never lost).

    The best candidate (priority, then length, then score) takes its span; a weaker overlapping
    candidate keeps the parts nobody else covers, as its own entities.
    """
    ordered = sorted(
        (c for c in (_trim(c, text) for c in candidates) if c is not None),
        key=lambda c: (-c.priority, -(c.end - c.begin), -c.score, c.begin),
    )
    taken: list[_Candidate] = []
    covered = bytearray(len(text))
    for c in ordered:
        if not any(covered[c.begin : c.end]):
            taken.append(c)
            covered[c.begin : c.end] = b"\x01" * (c.end - c.begin)
            continue
        start = None
        for pos in range(c.begin, c.end + 1):
            free = pos < c.end and not covered[pos]
            if free and start is None:
                start = pos
            elif not free and start is not None:
                piece = _trim(_Candidate(c.type, start, pos, c.score, c.priority), text)
                if piece is not None and any(ch.isalnum() for ch in text[piece.begin : piece.end]):
                    if piece.end - piece.begin >= 2 or text[piece.begin : piece.end].isdigit():
                        taken.append(piece)
                        covered[piece.begin : piece.end] = b"\x01" * (piece.end - piece.begin)
                start = None
    return sorted(taken, key=lambda c: c.begin)


def _trim(c: _Candidate, text: str) -> _Candidate | None:
    begin, end = c.begin, c.end
    while begin < end and (text[begin].isspace() or text[begin] in ",;:()[]{}\"'"):
        if text[begin] == "(" and ")" in text[begin:end]:
            break  # "(617) 555-0148"
        begin += 1
    while end > begin and (text[end - 1].isspace() or text[end - 1] in ",;:()[]{}\"'-"):
        if text[end - 1] == ")" and "(" in text[begin : end - 1]:
            break
        end -= 1
    if end <= begin:
        return None
    return _Candidate(c.type, begin, end, c.score, c.priority)


def _propagate(text: str, found: list[_Candidate]) -> Iterator[_Candidate]:
    """A name word or a number found once is the same identifier everywhere in the note."""
    seen: set[tuple[str, str]] = set()
    for c in found:
        value = text[c.begin : c.end]
        if c.type == "NAME" and (c.score >= 0.65 or " " in value):
            for word in (w.group() for w in _WORD.finditer(value)):
                lower = word.lower()
                if (
                    len(word) < 3
                    or lower in lex.NOT_NAME_WORDS
                    or lower in lex.TITLES
                    or lower in _MONTH_WORDS
                ):
                    continue
                if lower in lex.AMBIGUOUS_FIRST_NAMES | lex.AMBIGUOUS_SURNAMES and c.score < 0.85:
                    continue
                seen.add(("NAME", word))
        elif c.type in (
            "MRN",
            "HEALTH_PLAN",
            "ACCOUNT",
            "LICENSE",
            "VEHICLE",
            "DEVICE",
            "SSN",
            "ID",
            "FACILITY",
            "EMAIL",
        ):
            if len(value) >= 4 and c.score >= 0.6:
                seen.add((c.type, value))
    types: dict[str, str] = {}
    for type_, value in seen:
        variants = (
            {value, value.upper(), value[:1].upper() + value[1:].lower()} if type_ == "NAME" else {value}
        )
        for variant in variants:
            types.setdefault(variant, type_)
    if not types:
        return
    pattern = re.compile(
        r"(?<![\w'\u2019-])(?:"
        + "|".join(re.escape(v) for v in sorted(types, key=len, reverse=True))
        + r")(?![\w-])"
    )
    for m in pattern.finditer(text):
        yield _Candidate.of(types[m.group()], m.start(), m.end(), 0.75)


def detect(text: str) -> list[Entity]:
    """Every identifier in ``text``, sorted by offset, non-overlapping."""
    tokens = _tokens(text)
    first = _resolve(_candidates(text, tokens), text)
    extra = list(_propagate(text, first))
    final = _resolve([*first, *extra], text) if extra else first
    return [Entity(c.type, c.begin, c.end, round(c.score, 2)) for c in final]


# ------------------------------------------------------------------------------------- redaction


def redact(text: str, entities: list[Entity], mode: Mode = "tag", *, seed: int | None = None) -> str:
    """``text`` with each entity replaced as ``mode`` says (see the module docstring)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    fakes = _Surrogates(text, seed) if mode == "surrogate" else None
    out: list[str] = []
    position = 0
    for e in sorted(entities, key=lambda e: e.begin):
        out.append(text[position : e.begin])
        original = text[e.begin : e.end]
        if mode == "tag":
            out.append(f"[{e.type}]")
        elif mode == "mask":
            out.append("".join(ch if ch in "\r\n" else "*" for ch in original))
        else:
            assert fakes is not None
            out.append(fakes.replace(e.type, original))
        position = e.end
    out.append(text[position:])
    return "".join(out)


def deidentify(text: str, mode: Mode = "tag", *, seed: int | None = None) -> Deidentified:
    """Detect and redact. ``seed`` fixes the surrogates and the date shift (tests); by default
    they are drawn from the operating system's randomness, fresh for every document."""
    entities = detect(text)
    return Deidentified(entities, redact(text, entities, mode, seed=seed), mode)


@dataclass
class _Surrogates:
    """Fake values for one document: the same original always gets the same fake."""

    text: str
    seed: int | None
    rng: random.Random = field(init=False)
    shift_days: int = field(init=False)
    _memo: dict[tuple[str, str], str] = field(default_factory=dict, init=False)
    _words: dict[str, str] = field(default_factory=dict, init=False)
    _used: set[str] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        # Not for secrecy: fakes only need to differ from the originals (seeded from secrets).
        self.rng = random.Random(self.seed if self.seed is not None else secrets.randbits(64))  # noqa: S311
        self.shift_days = self.rng.choice([-1, 1]) * self.rng.randint(14, 365)
        self._in_text = {w.group().lower() for w in _WORD.finditer(self.text)}
        # The note's most frequent year: dates written without one are shifted within it.
        years = [int(y) for y in re.findall(r"(?<!\d)((?:19|20)\d\d)(?!\d)", self.text)]
        self.year: int | None = max(sorted(set(years)), key=years.count) if years else None

    def replace(self, type_: str, original: str) -> str:
        key = (type_, original.lower())
        if key not in self._memo:
            self._memo[key] = self._make(type_, original)
        return self._memo[key]

    def _make(self, type_: str, original: str) -> str:
        if type_ == "NAME":
            return _WORD.sub(lambda m: self._name_word(m.group()), original)
        if type_ == "DATE":
            return shift_date(original, self.shift_days, self.rng, self.year)
        if type_ == "AGE":
            return "90"  # Safe Harbor: every age over 89 is reported as one category, 90 or older
        if type_ == "EMAIL":
            first, last = self._fresh(lex.FIRST_NAMES), self._fresh(lex.SURNAMES)
            return f"{first}.{last}@example.org"
        if type_ == "URL":
            return f"https://www.example.org/{self._shape('a1b2c3')}"
        if type_ == "IP":
            return f"192.0.2.{self.rng.randint(1, 254)}"  # TEST-NET-1, reserved for documentation
        if type_ == "SSN":
            digits = self._shape(original)
            return (
                "9" + digits[1:] if digits[:1].isdigit() and len(original) > 4 else digits
            )  # 9xx: never issued
        if type_ == "CITY":
            return self._pick(lex.FAKE_CITIES, original)
        if type_ == "FACILITY":
            return self._pick(lex.FAKE_FACILITIES, original)
        if type_ == "ADDRESS":
            return self._address(original)
        return self._shape(original)  # phone, fax, ZIP, record and account numbers, serials, ids

    def _name_word(self, word: str) -> str:
        lower = word.lower()
        if lower in self._words:
            fake = self._words[lower]
        elif len(word) <= 2:
            fake = self.rng.choice([c for c in string.ascii_uppercase if c.lower() != lower[0]])
        elif lower in lex.FEMALE_NAMES:
            fake = self._fresh(lex.FEMALE_NAMES)
        elif lower in lex.MALE_NAMES:
            fake = self._fresh(lex.MALE_NAMES)
        elif lower in lex.FIRST_NAMES and lower not in lex.SURNAMES:
            fake = self._fresh(lex.FIRST_NAMES)
        else:
            fake = self._fresh(lex.SURNAMES)
        self._words[lower] = fake
        if word.isupper():
            return fake.upper()
        return fake[:1].upper() + fake[1:].lower() if word[:1].isupper() else fake.lower()

    def _fresh(self, pool: frozenset[str]) -> str:
        choices = sorted(w for w in pool if w not in self._in_text and w not in self._used and "'" not in w)
        word = self.rng.choice(choices)
        self._used.add(word)
        return word.capitalize()

    def _pick(self, pool: tuple[str, ...], original: str) -> str:
        choices = [p for p in pool if p.lower() != original.lower() and p not in self._used] or list(pool)
        value = self.rng.choice(choices)
        self._used.add(value)
        return value.upper() if original.isupper() else value

    def _shape(self, original: str) -> str:
        out = []
        for ch in original:
            if ch.isdigit():
                out.append(str(self.rng.randint(0, 9)))
            elif ch.isalpha() and ch.isascii():
                letter = self.rng.choice(string.ascii_uppercase)
                out.append(letter if ch.isupper() else letter.lower())
            else:
                out.append(ch)
        return "".join(out)

    def _address(self, original: str) -> str:
        m = re.match(r"\s*(\d+)", original)
        if re.match(r"(?i)\s*p\.?\s?o\.?\s+box", original):
            return f"PO Box {self.rng.randint(100, 9999)}"
        suffix = re.search(_STREET_SUFFIX + r"\b\.?", original)
        street = self.rng.choice([s for s in lex.FAKE_STREETS if s.lower() not in original.lower()])
        number = str(self.rng.randint(10, 9999)) if m else ""
        tail = suffix.group() if suffix else "Street"
        unit = re.search(
            r"(?i),?\s*(?:apt|apartment|unit|suite|ste|room|rm|#)\.?\s*#?\s*[A-Za-z0-9-]+$", original
        )
        fake = " ".join(p for p in (number, street, tail) if p)
        if unit:
            fake += self._shape(unit.group())
        return fake


# ----------------------------------------------------------------------------------- date shifts

_MONTH_NAMES = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTH_ABBR = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTH_ABBR["sept"] = 9
_REFERENCE_YEAR = 2001  # any non-leap year, for dates written without one


def shift_date(value: str, days: int, rng: random.Random | None = None, year: int | None = None) -> str:
    """``value`` (a date in any format :func:`detect` finds) moved by ``days``, in the same format.

    Missing parts stay missing ("March 14" stays a month and a day), computed in ``year`` (the
    note's year, so that intervals across February stay exact); a month alone moves with its
    15th day. Unknown formats are replaced by a random string of the same shape.
    """
    rng = rng or random.Random()  # noqa: S311 (shapes of fake dates, not secrets)
    text = value.strip()
    # ISO and other year-first numeric forms: 2024-03-14, 2024/03/14
    m = re.fullmatch(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})", text)
    if m:
        new = _add(int(m[1]), int(m[3]), int(m[4]), days)
        if new:
            return f"{new.year}{m[2]}{new.month:02d}{m[2]}{new.day:02d}"
    m = re.fullmatch(r"(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})", text)
    if m:
        a, b, year = int(m[1]), int(m[3]), int(m[4])
        full_year = year if len(m[4]) == 4 else (2000 + year if year <= 30 else 1900 + year)
        day_first = a > 12
        month, day = (b, a) if day_first else (a, b)
        new = _add(full_year, month, day, days)
        if new:
            y = str(new.year) if len(m[4]) == 4 else f"{new.year % 100:02d}"
            first, second = (new.day, new.month) if day_first else (new.month, new.day)
            padded = "0" in (m[1][0], m[3][0]) or (len(m[1]), len(m[3])) == (2, 2)  # MM/DD/YYYY
            return f"{_pad(first, m[1], padded)}{m[2]}{_pad(second, m[3], padded)}{m[2]}{y}"
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", text)
    if m:
        new = _add(year, int(m[1]), int(m[2]), days)
        if new:
            return f"{_pad(new.month, m[1])}/{_pad(new.day, m[2])}"
    textual = _shift_textual(text, days, year)
    if textual is not None:
        return textual
    holiday = _HOLIDAYS.get(re.sub(r"['\u2019]", "'", text.lower()))
    if holiday:
        new = _add(year, holiday[0], holiday[1], days)
        if new:
            return f"{calendar.month_name[new.month]} {new.day}"
    m = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)", text, re.IGNORECASE)
    if m:
        day = (int(m[1]) - 1 + days) % 28 + 1
        return f"{day}{_ordinal(day)}"
    return "".join(str(rng.randint(0, 9)) if c.isdigit() else c for c in value)


def _shift_textual(text: str, days: int, default_year: int | None = None) -> str | None:
    month_match = re.search(
        r"(?i)\b(" + "|".join(sorted(set(_MONTH_NAMES) | set(_MONTH_ABBR), key=len, reverse=True)) + r")\b",
        text,
    )
    if not month_match:
        return None
    word = month_match.group(1)
    month = _MONTH_NAMES.get(word.lower()) or _MONTH_ABBR[word.lower()]
    rest = text[: month_match.start()] + "\0" + text[month_match.end() :]
    year_match = re.search(r"(?<!\d)((?:19|20)\d{2}|'\d{2})(?!\d)", rest)
    year = default_year
    if year_match:
        digits = year_match.group(1).lstrip("'")
        year = int(digits) if len(digits) == 4 else 2000 + int(digits)
    without_year = rest if not year_match else rest[: year_match.start()] + "\1" + rest[year_match.end() :]
    day_match = re.search(r"(?<!\d)(\d{1,2})(st|nd|rd|th)?(?!\d)", without_year)
    day = int(day_match.group(1)) if day_match else 15
    new = _add(year, month, day, days)
    if new is None:
        return None
    out = without_year
    if day_match:
        suffix = _ordinal(new.day) if day_match.group(2) else ""
        if day_match.group(2) and day_match.group(2).isupper():
            suffix = suffix.upper()
        out = out[: day_match.start()] + _pad(new.day, day_match.group(1)) + suffix + out[day_match.end() :]
    if year_match:
        y = year_match.group(1)
        new_year = str(new.year) if not y.startswith("'") else f"'{new.year % 100:02d}"
        out = out.replace("\1", new_year)
    return out.replace("\0", _month_like(word, new.month))


def _month_like(word: str, month: int) -> str:
    full = (word.lower() in _MONTH_NAMES and len(word) > 3) or word.lower() == "may"
    name = calendar.month_name[month] if full else calendar.month_abbr[month]
    if word.lower() == "sept" and month == 9:
        name = "Sept"
    if word.isupper() and len(word) > 1:
        return name.upper()
    if word.islower():
        return name.lower()
    return name


def _add(year: int | None, month: int, day: int, days: int) -> dt.date | None:
    base_year = year if year is not None else (2004 if (month, day) == (2, 29) else _REFERENCE_YEAR)
    try:
        return dt.date(base_year, month, day) + dt.timedelta(days=days)
    except ValueError:
        return None


def _pad(value: int, like: str, padded: bool | None = None) -> str:
    """``value`` written like ``like``: zero-padded to two digits when the original was."""
    if padded is None:
        padded = len(like) == 2 and like.startswith("0")
    return f"{value:02d}" if padded else str(value)


def _ordinal(day: int) -> str:
    if 10 <= day % 100 <= 20:
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
