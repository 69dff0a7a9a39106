"""Baselines in SageMaker Model Monitor's schema: ``statistics.json`` and ``constraints.json``.

A model build writes both next to ``card.json`` from its training data (:func:`write_baseline`),
so a team that reads Model Monitor output reads ours. The same writer produces the statistics of a
monitored window (:mod:`medserve.monitoring.job`).

Numerical distributions are Model Monitor's ``kll`` buckets (``lower_bound``, ``upper_bound``,
``count``), 10 of them, with one difference stated here: the edges are the training data's
deciles rather than 10 equal widths, so each bucket holds about a tenth of the training data and
skewed features (areas, concavities) keep their resolution where the data is. Those edges are
what capture bins production values against (``bucket_index``); the ``sketch`` holds the
training data's percentiles.

Features named ``prediction.*`` (the model's output: probability, label, OOD score) are in the
statistics but not in the constraints: their drift is reported and measured, while
``constraint_violations.json`` judges the inputs, as Model Monitor's data-quality job does.
A multi-class model's baseline also keeps a reference sample of its probability vectors (a
low-dimensional summary of the input's embedding, under ``medserve.reference``): the job compares
the captured vectors with it by MMD.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BUCKETS",
    "CONSTRAINTS_FILE",
    "PREDICTION_PREFIX",
    "STATISTICS_FILE",
    "Baseline",
    "bucket_index",
    "bucket_indices",
    "constraints_document",
    "numerical_feature",
    "statistics_document",
    "string_feature",
    "write_baseline",
]

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"
BUCKETS = 10
PREDICTION_PREFIX = "prediction."
DEFAULT_THRESHOLD = 0.1  # Model Monitor's default comparison_threshold
DEFAULT_METHOD = "Robust"
MIN_SAMPLE = 50  # below this many captured items a window gets "insufficient data", no verdict


def bucket_index(edges: Sequence[float] | np.ndarray, value: float) -> int:
    """Which of ``len(edges) + 1`` bins ``value`` falls in: 0 below the first edge (the baseline's
    minimum), ``i`` for bucket ``[edges[i-1], edges[i])`` (the last bucket includes its upper
    edge), ``len(edges)`` above the last edge (the baseline's maximum)."""
    return int(bucket_indices(edges, np.array([value], dtype=np.float64))[0])


def bucket_indices(edges: Sequence[float] | np.ndarray, values: np.ndarray) -> np.ndarray:
    """:func:`bucket_index` of each of ``values`` at once (for a batch file's column)."""
    edges = np.asarray(edges, dtype=np.float64)
    bins = np.searchsorted(edges, values, side="right")
    return np.where(values == edges[-1], len(edges) - 1, bins)


def _edges(values: np.ndarray) -> np.ndarray:
    # Rounded before use, so the counts written are exactly those of the edges as stored.
    quantiles = np.quantile(values, np.linspace(0.0, 1.0, BUCKETS + 1))
    edges = np.unique([_round(float(q)) for q in quantiles])
    return edges if len(edges) > 1 else np.array([edges[0], edges[0]])


def _bin_counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(edges) + 1, dtype=np.int64)
    for value in values:
        counts[bucket_index(edges, float(value))] += 1
    return counts


def _round(value: float) -> float:
    return float(np.float64(f"{value:.10g}"))


def numerical_feature(name: str, values: Iterable[float], *, integral: bool = False) -> dict[str, Any]:
    """One numerical feature of ``statistics.json`` from raw values (training data only)."""
    raw = np.asarray(list(values), dtype=np.float64)
    present = raw[np.isfinite(raw)]
    if not len(present):
        raise ValueError(f"feature {name} has no finite values")
    edges = _edges(present)
    counts = _bin_counts(edges, present)
    # Rounding the edges may leave the extreme training values just outside: they belong inside.
    counts[1] += counts[0]
    counts[-2] += counts[-1]
    counts = counts[1:-1]
    buckets = [
        {"lower_bound": float(lo), "upper_bound": float(hi), "count": int(c)}
        for lo, hi, c in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
        "numerical_statistics": {
            "common": {"num_present": len(present), "num_missing": len(raw) - len(present)},
            "mean": _round(float(present.mean())),
            "sum": _round(float(present.sum())),
            "std_dev": _round(float(present.std())),
            "min": _round(float(present.min())),
            "max": _round(float(present.max())),
            "distribution": {
                "kll": {
                    "buckets": buckets,
                    "sketch": {
                        "parameters": {"c": 0.64, "k": 2048.0},
                        "data": [[_round(v) for v in np.quantile(present, np.linspace(0, 1, 101))]],
                    },
                }
            },
        },
    }


def string_feature(name: str, values: Iterable[str | None]) -> dict[str, Any]:
    """One categorical feature of ``statistics.json`` (labels: never free text)."""
    raw = list(values)
    present = [v for v in raw if v is not None]
    categories, counts = np.unique(np.asarray(present, dtype=object).astype(str), return_counts=True)
    return {
        "name": name,
        "inferred_type": "String",
        "string_statistics": {
            "common": {"num_present": len(present), "num_missing": len(raw) - len(present)},
            "distinct_count": len(categories),
            "distribution": {
                "categorical": {
                    "buckets": [
                        {"value": str(v), "count": int(c)} for v, c in zip(categories, counts, strict=True)
                    ]
                }
            },
        },
    }


def statistics_document(features: list[dict[str, Any]], item_count: int, **extra: Any) -> dict[str, Any]:
    return {"version": 0, "dataset": {"item_count": int(item_count)}, "features": features, **extra}


