"""The types every recommendation step shares, and the shape check of one query.

A query is what ``POST /v1/recommend/treatment`` takes and what each line of an upload under
``uploads/recommend/`` holds: ``{"history": [{"item", "value"?}], "patient"?: {feature: number},
"exclude"?: [item], "k"?: int, "explain"?: bool}``. :func:`parse_query` checks its shape only (types,
unknown keys); :mod:`medserve.recommend.predict` checks it against the model's card (known items,
value ranges, k, sizes). Errors name fields, never values: a history is patient data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from medserve.errors import InvalidInput, PayloadTooLarge

__all__ = [
    "Basis",
    "Exclusion",
    "HistoryEntry",
    "Query",
    "Recommendation",
    "Result",
    "parse_query",
]

Basis = Literal["history", "features", "popularity"]
QUERY_KEYS = frozenset({"history", "patient", "exclude", "k", "explain"})
_NAME_CAP = 64  # caller-chosen names quoted in errors are capped (as the tabular checks do)


@dataclass(frozen=True)
class HistoryEntry:
    item: str
    value: float | None = None


@dataclass(frozen=True)
class Query:
    history: tuple[HistoryEntry, ...] = ()
    patient: Mapping[str, Any] | None = None
    exclude: tuple[str, ...] = ()
    k: int | None = None
    explain: bool = False


@dataclass(frozen=True)
class Recommendation:
    item: str
    label: str
    score: float
    rank: int

    def as_dict(self) -> dict[str, Any]:
        return {"item": self.item, "label": self.label, "score": self.score, "rank": self.rank}


@dataclass(frozen=True)
class Exclusion:
    item: str
    label: str
    rule: Literal["history", "request", "conflict"]
    reason: str
    conflicts_with: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "item": self.item,
            "label": self.label,
            "rule": self.rule,
            "reason": self.reason,
        }
        if self.conflicts_with is not None:
            out["conflicts_with"] = self.conflicts_with
        return out


@dataclass
class Result:
    """One patient's answer: ranked items, what was withheld and why, and on what it rests."""

    recommendations: list[Recommendation]
    excluded: list[Exclusion]
    basis: Basis
    explanations: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def personalised(self) -> bool:
        return self.basis != "popularity"

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "recommendations": [r.as_dict() for r in self.recommendations],
            "excluded": [e.as_dict() for e in self.excluded],
            "personalised": self.personalised,
            "basis": self.basis,
            "explanations": self.explanations,
        }
        if self.warnings:
            out["warnings"] = self.warnings
        return out


def _cap(name: Any) -> str:
    return str(name)[:_NAME_CAP]


def _is_number(value: Any) -> bool:
    # bool is an int in Python, but true/false is not a measurement.
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_query(
    raw: Any, *, where: str = "", max_history: int | None = None, max_exclude: int | None = None
) -> Query:
    """The shape of one query (a JSON object), or ``InvalidInput`` naming every bad field;
    ``PayloadTooLarge`` first when the history or the exclusions exceed the card's limits."""
    if not isinstance(raw, Mapping):
        raise InvalidInput(
            "a query must be a JSON object", [{"field": where or "body", "issue": "not an object"}]
        )
    for key, limit in (("history", max_history), ("exclude", max_exclude)):
        value = raw.get(key)
        if limit is not None and isinstance(value, Sequence) and not isinstance(value, str | bytes):
            if len(value) > limit:
                raise PayloadTooLarge(f"at most {limit} {key} entries per patient for this model")
    issues: list[dict[str, str]] = []

    def issue(path: str, what: str) -> None:
        issues.append({"field": f"{where}{path}", "issue": what})

    for key in raw:
        if key not in QUERY_KEYS:
            issue(_cap(key), "unexpected field")

    history: list[HistoryEntry] = []
    raw_history = raw.get("history", [])
    if raw_history is None:
        raw_history = []
    if not isinstance(raw_history, Sequence) or isinstance(raw_history, str | bytes):
        issue("history", "not a list")
        raw_history = []
    for i, entry in enumerate(raw_history):
        path = f"history[{i}]"
        if not isinstance(entry, Mapping):
            issue(path, "not an object")
            continue
        for key in entry:
            if key not in ("item", "value"):
                issue(f"{path}.{_cap(key)}", "unexpected field")
        item = entry.get("item")
        if not isinstance(item, str) or not item:
            issue(f"{path}.item", "missing or not a string")
            continue
        value = entry.get("value")
        if value is not None:
            if not _is_number(value):
                issue(f"{path}.value", "not a number")
                continue
            try:
                value = float(value)
            except OverflowError:  # an int beyond float's range
                issue(f"{path}.value", "out of range")
                continue
            if not math.isfinite(value):
                issue(f"{path}.value", "not a finite number")
                continue
        history.append(HistoryEntry(item, value))

    patient = raw.get("patient")
    if patient is not None and not isinstance(patient, Mapping):
        issue("patient", "not an object")
        patient = None

    exclude = raw.get("exclude", [])
    if exclude is None:
        exclude = []
    if not isinstance(exclude, Sequence) or isinstance(exclude, str | bytes):
        issue("exclude", "not a list")
        exclude = []
    elif not all(isinstance(x, str) for x in exclude):
        issue("exclude", "items must be strings")
        exclude = []

    k = raw.get("k")
    if k is not None and (not isinstance(k, int) or isinstance(k, bool)):
        issue("k", "not an integer")
        k = None

    explain = raw.get("explain", False)
    if not isinstance(explain, bool):
        issue("explain", "not a boolean")
        explain = False

    if issues:
        raise InvalidInput(f"{len(issues)} invalid field(s) in the query", issues[:100])
    return Query(tuple(history), patient, tuple(exclude), k, explain)
