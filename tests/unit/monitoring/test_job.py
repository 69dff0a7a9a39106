"""The drift job's checks on crafted capture (moto S3): completeness, data types, missing and
extra columns, the minimum sample, and MMD on multi-class probability vectors."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
from medserve.monitoring.baseline import Baseline, numerical_feature, string_feature, write_baseline
from medserve.monitoring.capture import SCHEMA, capture_prefix
from medserve.monitoring.job import INSUFFICIENT, MonitorJob
from medserve.serving.registry import BUNDLED_DIR, BundledModels, Registry, derive_model
from moto import mock_aws

BUCKET = "medserve-test-job-monitoring"
NOW = 1796112000.0  # 2026-12-01 08:00 UTC
LABELS = ["a", "b", "c", "d"]
RNG = np.random.default_rng(11)


@pytest.fixture
def model(tmp_path):
    """A model directory with a two-feature baseline and a probability-vector reference."""
    directory = derive_model(BUNDLED_DIR / "breast-cancer-risk", tmp_path / "toy", name="toy", version="1")
    reference = RNG.dirichlet([4, 3, 2, 1], size=300)
    features = [
        numerical_feature("x", RNG.normal(size=300)),
        numerical_feature("y", RNG.normal(size=300)),
        string_feature("prediction.label", [LABELS[int(np.argmax(r))] for r in reference]),
    ]
    rows = [[round(float(v), 6) for v in r] for r in reference]
    write_baseline(
        directory, features, 300, reference={"prediction.probabilities": {"labels": LABELS, "rows": rows}}
    )
    return directory


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _job(s3, model) -> MonitorJob:
    registry = Registry(bundled=BundledModels(model.parent))
    return MonitorJob(BUCKET, s3, registry, clock=lambda: NOW)


def _capture(s3, baseline: Baseline, items: list[dict]) -> None:
    record = {
        "schema": SCHEMA,
        "time": NOW - 60,
        "model": {"name": "toy", "version": "1"},
        "baseline": baseline.digest,
        "route": "POST /v1/tabular/predict",
        "status": 200,
        "latency_ms": 1.0,
        "items": items,
    }
    key = f"{capture_prefix('toy', '1')}2026/12/01/07/1-a.jsonl"
    s3.put_object(Bucket=BUCKET, Key=key, Body=(json.dumps(record) + "\n").encode())


def _items(baseline: Baseline, n: int, alpha=(4, 3, 2, 1), **overrides) -> list[dict]:
    items = []
    for i, p in enumerate(RNG.dirichlet(alpha, size=n)):
        bins = {"x": baseline.bin("x", float(RNG.normal())), "y": baseline.bin("y", float(RNG.normal()))}
        bins.update(overrides.get("bins", {}) if i % 2 == 0 else {})
        items.append(
            {
                "inference_id": f"r:{i}",
                "bins": {k: v for k, v in bins.items() if v != "drop"},
                "prediction": {"label": LABELS[int(np.argmax(p))], "probabilities": [float(v) for v in p]},
            }
        )
    return items


def test_same_distribution_is_ok_and_the_mmd_is_reported(s3, model):
    baseline = Baseline.load(model)
    _capture(s3, baseline, _items(baseline, 200))
    report = _job(s3, model).analyse("toy", "1")
    assert report.verdict == "ok" and report.violations == []
    (embedding,) = [d for d in report.outputs if d.method == "MMD"]
    assert embedding.n == 200 and embedding.mmd_p > 0.01 and not embedding.drifted


def test_shifted_probability_vectors_are_found_by_mmd(s3, model):
    baseline = Baseline.load(model)
    _capture(s3, baseline, _items(baseline, 200, alpha=(1, 2, 3, 4)))
    report = _job(s3, model).analyse("toy", "1")
    (embedding,) = [d for d in report.outputs if d.method == "MMD"]
    assert embedding.drifted and embedding.mmd_p < 0.01
    assert report.violations == []  # outputs are reported, not judged


def test_missing_values_wrong_types_and_unknown_columns(s3, model):
    baseline = Baseline.load(model)
    items = _items(baseline, 120, bins={"x": None, "y": "12", "z": 3})
    _capture(s3, baseline, items)
    report = _job(s3, model).analyse("toy", "1")
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in report.violations}
    assert checks == {("x", "completeness_check"), ("y", "data_type_check"), ("z", "extra_column_check")}
    assert report.verdict == "violations"


def test_a_column_absent_from_every_item(s3, model):
    baseline = Baseline.load(model)
    items = _items(baseline, 120)
    for item in items:
        del item["bins"]["y"]
    _capture(s3, baseline, items)
    checks = {
        (v["feature_name"], v["constraint_check_type"])
        for v in _job(s3, model).analyse("toy", "1").violations
    }
    assert ("y", "missing_column_check") in checks


def test_below_the_minimum_sample_nothing_is_judged(s3, model):
    baseline = Baseline.load(model)
    _capture(s3, baseline, _items(baseline, 20, bins={"x": None}))
    report = _job(s3, model).analyse("toy", "1")
    assert report.verdict == INSUFFICIENT and report.violations == []


def test_items_binned_against_another_baseline_are_not_compared(s3, model):
    baseline = Baseline.load(model)
    _capture(s3, baseline, _items(baseline, 80))
    write_baseline(model, [numerical_feature("x", RNG.normal(5, 1, size=300))], 300)  # a new baseline
    report = _job(s3, model).analyse("toy", "1")
    assert report.other_baseline_items == 80 and report.baseline_items == 0
    assert report.verdict == INSUFFICIENT
