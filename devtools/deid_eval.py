"""Measuring de-identification: token-level recall and precision per identifier type, under
i2b2-2014 conventions, on annotated corpora.

Corpus formats (:func:`load_corpus`):

* the inline-markup text of ``tests/data/deid_corpus.txt``: notes start with ``### note: <id> [split]``,
  identifiers are marked ``{{TYPE|text}}`` (lines before the first note are a header);
* JSON Lines: ``{"id", "text", "entities": [{"type", "begin", "end"}], "split"?}`` per line.

The sets ``medserve eval deid`` reports (``--set``): ``project`` (a: the project's corpus),
``generated`` (b: notes of ``training/deid_notes.py`` from the held-out seeds, never trained on),
``external`` (c: ``tests/data/deid_external.txt``, hand-written in i2b2-2014 styles, never
tuned on) and ``presidio`` (d: presidio-evaluator's sentence templates and name table, another
project's generator, never tuned on; only where that package is installed, see
:func:`presidio_notes`).

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
    "presidio_notes",
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


SETS = ("project", "generated", "external", "presidio")
GENERATED_NOTES = 150  # held-out generated notes the evaluation draws (seconds to score)
PRESIDIO_INSTALL = "pip install --no-deps presidio-evaluator"


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


def presidio_data() -> Path | None:
    """presidio-evaluator's ``data_generator/raw_data`` if the package is installed (found, never
    imported: its code needs spacy and presidio-analyzer, which (d) does not)."""
    spec = importlib.util.find_spec("presidio_evaluator")
    if spec is None or not spec.submodule_search_locations:
        return None
    raw = Path(next(iter(spec.submodule_search_locations))) / "data_generator" / "raw_data"
    return raw if (raw / "templates.txt").is_file() else None


# Set (d): presidio-evaluator's sentence templates filled with the people of its FakeNameGenerator
# table, one US record per sentence (so a name, its address, phone and e-mail belong together).
# Placeholders -> (identifier type or None for text that is not PHI, the record's value).
_PRESIDIO_FIELDS: dict[str, tuple[str | None, Any]] = {
    "person": ("NAME", lambda r: f"{r['GivenName']} {r['Surname']}"),
    "name": ("NAME", lambda r: f"{r['GivenName']} {r['Surname']}"),
    "name_male": ("NAME", lambda r: f"{r['GivenName']} {r['Surname']}"),
    "name_female": ("NAME", lambda r: f"{r['GivenName']} {r['Surname']}"),
    "first_name": ("NAME", lambda r: r["GivenName"]),
    "first_name_male": ("NAME", lambda r: r["GivenName"]),
    "first_name_female": ("NAME", lambda r: r["GivenName"]),
    "first_name_nonbinary": ("NAME", lambda r: r["GivenName"]),
    "last_name": ("NAME", lambda r: r["Surname"]),
    "last_name_male": ("NAME", lambda r: r["Surname"]),
    "last_name_female": ("NAME", lambda r: r["Surname"]),
    "prefix": (None, lambda r: r["Title"]),
    "prefix_male": (None, lambda r: r["Title"]),
    "prefix_female": (None, lambda r: r["Title"]),
    "city": ("CITY", lambda r: r["City"]),
    "street_name": ("ADDRESS", lambda r: r["StreetAddress"].split(" ", 1)[-1]),
    "building_number": ("ADDRESS", lambda r: r["StreetAddress"].split(" ", 1)[0]),
    "zipcode": ("ZIP", lambda r: r["ZipCode"]),
    "postcode": ("ZIP", lambda r: r["ZipCode"]),
    "state_abbr": (None, lambda r: r["State"]),
    "country": (None, lambda r: r["CountryFull"]),
    "phone_number": ("PHONE", lambda r: r["TelephoneNumber"]),
    "email": ("EMAIL", lambda r: r["EmailAddress"]),
    "url": ("URL", lambda r: f"www.{r['Domain'].lower()}"),
    "date_of_birth": ("DATE", lambda r: r["Birthday"]),
    "date_time": ("DATE", lambda r: r["Birthday"]),
    "year": (None, lambda r: r["Birthday"].rsplit("/", 1)[-1]),  # a year alone is no identifier
    "age": (None, lambda r: r["Age"]),  # under 90 in the whole table: not PHI
    "organization": ("FACILITY", lambda r: r["Company"]),  # an employer
    "job": (None, lambda r: r["Occupation"]),
    "ssn": ("SSN", lambda r: r["NationalID"]),
    "day_of_week": (
        None,
        lambda r: ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")[int(r["Number"]) % 5],
    ),
}
_NATIONALITY_FIELDS = {"nationality": "nationality", "nation_woman": "woman", "nation_plural": "plural"}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


def presidio_notes(copies: int = 2, seed: int = 12) -> list[Note]:
    """Set (d): every template of presidio-evaluator whose placeholders its own data can fill (not
    the card numbers, IBANs, IP addresses or licences its table lacks or mangles), ``copies`` times,
    each with a US record of its table drawn with a fixed seed. Not clinical text: sentences of
    another generator, with names from another list than faker's."""
    import csv
    import random

    from devtools.cli import CliError

    raw = presidio_data()
    if raw is None:
        raise CliError(f"set (d) needs presidio-evaluator's data: {PRESIDIO_INSTALL}")
    with (raw / "FakeNameGenerator.com_3000.csv").open(encoding="utf-8-sig", newline="") as f:
        records = [r for r in csv.DictReader(f) if r["Country"] == "US" and r["NationalID"]]
    for r in records:
        r["ZipCode"] = r["ZipCode"].zfill(5)  # the table went through a spreadsheet: "1331" was "01331"
    with (raw / "nationalities.csv").open(encoding="utf-8-sig", newline="") as f:
        nations = list(csv.DictReader(f))
    templates = [
        line.strip().replace("\\n", "\n")  # a template's line breaks are written "\n"
        for line in (raw / "templates.txt").read_text(encoding="utf-8", errors="replace").splitlines()
        if line.strip()
    ]
    rng = random.Random(seed)  # noqa: S311 - which records fill the templates, not a secret
    notes: list[Note] = []
    for t, template in enumerate(templates):
        fields = _PLACEHOLDER.findall(template)
        if any(f not in _PRESIDIO_FIELDS and f not in _NATIONALITY_FIELDS and f != "address" for f in fields):
            continue
        for copy in range(copies if fields else 1):
            record = rng.choice(records)
            nation = rng.choice(nations)
            parts: list[str] = []
            gold: list[Gold] = []
            length, position = 0, 0
            for m in _PLACEHOLDER.finditer(template):
                parts.append(template[position : m.start()])
                length += m.start() - position
                field_name = m.group(1)
                if field_name == "address":  # street, city, state and ZIP: three identifiers
                    pieces = [
                        ("ADDRESS", record["StreetAddress"]),
                        (None, ", "),
                        ("CITY", record["City"]),
                        (None, f", {record['State']} "),
                        ("ZIP", record["ZipCode"]),
                    ]
                    for piece_type, piece in pieces:
                        if piece_type is not None:
                            gold.append(Gold(piece_type, length, length + len(piece)))
                        parts.append(piece)
                        length += len(piece)
                    position = m.end()
                    continue
                if field_name in _NATIONALITY_FIELDS:
                    type_, value = None, nation[_NATIONALITY_FIELDS[field_name]].title()
                else:
                    type_, draw = _PRESIDIO_FIELDS[field_name]
                    value = draw(record)
                if type_ is not None:
                    gold.append(Gold(type_, length, length + len(value)))
                parts.append(value)
                length += len(value)
                position = m.end()
            parts.append(template[position:])
            notes.append(Note(f"presidio-{t}-{copy}", "".join(parts), gold, "external"))
    return notes


def load_set(name: str, split: str | None = None) -> list[Note]:
    if name == "generated":
        return generated_notes(split=split or "heldout")
    if name == "presidio":
        return presidio_notes()
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
        if args.set == "all" and presidio_data() is None:
            names = tuple(n for n in names if n != "presidio")
            print(f"medserve eval deid: set (d) skipped, it needs {PRESIDIO_INSTALL}", file=sys.stderr)
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
