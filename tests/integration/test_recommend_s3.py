"""RecommendFunction against moto: JSONL uploads under uploads/recommend/ (one result per line, once
per object version) and a recommender published to, and served from, the S3 registry (both of its
files downloaded and sha256-checked)."""

import json

import pytest
from medserve.serving.registry import BUNDLED_DIR, S3ModelStore, derive_model

from tests.helpers import call, http_event, lambda_context, s3_event, stack
from tests.integration.conftest import MODELS, UPLOADS

NAME = "treatment-recommender-demo"


@pytest.fixture(scope="module")
def app():
    return stack().module("RecommendFunction")


@pytest.fixture(scope="module")
def context():
    return lambda_context("RecommendFunction")


def upload(aws, key: str, body: bytes, **metadata: str) -> dict:
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body, Metadata=metadata)
    return s3_event(UPLOADS, key, version_id=put.get("VersionId"), size=len(body))


def result(aws, key: str) -> dict:
    return json.loads(aws["s3"].get_object(Bucket=UPLOADS, Key=key)["Body"].read())


LINES = [
    {"record_id": "a", "history": [{"item": "lisinopril"}, {"item": "warfarin", "value": 3}], "k": 4},
    {"record_id": "b", "history": [{"item": "sertraline"}], "explain": True, "k": 2},
    {"history": []},
    {"record_id": "d", "history": [{"item": "snake-oil"}]},
    "not an object",
    {"record_id": "f", "history": [{"item": "paracetamol"}], "k": 99},
]


def test_a_jsonl_of_patients_gets_one_result_per_line_once_per_version(aws, services, app, context):
    body = ("\n".join(json.dumps(line) for line in LINES) + "\n{broken\n").encode()
    key = "uploads/recommend/ward 7/panel.jsonl"
    event = upload(aws, key, body)
    outcome = app.lambda_handler(event, context)
    assert outcome["outcomes"][0]["status"] == "succeeded"
    written = result(aws, "results/recommend/ward 7/panel.jsonl.json")
    assert written["model"]["name"] == NAME and written["summary"] == {"rows": 7, "succeeded": 3, "failed": 4}
    rows = written["results"]
    assert [r["row"] for r in rows] == list(range(1, 8))
    first = rows[0]["recommendation"]
    assert rows[0]["record_id"] == "a" and len(first["recommendations"]) == 4 and first["personalised"]
    withheld = {e["item"] for e in first["excluded"]}
    assert {"lisinopril", "warfarin", "losartan", "apixaban", "ibuprofen"} <= withheld
    assert not {r["item"] for r in first["recommendations"]} & withheld
    second = rows[1]["recommendation"]
    for rec, expl in zip(second["recommendations"], second["explanations"], strict=True):
        assert sum(c["contribution"] for c in expl["contributions"]) == pytest.approx(
            rec["score"] - expl["baseline"]
        )
    assert rows[2]["recommendation"]["personalised"] is False
    assert rows[3]["record_id"] == "d" and rows[3]["error"]["code"] == "INVALID_INPUT"
    assert "snake-oil" in rows[3]["error"]["message"]
    assert rows[4]["error"]["code"] == "MALFORMED_ROW" and rows[6]["error"]["code"] == "MALFORMED_ROW"
    assert rows[5]["error"]["details"][0]["field"] == "k"

    # S3 delivers the same event again: answered from the idempotency record, nothing rewritten.
    versions = aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix="results/recommend/")["Versions"]
    again = app.lambda_handler(event, context)
    assert again["outcomes"] == outcome["outcomes"]
    assert aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix="results/recommend/")["Versions"] == versions


@pytest.mark.parametrize(
    ("key", "body", "code"),
    [
        ("uploads/recommend/panel.csv", b"patient_id,item\n1,lisinopril\n", "UNSUPPORTED_MEDIA_TYPE"),
        ("uploads/recommend/empty.jsonl", b"\n\n", "INVALID_INPUT"),
        (
            "uploads/recommend/latin1.jsonl",
            '{"history": [{"item": "Zoë"}]}'.encode("latin-1"),
            "INVALID_INPUT",
        ),
    ],
)
def test_unusable_files_get_an_error_result(aws, services, app, context, key, body, code):
    app.lambda_handler(upload(aws, key, body), context)
    written = result(aws, key.replace("uploads/", "results/", 1) + ".error.json")
    assert written["error"]["code"] == code


def test_metadata_chooses_an_unknown_model_and_the_file_fails_whole(aws, services, app, context):
    key = "uploads/recommend/p.jsonl"
    app.lambda_handler(upload(aws, key, b'{"history": []}\n', model="no-such-recommender"), context)
    assert result(aws, "results/recommend/p.jsonl.error.json")["error"]["code"] == "MODEL_NOT_FOUND"


@pytest.fixture
def published(aws, services, tmp_path):
    source = derive_model(
        BUNDLED_DIR / NAME, tmp_path / "published", name="ward-recommender", version="2.0.0"
    )
    S3ModelStore(MODELS, aws["s3"]).publish(source, alias="production")
    return source


def test_a_published_recommender_is_served_from_s3(aws, published, app, context):
    body = {"model": "ward-recommender", "history": [{"item": "metformin"}], "k": 3}
    status, answer = call(app, http_event("POST", "/v1/recommend/treatment", body), context)
    assert (
        status == 200
        and answer["model"]["name"] == "ward-recommender"
        and answer["model"]["version"] == "2.0.0"
    )
    assert len(answer["recommendations"]) == 3
    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=MODELS)["Contents"]}
    assert {f"models/ward-recommender/2.0.0/{f}" for f in ("model.onnx", "factors.npz", "card.json")} <= keys


def test_tampered_factors_in_s3_are_refused_with_502(aws, published, app, context):
    aws["s3"].put_object(
        Bucket=MODELS, Key="models/ward-recommender/2.0.0/factors.npz", Body=b"PK not the factors"
    )
    body = {"model": "ward-recommender", "history": [{"item": "metformin"}]}
    status, answer = call(app, http_event("POST", "/v1/recommend/treatment", body), context)
    assert status == 502 and answer["error"]["code"] == "MODEL_INTEGRITY_ERROR"
