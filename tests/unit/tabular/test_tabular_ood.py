"""Out-of-distribution scores and intended-use gating of the tabular model: the held-out false-alarm
rate recomputed from the committed statistics, shifted records flagged, and the refuse policies
answering 422 OUT_OF_SCOPE (through the handler and the S3 scorer) without quoting any value."""

import json

import numpy as np
import pytest
from medserve.errors import OutOfScope
from medserve.serving.ood import OodScorer, scorer_for
from medserve.serving.registry import BUNDLED_DIR, Registry
from medserve.tabular.batch import score_tabular_file
from medserve.tabular.model import TabularModel, refuse_out_of_scope
from medserve.triggers.s3 import S3Upload

from tests.helpers import call, http_event, serve_derived
from training import tabular_wdbc

PREDICT = "/v1/tabular/predict"
NAME = "breast-cancer-risk"


@pytest.fixture(scope="module")
def model() -> TabularModel:
    return TabularModel(Registry().load(NAME, modality="tabular"))


@pytest.fixture(scope="module")
def held_out() -> np.ndarray:
    _, x_test, _, _ = tabular_wdbc.split()
    return x_test


def use_card(tmp_path, monkeypatch, **updates):
    serve_derived(tmp_path, NAME, **updates)


def bundled_card() -> dict:
    return json.loads((BUNDLED_DIR / NAME / "card.json").read_text())


def test_card_states_the_ood_calibration():
    ood = bundled_card()["ood"]
    assert ood["method"] == "mahalanobis+training-range" and ood["policy"] == "flag"
    assert 0 < ood["percentile"] <= 100 and ood["threshold"] > 0
    assert ood["false_alarm_rate"] <= 0.05
    assert ood["calibration"]["n_held_out"] == 143


def test_held_out_false_alarm_rate_recomputed_by_the_serving_code(model, held_out):
    """The held-out split (never used to fit the statistics or the threshold) through the same
    code that answers requests: its false-alarm rate is the card's, and at most 5%."""
    flags = [not ood["in_distribution"] for ood in model.ood(held_out)]
    rate = float(np.mean(flags))
    assert rate == pytest.approx(model.card.ood.false_alarm_rate, abs=1e-4)
    assert rate <= 0.05


def test_mahalanobis_matches_a_direct_computation(model, held_out):
    statistics = json.loads((BUNDLED_DIR / NAME / "ood.json").read_text())
    z = (held_out[:5] - np.array(statistics["center"])) / np.array(statistics["scale"])
    d = z - np.array(statistics["mean"])
    expected = np.sqrt([row @ np.array(statistics["precision"]) @ row for row in d])
    scorer = OodScorer.from_statistics(model.card.ood, statistics)
    np.testing.assert_allclose(scorer.scores(held_out[:5]), expected, rtol=1e-9)


def test_a_record_breaking_the_feature_correlations_is_flagged(model, card, record):
    """Every value inside its training range, but radius and area disagree: no nucleus looks like
    that. The range check alone cannot see it; the Mahalanobis distance does."""
    names = card.feature_names
    x = np.array([[record[n] for n in names]])
    [inside] = model.ood(x)
    assert inside["in_distribution"] is True
    odd = x.copy()
    for feature in ("mean_area", "worst_area"):
        j = names.index(feature)
        odd[0, j] = card.inputs.features[j].training_range[0]  # smallest area seen...
    for feature in ("mean_radius", "worst_radius", "mean_perimeter", "worst_perimeter"):
        j = names.index(feature)
        odd[0, j] = card.inputs.features[j].training_range[1]  # ...with the largest radius seen
    [flagged] = model.ood(odd)
    assert flagged["in_distribution"] is False and "outside_training_range" not in flagged
    assert flagged["score"] > flagged["threshold"] > inside["score"]


def test_far_outside_the_training_range_is_flagged_with_the_feature_named(model, card, record):
    names = card.feature_names
    x = np.array([[record[n] for n in names]])
    j = names.index("mean_texture")
    lo, hi = card.inputs.features[j].training_range
    x[0, j] = hi + 0.5 * (hi - lo)
    [ood] = model.ood(x)
    assert ood["in_distribution"] is False and ood["outside_training_range"] == ["mean_texture"]


def test_every_prediction_carries_ood(tabular_app, lambda_context, record):
    status, body = call(
        tabular_app, http_event("POST", PREDICT, {"records": [record, record]}), lambda_context
    )
    assert status == 200
    for prediction in body["predictions"]:
        ood = prediction["ood"]
        assert {"score", "threshold", "in_distribution", "method"} <= set(ood)
        assert ood["in_distribution"] is True and ood["score"] <= ood["threshold"]


