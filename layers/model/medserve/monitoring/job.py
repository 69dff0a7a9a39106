"""The drift job: captured requests against the model's baseline, Model Monitor's outputs.

Once per schedule (``MonitorFunction``; ``medserve monitor run`` locally) and per captured model
version, over the last ``window_hours``:

1. reads the capture (``monitoring/capture/<model>/<version>/...``) and the ground truth
   (``monitoring/ground-truth/...``) of the window;
2. per input feature of ``constraints.json``: the L-infinity distance of the CDFs over the
   baseline's buckets (Simple, or Robust as the constraints say), PSI, completeness and data
   types; per output (``prediction.probability``, ``prediction.label``, ``prediction.ood_score``)
   the same distances (chi-square for the label), reported but not judged (see baseline.py);
3. writes ``statistics.json`` (Model Monitor's schema, from the binned capture),
   ``constraint_violations.json`` (``violations[]``) and ``report.md`` under
   ``monitoring/reports/<model>/<version>/<yyyy-mm-ddThh-mm-ssZ>/``, plus ``performance.json``
   when labelled predictions joined (AUC, ECE, confusion at the card's threshold);
4. emits EMF metrics: ``FeatureDrift`` per feature (dimensions model, model_version, feature),
   ``DriftViolations`` and ``MonitoredItems`` per model (the template alarms on any violation),
   ``OutOfDistributionShare`` (percent of items the model's OOD score flagged) when scored.

Fewer items than the constraints' ``medserve.min_sample`` (default 50): the verdict is
"insufficient data", no ``constraint_violations.json`` is written and nothing is judged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from medserve.aws.errors import aws_errors
from medserve.aws.s3 import encryption_args
from medserve.monitoring.baseline import PREDICTION_PREFIX, Baseline, bucket_index, statistics_document
from medserve.monitoring.capture import CAPTURE_PREFIX, capture_prefix
from medserve.monitoring.drift import chi_square, linf_distance, linf_robust, mmd, psi, robust_margin
from medserve.monitoring.performance import binary_report
from medserve.observability import SERVICE, MetricUnit, logger, metrics
from medserve.serving.cards import ModelCard

if TYPE_CHECKING:
    from medserve.serving.registry import Registry

__all__ = [
    "GROUND_TRUTH_PREFIX",
    "INSUFFICIENT",
    "REPORTS_PREFIX",
    "FeatureDrift",
    "ModelReport",
    "MonitorJob",
    "ground_truth_key",
]

REPORTS_PREFIX = "monitoring/reports/"
GROUND_TRUTH_PREFIX = "monitoring/ground-truth/"
DEFAULT_WINDOW_HOURS = 24
INSUFFICIENT = "insufficient data"
MMD_ALPHA = 0.01  # a probability-vector window drifted when the MMD permutation p-value is below
MMD_MAX_ROWS = 500  # per side: the test is quadratic in the rows


def ground_truth_key(inference_id: str, moment: float) -> str:
    """``monitoring/ground-truth/<yyyy>/<mm>/<dd>/<hh>/<sha256 of the id>.json`` (a label posted
    twice in one hour overwrites; the job keeps the latest of each id)."""
    import hashlib

    hour = time.strftime("%Y/%m/%d/%H", time.gmtime(moment))
    return f"{GROUND_TRUTH_PREFIX}{hour}/{hashlib.sha256(inference_id.encode()).hexdigest()[:32]}.json"


@dataclass
class FeatureDrift:
    name: str
    kind: str  # "numerical" | "categorical"
    n: int
    missing: int = 0
    linf: float | None = None
    robust: float | None = None
    psi: float | None = None
    chi2_p: float | None = None
    mmd2: float | None = None  # embeddings: the unbiased squared MMD ...
    mmd_p: float | None = None  # ... and its permutation p-value (compared against the threshold)
    compared: float | None = None  # the value judged against the threshold
    threshold: float | None = None
    method: str = ""
    drifted: bool = False

    def document(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass
class ModelReport:
    model: str
    version: str
    window: tuple[float, float]
    records: int = 0
    items: int = 0
    verdict: str = "ok"  # "ok" | "violations" | INSUFFICIENT | "no baseline"
    min_sample: int = 0
    baseline_items: int = 0
    baseline_n: int = 0  # training items the baseline summarises
    other_baseline_items: int = 0  # binned against another baseline (not compared)
    features: list[FeatureDrift] = field(default_factory=list)
    outputs: list[FeatureDrift] = field(default_factory=list)
    violations: list[dict[str, str]] = field(default_factory=list)
    statistics: dict[str, Any] = field(default_factory=dict)
    performance: dict[str, Any] | None = None
    # Items whose prediction said in_distribution (OOD-scored models): how many, and how many not.
    ood_scored: int = 0
    out_of_distribution: int = 0
    location: str = ""  # s3://bucket/prefix/ of the written report


def _stamp(moment: float, fmt: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    return time.strftime(fmt, time.gmtime(moment))


class MonitorJob:
    """One run of the drift job over ``bucket`` (the monitoring bucket)."""

    def __init__(
        self,
        bucket: str,
        s3: Any,
        registry: Registry,
        *,
        window_hours: float = DEFAULT_WINDOW_HOURS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bucket = bucket
        self.s3 = s3
        self.registry = registry
        self.window_hours = window_hours
        self._clock = clock

    # -- reading ---------------------------------------------------------------------------------
    def _keys(self, prefix: str, start: float) -> Iterator[str]:
        """Keys under ``prefix`` whose hour path is not before ``start``'s hour."""
        after = prefix + _stamp(start - 3600, "%Y/%m/%d/%H") + "/~"  # '~' sorts after every key char used
        with aws_errors("the monitoring bucket could not be listed"):
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, StartAfter=after):
                for obj in page.get("Contents", []):
                    yield obj["Key"]

    def _read(self, key: str) -> bytes:
        with aws_errors("a monitoring object could not be read"):
            return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def captured_models(self) -> list[tuple[str, str]]:
        """(model, version) pairs with any capture."""
        found = []
        with aws_errors("the monitoring bucket could not be listed"):
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=CAPTURE_PREFIX, Delimiter="/"):
                for model in page.get("CommonPrefixes", []):
                    for vpage in paginator.paginate(
                        Bucket=self.bucket, Prefix=model["Prefix"], Delimiter="/"
                    ):
                        for version in vpage.get("CommonPrefixes", []):
                            name, ver = version["Prefix"][len(CAPTURE_PREFIX) :].strip("/").split("/", 1)
                            found.append((name, ver))
        return sorted(found)

    def _records(self, name: str, version: str, start: float, end: float) -> list[dict[str, Any]]:
        records = []
        for key in self._keys(capture_prefix(name, version), start):
            for line in self._read(key).decode().splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                if start <= float(record.get("time", 0)) <= end:
                    records.append(record)
        return records

    def _labels(self, start: float, end: float) -> dict[str, str]:
        latest: dict[str, tuple[float, str]] = {}
        for key in self._keys(GROUND_TRUTH_PREFIX, start):
            document = json.loads(self._read(key))
            moment, item = float(document.get("time", 0)), str(document.get("inference_id", ""))
            if start <= moment <= end and (item not in latest or latest[item][0] <= moment):
                latest[item] = (moment, str(document.get("label")))
        return {item: label for item, (_, label) in latest.items()}

    def _card_and_baseline(self, name: str, version: str) -> tuple[ModelCard | None, Baseline | None]:
        store = self.registry.store
        if store is not None:
            card = store.card(name, version)
            if card is not None:
                return card, store.baseline(card)
        found = self.registry.bundled.get(name)
        if found is not None and found[0].version == version:
            return found[0], Baseline.load(found[1].parent)
        return None, None

    # -- analysis --------------------------------------------------------------------------------
    def analyse(self, name: str, version: str) -> ModelReport:
        end = self._clock()
        start = end - self.window_hours * 3600
        report = ModelReport(name, version, (start, end))
        card, baseline = self._card_and_baseline(name, version)
        records = [r for r in self._records(name, version, start, end) if r.get("status") == 200]
        report.records = len(records)
        items = [item for r in records for item in r.get("items", [])]
        report.items = len(items)
        if card is None or baseline is None:
            report.verdict = "no baseline"
            return report
        report.min_sample = baseline.min_sample
        report.baseline_n = int(baseline.statistics.get("dataset", {}).get("item_count", 0))
        same = [item for r in records if r.get("baseline") == baseline.digest for item in r.get("items", [])]
        report.baseline_items = len(same)
        report.other_baseline_items = report.items - len(same)

        features = _input_analysis(baseline, [item.get("bins") or {} for item in same], report)
        outputs = _output_analysis(baseline, [item.get("prediction") or {} for item in items])
        report.statistics = statistics_document(
            [f for f, _ in features] + [f for f, _ in outputs if f is not None],
            report.items,
            medserve={
                "window": {"start": _stamp(start), "end": _stamp(end)},
                "note": "moments estimated from the baseline's buckets: capture keeps no values",
            },
        )
        report.features = [d for _, d in features]
        report.outputs = [d for _, d in outputs]
        flags = [(item.get("prediction") or {}).get("in_distribution") for item in items]
        report.ood_scored = sum(1 for f in flags if isinstance(f, bool))
        report.out_of_distribution = sum(1 for f in flags if f is False)

        labels = self._labels(start, end)
        if labels:
            performance = _performance(card, items, labels)
            # Labels of other models' predictions share the prefix: no join, no performance report.
            report.performance = performance if performance["joined"] else None

        if len(same) < report.min_sample:
            report.verdict = INSUFFICIENT
            report.violations = []
            for drift in report.features + report.outputs:
                drift.drifted = False
        else:
            report.verdict = "violations" if report.violations else "ok"
        return report

    def run(self, model: str | None = None) -> list[ModelReport]:
        """Analyse, write and measure every captured model version (or only ``model``'s)."""
        reports = []
        for name, version in self.captured_models():
            if model is not None and name != model:
                continue
            report = self.analyse(name, version)
            self.write(report)
            _emit_metrics(report)
            reports.append(report)
        return reports

    # -- writing ---------------------------------------------------------------------------------
    def write(self, report: ModelReport) -> str:
        moment = _stamp(report.window[1], "%Y-%m-%dT%H-%M-%SZ")
        prefix = f"{REPORTS_PREFIX}{report.model}/{report.version}/{moment}/"
        documents: dict[str, tuple[str, str]] = {
            "report.md": (render_markdown(report), "text/markdown; charset=utf-8"),
        }
        if report.statistics:
            documents["statistics.json"] = (json.dumps(report.statistics, indent=2), "application/json")
        if report.verdict in {"ok", "violations"}:
            documents["constraint_violations.json"] = (
                json.dumps({"violations": report.violations}, indent=2),
                "application/json",
            )
        if report.performance is not None:
            documents["performance.json"] = (json.dumps(report.performance, indent=2), "application/json")
        with aws_errors("a monitoring report could not be written"):
            for name, (body, content_type) in documents.items():
                self.s3.put_object(
                    Bucket=self.bucket,
                    Key=prefix + name,
                    Body=body.encode(),
                    ContentType=content_type,
                    **encryption_args(),
                )
        report.location = f"s3://{self.bucket}/{prefix}"
        logger.info(
            "monitoring report written",
            extra={
                "model": report.model,
                "version": report.version,
                "verdict": report.verdict,
                "items": report.items,
                "violations": len(report.violations),
            },
        )
        return prefix


