"""Token features of the learned de-identifier: hashed indices, computed in Python, scored by the
ONNX linear model (:mod:`medserve.text.deid.model`).

A token is a run of letters and digits (``5/81`` is two tokens with ``/`` between them). Each token
has *atoms* (its word, shape, case, lexicon class, affixes, the characters around it, its place in
the line, the label the line starts with), each hashed once per distinct value with CRC32 (stable
across processes, unlike ``hash``); its features (:data:`TEMPLATES`: atoms of the token and of its
neighbours, alone and in conjunctions) are those hashes mixed in numpy, modulo :data:`BUCKETS`
rows of the weight matrix. Python work per token is a few cached look-ups, so a 200,000-character
note stays in seconds. Training (``training/deid_tokens.py``) and serving call
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
SLOTS = 48  # features per token (TEMPLATES); unused slots point at the zero row BUCKETS
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


# The features: conjunctions of atoms (p-/n- are the previous/next token's, 2 for two away).
TEMPLATES: tuple[tuple[str, ...], ...] = (
    ("w",),
    ("shape",),
    ("case",),
    ("kind",),
    ("len",),
    ("p3",),
    ("s3",),
    ("s2",),
    ("pre",),
    ("post",),
    ("before",),
    ("after",),
    ("pw",),
    ("nw",),
    ("p2w",),
    ("n2w",),
    ("pk",),
    ("nk",),
    ("pc",),
    ("nc",),
    ("pos",),
    ("count",),
    ("last",),
    ("caps",),
    ("label",),
    ("in_label",),
    ("case", "kind"),
    ("case", "pre", "post"),
    ("kind", "pw"),
    ("kind", "nw"),
    ("kind", "label"),
    ("case", "pos", "count"),
    ("kind", "pk", "nk"),
    ("case", "pc", "nc"),
    ("kind", "caps"),
    ("pw", "nw"),
    ("shape", "before", "after"),
    ("digits", "pre", "post"),
    ("kind", "last", "pos"),
    ("label", "pos"),
    ("pk", "kind", "case"),
    ("nk", "kind", "case"),
    # the numbers around a number, with what separates them: "132/76" is no "5/81"
    ("pnum", "gap", "num"),
    ("num", "ngap", "nnum"),
    (),  # bias
)
_ATOMS = (
    "w",
    "shape",
    "case",
    "kind",
    "len",
    "p3",
    "s3",
    "s2",
    "pre",
    "post",
    "before",
    "after",
    "pos",
    "count",
    "last",
    "caps",
    "label",
    "in_label",
    "digits",
    "num",
    "gap",
)
_FNV = np.uint64(0x100000001B3)
_ATOM_CACHE: dict[tuple[str, str], int] = {}


def _atom(name: str, value: str) -> int:
    """A stable 64-bit hash of one atom (CRC32 of the value and of the name, cached)."""
    key = (name, value)
    found = _ATOM_CACHE.get(key)
    if found is None:
        if len(_ATOM_CACHE) > 200_000:  # bounded: a 200,000-character note has fewer tokens
            _ATOM_CACHE.clear()
        data = f"{name}={value}".encode()
        found = _ATOM_CACHE[key] = (zlib.crc32(data) << 32) | zlib.crc32(data[::-1])
    return found


def _shift(values: np.ndarray, by: int, fill: np.uint64) -> np.ndarray:
    """``values`` moved ``by`` places (positive: each token sees the one before it)."""
    out = np.full_like(values, fill)
    if by > 0:
        out[by:] = values[:-by]
    else:
        out[:by] = values[-by:]
    return out


def line_start_of(text: str, tokens: list[Token]) -> list[int]:
    """Where each token's line starts; one pass over the text (an S3 note may have no line break
    in 200,000 characters: searching back from every token would be quadratic)."""
    starts: list[int] = []
    start, position = 0, 0
    for t in tokens:
        newline = text.rfind("\n", position, t.begin)
        if newline >= 0:
            start = newline + 1
        starts.append(start)
        position = t.begin
    return starts


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
    for start in line_start_of(text, tokens):
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
    # Atoms: each token's own properties, hashed once per distinct value (a note repeats them);
    # the features are conjunctions of atoms of the token and its neighbours, mixed in numpy.
    atoms: dict[str, list[int]] = {name: [] for name in _ATOMS}
    add = {name: atoms[name].append for name in _ATOMS}
    h = _atom
    for i, t in enumerate(tokens):
        w, lower = t.text, lowers[i]
        before = text[max(0, t.begin - 2) : t.begin]
        after = text[t.end : t.end + 2]
        line = line_of[i]
        label, label_end = labels.get(line_starts[line], ("", -1))
        in_label = bool(label) and t.begin < label_end
        shown_label = label if label and not in_label else "-"
        last_in_line = i + 1 == n or line_of[i + 1] != line
        add["w"](h("w", lower))
        add["shape"](h("shape", _shape(w) if len(w) < 12 else _shape(w[:6]) + "~"))
        add["case"](h("case", cases[i]))
        add["kind"](h("kind", kinds[i]))
        add["len"](h("len", str(min(len(w), 10))))
        add["p3"](h("p3", lower[:3]))
        add["s3"](h("s3", lower[-3:]))
        add["s2"](h("s2", lower[-2:]))
        add["pre"](h("pre", before[-1:] or "^"))
        add["post"](h("post", after[:1] or "$"))
        add["before"](h("before", before))
        add["after"](h("after", after))
        add["pos"](h("pos", str(min(index_in_line[i], 4))))
        add["count"](h("count", str(min(tokens_in_line[line], 8))))
        add["last"](h("last", str(last_in_line)))
        add["caps"](h("caps", str(line_caps[line])))
        add["label"](h("label", shown_label))
        add["in_label"](h("in_label", str(in_label)))
        add["digits"](h("digits", f"d{len(w)}" if w.isdigit() else ""))
        add["num"](h("num", _num(t, "")))
        add["gap"](h("gap", text[tokens[i - 1].end : t.begin][-2:] if i else "^"))
    a = {name: np.array(values, dtype=np.uint64) for name, values in atoms.items()}
    start_word, end_word = np.uint64(_atom("w", "<s>")), np.uint64(_atom("w", "</s>"))
    start_kind, end_kind = np.uint64(_atom("kind", "<s>")), np.uint64(_atom("kind", "</s>"))
    start_case, end_case = np.uint64(_atom("case", "<s>")), np.uint64(_atom("case", "</s>"))
    start_num, end_num = np.uint64(_atom("num", "<s>")), np.uint64(_atom("num", "</s>"))
    a["pw"], a["nw"] = _shift(a["w"], 1, start_word), _shift(a["w"], -1, end_word)
    a["p2w"], a["n2w"] = _shift(a["w"], 2, start_word), _shift(a["w"], -2, end_word)
    a["pk"], a["nk"] = _shift(a["kind"], 1, start_kind), _shift(a["kind"], -1, end_kind)
    a["pc"], a["nc"] = _shift(a["case"], 1, start_case), _shift(a["case"], -1, end_case)
    a["pnum"], a["nnum"] = _shift(a["num"], 1, start_num), _shift(a["num"], -1, end_num)
    a["ngap"] = _shift(a["gap"], -1, np.uint64(_atom("gap", "$")))
    for k, template in enumerate(TEMPLATES):
        mixed = np.full(n, np.uint64((k + 1) * 0x9E3779B97F4A7C15 % (1 << 64)), dtype=np.uint64)
        for name in template:
            mixed = (mixed ^ a[name]) * _FNV  # uint64 arithmetic wraps: a hash, not a number
        ids[:, k] = (mixed % np.uint64(BUCKETS)).astype(np.int64)
    return tokens, ids
