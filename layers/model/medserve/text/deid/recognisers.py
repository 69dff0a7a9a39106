"""Format recognisers: e-mail, URL, IP, SSN, phones, labelled numbers, dates, ages, addresses,
ZIP codes, cities and facilities."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import medserve.text.deid.lexicon as lex
from medserve.text.deid.tokens import _MONTH_WORDS, _base, _index_at, _is_capitalised, _name_shaped, _Token
from medserve.text.deid.types import _Candidate

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
_HASH_ID = re.compile(r"(?<![\w&])#[ \t]?:?[ \t]?(" + _ID_VALUE + r")(?![A-Za-z0-9])")  # "#12", "Job #: 12"
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
