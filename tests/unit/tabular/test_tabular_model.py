"""Record validation against the card, and predictions of the bundled model."""

import math

import numpy as np
import pytest
from medserve.errors import InvalidInput, PayloadTooLarge
from medserve.serving.registry import Registry
from medserve.tabular.model import TabularModel, validate_record, validate_records


@pytest.fixture(scope="module")
def model() -> TabularModel:
    return TabularModel(Registry().load("breast-cancer-risk", modality="tabular"))


def issues_of(card, record):
    return {(i.field, i.issue) for i in validate_record(card, record)[1]}


def test_valid_record_has_no_issues(card, record):
    values, issues, _ = validate_record(card, record)
    assert issues == [] and len(values) == 30


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda r: r.pop("mean_radius"), ("mean_radius", "missing")),
        (lambda r: r.update(mean_radius=None), ("mean_radius", "missing")),
        (lambda r: r.update(mean_radius="12.5"), ("mean_radius", "not a number")),
        (lambda r: r.update(mean_radius=True), ("mean_radius", "not a number")),
        (lambda r: r.update(mean_radius=[1.0]), ("mean_radius", "not a number")),
        (lambda r: r.update(mean_radius=math.nan), ("mean_radius", "not a finite number")),
        (lambda r: r.update(mean_radius=math.inf), ("mean_radius", "not a finite number")),
        (lambda r: r.update(mean_radius=-0.1), ("mean_radius", "out of range")),
        (lambda r: r.update(mean_radius=1e9), ("mean_radius", "out of range")),
        (lambda r: r.update(age=61), ("age", "unexpected feature")),
    ],
)
def test_each_bad_field_is_named(card, record, change, expected):
    change(record)
    assert issues_of(card, record) == {expected}


def test_integers_are_numbers(card, record):
    record["mean_radius"] = 14
    assert issues_of(card, record) == set()


def test_outside_training_range_warns_without_refusing(card, record):
    _, hi = card.inputs.features[0].training_range
    record["mean_radius"] = hi * 1.2
    _, issues, warnings = validate_record(card, record)
    assert issues == [] and warnings == ["mean_radius is outside the training range: the model extrapolates"]


def test_all_issues_of_all_records_are_reported_without_values(card, record):
    bad = dict(record, mean_radius=-123.456, worst_area="secret")
    with pytest.raises(InvalidInput) as caught:
        validate_records(card, [record, bad])
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["records[1].mean_radius", "records[1].worst_area"]
    assert "123.456" not in str(caught.value.details) and "secret" not in str(caught.value.details)


def test_limits(card, record):
    with pytest.raises(InvalidInput):
        validate_records(card, [])
    with pytest.raises(PayloadTooLarge):
        validate_records(card, [record] * (card.inputs.max_records + 1))


def test_predictions_are_probabilities_with_the_card_threshold(model, card, record):
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    predictions = model.predict(data.data[:50])
    threshold = card.outputs.decision_threshold
    for p in predictions:
        assert sum(p["probabilities"].values()) == pytest.approx(1.0, abs=1e-9)
        assert p["probability"] == p["probabilities"]["malignant"]
        assert p["label"] == ("malignant" if p["probability"] >= threshold else "benign")
    # sklearn codes malignant as 0: the model agrees on nearly all of these real cases
    agree = np.mean(
        [(p["label"] == "malignant") == (t == 0) for p, t in zip(predictions, data.target[:50], strict=True)]
    )
    assert agree >= 0.9


def test_contributions_are_faithful_and_match_the_logistic_model(model, card, record):
    x = validate_records(card, [record]).matrix
    explanation = model.explain(x)[0]
    total = sum(c["contribution"] for c in explanation["contributions"])
    # faithful: contributions add up to the model's log-odds minus the stated baseline
    assert total == pytest.approx(
        explanation["output"]["log_odds"] - explanation["baseline"]["log_odds"], abs=1e-9
    )
    p = model.predict(x)[0]["probability"]
    assert explanation["output"]["probability"] == pytest.approx(p, rel=1e-9)
    # and for logistic regression they are the closed-form Shapley values coef_j * (x_j - mean_j) / scale_j
    pre = card.preprocessing
    coef = np.array(pre["logistic_regression"]["coef"])
    scale = np.array(pre["standardize"]["scale"])
    baseline = np.array([f.baseline for f in card.inputs.features])
    exact = dict(zip(card.feature_names, coef * (x[0] - baseline) / scale, strict=True))
    for c in explanation["contributions"]:
        assert c["contribution"] == pytest.approx(exact[c["feature"]], abs=1e-3)
    # sorted by magnitude, with a readable summary naming the top features
    magnitudes = [abs(c["contribution"]) for c in explanation["contributions"]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert explanation["contributions"][0]["feature"] in explanation["summary"]


def test_vectorised_and_per_field_checks_agree_on_warnings(card, record):
    hi = card.inputs.features[0].training_range[1]
    outside = dict(record, mean_radius=hi * 1.2)
    assert validate_records(card, [outside, record]).warnings == [validate_record(card, outside)[2], []]
    assert validate_records(card, [dict(record, mean_radius=14)]).matrix[0][0] == 14.0