# -- per-feature analysis ------------------------------------------------------------------------


def _baseline_bins(feature: Mapping[str, Any]) -> np.ndarray:
    buckets = feature["numerical_statistics"]["distribution"]["kll"]["buckets"]
    return np.array([0] + [b["count"] for b in buckets] + [0], dtype=np.float64)


def _numerical_window(
    name: str, edges: np.ndarray, counts: np.ndarray, missing: int, integral: bool
) -> dict[str, Any]:
    """A window's numerical feature from its bin counts: bucket counts exactly, moments estimated
    from bucket midpoints (values below/above the baseline count at its min/max)."""
    mids = np.concatenate([[edges[0]], (edges[:-1] + edges[1:]) / 2.0, [edges[-1]]])
    n = int(counts.sum())
    mean = float((mids * counts).sum() / n) if n else 0.0
    std = float(np.sqrt(((mids - mean) ** 2 * counts).sum() / n)) if n else 0.0
    inside = counts[1:-1]
    occupied = np.flatnonzero(counts)
    buckets = [
        {"lower_bound": float(lo), "upper_bound": float(hi), "count": int(c)}
        for lo, hi, c in zip(edges[:-1], edges[1:], inside, strict=True)
    ]
    return {
        "name": name,
        "inferred_type": "Integral" if integral else "Fractional",
        "numerical_statistics": {
            "common": {"num_present": n, "num_missing": missing},
            "mean": round(mean, 10),
            "sum": round(mean * n, 10),
            "std_dev": round(std, 10),
            "min": float(mids[occupied[0]]) if n else 0.0,
            "max": float(mids[occupied[-1]]) if n else 0.0,
            "distribution": {
                "kll": {"buckets": buckets},
                "outside_baseline": {"below_min": int(counts[0]), "above_max": int(counts[-1])},
            },
        },
    }


