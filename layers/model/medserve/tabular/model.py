"""Tabular risk prediction: records in, calibrated probabilities and contributions out.

The card is the schema: every record must carry exactly the card's features, as finite numbers
inside each feature's ``valid_range``. Errors name the record and the field, never the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np

from medserve.errors import InvalidInput, OutOfScope, PayloadTooLarge
from medserve.serving.cards import ModelCard
from medserve.serving.ood import NOT_CALIBRATED, scorer_for
from medserve.serving.registry import LoadedModel
from medserve.tabular.shapley import log_odds, shapley

MAX_ISSUES_REPORTED = 100
_BLOCK = 2_000  # records read at once by records_matrix; a bad one costs its block a slow read
_NUMBER_TYPES = {float, int}
_VECTOR_MIN = 64  # records from which TabularModel decides OOD verdicts in numpy


@dataclass(frozen=True)
class Issue:
    """One problem with one field of one record (no value: values are patient data)."""

    field: str
    issue: str
    record: int | None = None
    valid_range: tuple[float, float] | None = None
    training_range: tuple[float, float] | None = None

    def as_detail(self) -> dict[str, Any]:
        path = self.field if self.record is None else f"records[{self.record}].{self.field}"
        detail: dict[str, Any] = {"field": path, "issue": self.issue}
        if self.valid_range is not None:
            detail["valid_range"] = list(self.valid_range)
        if self.training_range is not None:
            detail["training_range"] = list(self.training_range)
        return detail


@dataclass
class ValidatedRecords:
    matrix: np.ndarray  # (n, n_features) in card order
    warnings: list[list[str]] = field(default_factory=list)


def validate_record(
    card: ModelCard, record: Mapping[str, Any], index: int | None = None
) -> tuple[list[float], list[Issue], list[str]]:
    """Check one record against the card: values in card order, issues, and warnings."""
    issues: list[Issue] = []
    warnings: list[str] = []
    values: list[float] = []
    known = set()
    for spec in card.inputs.features:
        known.add(spec.name)
        if spec.name not in record or record[spec.name] is None:
            issues.append(Issue(spec.name, "missing", index))
            values.append(math.nan)
            continue
        raw = record[spec.name]
        # bool is an int in Python, but true/false is not a measurement.
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            issues.append(Issue(spec.name, "not a number", index))
            values.append(math.nan)
            continue
        try:
            value = float(raw)
        except OverflowError:  # an int beyond float's range (JSON puts no limit on digits)
            issues.append(Issue(spec.name, "out of range", index, spec.valid_range))
            values.append(math.nan)
            continue
        if not math.isfinite(value):
            issues.append(Issue(spec.name, "not a finite number", index))
        elif not spec.valid_range[0] <= value <= spec.valid_range[1]:
            issues.append(Issue(spec.name, "out of range", index, spec.valid_range))
        elif spec.training_range and not spec.training_range[0] <= value <= spec.training_range[1]:
            warnings.append(f"{spec.name} is outside the training range: the model extrapolates")
        values.append(value)
    for name in record:
        if name not in known:
            # The name is the caller's, not patient data, but cap it so logs and bodies stay small.
            issues.append(Issue(str(name)[:64], "unexpected feature", index))
    return values, issues, warnings


def records_matrix(card: ModelCard, records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """The records as one (n, n_features) float64 matrix in card order, and per record whether it
    was read: exactly the card's features, each an int or a float that fits a float. The rows of
    records not read are NaN; ``validate_record`` names what is wrong with them.

    Blocks of records are read at C speed (``itemgetter``, one type set, one ``np.asarray``); a
    block holding a record that cannot be read is read again record by record.
    """
    names = card.feature_names
    width = len(names)
    x = np.full((len(records), width), np.nan)
    read = np.zeros(len(records), dtype=bool)
    get = itemgetter(*names) if width > 1 else (lambda record: (record[names[0]],))
    for start in range(0, len(records), _BLOCK):
        block = records[start : start + _BLOCK]
        try:
            rows = _values(block, get, width)
            x[start : start + len(block)] = np.asarray(rows, dtype=np.float64)
            read[start : start + len(block)] = True
        except (KeyError, TypeError, ValueError, OverflowError):
            for offset, record in enumerate(block):
                try:
                    x[start + offset] = np.asarray(_values([record], get, width), dtype=np.float64)
                    read[start + offset] = True
                except (KeyError, TypeError, ValueError, OverflowError):
                    pass
    return x, read


def _values(block: Sequence[Mapping[str, Any]], get: Any, width: int) -> list[tuple[Any, ...]]:
    """The card's values of each record, or an error when one holds other keys or non-numbers."""
    if any(len(record) != width for record in block):
        raise KeyError("not exactly the card's features")
    rows = list(map(get, block))  # KeyError: a feature missing (with another key in its place)
    # float/int only: numpy would happily turn "12.5" or True into numbers.
    if not set(map(type, chain.from_iterable(rows))) <= _NUMBER_TYPES:
        raise TypeError("not a number")
    return rows  # np.asarray raises OverflowError on an int beyond float's range


