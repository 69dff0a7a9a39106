"""Token features of the learned de-identifier: hashed indices, computed in Python, scored by the
ONNX linear model (:mod:`medserve.text.deid.model`).

A token is a run of letters and digits (``5/81`` is two tokens with ``/`` between them). Each token
gets :data:`SLOTS` feature strings (its word, shape, case, affixes, the characters around it, its
neighbours, its place in the line, the label the line starts with, lexicon and safe-list hits, and
a few conjunctions), each hashed with CRC32 (stable across processes, unlike ``hash``) into
:data:`BUCKETS` rows of the weight matrix. Training (``training/deid_tokens.py``) and serving call
the same :func:`featurise`, so the two cannot drift.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

import medserve.text.deid.lexicon as lex
from medserve.text.deid.tokens import _CREDENTIAL_SET, _MONTH_WORDS

__all__ = ["BUCKETS", "MODEL_DIR", "SAFE_WORDS_FILE", "SLOTS", "Token", "featurise", "safe_words", "tokenise"]

BUCKETS = 1 << 17
SLOTS = 48  # feature strings per token; unused slots point at the zero row BUCKETS
MODEL_DIR = Path(__file__).resolve().parent / "model"
SAFE_WORDS_FILE = "safe_words.txt.gz"

_TOKEN = re.compile(r"[^\W_]+")
_LABEL = re.compile(r"^[ \t]*([A-Za-z][A-Za-z .#/&'-]{0,30}?)[ \t]*[:#][ \t]*")
_FIRST = frozenset(lex.FIRST_NAMES)
_LAST = frozenset(lex.SURNAMES)
_COMMON = frozenset(lex.COMMON_WORDS) | frozenset(lex.NOT_NAME_WORDS)
_TITLES = frozenset(lex.TITLES)
_INSTITUTION = frozenset(lex.FACILITY_SUFFIXES) | frozenset(lex.GENERIC_FACILITY_WORDS)


@dataclass(frozen=True, slots=True)
class Token:
    begin: int
    end: int
    text: str


def tokenise(text: str) -> list[Token]:
    return [Token(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


@lru_cache(maxsize=1)
def safe_words() -> frozenset[str]:
    """Known English and clinical words (lower case), built by ``training/deid_tokens.py``: common
    English from pyspellchecker's frequency list less the name words of the training notes, with
    the lexicon's clinical and everyday words. A word not here is *unknown*."""
    path = MODEL_DIR / SAFE_WORDS_FILE
    return frozenset(gzip.decompress(path.read_bytes()).decode("utf-8").split())


def _shape(word: str) -> str:
    out: list[str] = []
    for ch in word:
        s = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
        if not out or out[-1] != s:
            out.append(s)
    return "".join(out)


def _case(word: str) -> str:
    if word.isdigit():
        return "D" if len(word) < 5 else "DL"
    if word.isupper():
        return "U1" if len(word) == 1 else "U"
    if word.islower():
        return "L"
    if word[0].isupper() and word[1:].islower():
        return "T"
    return "M"


def _num(token: Token | None, gap: str) -> str:
    """A digit token as its length and value class, after the gap before it: "/d2<13"."""
    if token is None:
        return "|none"
    w = token.text
    if not (w.isascii() and w.isdigit()):
        return gap[-2:] + "|w"
    value = int(w[:4])
    size = "<13" if value <= 12 else "<32" if value <= 31 else "<100" if value < 100 else "big"
    return f"{gap[-2:]}|d{len(w)}{size}"


def _kind(lower: str, known: frozenset[str]) -> str:
    """The word's lexicon class, one of a few: what the model learns names and non-names by."""
    if lower.isdigit():
        return "num"
    if lower in _MONTH_WORDS:
        return "month"
    if lower in _TITLES:
        return "title"
    if lower.upper() in _CREDENTIAL_SET:
        return "cred"
    if lower in _INSTITUTION:
        return "inst"
    if lower in _COMMON:
        return "common"
    first, last = lower in _FIRST, lower in _LAST
    if first or last:
        return "namelist"
    if lower in known:
        return "known"
    return "unknown"