def constraints_document(
    statistics: Mapping[str, Any],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    method: str = DEFAULT_METHOD,
    categorical_threshold: float = DEFAULT_THRESHOLD,
    categorical_method: str = "LInfinity",
    min_sample: int = MIN_SAMPLE,
) -> dict[str, Any]:
    """``constraints.json`` for the input features of ``statistics`` (Model Monitor's suggestion
    rules: completeness as observed, non-negativity when the minimum is >= 0, the observed domain
    of a string feature)."""
    if method not in {"Simple", "Robust"}:
        raise ValueError("comparison_method is Simple or Robust")
    features = []
    for feature in statistics["features"]:
        if feature["name"].startswith(PREDICTION_PREFIX):
            continue
        entry: dict[str, Any] = {"name": feature["name"], "inferred_type": feature["inferred_type"]}
        if "numerical_statistics" in feature:
            stats = feature["numerical_statistics"]
            common = stats["common"]
            entry["completeness"] = common["num_present"] / max(
                1, common["num_present"] + common["num_missing"]
            )
            entry["num_constraints"] = {"is_non_negative": stats["min"] >= 0}
        else:
            stats = feature["string_statistics"]
            common = stats["common"]
            entry["completeness"] = common["num_present"] / max(
                1, common["num_present"] + common["num_missing"]
            )
            entry["string_constraints"] = {
                "domains": [b["value"] for b in stats["distribution"]["categorical"]["buckets"]]
            }
        features.append(entry)
    return {
        "version": 0,
        "features": features,
        "monitoring_config": {
            "evaluate_constraints": "Enabled",
            "emit_metrics": "Enabled",
            "datatype_check_threshold": 0.1,
            "domain_content_threshold": 0.1,
            "distribution_constraints": {
                "perform_comparison": "Enabled",
                "comparison_threshold": threshold,
                "comparison_method": method,
                "categorical_comparison_threshold": categorical_threshold,
                "categorical_drift_method": categorical_method,
            },
            # Not Model Monitor's: medserve's floor below which a window gets no verdict.
            "medserve": {"min_sample": min_sample},
        },
    }


def write_baseline(
    directory: Path,
    features: list[dict[str, Any]],
    item_count: int,
    *,
    reference: Mapping[str, Any] | None = None,
    **constraint_options: Any,
) -> tuple[Path, Path]:
    """Write ``statistics.json`` and ``constraints.json`` into ``directory`` (beside the card).

    ``reference``: multivariate reference samples the job compares with MMD (not Model Monitor's:
    kept under ``medserve.reference``), e.g. ``{"prediction.probabilities": {"labels", "rows"}}``."""
    extra = {"medserve": {"reference": dict(reference)}} if reference else {}
    statistics = statistics_document(features, item_count, **extra)
    constraints = constraints_document(statistics, **constraint_options)
    stats_path, constraints_path = directory / STATISTICS_FILE, directory / CONSTRAINTS_FILE
    stats_path.write_text(json.dumps(statistics, indent=2) + "\n")
    constraints_path.write_text(json.dumps(constraints, indent=2) + "\n")
    return stats_path, constraints_path


@dataclass(frozen=True)
class Baseline:
    """A model's loaded baseline: the statistics, the constraints and a short digest naming them
    (captured records carry it, so the job knows which bucket edges they were binned against)."""

    statistics: Mapping[str, Any]
    constraints: Mapping[str, Any]
    digest: str

    @classmethod
    def from_documents(cls, statistics: bytes, constraints: bytes) -> Baseline:
        return cls(
            statistics=json.loads(statistics),
            constraints=json.loads(constraints),
            digest=hashlib.sha256(statistics).hexdigest()[:16],
        )

    @classmethod
    def load(cls, directory: Path) -> Baseline | None:
        """The baseline beside a card, or None when the model has none."""
        stats, constraints = directory / STATISTICS_FILE, directory / CONSTRAINTS_FILE
        if not (stats.is_file() and constraints.is_file()):
            return None
        return cls.from_documents(stats.read_bytes(), constraints.read_bytes())

    def feature(self, name: str) -> Mapping[str, Any] | None:
        for feature in self.statistics["features"]:
            if feature["name"] == name:
                return feature
        return None

    def edges(self, name: str) -> np.ndarray | None:
        """The bucket edges of a numerical feature (``len(buckets) + 1`` values), else None."""
        feature = self.feature(name)
        if feature is None or "numerical_statistics" not in feature:
            return None
        buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
        return np.array([b["lower_bound"] for b in buckets] + [buckets[-1]["upper_bound"]], dtype=np.float64)

    def bin(self, name: str, value: float) -> int | None:
        """The bin of ``value`` for feature ``name`` (see :func:`bucket_index`); None when the
        feature is not numerical in the baseline or the value is not a finite number."""
        edges = self.edges(name)
        if edges is None or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return bucket_index(edges, float(value))

    def bins(self, name: str, values: np.ndarray) -> list[int | None]:
        """:meth:`bin` of each of ``values`` (a float array) at once."""
        edges = self.edges(name)
        if edges is None:
            return [None] * len(values)
        found: list[int | None] = bucket_indices(edges, values).tolist()
        for i in np.flatnonzero(~np.isfinite(values)):
            found[i] = None
        return found

    @property
    def config(self) -> Mapping[str, Any]:
        return self.constraints.get("monitoring_config", {})

    def reference(self, name: str) -> Mapping[str, Any] | None:
        """A multivariate reference sample (``{"labels": [...], "rows": [[...]]}``), if any."""
        found = self.statistics.get("medserve", {}).get("reference", {}).get(name)
        return found if isinstance(found, Mapping) and found.get("rows") else None

    @property
    def min_sample(self) -> int:
        return int(self.config.get("medserve", {}).get("min_sample", MIN_SAMPLE))
