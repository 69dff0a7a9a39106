"""The safe-list signal: in a position where notes put names, a word that is not a known English or
clinical word is taken for a name.

Name positions: after a name label (``Patient:``, ``RE:``, ``Dictated by``, ``cc:`` ...), after a
title (``Dr.``, ``Mrs``), before a credential (``, MD``, ``RN``), after a relation word (``wife``,
``daughter``), a ``Last, First`` header, and signature lines (short lines with a credential, a
``name/initials`` pair or a leading dash). There, a word of two or more letters that is not on the
safe list (:func:`features.safe_words`) is a NAME, whatever its case (``dictated by: pearson``,
``HARTLEY,MAUREEN``), and so is a lone initial beside such a word.

The trade (Philter's): recall for precision. An unknown word in a name position is redacted even
when it is a rare drug or a misspelling; a name that is also a common English word (``Rose``,
``Baker``) is left to the rules and the model. The eval reports this signal on its own
(``medserve eval deid --signal safelist``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import medserve.text.deid.lexicon as lex
from medserve.text.deid.features import Token, line_start_of, safe_words, tokenise
from medserve.text.deid.names import _AMBIGUOUS_CREDENTIALS, _CREDENTIAL_AFTER
from medserve.text.deid.tokens import _CREDENTIAL_SET, _MONTH_WORDS
from medserve.text.deid.types import _PRIORITY, _Candidate

__all__ = ["safelist_candidates"]

_NAME_LABELS = (
    r"patient(?:\s+name)?|pt|name|re|attending|pcp|surgeon|assistant|anesthesiologist|caller|requesting"
    r"|referring(?:\s+(?:physician|provider))?|dictated\s+by|signed\s+by|electronically\s+signed(?:\s+by)?"
    r"|transcribed\s+by|cc|provider|physician|resident|fellow|intern|nurse|author|endoscopist|contact"
    r"|primary\s+care|doctor|consultant|seen\s+by|by|emergency\s+contact|guarantor"
)
_LABEL = re.compile(rf"(?im)(?:^|(?<=[\s(]))(?:{_NAME_LABELS})[ \t]*[:#]?[ \t]*(?=[^\W_])")
_TITLE = re.compile(
    r"(?m)(?:^|(?<=[\s(]))(?:Dr|DR|dr|Mr|MR|mr|Mrs|MRS|mrs|Ms|MS|ms|Miss|Mx|Prof)\.?[ \t]+(?=[^\W_])"
)
_RELATION = re.compile(
    r"(?im)(?:^|(?<=[\s(]))(?:"
    + "|".join(sorted(lex.RELATION_WORDS, key=len, reverse=True))
    + r")s?[ \t]*[:,(]?[ \t]*(?=[^\W_])"
)
_NAME_SLASH_INITIALS = re.compile(
    r"^[ \t]*[^\W\d_][^\W\d_'.\- ]*(?:[ .'\-]+[^\W\d_]+){0,3}[ \t]*/[ \t]*[^\W\d_]{2,4}[ \t]*$"
)
_PARTICLES = frozenset(
    {
        "van",
        "von",
        "de",
        "der",
        "den",
        "del",
        "della",
        "da",
        "di",
        "du",
        "la",
        "le",
        "ter",
        "ten",
        "bin",
        "al",
        "el",
        "st",
    }
)
_JOIN = re.compile(r"[ \t]*[,.'\-]?[ \t]*")
_SIGNATURE_START = re.compile(r"^[ \t]*(?:--|-|\u2014|\u2013|/s/)")
SAFELIST_PRIORITY = -110  # below the rules and the model: it adds, never retypes
_STOP = frozenset(lex.COMMON_WORDS) | frozenset(lex.NOT_NAME_WORDS) | frozenset(lex.TITLES)
_CREDENTIALS_LOWER = frozenset(c.lower().replace(".", "") for c in _CREDENTIAL_SET)


def _unknown(token: Token, known: frozenset[str]) -> bool:
    word = token.text
    lower = word.lower()
    return (
        len(word) >= 2
        and word.isalpha()
        and lower not in known
        and lower not in _MONTH_WORDS
        and lower not in _CREDENTIALS_LOWER
        and word not in _CREDENTIAL_SET
        and word not in lex.STATE_CODES  # "Lakewood, MA": states are not identifiers
        and lower not in lex.STATE_NAMES
    )


def _titled(token: Token) -> bool:
    """Title case: "Ward" after "Ms." is a name, "manager" before "Trish McAllister, RN" is not."""
    w = token.text
    return w[:1].isupper() and w[1:].islower()


def _is_credential(token: Token) -> bool:
    return token.text in _CREDENTIAL_SET or token.text.lower() in _CREDENTIALS_LOWER


def safelist_candidates(text: str, tokens: list[Token] | None = None) -> Iterator[_Candidate]:
    tokens = tokenise(text) if tokens is None else tokens
    known = safe_words()
    n = len(tokens)
    positions: set[int] = set()
    strong: set[int] = set()  # header "Last, First", before a credential, after a title
    paired: set[int] = set()  # "Last, First" headers: known words in any case ("WARD, ALISON")
    slashed: set[int] = set()  # "name/initials" lines: even everyday words ("at", "mg") are initials

    def run_from(i: int, limit: int = 4, into: set[int] | None = None) -> None:
        """Tokens i.. on one line, joined by spaces or , . ' -: a name's words."""
        for k in range(i, min(n, i + limit)):
            if k > i and not _JOIN.fullmatch(text, tokens[k - 1].end, tokens[k].begin):
                break
            gap = text[tokens[k - 1].end : tokens[k].begin] if k > i else ""
            if "  " in gap or "\t" in gap:
                break  # a column gap: "Patient: Sarah Rowe   MRN: ..."
            if "." in gap and len(tokens[k - 1].text) > 1:
                break  # a sentence ends ("well. Tiotropium"); an initial does not ("R. Castellanos")
            if _is_credential(tokens[k]) or text.startswith((":", "#"), tokens[k].end):
                break  # the next label
            positions.add(k)
            if into is not None:
                into.add(k)

    # Where a label, a title or a relation word ends (one scan each, not one per token).
    label_ends = {m.end() for m in _LABEL.finditer(text)}
    title_ends = {m.end() for m in _TITLE.finditer(text)}
    relation_ends = {m.end() for m in _RELATION.finditer(text)}
    line_start = 0
    lines: dict[int, list[int]] = {}
    for i, (t, line_start) in enumerate(zip(tokens, line_start_of(text, tokens), strict=True)):
        lines.setdefault(line_start, []).append(i)
        before = text[max(line_start, t.begin - 48) : t.begin]  # a label sits just before its name
        labelled = t.begin in label_ends
        if t.begin in title_ends:
            run_from(i, 3, strong)  # "Ms. Ward", "dr. d. reed": after a title, names
        elif labelled or t.begin in relation_ends:
            run_from(i)
        # "Pruitt, Cordell", "HARTLEY,MAUREEN": two words and a comma at the start of a line or label.
        if i + 1 < n and re.fullmatch(r",[ \t]?", text[t.end : tokens[i + 1].begin]):
            if not before.strip() or labelled:
                positions.update((i, i + 1))
                strong.update((i, i + 1))
                paired.update((i, i + 1))
        # "Lucius Varga, M.D.", "kathy tran RN": the words before a credential ("Recommend PT":
        # a credential that is also an everyday abbreviation counts only after a comma).
        credential = _CREDENTIAL_AFTER.match(text[t.end : t.end + 16])
        if credential and not _is_credential(t):
            comma = credential.group().startswith(",")
            if comma or credential.group().strip() not in _AMBIGUOUS_CREDENTIALS:
                k = i
                while k >= 0 and i - k < 3:
                    if k < i:
                        gap = text[tokens[k].end : tokens[k + 1].begin]
                        if not _JOIN.fullmatch(gap) or ("." in gap and len(tokens[k].text) > 1):
                            break
                    positions.add(k)
                    strong.add(k)
                    k -= 1
    for start, members in lines.items():
        end = text.find("\n", start)
        line = text[start : len(text) if end < 0 else end]
        words = [tokens[i] for i in members]
        short = len(words) <= 6
        signature = (
            any(_is_credential(t) for t in words)
            or re.search(r"[^\W\d_]{2,}/[^\W\d_]{2,}", line) is not None
            or _SIGNATURE_START.match(line) is not None
        )
        if short and signature:
            positions.update(members)
        if _NAME_SLASH_INITIALS.match(line):  # "ward/zj", "Ramón Soliz/wt": author/typist
            positions.update(members)
            slashed.update(members)
    # Where the position alone says "name", a known word is one too ("WARD, ALISON", "Reed, MD"),
    # unless it is an everyday or clinical word of the lexicon.
    flagged = sorted(
        i
        for i in positions
        if _unknown(tokens[i], known)
        or (i in paired and _unknown(tokens[i], _STOP))
        or (i in strong and _titled(tokens[i]) and _unknown(tokens[i], _STOP))
        or (i in slashed and _unknown(tokens[i], frozenset()))
    )
    # Particles before a flagged surname: "van Luyssel", "VAN LEEUWEN", "de la Cruz".
    for i in sorted(flagged, reverse=True):
        k = i - 1
        while (
            k >= 0
            and tokens[k].text.lower() in _PARTICLES
            and _JOIN.fullmatch(text, tokens[k].end, tokens[k + 1].begin)
        ):
            flagged.append(k)
            k -= 1
    flagged_set = set(flagged)
    # A lone initial beside a flagged word is part of the name: "Cordell J", "d. pellegrino".
    for i in list(positions):
        t = tokens[i]
        if len(t.text) == 1 and t.text.isalpha() and ({i - 1, i + 1} & flagged_set):
            flagged_set.add(i)
    run: list[int] = []
    for i in [*sorted(flagged_set), None]:
        if run and (
            i is None or i != run[-1] + 1 or not _JOIN.fullmatch(text, tokens[run[-1]].end, tokens[i].begin)
        ):
            begin, end = tokens[run[0]].begin, tokens[run[-1]].end
            # strong positions propagate (score >= 0.65): the header's surname found in the text too
            score = 0.7 if any(k in strong for k in run) else 0.55
            yield _Candidate("NAME", begin, end, score, _PRIORITY["NAME"] + SAFELIST_PRIORITY)
            run = []
        if i is not None:
            run.append(i)
