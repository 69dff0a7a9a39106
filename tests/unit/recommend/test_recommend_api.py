"""RecommendFunction's route through its handler: the contract's shapes, the safety rules,
explanations that add up, cold start, and the error envelope for every malformed request."""

import json
import logging

import pytest
from medserve.api.recommend import RecommendRequest

from tests.helpers import call, http_event, lambda_context, stack

PATH = "/v1/recommend/treatment"


@pytest.fixture(scope="module")
def app():
    return stack().module("RecommendFunction")


@pytest.fixture(scope="module")
def context():  # module scope: resolving it reads template.yaml (~0.6 s)
    return lambda_context("RecommendFunction")


def post(app, context, body, **kwargs):
    return call(app, http_event("POST", PATH, body, **kwargs), context)


def card(app, context):
    name = "treatment-recommender-demo"
    status, body = call(
        app,
        http_event("GET", f"/v1/models/{name}", route="/v1/models/{name}", path_parameters={"name": name}),
        context,
    )
    assert status == 200
    return body["model"]


def test_two_item_history_gives_k_ranked_safe_items(app, context):
    body = {
        "history": [{"item": "lisinopril"}, {"item": "sertraline", "value": 3}],
        "exclude": ["metformin"],
        "k": 6,
    }
    status, answer = post(app, context, body)
    assert status == 200
    assert answer["request_id"] and answer["model"]["name"] == "treatment-recommender-demo"
    assert len(answer["model"]["sha256"]) == 64 and answer["intended_use"].startswith("Demonstration only")
    assert answer["personalised"] is True and answer["basis"] == "history"
    recs = answer["recommendations"]
    assert len(recs) == 6 and [r["rank"] for r in recs] == [1, 2, 3, 4, 5, 6]
    assert [r["score"] for r in recs] == sorted((r["score"] for r in recs), reverse=True)
    assert all(set(r) == {"item", "label", "score", "rank"} and r["label"] for r in recs)
    excluded = {e["item"]: e for e in answer["excluded"]}
    # the history, the exclusion, and what conflicts with lisinopril (ARB, ARNI) or sertraline
    assert {"lisinopril", "sertraline", "metformin", "losartan", "sacubitril_valsartan", "tramadol"} <= set(
        excluded
    )
    assert (
        excluded["tramadol"]["rule"] == "conflict" and excluded["tramadol"]["conflicts_with"] == "sertraline"
    )
    assert "serotonin" in excluded["tramadol"]["reason"]
    assert not {r["item"] for r in recs} & set(excluded)


def test_explanations_through_the_route_add_up(app, context):
    body = {"history": [{"item": "apixaban", "value": 6}, {"item": "bisoprolol"}], "explain": True}
    status, answer = post(app, context, body)
    assert status == 200 and len(answer["explanations"]) == len(answer["recommendations"]) == 5
    for rec, expl in zip(answer["recommendations"], answer["explanations"], strict=True):
        assert expl["item"] == rec["item"] and expl["baseline_description"]
        total = sum(c["contribution"] for c in expl["contributions"])
        assert total == pytest.approx(rec["score"] - expl["baseline"], rel=1e-9, abs=1e-12)


def test_cold_start_without_features_is_200_and_not_personalised(app, context):
    status, answer = post(app, context, {"history": []})
    assert status == 200 and answer["personalised"] is False and answer["basis"] == "popularity"
    assert len(answer["recommendations"]) == 5 and answer["excluded"] == []
    status, answer = post(app, context, {})
    assert status == 200 and answer["personalised"] is False


def test_cold_start_with_features_is_personalised(app, context):
    features = {f["name"]: f["baseline"] for f in card(app, context)["inputs"]["features"]}
    status, answer = post(app, context, {"patient": {**features, "fev1_pct": 45.0}, "explain": True})
    assert status == 200 and answer["personalised"] is True and answer["basis"] == "features"
    assert answer["explanations"][0]["contributions"]


