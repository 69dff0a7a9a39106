"""Measuring de-identification: token-level recall and precision per identifier type, under
i2b2-2014 conventions, on annotated corpora.

Corpus formats (:func:`load_corpus`):

* the inline-markup text of ``tests/data/deid_corpus.txt``: notes start with ``### note: <id> [split]``,
  identifiers are marked ``{{TYPE|text}}`` (lines before the first note are a header);
* JSON Lines: ``{"id", "text", "entities": [{"type", "begin", "end"}], "split"?}`` per line.

The three sets ``medserve eval deid`` reports (``--set``): ``project`` (a: the project's corpus),
``generated`` (b: notes of ``training/deid_notes.py`` from the held-out seeds, never trained on)
and ``external`` (c: ``tests/data/deid_external.txt``, hand-written in i2b2-2014 styles, never
tuned on).

Definitions (recall first; a token is a run of letters and digits):

* **gold tokens**: the tokens inside gold identifiers. i2b2-2014: titles and credentials are outside
  names (the annotation leaves them out); every date element but the year is PHI, so a four-digit
  year inside a DATE is *neutral*: neither needed for recall nor counted against precision;
* a gold token is **found** when every character of it is covered by a detected entity, whatever
  its type (nothing of it is left in the redacted text). Token recall per type is over the gold
  tokens of that type;
* token precision per type: the share of tokens touched by a detected entity of that type that are
  gold tokens (of any type). **Character precision**: the share of detected letters and digits that
  lie inside gold identifiers (neutral years left out);
* an identifier is **leaked** when a name, number or code of it (type other than DATE, AGE, CITY,
  ZIP, FACILITY, ADDRESS) keeps a token of two or more characters verbatim in the redacted text;
* entity recall (as before): a gold identifier whose letters and digits are all covered.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medserve.text.deid import SIGNALS, TYPES, Entity, detect

__all__ = [
    "DEFAULT_CORPUS",
    "EXTERNAL_CORPUS",
    "SETS",
    "Gold",
    "Note",
    "Report",
    "detector_of",
    "evaluate",
    "generated_notes",
    "load_corpus",
    "load_set",
    "main_eval",
    "parse_markup",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO_ROOT / "tests" / "data" / "deid_corpus.txt"
EXTERNAL_CORPUS = DEFAULT_CORPUS.with_name("deid_external.txt")

_MARK = re.compile(r"\{\{([A-Z_]+)\|([^{}]*)\}\}")
_HEADER = re.compile(r"^### note: (\S+)(?:[ \t]+(\S+))?[ \t]*$", re.MULTILINE)


@dataclass(frozen=True)
class Gold:
    type: str
    begin: int
    end: int


@dataclass(frozen=True)
class Note:
    id: str
    text: str
    gold: list[Gold]
    split: str = "dev"

    def value(self, g: Gold) -> str:
        return self.text[g.begin : g.end]


def parse_markup(marked: str) -> tuple[str, list[Gold]]:
    """Plain text and gold spans from ``{{TYPE|text}}`` markup."""
    out: list[str] = []
    gold: list[Gold] = []
    position = 0
    length = 0
    for m in _MARK.finditer(marked):
        before = marked[position : m.start()]
        out.append(before)
        length += len(before)
        type_, value = m.group(1), m.group(2)
        if type_ not in TYPES:
            raise ValueError(f"unknown identifier type {type_!r}")
        gold.append(Gold(type_, length, length + len(value)))
        out.append(value)
        length += len(value)
        position = m.end()
    out.append(marked[position:])
    return "".join(out), gold


def load_corpus(path: str | Path) -> list[Note]:
    path = Path(path)
    raw = path.read_text(encoding="utf-8")
    if path.suffix in (".jsonl", ".ndjson"):
        notes = []
        for line in raw.splitlines():
            if line.strip():
                item = json.loads(line)
                gold = [Gold(e["type"], int(e["begin"]), int(e["end"])) for e in item["entities"]]
                notes.append(Note(str(item["id"]), item["text"], gold, item.get("split", "dev")))
        return notes
    headers = list(_HEADER.finditer(raw))
    notes = []
    for n, header in enumerate(headers):
        body_end = headers[n + 1].start() if n + 1 < len(headers) else len(raw)
        body = raw[header.end() + 1 : body_end].rstrip("\n") + "\n"
        text, gold = parse_markup(body)
        notes.append(Note(header.group(1), text, gold, header.group(2) or "dev"))
    return notes


_TOKEN = re.compile(r"[^\W_]+")
_YEAR = re.compile(r"(?:1[89]|2[01])\d\d")
# Leaks count for the identifiers that single a person out by themselves (i2b2's names and ids).
_LEAK_TYPES = frozenset(TYPES) - {"DATE", "AGE", "CITY", "ZIP", "FACILITY", "ADDRESS"}


@dataclass
class _Counts:
    gold: int = 0  # identifiers
    found: int = 0
    gold_tokens: int = 0
    found_tokens: int = 0
    predicted_tokens: int = 0
    correct_tokens: int = 0
    predicted_chars: int = 0
    correct_chars: int = 0

    def add(self, other: _Counts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold": self.gold,
            "found": self.found,
            "entity_recall": _ratio(self.found, self.gold),
            "gold_tokens": self.gold_tokens,
            "found_tokens": self.found_tokens,
            "token_recall": _ratio(self.found_tokens, self.gold_tokens),
            "predicted_tokens": self.predicted_tokens,
            "token_precision": _ratio(self.correct_tokens, self.predicted_tokens),
            "char_precision": _ratio(self.correct_chars, self.predicted_chars),
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


@dataclass
class Report:
    per_type: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # note id, type, token
    spurious: list[tuple[str, str, str]] = field(default_factory=list)  # note id, type, text
    leaked: list[tuple[str, str, str]] = field(default_factory=list)  # note id, type, identifier
    notes: int = 0

    @property
    def overall(self) -> _Counts:
        total = _Counts()
        for c in self.per_type.values():
            total.add(c)
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "overall": self.overall.as_dict(),
            "leaked_identifiers": len(self.leaked),
            "per_type": {t: self.per_type[t].as_dict() for t in TYPES if t in self.per_type},
        }

    def table(self) -> str:
        lines = [
            f"{'type':<12} {'gold':>5} {'e-rec':>6} {'tokens':>6} {'t-rec':>6} {'t-prec':>6} {'c-prec':>6}"
        ]
        rows = [(t, self.per_type[t]) for t in TYPES if t in self.per_type] + [("OVERALL", self.overall)]
        for name, c in rows:
            d = c.as_dict()
            lines.append(
                f"{name:<12} {c.gold:>5} {_fmt(d['entity_recall']):>6} {c.gold_tokens:>6} "
                f"{_fmt(d['token_recall']):>6} {_fmt(d['token_precision']):>6} {_fmt(d['char_precision']):>6}"
            )
        lines.append(f"leaked identifiers (a name or number left verbatim): {len(self.leaked)}")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def evaluate(notes: Iterable[Note], detector: Any = detect) -> Report:
    """Run ``detector`` (text -> entities) over the notes and count against the gold spans."""
    report = Report()
    for note in notes:
        report.notes += 1
        text = note.text
        predicted: list[Entity] = detector(text)
        covered = bytearray(len(text))
        for e in predicted:
            covered[e.begin : e.end] = b"\x01" * (e.end - e.begin)
        gold_type: list[str | None] = [None] * len(text)
        neutral = bytearray(len(text))
        for g in note.gold:
            for i in range(g.begin, g.end):
                gold_type[i] = g.type
        for g in note.gold:
            counts = report.per_type[g.type]
            counts.gold += 1
            tokens = [m for m in _TOKEN.finditer(text, g.begin, g.end)]
            if all(all(covered[m.start() : m.end()]) for m in tokens):
                counts.found += 1
            leaked = False
            for m in tokens:
                if g.type == "DATE" and _YEAR.fullmatch(m.group()):
                    neutral[m.start() : m.end()] = b"\x01" * (m.end() - m.start())
                    continue
                counts.gold_tokens += 1
                if all(covered[m.start() : m.end()]):
                    counts.found_tokens += 1
                else:
                    report.missed.append((note.id, g.type, m.group()))
                    leaked = leaked or (g.type in _LEAK_TYPES and len(m.group()) >= 2)
            if leaked:
                report.leaked.append((note.id, g.type, note.value(g)))
        for e in predicted:
            counts = report.per_type[e.type]
            for m in _TOKEN.finditer(text, e.begin, e.end):
                if all(neutral[m.start() : m.end()]):
                    continue
                counts.predicted_tokens += 1
                counts.correct_tokens += any(gold_type[i] for i in range(m.start(), m.end()))
            for i in range(e.begin, e.end):
                if text[i].isalnum() and not neutral[i]:
                    counts.predicted_chars += 1
                    counts.correct_chars += gold_type[i] is not None
            if not any(g.begin < e.end and e.begin < g.end for g in note.gold):
                report.spurious.append((note.id, e.type, text[e.begin : e.end]))
    return report


SETS = ("project", "generated", "external")
GENERATED_NOTES = 150  # held-out generated notes the evaluation draws (seconds to score)


def _note_generator() -> Any:
    """``training/deid_notes.py`` of this checkout, importable from any working directory (the
    console script does not put the repository on ``sys.path``); a clear error without it or faker."""
    from devtools.cli import CliError

    if not (REPO_ROOT / "training" / "deid_notes.py").is_file():
        raise CliError("the generated set needs training/deid_notes.py (a clone of the repository)")
    if importlib.util.find_spec("faker") is None:
        raise CliError("the generated set needs the train extra (faker): run `make models`")
    if str(REPO_ROOT) not in sys.path:
        sys.path.append(str(REPO_ROOT))
    return importlib.import_module("training.deid_notes")


def generated_notes(n: int = GENERATED_NOTES, split: str = "heldout") -> list[Note]:
    """Set (b): notes of ``training/deid_notes.py`` from seeds and name words training never saw."""
    deid_notes = _note_generator()
    return [
        Note(g.id, g.text, [Gold(t, b, e) for t, b, e in g.spans], g.split)
        for g in deid_notes.notes(split, n)
    ]


def load_set(name: str, split: str | None = None) -> list[Note]:
    if name == "generated":
        return generated_notes(split=split or "heldout")
    notes = load_corpus(EXTERNAL_CORPUS if name == "external" else DEFAULT_CORPUS)
    return [n for n in notes if n.split == split] if split else notes


def detector_of(signal: str) -> Any:
    """The detector of one signal, or of all three (what the service runs)."""
    signals = SIGNALS if signal == "all" else (signal,)
    return lambda text: detect(text, signals)


def main_eval(args: argparse.Namespace) -> int:
    """``medserve eval deid``: per-type tables (or JSON); 2 without a corpus, 1 below --min-recall."""
    if args.corpus:
        path = Path(args.corpus)
        if not path.is_file():
            print(f"medserve eval deid: no corpus at {path}", file=sys.stderr)
            return 2
        sets = {path.name: [n for n in load_corpus(path) if not args.split or n.split == args.split]}
    else:
        names = SETS if args.set == "all" else (args.set,)
        sets = {name: load_set(name, args.split) for name in names}
    signals = [*SIGNALS, "all"] if args.signal == "every" else [args.signal]
    results: dict[str, dict[str, Any]] = {}
    worst = 1.0
    for set_name, notes in sets.items():
        for signal in signals:
            report = evaluate(notes, detector_of(signal))
            results.setdefault(set_name, {})[signal] = report
            worst = min(worst, report.overall.as_dict()["token_recall"] or 0.0)
    if args.json:
        print(
            json.dumps(
                {s: {sig: r.as_dict() for sig, r in by.items()} for s, by in results.items()}, indent=2
            )
        )
    else:
        for set_name, by_signal in results.items():
            for signal, report in by_signal.items():
                gold = sum(len(n.gold) for n in sets[set_name])
                print(f"\n{set_name} ({report.notes} notes, {gold} identifiers), signal {signal}")
                print(report.table())
        print(
            "\ne-rec: identifiers with every letter and digit redacted; t-rec/t-prec: tokens (i2b2-2014: "
            "years"
        )
        print("of dates neutral); c-prec: detected letters and digits inside gold identifiers")
    if args.show_misses:
        for set_name, by_signal in results.items():
            for signal, report in by_signal.items():
                for label, items in (("missed", report.missed), ("spurious", report.spurious)):
                    for note_id, type_, value in items:
                        print(f"{label:>8}  {set_name}/{signal}  {note_id}  {type_}  {value!r}")
    if args.min_recall is not None and worst < args.min_recall:
        print(f"medserve eval deid: token recall {worst} < {args.min_recall}", file=sys.stderr)
        return 1
    return 0
