"""Redaction modes (tag, mask, surrogate), the per-document surrogates and date shifts."""

from __future__ import annotations

import calendar
import datetime as dt
import random
import re
import secrets
import string
from dataclasses import dataclass, field

import medserve.text.deid.lexicon as lex
from medserve.text.deid.recognisers import _HOLIDAYS, _STREET_SUFFIX
from medserve.text.deid.resolve import detect
from medserve.text.deid.tokens import _WORD
from medserve.text.deid.types import MODES, Deidentified, Entity, Mode


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