def check_matrix(card: ModelCard, x: np.ndarray) -> tuple[np.ndarray, list[list[str]]]:
    """The per-field checks of ``validate_record`` on a whole matrix at once: per row, whether all
    its values are finite and inside their ``valid_range`` (a row that is not must go through
    ``validate_record`` to have its issues named), and the training-range warnings of each row
    (only meaningful for the rows that passed)."""
    lo, hi = _bounds(card, "valid_range")
    with np.errstate(invalid="ignore"):  # NaN compares False: such rows fail, as they should
        ok = (np.isfinite(x) & (x >= lo) & (x <= hi)).all(axis=1)
        tlo, thi = _bounds(card, "training_range")
        outside = (x < tlo) | (x > thi)
    warnings: list[list[str]] = [[] for _ in range(len(x))]
    warned = np.flatnonzero(outside.any(axis=1))  # only the rows that have something to say
    if len(warned):
        names = card.feature_names
        for i in warned:
            warnings[i] = [
                f"{names[j]} is outside the training range: the model extrapolates"
                for j in np.flatnonzero(outside[i])
            ]
    return ok, warnings


def _fast_matrix(card: ModelCard, records: Sequence[Mapping[str, Any]]) -> ValidatedRecords | None:
    """The common case in a few vectorised checks: exactly the card's features, all in range.

    Returns None whenever anything is off; ``validate_record`` then finds and names each issue.
    """
    x, read = records_matrix(card, records)
    if not read.all():
        return None
    ok, warnings = check_matrix(card, x)
    return ValidatedRecords(x, warnings) if ok.all() else None


