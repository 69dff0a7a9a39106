"""POST /v1/imaging/deidentify through the real handler (functions/imaging/app.py): a DICOM file
with planted identifiers in, the de-identified file out (application/dicom), the burned-in flag in
a header, errors in the envelope, nothing planted in what the function emits."""

import base64
import io
import json

import pytest
from pydicom import dcmread

from tests.helpers import call, http_event
from tests.imaging_samples import (
    NESTED_NAME,
    PLANTED,
    PRIVATE_NAME,
    PYDICOM_FILES,
    dicom_bytes,
    plant,
    pydicom_file,
)

ROUTE = "/v1/imaging/deidentify"


def request(data: bytes, content_type: str = "application/dicom", *, scopes=("medserve/imaging",), **headers):
    headers = {"content-type": content_type, **headers}
    return http_event("POST", ROUTE, data, binary=True, headers=headers, scopes=scopes)


def answer(app, event: dict, context) -> tuple[int, dict, bytes]:
    response = app.lambda_handler(event, context)
    body = response["body"]
    data = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response["statusCode"], response["headers"], data


def planted_values() -> list[bytes]:
    return [v.encode() for v in (*PLANTED.values(), PRIVATE_NAME, NESTED_NAME) if len(v) > 2]


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_deidentified_dicom_comes_back(imaging_app, imaging_context, emitted, name):
    source = plant(name)
    status, headers, data = answer(imaging_app, request(dicom_bytes(source)), imaging_context)
    assert status == 200, data[:300]
    assert headers["Content-Type"] == "application/dicom"
    assert headers["X-Medserve-Burned-In-Risk"].startswith("yes; reasons=burned-in-annotation-not-stated")
    assert headers["Cache-Control"] == "no-store"
    assert not [v for v in planted_values() if v in data]
    result = dcmread(io.BytesIO(data))
    assert result.PatientIdentityRemoved == "YES"
    assert result.PixelData == source.PixelData
    assert result.StudyInstanceUID != source.StudyInstanceUID
    assert not [e for e in result.iterall() if e.tag.is_private]
    logs = emitted()
    assert "dicom de-identified" in logs
    assert not [v for v in planted_values() if v.decode() in logs]
    assert str(source.SOPInstanceUID) not in logs and str(result.SOPInstanceUID) not in logs


def test_burned_in_no_when_the_file_says_so(imaging_app, imaging_context):
    data = dicom_bytes(plant("CT_small.dcm", BurnedInAnnotation="NO"))
    status, headers, _ = answer(imaging_app, request(data), imaging_context)
    assert status == 200 and headers["X-Medserve-Burned-In-Risk"] == "no"
    ultrasound = pydicom_file("ExplVR_BigEnd.dcm")
    status, headers, _ = answer(imaging_app, request(ultrasound), imaging_context)
    assert status == 200 and "modality-us" in headers["X-Medserve-Burned-In-Risk"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"", "application/dicom", 400, "MALFORMED_REQUEST"),
        (pydicom_file("CT_small.dcm"), "image/png", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (pydicom_file("CT_small.dcm"), "application/json", 415, "UNSUPPORTED_MEDIA_TYPE"),
        (b"DOE^JANE is not a DICOM file" * 20, "application/dicom", 422, "INVALID_INPUT"),
        (pydicom_file("no_meta.dcm"), "application/dicom", 422, "INVALID_INPUT"),
        (pydicom_file("CT_small.dcm")[:20_000], "application/dicom", 422, "INVALID_INPUT"),
        (b"\0" * 4_800_000, "application/dicom", 413, "PAYLOAD_TOO_LARGE"),
    ],
    ids=["empty", "png type", "json type", "not dicom", "no preamble", "truncated", "too large"],
)
def test_bad_inputs_answer_the_envelope(
    imaging_app, imaging_context, emitted, data, content_type, status, code
):
    got, body = call(imaging_app, request(data, content_type), imaging_context)
    assert (got, body["error"]["code"]) == (status, code), body
    assert body["request_id"] and body["error"]["message"]
    assert "DOE^JANE" not in json.dumps(body) and "DOE^JANE" not in emitted()


def test_a_text_body_over_the_limit_is_413(imaging_app, imaging_context):
    event = request(b"x")
    event["isBase64Encoded"], event["body"] = False, "x" * 4_800_000
    status, body = call(imaging_app, event, imaging_context)
    assert status == 413 and body["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_accept_must_allow_dicom(imaging_app, imaging_context):
    event = request(pydicom_file("CT_small.dcm"), accept="application/json")
    status, body = call(imaging_app, event, imaging_context)
    assert status == 406 and body["error"]["code"] == "NOT_ACCEPTABLE"
    event = request(pydicom_file("CT_small.dcm"), accept="application/dicom, */*;q=0.1")
    assert answer(imaging_app, event, imaging_context)[0] == 200


def test_the_route_needs_the_imaging_scope(imaging_app, imaging_context):
    data = pydicom_file("CT_small.dcm")
    status, body = call(imaging_app, request(data, scopes=("medserve/text",)), imaging_context)
    assert status == 403 and body["error"]["code"] == "FORBIDDEN"
    status, body = call(imaging_app, request(data, scopes=None), imaging_context)
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"
