"""Overlap resolution and propagation: every candidate's characters kept, a name or number
found once found everywhere in the note."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

import medserve.text.deid.lexicon as lex
from medserve.text.deid.features import safe_words, tokenise
from medserve.text.deid.model import token_model
from medserve.text.deid.names import _names
from medserve.text.deid.recognisers import _dates, _facilities, _places, _structured
from medserve.text.deid.safelist import safelist_candidates
from medserve.text.deid.tokens import _MONTH_WORDS, _WORD, _Token, _tokens
from medserve.text.deid.types import Entity, _Candidate

SIGNALS = ("rules", "model", "safelist")
_LISTED_NAMES = frozenset(lex.FIRST_NAMES) | frozenset(lex.SURNAMES)


def _candidates(text: str, tokens: list[_Token]) -> Iterator[_Candidate]:
    yield from _structured(text)
    yield from _dates(text)
    yield from _places(text, tokens)
    yield from _facilities(text, tokens)
    yield from _names(text, tokens)


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
    titled_only: set[str] = set()  # a clinical word that is this note's name: "Ward" only, never "ward"
    lower_too: set[str] = set()  # names whose lower-case form is no English word: "smith", "ann"
    known = safe_words()
    for c in found:
        value = text[c.begin : c.end]
        if c.type == "NAME" and (c.score >= 0.65 or " " in value):
            for word in (w.group() for w in _WORD.finditer(value)):
                lower = word.lower()
                if len(word) < 3 or lower in lex.TITLES or lower in _MONTH_WORDS:
                    continue
                if lower in lex.NOT_NAME_WORDS:
                    if c.score >= 0.85 and word.isalpha() and not word.islower():
                        titled_only.add(word[:1].upper() + word[1:].lower())
                    continue
                ambiguous = lower in lex.AMBIGUOUS_FIRST_NAMES | lex.AMBIGUOUS_SURNAMES
                if ambiguous and c.score < 0.85:
                    continue
                seen.add(("NAME", word))
                if lower not in lex.COMMON_WORDS and (
                    lower not in known or (not ambiguous and lower in _LISTED_NAMES)
                ):
                    lower_too.add(word)
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
        if value in lower_too:
            variants.add(value.lower())  # a note, or a line of it, typed in lower case
        for variant in variants:
            types.setdefault(variant, type_)
    for word in titled_only:
        types.setdefault(word, "NAME")
    if not types:
        return
    pattern = re.compile(
        r"(?<![\w'\u2019-])(?:"
        + "|".join(re.escape(v) for v in sorted(types, key=len, reverse=True))
        + r")(?![\w-])"
    )
    for m in pattern.finditer(text):
        yield _Candidate.of(types[m.group()], m.start(), m.end(), 0.75)


def detect(text: str, signals: Iterable[str] = SIGNALS) -> list[Entity]:
    """Every identifier in ``text``, sorted by offset, non-overlapping.

    ``signals`` (default all three) picks the candidates: the rules, the learned token model and
    the safe-list pass; their union goes through one resolution and one propagation, so no signal
    can take away what another found. One signal alone is for measuring it (``medserve eval deid
    --signal``)."""
    signals = frozenset(signals)
    if unknown := signals - set(SIGNALS):
        raise ValueError(f"unknown signals {sorted(unknown)}")
    candidates: list[_Candidate] = []
    if "rules" in signals:
        candidates.extend(_candidates(text, _tokens(text)))
    if signals & {"model", "safelist"}:
        words = tokenise(text)
        if "model" in signals:
            candidates.extend(token_model().candidates(text, words))
        if "safelist" in signals:
            candidates.extend(safelist_candidates(text, words))
    first = _resolve(candidates, text)
    extra = list(_propagate(text, first))
    final = _resolve([*first, *extra], text) if extra else first
    return [Entity(c.type, c.begin, c.end, round(c.score, 2)) for c in final]
