"""Measuring de-identification: recall and precision per identifier type on an annotated corpus.

Corpus formats (:func:`load_corpus`):

* the inline-markup text of ``tests/data/deid_corpus.txt``: notes start with ``### note: <id> [split]``,
  identifiers are marked ``{{TYPE|text}}`` (lines before the first note are a header);
* JSON Lines: ``{"id", "text", "entities": [{"type", "begin", "end"}], "split"?}`` per line.

Definitions (entity level, recall first):

* a gold identifier is **found** when every letter and digit of it is covered by detected
  entities, whatever their type: nothing of it is left in the redacted text. Recall per type is
  over the gold identifiers of that type;
* a detected entity is **correct** when it overlaps a gold identifier (any type). Precision per
  type is over the detected entities of that type;
* **type agreement**: among found identifiers, the share whose covering entities include the gold
  type.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from medserve.text.deid import TYPES, Entity, detect

__all__ = ["DEFAULT_CORPUS", "Gold", "Note", "Report", "evaluate", "load_corpus", "main_eval", "parse_markup"]

DEFAULT_CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "deid_corpus.txt"

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


@dataclass
class _Counts:
    gold: int = 0
    found: int = 0
    typed: int = 0
    predicted: int = 0
    correct: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "gold": self.gold,
            "found": self.found,
            "recall": _ratio(self.found, self.gold),
            "predicted": self.predicted,
            "correct": self.correct,
            "precision": _ratio(self.correct, self.predicted),
            "type_agreement": _ratio(self.typed, self.found),
        }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


@dataclass
class Report:
    per_type: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    missed: list[tuple[str, str, str]] = field(default_factory=list)  # note id, type, value
    spurious: list[tuple[str, str, str]] = field(default_factory=list)
    notes: int = 0

    @property
    def overall(self) -> _Counts:
        total = _Counts()
        for c in self.per_type.values():
            total.gold += c.gold
            total.found += c.found
            total.typed += c.typed
            total.predicted += c.predicted
            total.correct += c.correct
        return total

    def as_dict(self) -> dict[str, Any]:
        return {
            "notes": self.notes,
            "overall": self.overall.as_dict(),
            "per_type": {t: self.per_type[t].as_dict() for t in TYPES if t in self.per_type},
        }

    def table(self) -> str:
        lines = [f"{'type':<12} {'gold':>5} {'found':>6} {'recall':>7} {'pred':>5} {'prec':>6} {'typed':>6}"]
        rows = [(t, self.per_type[t]) for t in TYPES if t in self.per_type] + [("OVERALL", self.overall)]
        for name, c in rows:
            d = c.as_dict()
            lines.append(
                f"{name:<12} {c.gold:>5} {c.found:>6} {_fmt(d['recall']):>7} {c.predicted:>5} "
                f"{_fmt(d['precision']):>6} {_fmt(d['type_agreement']):>6}"
            )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def evaluate(notes: Iterable[Note], detector: Any = detect) -> Report:
    """Run ``detector`` (text -> entities) over the notes and count against the gold spans."""
    report = Report()
    for note in notes:
        report.notes += 1
        predicted: list[Entity] = detector(note.text)
        covered: list[set[str]] = [set() for _ in note.text]
        for e in predicted:
            for i in range(e.begin, e.end):
                covered[i].add(e.type)
        for g in note.gold:
            counts = report.per_type[g.type]
            counts.gold += 1
            positions = [i for i in range(g.begin, g.end) if note.text[i].isalnum()]
            if positions and all(covered[i] for i in positions):
                counts.found += 1
                if any(g.type in covered[i] for i in positions):
                    counts.typed += 1
            else:
                report.missed.append((note.id, g.type, note.value(g)))
        for e in predicted:
            counts = report.per_type[e.type]
            counts.predicted += 1
            if any(g.begin < e.end and e.begin < g.end for g in note.gold):
                counts.correct += 1
            else:
                report.spurious.append((note.id, e.type, note.text[e.begin : e.end]))
    return report


def main_eval(args: argparse.Namespace) -> int:
    """``medserve eval deid``: the per-type table (or JSON); 2 without a corpus, 1 below --min-recall."""
    path = Path(args.corpus) if args.corpus else DEFAULT_CORPUS
    if not path.is_file():
        print(f"medserve eval deid: no corpus at {path} (pass --corpus)", file=sys.stderr)
        return 2
    notes = load_corpus(path)
    if args.split:
        notes = [n for n in notes if n.split == args.split]
    report = evaluate(notes)
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        gold = sum(len(n.gold) for n in notes)
        print(
            f"{path.name}: {report.notes} notes, {gold} identifiers"
            + (f" (split {args.split})" if args.split else "")
        )
        print(report.table())
        print("recall: every letter and digit of the identifier redacted (any type); precision: detected")
        print("entities overlapping a gold identifier; typed: found identifiers given their gold type")
    if args.show_misses:
        for label, items in (("missed", report.missed), ("spurious", report.spurious)):
            for note_id, type_, value in items:
                print(f"{label:>8}  {note_id}  {type_}  {value!r}")
    recall = report.overall.as_dict()["recall"] or 0.0
    if args.min_recall is not None and recall < args.min_recall:
        print(f"medserve eval deid: overall recall {recall} < {args.min_recall}", file=sys.stderr)
        return 1
    return 0
