"""statistics.json / constraints.json in Model Monitor's schema, and the bins capture uses."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from medserve.monitoring.baseline import (
    Baseline,
    bucket_index,
    constraints_document,
    numerical_feature,
    statistics_document,
    string_feature,
    write_baseline,
)
from medserve.serving.registry import BundledModels
from medserve.serving.runtime import sha256_file

from tests.helpers import REPO

MODEL_DIRS = [
    REPO / "layers/model/medserve/bundled/breast-cancer-risk",
    REPO / "layers/model/medserve/bundled/cxr-nodule-phantom",
    REPO / "layers/model/medserve/bundled/treatment-recommender-demo",
    REPO / "models/note-specialty",  # the registry model (the embedded moto publishes it with its baseline)
]


def _check_statistics(statistics: dict) -> None:
    assert statistics["version"] == 0 and statistics["dataset"]["item_count"] > 0
    for feature in statistics["features"]:
        assert feature["inferred_type"] in {"Fractional", "Integral", "String"}
        if feature["inferred_type"] == "String":
            stats = feature["string_statistics"]
            assert stats["distinct_count"] == len(stats["distribution"]["categorical"]["buckets"])
            total = sum(b["count"] for b in stats["distribution"]["categorical"]["buckets"])
        else:
            stats = feature["numerical_statistics"]
            for key in ("mean", "sum", "std_dev", "min", "max"):
                assert isinstance(stats[key], float), key
            buckets = stats["distribution"]["kll"]["buckets"]
            assert 1 <= len(buckets) <= 10
            assert buckets[0]["lower_bound"] == stats["min"] and buckets[-1]["upper_bound"] == stats["max"]
            for left, right in itertools.pairwise(buckets):
                assert left["upper_bound"] == right["lower_bound"]
            total = sum(b["count"] for b in buckets)
        assert total == stats["common"]["num_present"]


@pytest.mark.parametrize("directory", MODEL_DIRS, ids=lambda p: p.name)
def test_every_shipped_model_has_a_model_monitor_baseline(directory):
    statistics = json.loads((directory / "statistics.json").read_text())
    constraints = json.loads((directory / "constraints.json").read_text())
    _check_statistics(statistics)
    config = constraints["monitoring_config"]
    assert config["distribution_constraints"]["comparison_method"] in {"Simple", "Robust"}
    assert 0 < config["distribution_constraints"]["comparison_threshold"] < 1
    names = {f["name"] for f in statistics["features"]}
    assert {f["name"] for f in constraints["features"]} <= names
    assert "prediction.label" in names
    assert {"prediction.probability", "prediction.score"} & names  # a ranking model has a score


def test_every_bundled_and_registry_model_has_a_baseline():
    bundled = BundledModels()
    for name in bundled.names():
        _, artifact = bundled.get(name)
        assert Baseline.load(artifact.parent) is not None, name
    for card in (REPO / "models").glob("*/card.json"):
        assert Baseline.load(card.parent) is not None, card.parent.name


def test_the_wdbc_baseline_is_the_training_split_and_leaves_the_artifact_alone():
    from training.tabular_wdbc import split

    directory = MODEL_DIRS[0]
    card = json.loads((directory / "card.json").read_text())
    assert sha256_file(directory / "model.onnx") == card["artifact"]["sha256"]
    baseline = Baseline.load(directory)
    x_train, _, _, _ = split()
    assert baseline.statistics["dataset"]["item_count"] == len(x_train)
    for i, spec in enumerate(card["inputs"]["features"]):
        stats = baseline.feature(spec["name"])["numerical_statistics"]
        assert stats["mean"] == pytest.approx(x_train[:, i].mean(), rel=1e-8)
        counts = [b["count"] for b in stats["distribution"]["kll"]["buckets"]]
        assert sum(counts) == len(x_train)
        assert max(counts) - min(counts) <= 0.05 * len(x_train)  # deciles: about a tenth each


def test_bucket_index_covers_below_inside_above():
    edges = [0.0, 1.0, 2.0, 3.0]
    assert [bucket_index(edges, v) for v in (-1, 0, 0.5, 1, 2.99, 3, 3.01)] == [0, 1, 1, 2, 3, 3, 4]


def test_constant_and_categorical_features():
    constant = numerical_feature("c", [2.0] * 20)
    assert constant["numerical_statistics"]["distribution"]["kll"]["buckets"] == [
        {"lower_bound": 2.0, "upper_bound": 2.0, "count": 20}
    ]
    label = string_feature("prediction.label", ["a", "b", "a", None])
    assert label["string_statistics"]["common"] == {"num_present": 3, "num_missing": 1}
    stats = statistics_document([constant, label], 20)
    _check_statistics(stats)
    constraints = constraints_document(stats)
    assert [f["name"] for f in constraints["features"]] == ["c"]  # outputs are reported, not judged


def test_write_and_load_round_trip(tmp_path):
    values = np.random.default_rng(3).normal(10, 2, size=200)
    write_baseline(tmp_path, [numerical_feature("x", values)], 200, method="Simple", threshold=0.2)
    baseline = Baseline.load(tmp_path)
    assert baseline.config["distribution_constraints"] == {
        "perform_comparison": "Enabled",
        "comparison_threshold": 0.2,
        "comparison_method": "Simple",
        "categorical_comparison_threshold": 0.1,
        "categorical_drift_method": "LInfinity",
    }
    assert baseline.bin("x", float(values.min()) - 1) == 0
    assert baseline.bin("x", float(values.max()) + 1) == 11
    assert baseline.bin("x", float("nan")) is None and baseline.bin("y", 1.0) is None
    # the column-at-a-time bins of a batch file are the one-value bins
    edges = baseline.edges("x")
    column = np.concatenate([values, edges, [edges[0] - 1, edges[-1] + 1, np.nan, np.inf, -np.inf]])
    assert baseline.bins("x", column) == [baseline.bin("x", float(v)) for v in column]
    assert baseline.bins("y", column) == [None] * len(column)
    assert len(baseline.digest) == 16
    with pytest.raises(ValueError):
        constraints_document(baseline.statistics, method="Fancy")