def _compare_numerical(
    name: str, base: np.ndarray, observed: np.ndarray, missing: int, config: Mapping[str, Any]
) -> FeatureDrift:
    dist = config.get("distribution_constraints", {})
    threshold = float(dist.get("comparison_threshold", 0.1))
    method = str(dist.get("comparison_method", "Robust"))
    n, m = int(base.sum()), int(observed.sum())
    drift = FeatureDrift(name, "numerical", m, missing, threshold=threshold, method=method)
    if m == 0 or n == 0:
        return drift
    drift.linf = linf_distance(base, observed)
    drift.robust = linf_robust(drift.linf, n, m)
    drift.psi = psi(base, observed)
    drift.compared = drift.robust if method == "Robust" else drift.linf
    drift.drifted = dist.get("perform_comparison", "Enabled") == "Enabled" and drift.compared > threshold
    return drift


def _input_analysis(
    baseline: Baseline, bins: list[Mapping[str, Any]], report: ModelReport
) -> list[tuple[dict[str, Any], FeatureDrift]]:
    config = baseline.config
    type_threshold = float(config.get("datatype_check_threshold", 0.1))
    results = []
    seen = {name for item in bins for name in item}
    for constraint in baseline.constraints.get("features", []):
        name = constraint["name"]
        feature = baseline.feature(name)
        edges = baseline.edges(name)
        if feature is None or edges is None:
            continue  # a string input: no modality captures one yet
        if bins and name not in seen:
            report.violations.append(
                _violation(name, "missing_column_check", "the feature is absent from every captured item")
            )
        counts = np.zeros(len(edges) + 1, dtype=np.float64)
        missing = wrong_type = 0
        for item in bins:
            value = item.get(name)
            if value is None:
                missing += 1
            elif isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= len(edges):
                wrong_type += 1
            else:
                counts[value] += 1
        total = len(bins)
        drift = _compare_numerical(name, _baseline_bins(feature), counts, missing, config)
        if total:
            completeness = (total - missing) / total
            if completeness < float(constraint.get("completeness", 1.0)):
                report.violations.append(
                    _violation(
                        name,
                        "completeness_check",
                        f"completeness {completeness:.4f} is below the baseline's "
                        f"{constraint.get('completeness')}",
                    )
                )
            if wrong_type / total > type_threshold:
                report.violations.append(
                    _violation(
                        name,
                        "data_type_check",
                        f"{wrong_type / total:.4f} of the values are not bins of the baseline "
                        f"(threshold {type_threshold})",
                    )
                )
        if drift.drifted:
            report.violations.append(
                _violation(
                    name,
                    "baseline_drift_check",
                    f"{drift.method} L-infinity distance {drift.compared:.4f} exceeds the threshold "
                    f"{drift.threshold} (raw distance {drift.linf:.4f}, PSI {drift.psi:.4f}, "
                    f"{drift.n} items)",
                )
            )
        integral = feature.get("inferred_type") == "Integral"
        results.append((_numerical_window(name, edges, counts, missing, integral), drift))
    extra = sorted(seen - {c["name"] for c in baseline.constraints.get("features", [])})
    for name in extra:
        report.violations.append(_violation(name, "extra_column_check", "the feature is not in the baseline"))
    return results


