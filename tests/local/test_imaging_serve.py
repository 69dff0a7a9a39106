"""ImagingFunction through `medserve serve`: real HTTP on 127.0.0.1, the template's routes, the
embedded S3 with its upload trigger and the presigned PUT of POST /v1/uploads."""

import base64
import json
import time
import urllib.error
import urllib.request

import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer, medserve_invoke
from tests.imaging_samples import (
    PHANTOM,
    PYDICOM_FILES,
    bad_inputs,
    chest_cr,
    encode,
    phantom_grey,
    pydicom_file,
)


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def send(url, method="GET", body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def predict(api, data, content_type, query=""):
    status, raw = send(
        f"{api.url}/v1/imaging/predict{query}", "POST", data, {"content-type": content_type, **bearer(api)}
    )
    return status, json.loads(raw)


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_pydicom_files_over_http(api, name):
    """None of them is a chest radiograph: the chest model's intended-use gate refuses each."""
    status, body = predict(api, pydicom_file(name), "application/dicom")
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE"), body


def test_a_cr_chest_dicom_over_http(api):
    status, body = predict(api, chest_cr(), "application/dicom")
    assert status == 200, body
    assert sum(body["predictions"][0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
    assert body["dicom"]["rows"] > 0 and body["predictions"][0]["ood"]["in_distribution"] is True


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("JPEG", "image/jpeg")])
def test_png_and_jpeg_over_http(api, fmt, content_type):
    status, body = predict(api, encode(phantom_grey(), fmt), content_type)
    assert status == 200 and body["predictions"][0]["label"] == "nodule"
    assert sum(body["predictions"][0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)


def test_explain_over_http(api):
    status, body = predict(api, PHANTOM.read_bytes(), "image/png", "?explain=true")
    assert status == 200
    explanation = body["explanations"][0]
    assert explanation["evaluations"] <= explanation["budget"]
    assert base64.b64decode(explanation["overlay_png_base64"]).startswith(b"\x89PNG")


@pytest.mark.parametrize("case", sorted(bad_inputs()))
def test_bad_inputs_over_http(api, case):
    data, content_type, status, code = bad_inputs()[case]
    got_status, body = predict(api, data, content_type)
    assert (got_status, body["error"]["code"]) == (status, code), body


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image_base64": "%%% not base64 %%%"}, 422, "INVALID_INPUT"),
        ({"explain": True}, 422, "INVALID_INPUT"),
        ({"s3_uri": "s3://elsewhere/uploads/imaging/x.dcm"}, 422, "INVALID_INPUT"),
    ],
)
def test_bad_json_requests_over_http(api, body, status, code):
    got_status, got = predict(api, json.dumps(body).encode(), "application/json")
    assert (got_status, got["error"]["code"]) == (status, code), got


def test_upload_job_result_against_the_embedded_s3(api):
    request = {
        "modality": "imaging",
        "filename": "ct small.dcm",
        "content_type": "application/dicom",
        "explain": True,
    }
    status, raw = send(
        f"{api.url}/v1/uploads",
        "POST",
        json.dumps(request).encode(),
        {"content-type": "application/json", **bearer(api)},
    )
    assert status == 201, raw
    ticket = json.loads(raw)
    assert ticket["upload_url"].startswith(api.aws.endpoint_url)  # the embedded S3, not AWS
    status, _ = send(ticket["upload_url"], "PUT", chest_cr(), ticket["headers"])
    assert status == 200
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status, raw = send(f"{api.url}{ticket['job_url']}", headers=bearer(api))
        job = json.loads(raw)
        assert status == 200, job
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the job did not finish within 30 s")
    assert job["status"] == "succeeded", job
    assert job["result"]["dicom"]["modality"] == "CR" and job["result"]["explanations"]


def test_medserve_invoke_cli_answers_the_dicom_events():
    response, printed = medserve_invoke("ImagingFunction", "events/imaging_predict_dicom.json")
    assert response["statusCode"] == 422  # a real CT: outside the chest model's intended use
    assert json.loads(response["body"])["error"]["code"] == "OUT_OF_SCOPE"
    assert "CompressedSamples" not in printed  # CT_small's PatientName
    response, printed = medserve_invoke("ImagingFunction", "events/imaging_predict_dicom_cr.json")
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["dicom"]["modality"] == "CR"
    assert "PHANTOM^CHEST" not in printed