def test_the_card_lists_items_conflicts_and_metrics(app, context):
    c = card(app, context)
    assert c["modality"] == "recommend"
    items = c["recommend"]["items"]
    assert all(item["id"] and item["label"] for item in items) and len(items) == 30
    assert c["recommend"]["conflicts"] and c["recommend"]["max_k"] >= c["recommend"]["default_k"] == 5
    held_out = c["metrics"]["held_out_patients"]
    assert held_out["als"]["ndcg@5"] > held_out["popularity"]["ndcg@5"]
    assert held_out["als"]["recall@5"] > held_out["popularity"]["recall@5"]
    assert "not for clinical use" in c["description"]


def test_unknown_item_is_422_naming_it(app, context):
    status, answer = post(app, context, {"history": [{"item": "lisinopril"}, {"item": "snake-oil"}]})
    assert status == 422 and answer["error"]["code"] == "INVALID_INPUT"
    assert "snake-oil" in answer["error"]["message"]
    assert answer["error"]["details"][0]["field"] == "history[1].item"


@pytest.mark.parametrize("k", [0, 21, -3, True, 2.0, "5"])
def test_k_out_of_range_or_not_an_integer_is_422(app, context, k):
    status, answer = post(app, context, {"history": [{"item": "lisinopril"}], "k": k})
    assert status == 422 and answer["error"]["code"] == "INVALID_INPUT"
    assert any(d["field"] == "k" for d in answer["error"]["details"])


def test_oversized_history_is_413(app, context):
    history = [{"item": "paracetamol"}] * 201
    status, answer = post(app, context, {"history": history})
    assert status == 413 and answer["error"]["code"] == "PAYLOAD_TOO_LARGE"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ("[1, 2]", 400),
        ('"history"', 400),
        ({"history": {"item": "lisinopril"}}, 422),
        ({"history": [{"item": 7}]}, 422),
        ({"history": [{"item": "lisinopril", "value": "lots"}]}, 422),
        ({"history": [{"item": "lisinopril", "value": 1e300}]}, 422),
        ({"history": [], "exclude": "metformin"}, 422),
        ({"history": [], "patient": "old"}, 422),
        ({"history": [], "explain": 1}, 422),
        ({"history": [], "unexpected": True}, 422),
        ({"model": "no-such-model"}, 404),
        ({"model": "breast-cancer-risk"}, 404),  # a tabular model is not a recommender
    ],
)
def test_malformed_bodies_get_the_envelope(app, context, body, status):
    code, answer = post(app, context, body)
    assert code == status
    assert answer["request_id"] and set(answer["error"]) == {"code", "message", "details"}


def test_wrong_media_type_is_415(app, context):
    code, answer = post(
        app, context, "history=1", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert code == 415 and answer["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


def test_other_scopes_are_forbidden(app, context):
    code, answer = post(app, context, {"history": []}, scopes=("medserve/tabular",))
    assert code == 403 and answer["error"]["code"] == "FORBIDDEN"
    code, _ = post(app, context, {"history": []}, scopes=("medserve/recommend",))
    assert code == 200


def test_no_history_reaches_the_logs(app, context, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    body = {"history": [{"item": "duloxetine", "value": 11}, {"item": "physiotherapy", "value": 7}]}
    status, _ = post(app, context, body)
    assert status == 200
    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert "treatment recommendation" in logged  # the one log line is there...
    assert "duloxetine" not in logged and "physiotherapy" not in logged  # ...without the history


def test_request_repr_hides_the_history():
    request = RecommendRequest(history=[{"item": "duloxetine"}], patient={"age": 77.0})
    assert "duloxetine" not in repr(request) and "77" not in str(request)


def test_response_is_json_without_nan(app, context):
    status, answer = post(app, context, {"history": [{"item": "metformin"}], "k": 20})
    assert status == 200 and len(answer["recommendations"]) == 20
    json.dumps(answer, allow_nan=False)