def _output_analysis(
    baseline: Baseline, predictions: list[Mapping[str, Any]]
) -> list[tuple[dict[str, Any] | None, FeatureDrift]]:
    config = baseline.config
    results = []
    for key in ("probability", "score", "ood_score"):
        name = PREDICTION_PREFIX + key
        edges, feature = baseline.edges(name), baseline.feature(name)
        values = [p.get(key) for p in predictions]
        present = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        if edges is None or feature is None or not present:
            continue
        counts = np.zeros(len(edges) + 1, dtype=np.float64)
        for value in present:
            counts[bucket_index(edges, value)] += 1
        missing = len(values) - len(present)
        drift = _compare_numerical(name, _baseline_bins(feature), counts, missing, config)
        results.append((_numerical_window(name, edges, counts, missing, False), drift))
    name = PREDICTION_PREFIX + "label"
    feature = baseline.feature(name)
    labels = [str(p["label"]) for p in predictions if p.get("label") is not None]
    if feature is not None and "string_statistics" in feature and labels:
        buckets = feature["string_statistics"]["distribution"]["categorical"]["buckets"]
        categories = [b["value"] for b in buckets]
        categories += sorted(set(labels) - set(categories))
        base = np.array(
            [next((b["count"] for b in buckets if b["value"] == c), 0) for c in categories], float
        )
        observed = np.array([labels.count(c) for c in categories], dtype=np.float64)
        dist = config.get("distribution_constraints", {})
        threshold = float(dist.get("categorical_comparison_threshold", 0.1))
        method = str(dist.get("categorical_drift_method", "LInfinity"))
        drift = FeatureDrift(name, "categorical", len(labels), len(predictions) - len(labels))
        drift.threshold, drift.method = threshold, method
        drift.linf = float(np.max(np.abs(base / base.sum() - observed / observed.sum())))
        drift.robust = linf_robust(drift.linf, int(base.sum()), len(labels))
        drift.psi = psi(base, observed)
        if len(categories) > 1:
            drift.chi2_p = chi_square(observed, base).p_value
        if method == "ChiSquared" and drift.chi2_p is not None:
            drift.compared, drift.drifted = drift.chi2_p, drift.chi2_p < threshold
        else:
            drift.compared, drift.drifted = drift.linf, drift.linf > threshold
        window = {
            "name": name,
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": len(labels), "num_missing": len(predictions) - len(labels)},
                "distinct_count": int((observed > 0).sum()),
                "distribution": {
                    "categorical": {
                        "buckets": [
                            {"value": c, "count": int(o)}
                            for c, o in zip(categories, observed, strict=True)
                            if o
                        ]
                    }
                },
            },
        }
        results.append((window, drift))
    embedding = _embedding_drift(baseline, predictions)
    if embedding is not None:
        results.append(embedding)
    return results


