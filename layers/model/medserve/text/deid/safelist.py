"""The safe-list signal: in a position where notes put names, a word that is not a known English or
clinical word is taken for a name.

Name positions: after a name label (``Patient:``, ``RE:``, ``Dictated by``, ``cc:`` ...), after a
title (``Dr.``, ``Mrs``), before a credential (``, MD``, ``RN``), after a relation word (``wife``,
``daughter``), a ``Last, First`` header, and signature lines (short lines with a credential, a
``name/initials`` pair or a leading dash). There, a word of two or more letters that is not on the
safe list (:func:`features.safe_words`) is a NAME, whatever its case (``dictated by: pearson``,
``HARTLEY,MAUREEN``), and so is a lone initial beside such a word.

Where the position alone says "name", an English word is one too: the first word after a title
(``Ms. Ward``; in lower case after ``dr.``), lower-case words before ``, credential`` that are no
everyday or clinical word of the lexicon (``lorna hale, M.D.``), a word between a name word and its
credential, a capitalised word after a listed given name or a particle (``George Wing``, ``J. van
Berg``), and a typist's initials after the slash (``walsh/rd``).

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


_TITLE_WORDS = frozenset(lex.TITLES)
_GIVEN_NAMES = frozenset(lex.FIRST_NAMES) - frozenset(lex.AMBIGUOUS_FIRST_NAMES)
# What a capitalised word after a given name is when it is no surname: a place's or an
# institution's word ("Mary Hospital" is the rules' facility), a title, a weekday.
_NOT_SURNAMES = (
    frozenset(lex.TITLES)
    | frozenset(w for f in lex.FACILITY_SUFFIXES for w in f.lower().split())
    | frozenset(lex.GENERIC_FACILITY_WORDS)
    | frozenset(lex.STREET_SUFFIXES)
    | frozenset({"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"})
)
# Credentials a typist's initials are never taken for ("smith/md" is a signature, "ward/ld" initials).
_CLINICIAN_CREDENTIALS = frozenset({"md", "do", "rn", "np", "pa", "pt", "ot", "dr", "mr", "ms"})


def _typist_initials(text: str, token: Token) -> bool:
    """The two to four letters after the slash of an author/typist line ("ward/LD")."""
    return (
        text[token.begin - 1 : token.begin] == "/"
        and 2 <= len(token.text) <= 4
        and token.text.isalpha()
        and token.text.lower() not in _CLINICIAN_CREDENTIALS
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
    after_title: set[int] = set()  # the first whole word after a title
    before_credential: list[tuple[bool, list[int]]] = []  # after a comma?, the words before, nearest first

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
    title_ends = {m.end(): m.group().strip() for m in _TITLE.finditer(text)}
    relation_ends = {m.end() for m in _RELATION.finditer(text)}
    line_start = 0
    lines: dict[int, list[int]] = {}
    for i, (t, line_start) in enumerate(zip(tokens, line_start_of(text, tokens), strict=True)):
        lines.setdefault(line_start, []).append(i)
        before = text[max(line_start, t.begin - 48) : t.begin]  # a label sits just before its name
        labelled = t.begin in label_ends
        if t.begin in title_ends:
            run_from(i, 3, strong)  # "Ms. Ward", "dr. d. reed": after a title, names
            # The first whole word after a title is the name, even an everyday one ("Ms. Ward"),
            # or a lower-case one after a title that cannot be an abbreviation ("dr. d. holland";
            # "mild mr noted": "mr" is mitral regurgitation too, so lower-case needs the stop).
            title = title_ends[t.begin]
            k = i
            while k < n and k - i < 2 and len(tokens[k].text) == 1 and k + 1 in positions:
                k += 1  # initials first: "dr. d. holland"
            if k < n and k in positions and k - i < 3:
                if _titled(tokens[k]) or (
                    tokens[k].text.islower() and (title.endswith(".") or title.lower() == "dr")
                ):
                    after_title.add(k)
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
                before_credential.append((comma, []))
                k = i
                while k >= 0 and i - k < 3:
                    if k < i:
                        gap = text[tokens[k].end : tokens[k + 1].begin]
                        if not _JOIN.fullmatch(gap) or ("." in gap and len(tokens[k].text) > 1):
                            break
                    positions.add(k)
                    strong.add(k)
                    before_credential[-1][1].append(k)
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
        or (i in after_title and _unknown(tokens[i], _TITLE_WORDS))
        or (i in slashed and _typist_initials(text, tokens[i]))
    )
    # Before ", credential" the words are the name: lower-case words that are no everyday or
    # clinical word, from the credential back ("madeleine putz, M.D."); and before any credential,
    # a word between a name word and it ("kayla ward, RN": "ward" is a clinical word too, not here).
    flagged_now = set(flagged)
    for comma, run in before_credential:
        for k in run if comma else ():  # "triage RN", "case manager Trish McAllister, RN": no
            if not tokens[k].text.islower():
                break
            if k not in flagged_now and _unknown(tokens[k], _STOP):
                flagged.append(k)
                flagged_now.add(k)
        names = [j for j, k in enumerate(run) if k in flagged_now]
        if names and all(tokens[k].text.isalpha() for k in run[: names[-1]]):
            for k in run[: names[-1]]:
                if k not in flagged_now and _unknown(tokens[k], _TITLE_WORDS) and len(tokens[k].text) > 2:
                    flagged.append(k)
                    flagged_now.add(k)
    # A capitalised word after a listed given name or a particle, in a name position, is the
    # surname whatever it means elsewhere: "son Mary Ward", "ATTENDING: Z. van Dam".
    for k in sorted(positions):
        if (
            k == 0
            or k - 1 not in positions
            or not _titled(tokens[k])
            or text[tokens[k - 1].end : tokens[k].begin] != " "
        ):
            continue
        before_word = tokens[k - 1].text
        given = _titled(tokens[k - 1]) and before_word.lower() in _GIVEN_NAMES
        particle = before_word in _PARTICLES and before_word != "st"
        if (given or particle) and _unknown(tokens[k], _NOT_SURNAMES):
            flagged.append(k)
            if given:
                flagged.append(k - 1)
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
