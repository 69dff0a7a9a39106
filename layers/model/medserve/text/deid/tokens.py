"""Word tokens and the word-shape tests every recogniser uses."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

import medserve.text.deid.lexicon as lex


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
