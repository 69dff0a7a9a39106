"""TextFunction through `medserve serve`: real HTTP on 127.0.0.1, the encoder served from the
embedded S3 registry (seeded from models/), and the uploads/text/ trigger. The acceptance flow."""

import json
import urllib.error
import urllib.request

import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer, eventually, s3_json

NOTE = (REPO / "events" / "data" / "text_note.txt").read_text()
IDENTIFIERS = (
    "Eleanor M. Vasquez",
    "Vasquez",
    "00731264",
    "02/11/1948",
    "03/18/2026",
    "Samuel Whitcombe",
    "Rosa Vasquez",
    "418 Maple Grove Ave",
    "Springfield",
    "62704",
    "217-555-0143",
    "03/19/2026",
    "Priya Raman",
    "rraman@stmarysheart.org",
)


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def request(api, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        api.url + path, data=data, method=method, headers={"content-type": "application/json", **bearer(api)}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_the_encoder_is_in_the_embedded_registry(api):
    assert "note-specialty" in api.aws.seeded_models
    s3 = api.aws.client("s3")
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=api.aws.buckets["ModelsBucket"])["Contents"]}
    assert (
        "models/note-specialty/1.0.0/model.onnx" in keys
        and "models/note-specialty/aliases/production.json" in keys
    )
    status, card = request(api, "GET", "/v1/models/note-specialty")
    assert status == 200 and card["model"]["source"] == "s3" and card["model"]["modality"] == "text"


@pytest.mark.parametrize("mode", ["tag", "mask", "surrogate"])
def test_deidentify_over_http(api, mode):
    status, body = request(api, "POST", "/v1/text/deidentify", {"text": NOTE, "mode": mode})
    assert status == 200
    values = [NOTE[e["begin"] : e["end"]] for e in body["entities"]]
    # offsets are character offsets into the input: each entity is exactly an identifier
    for identifier in IDENTIFIERS:
        assert any(identifier in v or v in identifier for v in values), identifier
        assert identifier not in body["redacted_text"], identifier
    assert "Vasquez" in values and "rraman@stmarysheart.org" in values and "62704" in values
    if mode == "mask":
        assert len(body["redacted_text"]) == len(NOTE)


def test_predict_over_http_with_attributions(api):
    status, body = request(api, "POST", "/v1/text/predict", {"text": NOTE, "explain": True})
    assert status == 200
    (prediction,) = body["predictions"]
    assert prediction["label"] == "cardiology"
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-6
    (explanation,) = body["explanations"]
    assert 0 < len(explanation["attributions"]) <= 64
    first = explanation["attributions"][0]
    assert NOTE[first["begin"] : first["end"]] == first["text"]


def test_too_long_over_http(api):
    status, body = request(api, "POST", "/v1/text/deidentify", {"text": "a" * 20_001})
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")


def test_note_uploaded_to_embedded_s3_is_deidentified(api):
    s3 = api.aws.client("s3")
    bucket = api.aws.buckets["UploadsBucket"]
    s3.put_object(
        Bucket=bucket, Key="uploads/text/consult 7.txt", Body=NOTE.encode(), Metadata={"mode": "mask"}
    )
    result = eventually(lambda: s3_json(s3, bucket, "results/text/consult 7.txt.json"), what="the result")
    assert result["mode"] == "mask" and len(result["redacted_text"]) == len(NOTE)
    assert all(identifier not in result["redacted_text"] for identifier in IDENTIFIERS)