def featurise(text: str, tokens: list[Token] | None = None) -> tuple[list[Token], np.ndarray]:
    """The tokens of ``text`` and their hashed feature indices, ``int64 [len(tokens), SLOTS]``."""
    tokens = tokenise(text) if tokens is None else tokens
    n = len(tokens)
    ids = np.full((n, SLOTS), BUCKETS, dtype=np.int64)
    if not n:
        return tokens, ids
    known = safe_words()
    lowers = [t.text.lower() for t in tokens]
    kinds = [_kind(w, known) for w in lowers]
    cases = [_case(t.text) for t in tokens]
    # Line context: where each token sits in its line, and the label the line starts with.
    line_of: list[int] = []
    line_starts: list[int] = []
    labels: dict[int, tuple[str, int]] = {}
    for t in tokens:
        start = text.rfind("\n", 0, t.begin) + 1
        if not line_starts or line_starts[-1] != start:
            line_starts.append(start)
            end = text.find("\n", start)
            line = text[start : len(text) if end < 0 else end]
            m = _LABEL.match(line)
            if m:
                labels[start] = (" ".join(m.group(1).lower().split()[-2:]), start + m.end())
        line_of.append(len(line_starts) - 1)
    index_in_line = [0] * n
    tokens_in_line = [0] * len(line_starts)
    for i in range(n):
        index_in_line[i] = tokens_in_line[line_of[i]]
        tokens_in_line[line_of[i]] += 1
    line_caps: list[bool] = []
    for k, start in enumerate(line_starts):
        end = text.find("\n", start)
        line = text[start : len(text) if end < 0 else end]
        letters = [c for c in line if c.isalpha()]
        line_caps.append(bool(letters) and all(c.isupper() for c in letters))
        del k
    crc = zlib.crc32
    rows: list[list[int]] = []
    for i, t in enumerate(tokens):
        w, lower, case, kind = t.text, lowers[i], cases[i], kinds[i]
        before = text[max(0, t.begin - 2) : t.begin]
        after = text[t.end : t.end + 2]
        pre = before[-1:] or "^"
        post = after[:1] or "$"
        p_low = lowers[i - 1] if i else "<s>"
        n_low = lowers[i + 1] if i + 1 < n else "</s>"
        p2_low = lowers[i - 2] if i > 1 else "<s>"
        n2_low = lowers[i + 2] if i + 2 < n else "</s>"
        p_kind = kinds[i - 1] if i else "<s>"
        n_kind = kinds[i + 1] if i + 1 < n else "</s>"
        p_case = cases[i - 1] if i else "<s>"
        n_case = cases[i + 1] if i + 1 < n else "</s>"
        line = line_of[i]
        start = line_starts[line]
        label, label_end = labels.get(start, ("", -1))
        in_label = label and t.begin < label_end
        after_label = label and not in_label
        position = min(index_in_line[i], 4)
        count = min(tokens_in_line[line], 8)
        last_in_line = i + 1 == n or line_of[i + 1] != line
        shape = _shape(w) if len(w) < 12 else _shape(w[:6]) + "~"
        digits = f"d{len(w)}" if w.isdigit() else ""
        features = [
            "w=" + lower,
            "shape=" + shape,
            "case=" + case,
            "kind=" + kind,
            "len=" + str(min(len(w), 10)),
            "p3=" + lower[:3],
            "s3=" + lower[-3:],
            "s2=" + lower[-2:],
            "pre=" + pre,
            "post=" + post,
            "pre2=" + before,
            "post2=" + after,
            "pw=" + p_low,
            "nw=" + n_low,
            "p2w=" + p2_low,
            "n2w=" + n2_low,
            "pk=" + p_kind,
            "nk=" + n_kind,
            "pc=" + p_case,
            "nc=" + n_case,
            "pos=" + str(position),
            "count=" + str(count),
            "last=" + str(last_in_line),
            "caps_line=" + str(line_caps[line]),
            "label=" + (label if after_label else "-"),
            "in_label=" + str(bool(in_label)),
            "case|kind=" + case + kind,
            "case|pre|post=" + case + pre + post,
            "kind|pw=" + kind + "|" + p_low,
            "kind|nw=" + kind + "|" + n_low,
            "kind|label=" + kind + "|" + (label if after_label else "-"),
            "case|pos|count=" + f"{case}|{position}|{count}",
            "kind|pk|nk=" + f"{kind}|{p_kind}|{n_kind}",
            "case|pc|nc=" + f"{case}|{p_case}|{n_case}",
            "kind|caps_line=" + kind + str(line_caps[line]),
            "pw|nw=" + p_low + "|" + n_low,
            "shape|pre2|post2=" + shape + before + "|" + after,
            "digits|pre|post=" + digits + pre + post,
            "kind|last|pos=" + f"{kind}|{last_in_line}|{position}",
            "label|pos=" + (label if after_label else "-") + str(position),
            "pk|kind|case=" + f"{p_kind}|{kind}|{case}",
            "nk|kind|case=" + f"{n_kind}|{kind}|{case}",
            # the numbers around a number, with what separates them: "132/76" is no "5/81"
            "pnum="
            + _num(tokens[i - 1] if i else None, text[tokens[i - 1].end : t.begin] if i else "")
            + _num(t, ""),
            "nnum="
            + _num(t, "")
            + _num(
                tokens[i + 1] if i + 1 < n else None, text[t.end : tokens[i + 1].begin] if i + 1 < n else ""
            ),
            "bias",
        ]
        rows.append([crc(f.encode()) % BUCKETS for f in features])
    width = len(rows[0])
    ids[:, :width] = rows  # one numpy assignment: per-item writes cost more than the hashing
    return tokens, ids