def _evenly(rows: list[Any], limit: int) -> list[Any]:
    if len(rows) <= limit:
        return rows
    return [rows[k * len(rows) // limit] for k in range(limit)]


def _embedding_drift(
    baseline: Baseline, predictions: list[Mapping[str, Any]]
) -> tuple[None, FeatureDrift] | None:
    """MMD of the captured probability vectors against the baseline's reference sample."""
    name = PREDICTION_PREFIX + "probabilities"
    reference = baseline.reference(name)
    if reference is None:
        return None
    width = len(reference["rows"][0])
    rows = [
        p["probabilities"]
        for p in predictions
        if isinstance(p.get("probabilities"), list) and len(p["probabilities"]) == width
    ]
    drift = FeatureDrift(name, "embedding", len(rows), len(predictions) - len(rows))
    drift.threshold, drift.method = MMD_ALPHA, "MMD"
    if len(rows) >= 2:
        x = np.asarray(_evenly(list(reference["rows"]), MMD_MAX_ROWS), dtype=np.float64)
        y = np.asarray(_evenly(rows, MMD_MAX_ROWS), dtype=np.float64)
        result = mmd(x, y, permutations=200, seed=0)
        drift.mmd2, drift.mmd_p = result.mmd2, result.p_value
        drift.compared, drift.drifted = result.p_value, result.p_value < MMD_ALPHA
    return None, drift  # a vector is no Model Monitor feature: the report and metrics carry it


def _performance(
    card: ModelCard, items: list[Mapping[str, Any]], labels: Mapping[str, str]
) -> dict[str, Any]:
    joined = [(item, labels[item["inference_id"]]) for item in items if item.get("inference_id") in labels]
    known = [(item, label) for item, label in joined if label in card.outputs.labels]
    result: dict[str, Any] = {
        "labels_in_window": len(labels),
        "joined": len(joined),
        "unknown_labels": len(joined) - len(known),
    }
    positive = card.outputs.positive_label
    if positive is not None and len(card.outputs.labels) == 2:
        pairs = [
            (label == positive, item["prediction"]["probability"])
            for item, label in known
            if isinstance(item.get("prediction", {}).get("probability"), int | float)
        ]
        if pairs:
            y, p = zip(*pairs, strict=True)
            result.update(binary_report(list(y), list(p), card.outputs.decision_threshold))
    else:
        correct = sum(1 for item, label in known if item.get("prediction", {}).get("label") == label)
        result.update({"n": len(known), "accuracy": round(correct / len(known), 4) if known else None})
    return result


def _violation(feature: str, check: str, description: str) -> dict[str, str]:
    return {"feature_name": feature, "constraint_check_type": check, "description": description}


def _emit_metrics(report: ModelReport) -> None:
    from aws_lambda_powertools.metrics import single_metric

    dims = {"model": report.model, "model_version": report.version}
    metrics.add_metric(name="MonitoredItems", unit=MetricUnit.Count, value=report.items)
    if report.ood_scored:
        with single_metric(
            name="OutOfDistributionShare",
            unit=MetricUnit.Percent,
            value=100.0 * report.out_of_distribution / report.ood_scored,
            namespace=SERVICE,
            default_dimensions=dims,
        ):
            pass
    metrics.add_metric(name="DriftViolations", unit=MetricUnit.Count, value=len(report.violations))
    if report.verdict == INSUFFICIENT:
        metrics.add_metric(name="MonitoringInsufficientData", unit=MetricUnit.Count, value=1)
    for drift in report.features + report.outputs:
        if drift.compared is None:
            continue
        with single_metric(
            name="FeatureDrift",
            unit=MetricUnit.NoUnit,
            namespace=SERVICE,
            value=float(drift.linf if drift.linf is not None else (drift.mmd2 or 0.0)),
            default_dimensions={**dims, "feature": drift.name},
        ):
            pass


def render_markdown(report: ModelReport) -> str:
    """The human-readable report."""
    start, end = report.window
    lines = [
        f"# Drift report: {report.model} {report.version}",
        "",
        f"- window: {_stamp(start)} to {_stamp(end)}",
        f"- captured requests: {report.records}, items: {report.items}"
        + (
            f" ({report.other_baseline_items} binned against another baseline, not compared)"
            if report.other_baseline_items
            else ""
        ),
        f"- minimum sample: {report.min_sample}",
        *(
            [
                f"- out of distribution (the predictions' own OOD flag): {report.out_of_distribution} of "
                f"{report.ood_scored} ({100.0 * report.out_of_distribution / report.ood_scored:.1f}%)"
            ]
            if report.ood_scored
            else []
        ),
        f"- **verdict: {report.verdict}**"
        + (f" ({len(report.violations)} violation(s))" if report.verdict == "violations" else ""),
        "",
    ]
    if report.verdict == INSUFFICIENT:
        lines += [
            f"Fewer than {report.min_sample} comparable items in the window: the distances below are "
            "shown for information and judge nothing.",
            "",
        ]
    if report.violations:
        lines += ["## Violations", "", "| feature | check | description |", "|---|---|---|"]
        lines += [
            f"| {v['feature_name']} | {v['constraint_check_type']} | {v['description']} |"
            for v in report.violations
        ]
        lines.append("")

    def table(title: str, rows: list[FeatureDrift]) -> list[str]:
        if not rows:
            return []
        out = [
            f"## {title}",
            "",
            "| feature | n | L-inf | robust | PSI | chi2 / MMD p | compared | threshold | method | drift |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for d in rows:
            fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
            out.append(
                f"| {d.name} | {d.n} | {fmt(d.linf)} | {fmt(d.robust)} | {fmt(d.psi)} | "
                f"{fmt(d.chi2_p if d.mmd_p is None else d.mmd_p)} | "
                f"{fmt(d.compared)} | {d.threshold} | {d.method} | {'**yes**' if d.drifted else 'no'} |"
            )
        return [*out, ""]

    lines += table("Input features (judged)", report.features)
    lines += table("Model outputs (reported, not judged)", report.outputs)
    if report.features and report.baseline_n and report.baseline_items:
        lines += [
            f"Robust margin 1.8*sqrt((n+m)/(nm)) at n={report.baseline_n} (baseline), "
            f"m={report.baseline_items}: {robust_margin(report.baseline_n, report.baseline_items):.4f}.",
            "",
        ]
    if report.performance is not None:
        p = report.performance
        lines += ["## Performance (ground truth joined)", ""]
        lines += [f"- {k}: {v}" for k, v in p.items() if k != "confusion"]
        if "confusion" in p:
            c = p["confusion"]
            lines += [
                "",
                f"Confusion at threshold {p.get('decision_threshold')}:",
                "",
                "| | actual positive | actual negative |",
                "|---|---|---|",
                f"| predicted positive | {c['tp']} | {c['fp']} |",
                f"| predicted negative | {c['fn']} | {c['tn']} |",
            ]
        lines.append("")
    return "\n".join(lines)


def is_monitor_event(event: Any) -> bool:
    """An EventBridge schedule's event, or a direct invocation ``{"source": "medserve.monitor"}``."""
    return isinstance(event, Mapping) and (
        event.get("detail-type") == "Scheduled Event" or event.get("source") == "medserve.monitor"
    )


def run_from_event(
    event: Mapping[str, Any], bucket: str, s3: Any, registry: Registry, window_hours: float
) -> dict:
    """What ``MonitorFunction`` answers a schedule with: one summary per model version analysed.
    ``{"model": NAME}`` (or ``detail.model``) limits the run to one model."""
    detail = event.get("detail") if isinstance(event.get("detail"), Mapping) else {}
    model = event.get("model") or detail.get("model")
    if not bucket:
        from medserve.errors import NotConfigured

        raise NotConfigured("monitoring is not configured (no MONITORING_BUCKET)")
    reports = MonitorJob(bucket, s3, registry, window_hours=window_hours).run(str(model) if model else None)
    return {
        "reports": [
            {
                "model": r.model,
                "version": r.version,
                "verdict": r.verdict,
                "items": r.items,
                "violations": [v["feature_name"] + ": " + v["constraint_check_type"] for v in r.violations],
                "out_of_distribution": r.out_of_distribution,
                "location": r.location,
            }
            for r in reports
        ]
    }