def test_refuse_policy_answers_out_of_scope_without_values(
    tabular_app, lambda_context, card, record, tmp_path, monkeypatch
):
    use_card(tmp_path, monkeypatch, ood={**bundled_card()["ood"], "policy": "refuse"})
    odd = dict(
        record, mean_area=card.inputs.features[card.feature_names.index("mean_area")].training_range[0]
    )
    odd.update(mean_radius=27.9871, worst_radius=36.0, worst_area=185.2)
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record, odd]}), lambda_context)
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE")
    assert [d["field"] for d in body["error"]["details"]] == ["records[1].record"]
    text = json.dumps(body)
    assert "27.9871" not in text and "185.2" not in text
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    assert status == 200


def test_gate_refusing_the_training_range_names_the_feature(
    tabular_app, lambda_context, card, record, tmp_path, monkeypatch
):
    use_card(tmp_path, monkeypatch, intended_use_gate={"tabular": {"outside_training_range": "refuse"}})
    lo, hi = card.inputs.features[0].training_range
    outside = dict(record, mean_radius=round(hi * 1.1, 4))
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [outside]}), lambda_context)
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE")
    [detail] = body["error"]["details"]
    assert detail == {
        "field": "records[0].mean_radius",
        "issue": "outside the training range",
        "training_range": [lo, hi],
    }
    assert str(round(hi * 1.1, 4)) not in json.dumps(body)


def test_s3_scorer_marks_each_out_of_scope_row(card, record, tmp_path, monkeypatch):
    use_card(tmp_path, monkeypatch, intended_use_gate={"tabular": {"outside_training_range": "refuse"}})
    _, hi = card.inputs.features[0].training_range
    rows = [record, dict(record, mean_radius=hi * 1.1)]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    result = score_tabular_file(S3Upload("b", "uploads/tabular/x.jsonl", None, body))
    first, second = result["results"]
    assert first["prediction"]["ood"]["in_distribution"] is True
    assert second["error"]["code"] == "OUT_OF_SCOPE" and "prediction" not in second
    assert result["summary"] == {"rows": 2, "succeeded": 1, "failed": 1}


def test_the_batch_verdicts_are_the_scorers_verdict(model, held_out):
    """TabularModel decides the ood blocks of a whole matrix in numpy: each must be exactly what
    OodScorer.verdict says for that record (edge scores included)."""
    scorer = scorer_for(model.loaded)
    threshold = model.card.ood.threshold
    scores = np.concatenate(
        [scorer.scores(held_out), [threshold, np.nextafter(threshold, np.inf), 0.0, np.inf, np.nan, 1e-7]]
    )
    outside = np.arange(len(scores)) % 5 == 0
    expected = [scorer.verdict(s, also_outside=bool(o)) for s, o in zip(scores, outside, strict=True)]
    assert model._verdicts(scores, outside) == expected
    assert model._verdicts(scores[-6:], outside[-6:]) == expected[-6:]  # few: verdict() itself
    x = np.vstack([held_out, held_out[:3] * [[3.0] * 30]])
    per_record = []
    # The per-record construction the batch one replaced (on the same scores: a matrix product
    # need not give one record the same last bits alone as in a batch).
    for row, score in zip(x, scorer.scores(x), strict=True):
        out = (row < model._ood_range[0]) | (row > model._ood_range[1])
        block = scorer.verdict(score, also_outside=bool(out.any()))
        if out.any():
            block["outside_training_range"] = [model.card.feature_names[j] for j in np.flatnonzero(out)]
        per_record.append(block)
    assert model.ood(x) == per_record


def test_flag_is_the_default_policy(model, card, record):
    names = card.feature_names
    x = np.array([[record[n] for n in names]])
    x[0, names.index("mean_texture")] *= 3
    oods = model.ood(x)
    assert oods[0]["in_distribution"] is False
    refuse_out_of_scope(card, x, oods)  # flag: no refusal


def test_out_of_scope_is_a_422():
    assert (OutOfScope.status, OutOfScope.code) == (422, "OUT_OF_SCOPE")


def test_a_republished_threshold_is_used_not_a_cached_one(
    tabular_app, lambda_context, record, tmp_path, monkeypatch
):
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    assert body["predictions"][0]["ood"]["in_distribution"] is True
    use_card(tmp_path, monkeypatch, ood={**bundled_card()["ood"], "threshold": 0.001})
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    ood = body["predictions"][0]["ood"]
    assert status == 200 and ood["threshold"] == 0.001 and ood["in_distribution"] is False
