"""The HTTP API through the real handler (functions/tabular/app.py), event in, response out."""

import json

import pytest

from tests.helpers import call, http_event

PREDICT = "/v1/tabular/predict"


def test_health(tabular_app, lambda_context):
    status, body = call(tabular_app, http_event("GET", "/v1/health"), lambda_context)
    assert status == 200 and body["status"] == "ok"


def test_models_and_card(tabular_app, lambda_context, card):
    status, body = call(tabular_app, http_event("GET", "/v1/models"), lambda_context)
    assert status == 200
    by_name = {m["name"]: m for m in body["models"]}
    assert sorted(by_name) == [m["name"] for m in body["models"]]  # one entry per model, sorted
    listed = by_name["breast-cancer-risk"]
    assert listed == {**card.summary(), "source": "bundled"}
    event = http_event(
        "GET",
        "/v1/models/breast-cancer-risk",
        route="/v1/models/{name}",
        path_parameters={"name": "breast-cancer-risk"},
    )
    status, body = call(tabular_app, event, lambda_context)
    assert status == 200
    model = body["model"]
    assert model["artifact"]["sha256"] == card.artifact.sha256
    assert model["inputs"]["features"][0]["unit"] and model["metrics"]["roc_auc"] >= 0.98


def test_predict_contract_shape(tabular_app, lambda_context, record, card):
    event = http_event("POST", PREDICT, {"records": [record, record], "explain": True})
    status, body = call(tabular_app, event, lambda_context)
    assert status == 200
    assert body["request_id"] == event["requestContext"]["requestId"]
    assert body["model"] == {"name": card.name, "version": card.version, "sha256": card.artifact.sha256}
    assert body["intended_use"] == card.intended_use and body["placement"] == "lambda"
    assert body["timing_ms"]["total"] > 0
    assert len(body["predictions"]) == len(body["explanations"]) == 2
    for prediction, explanation in zip(body["predictions"], body["explanations"], strict=True):
        assert set(prediction["probabilities"]) == {"benign", "malignant"}
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)
        assert prediction["probability"] == prediction["probabilities"]["malignant"]
        contributions = sum(c["contribution"] for c in explanation["contributions"])
        assert contributions == pytest.approx(
            explanation["output"]["log_odds"] - explanation["baseline"]["log_odds"], abs=1e-9
        )
        assert {c["feature"] for c in explanation["contributions"]} == set(card.feature_names)


def test_explanations_only_on_request(tabular_app, lambda_context, record):
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    assert status == 200 and body["explanations"] == []


def test_named_model(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, {"model": "breast-cancer-risk", "records": [record]})
    assert call(tabular_app, event, lambda_context)[0] == 200


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ("{not json", 400, "MALFORMED_REQUEST"),
        ("", 400, "MALFORMED_REQUEST"),
        ("[1, 2]", 400, "MALFORMED_REQUEST"),
        ('"records"', 400, "MALFORMED_REQUEST"),
        ({"records": "all"}, 422, "INVALID_INPUT"),
        ({"records": [1]}, 422, "INVALID_INPUT"),
        ({"records": []}, 422, "INVALID_INPUT"),
        ({"rows": []}, 422, "INVALID_INPUT"),
        ({"records": [{}], "explain": "maybe"}, 422, "INVALID_INPUT"),
        ({"model": "no-such-model", "records": [{}]}, 404, "MODEL_NOT_FOUND"),
    ],
)
def test_malformed_requests_get_the_error_envelope(tabular_app, lambda_context, body, status, code):
    event = http_event("POST", PREDICT, body)
    got_status, got = call(tabular_app, event, lambda_context)
    assert (got_status, got["error"]["code"]) == (status, code)
    assert got["request_id"] == event["requestContext"]["requestId"]
    assert isinstance(got["error"]["message"], str) and isinstance(got["error"]["details"], list)


def test_invalid_fields_are_all_named(tabular_app, lambda_context, record):
    bad = dict(record, mean_radius="x", worst_area=-1.0, zz_extra=3.0)
    del bad["mean_texture"]
    nan = dict(record)
    body = json.dumps({"records": [bad, nan]}).replace(str(record["mean_radius"]), "NaN", 1)
    status, got = call(tabular_app, http_event("POST", PREDICT, body), lambda_context)
    assert status == 422
    issues = {(d["field"], d["issue"]) for d in got["error"]["details"]}
    assert issues == {
        ("records[0].mean_radius", "not a number"),
        ("records[0].mean_texture", "missing"),
        ("records[0].worst_area", "out of range"),
        ("records[0].zz_extra", "unexpected feature"),
        ("records[1].mean_radius", "not a finite number"),
    }


def test_too_many_records_is_413(tabular_app, lambda_context, record, card):
    event = http_event("POST", PREDICT, {"records": [record] * (card.inputs.max_records + 1)})
    status, got = call(tabular_app, event, lambda_context)
    assert (status, got["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_wrong_content_type_is_415(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, "a,b\n1,2", headers={"content-type": "text/csv"})
    status, got = call(tabular_app, event, lambda_context)
    assert (status, got["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_unknown_route_and_model(tabular_app, lambda_context):
    status, got = call(tabular_app, http_event("GET", "/v1/nothing"), lambda_context)
    assert (status, got["error"]["code"]) == (404, "ROUTE_NOT_FOUND")
    event = http_event("GET", "/v1/models/nope", route="/v1/models/{name}", path_parameters={"name": "nope"})
    status, got = call(tabular_app, event, lambda_context)
    assert (status, got["error"]["code"]) == (404, "MODEL_NOT_FOUND")


def test_openapi_document_describes_the_routes(tabular_app, lambda_context):
    status, doc = call(tabular_app, http_event("GET", "/v1/openapi.json"), lambda_context)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert {"/v1/health", "/v1/models", "/v1/models/{name}", PREDICT} <= set(doc["paths"])
    predict = doc["paths"][PREDICT]["post"]
    assert {"200", "400", "404", "413", "422"} <= set(predict["responses"])
    assert "TabularPredictRequest" in json.dumps(predict["requestBody"])


def test_unexpected_errors_are_a_generic_500(tabular_app, lambda_context, record, monkeypatch):
    from medserve.tabular import model as tabular

    def boom(*_a, **_k):
        raise RuntimeError("value 17.99 leaked")

    monkeypatch.setattr(tabular.TabularModel, "predict", boom)
    status, got = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    assert (status, got["error"]["code"]) == (500, "INTERNAL")
    assert "17.99" not in json.dumps(got)
