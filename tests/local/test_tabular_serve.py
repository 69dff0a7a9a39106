"""TabularFunction through `medserve serve`: real HTTP on 127.0.0.1, the template's routes, the
embedded S3 with its upload trigger."""

import json
import urllib.error
import urllib.request

import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer, eventually, s3_json


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def request(api, method, path, body=None, content_type="application/json"):
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(
        api.url + path, data=data, method=method, headers={"content-type": content_type, **bearer(api)}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def sample_body() -> str:
    return json.loads((REPO / "events" / "tabular_predict.json").read_text())["body"]


def test_predict_over_http(api):
    status, body = request(api, "POST", "/v1/tabular/predict", sample_body())
    assert status == 200
    assert 0.0 <= body["predictions"][0]["probability"] <= 1.0
    contributions = body["explanations"][0]["contributions"]
    assert len(contributions) == 30


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status", "code"),
    [
        ("POST", "/v1/tabular/predict", "{oops", "application/json", 400, "MALFORMED_REQUEST"),
        (
            "POST",
            "/v1/tabular/predict",
            '{"records": [{"mean_radius": "x"}]}',
            "application/json",
            422,
            "INVALID_INPUT",
        ),
        (
            "POST",
            "/v1/tabular/predict",
            '{"model": "nope", "records": [{}]}',
            "application/json",
            404,
            "MODEL_NOT_FOUND",
        ),
        ("POST", "/v1/tabular/predict", "a,b", "text/csv", 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("GET", "/v1/nothing", None, "application/json", 404, "ROUTE_NOT_FOUND"),
    ],
)
def test_bad_requests_over_http(api, method, path, body, content_type, status, code):
    got_status, got = request(api, method, path, body, content_type)
    assert (got_status, got["error"]["code"]) == (status, code)


def test_too_many_records_over_http(api):
    record = json.loads(sample_body())["records"][0]
    status, got = request(api, "POST", "/v1/tabular/predict", json.dumps({"records": [record] * 1001}))
    assert (status, got["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_model_routes_over_http(api):
    assert request(api, "GET", "/v1/health")[0] == 200
    status, listing = request(api, "GET", "/v1/models")
    assert status == 200 and listing["models"][0]["name"] == "breast-cancer-risk"
    status, card = request(api, "GET", "/v1/models/breast-cancer-risk")
    assert status == 200 and card["model"]["metrics"]["roc_auc"] >= 0.98


def test_upload_to_embedded_s3_is_scored(api):
    s3 = api.aws.client("s3")
    bucket = api.aws.buckets["UploadsBucket"]
    s3.put_object(
        Bucket=bucket,
        Key="uploads/tabular/ward 3.csv",
        Body=(REPO / "events" / "data" / "tabular_batch.csv").read_bytes(),
    )
    result = eventually(lambda: s3_json(s3, bucket, "results/tabular/ward 3.csv.json"), what="the result")
    assert result["summary"] == {"rows": 6, "succeeded": 5, "failed": 1}