def _bounds(card: ModelCard, attr: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [getattr(f, attr) or (-np.inf, np.inf) for f in card.inputs.features]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def validate_records(card: ModelCard, records: Sequence[Mapping[str, Any]]) -> ValidatedRecords:
    if len(records) > card.inputs.max_records:
        raise PayloadTooLarge(
            f"at most {card.inputs.max_records} records per request for model '{card.name}'; "
            "use an S3 upload under uploads/tabular/ for larger batches"
        )
    if not records:
        raise InvalidInput("records must hold at least one record", [{"field": "records", "issue": "empty"}])
    fast = _fast_matrix(card, records)
    if fast is not None:
        return fast
    rows, all_issues, warnings = [], [], []
    for i, record in enumerate(records):
        values, issues, warns = validate_record(card, record, i)
        rows.append(values)
        all_issues += issues
        warnings.append(warns)
    if all_issues:
        details = [issue.as_detail() for issue in all_issues[:MAX_ISSUES_REPORTED]]
        more = len(all_issues) - len(details)
        message = f"{len(all_issues)} invalid field(s) in records" + (
            f"; first {len(details)} listed" if more else ""
        )
        raise InvalidInput(message, details)
    return ValidatedRecords(np.asarray(rows, dtype=np.float64), warnings)


def scope_issues(card: ModelCard, x: np.ndarray, oods: list[dict[str, Any]]) -> list[list[Issue]]:
    """Per record, why it is outside the model's intended use: a feature outside its training
    range when the card's gate refuses those, or out of distribution under an ``ood.policy`` of
    ``refuse``. Empty lists for records in scope (the usual case: both default to flag)."""
    gate = card.intended_use_gate.tabular if card.intended_use_gate else None
    refuse_range = gate is not None and gate.outside_training_range == "refuse"
    refuse_ood = card.ood is not None and card.ood.policy == "refuse"
    issues: list[list[Issue]] = [[] for _ in range(len(x))]
    if refuse_range:
        for spec_index, spec in enumerate(card.inputs.features):
            if spec.training_range is None:
                continue
            lo, hi = spec.training_range
            for i in np.flatnonzero((x[:, spec_index] < lo) | (x[:, spec_index] > hi)):
                issue = Issue(spec.name, "outside the training range", training_range=spec.training_range)
                issues[i].append(issue)
    if refuse_ood:
        for i, ood in enumerate(oods):
            if ood.get("in_distribution") is False:
                issue = Issue("record", f"out of distribution ({ood['method']} above its threshold)")
                issues[i].append(issue)
    return issues


def refuse_out_of_scope(card: ModelCard, x: np.ndarray, oods: list[dict[str, Any]]) -> None:
    """422 OUT_OF_SCOPE naming each record and feature outside the intended use (no values)."""
    per_record = scope_issues(card, x, oods)
    details = [
        {**issue.as_detail(), "field": f"records[{i}].{issue.field}"}
        for i, issues in enumerate(per_record)
        for issue in issues
    ]
    if details:
        records = sum(1 for issues in per_record if issues)
        raise OutOfScope(
            f"{records} record(s) outside the intended use of model '{card.name}'",
            details[:MAX_ISSUES_REPORTED],
        )


class TabularModel:
    """A loaded binary classifier with its card: scores, labels and Shapley contributions."""

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.card = loaded.card
        self._dtype = np.float64 if self.card.inputs.dtype == "float64" else np.float32
        self._positive = self.card.outputs.labels.index(
            self.card.outputs.positive_label or self.card.outputs.labels[-1]
        )
        self._baseline = np.array([f.baseline for f in self.card.inputs.features], dtype=np.float64)
        self._ood = scorer_for(loaded)
        lo, hi = _bounds(self.card, "training_range")
        margin = (self.card.ood.training_range_margin if self.card.ood else None) or 0.0
        width = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
        self._ood_range = (lo - margin * width, hi + margin * width)

    def ood(self, x: np.ndarray) -> list[dict[str, Any]]:
        """The ``ood`` block of each record: Mahalanobis distance in standardised feature space,
        and the training-range check (a feature beyond its widened training range)."""
        if self._ood is None:
            return [dict(NOT_CALIBRATED) for _ in range(len(x))]
        scores = self._ood.scores(x)
        outside = (x < self._ood_range[0]) | (x > self._ood_range[1])
        beyond = outside.any(axis=1)
        names = self.card.feature_names
        blocks = self._verdicts(scores, beyond)
        for i in np.flatnonzero(beyond):  # the feature names only for the records that have any
            blocks[i]["outside_training_range"] = [names[j] for j in np.flatnonzero(outside[i])]
        return blocks

    def _verdicts(self, scores: np.ndarray, also_outside: np.ndarray) -> list[dict[str, Any]]:
        """``OodScorer.verdict`` of every record at once: the same rule (in distribution when the
        score is finite, at most the threshold and no other check puts the record outside; the
        score rounded to 6 decimals by Python's ``round``), decided in numpy rather than per record
        (tests/unit/tabular/test_tabular_ood.py holds the two equal)."""
        assert self._ood is not None
        if len(scores) < _VECTOR_MIN:  # a request's few records: numpy's fixed costs would dominate
            verdict = self._ood.verdict
            return [
                verdict(s, also_outside=o)
                for s, o in zip(scores.tolist(), also_outside.tolist(), strict=True)
            ]
        spec = self._ood.spec
        finite = np.isfinite(scores)
        with np.errstate(invalid="ignore"):
            inside = (finite & (scores <= spec.threshold) & ~also_outside).tolist()
        rounded = [round(s, 6) if f else None for s, f in zip(scores.tolist(), finite.tolist(), strict=True)]
        threshold, method = spec.threshold, spec.method
        return [
            {"score": score, "threshold": threshold, "in_distribution": ok, "method": method}
            for score, ok in zip(rounded, inside, strict=True)
        ]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """(n, n_labels) class probabilities, one ``session.run``."""
        out = self.loaded.session.run(
            [self.card.outputs.probability_tensor],
            {self.card.inputs.tensor: x.astype(self._dtype, copy=False)},
        )[0]
        return np.asarray(out, dtype=np.float64)

    def _score(self, x: np.ndarray) -> np.ndarray:
        return log_odds(self.probabilities(x)[:, self._positive])

    def predict(self, x: np.ndarray, warnings: list[list[str]] | None = None) -> list[dict[str, Any]]:
        probs = self.probabilities(x)
        oods = self.ood(x)
        labels = self.card.outputs.labels
        threshold = self.card.outputs.decision_threshold
        positive, negative = labels[self._positive], labels[1 - self._positive]
        p = probs[:, self._positive]
        # Python floats and bools in bulk (tolist): per record, only the dicts are built.
        predictions = [
            {
                "index": i,
                "label": positive if is_positive else negative,
                "probability": probability,
                "probabilities": dict(zip(labels, row, strict=True)),
                "decision_threshold": threshold,
            }
            for i, (row, probability, is_positive) in enumerate(
                zip(probs.tolist(), p.tolist(), (p >= threshold).tolist(), strict=True)
            )
        ]
        if warnings:
            for item, warns in zip(predictions, warnings, strict=True):
                if warns:
                    item["warnings"] = warns
        for item, ood in zip(predictions, oods, strict=True):
            item["ood"] = ood
        return predictions

    def explain(self, x: np.ndarray) -> list[dict[str, Any]]:
        spec = self.card.explanation
        permutations = spec.permutations if spec else 8
        names = self.card.feature_names
        explanations = []
        for i, att in enumerate(shapley(self._score, x, self._baseline, permutations)):
            order = np.argsort(-np.abs(att.contributions), kind="stable")
            contributions = [
                {
                    "feature": names[j],
                    "contribution": float(att.contributions[j]),
                    "direction": "raises risk" if att.contributions[j] > 0 else "lowers risk",
                }
                for j in order
            ]
            raising = [c["feature"] for c in contributions if c["contribution"] > 0][:3]
            lowering = [c["feature"] for c in contributions if c["contribution"] < 0][:3]
            explanations.append(
                {
                    "index": i,
                    "method": "shapley-permutation",
                    "space": "log-odds",
                    "baseline": {
                        "description": "training-set mean record",
                        "log_odds": att.base_value,
                        "probability": _sigmoid(att.base_value),
                    },
                    "output": {"log_odds": att.output_value, "probability": _sigmoid(att.output_value)},
                    "contributions": contributions,
                    "summary": _summary(raising, lowering),
                    "permutations": permutations,
                    "evaluations": att.evaluations,
                }
            )
        return explanations


def _sigmoid(z: float) -> float:
    return float(1.0 / (1.0 + math.exp(-z))) if z >= 0 else float(math.exp(z) / (1.0 + math.exp(z)))


def _summary(raising: list[str], lowering: list[str]) -> str:
    parts = []
    if raising:
        parts.append("raised most by " + ", ".join(raising))
    if lowering:
        parts.append("lowered most by " + ", ".join(lowering))
    return (
        ("Risk relative to the average training case " + "; ".join(parts) + ".")
        if parts
        else ("No feature moves the risk away from the average training case.")
    )
