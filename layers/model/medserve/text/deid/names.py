"""Names: titles, credentials, labels, relations, name lists and name-shaped words in name positions."""

from __future__ import annotations

import re
from collections.abc import Iterator

import medserve.text.deid.lexicon as lex
from medserve.text.deid.tokens import (
    _CREDENTIAL_SET,
    _base,
    _has_listed_name,
    _in_name_lists,
    _index_at,
    _is_capitalised,
    _name_shaped,
    _namey,
    _Token,
)
from medserve.text.deid.types import _Candidate

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
