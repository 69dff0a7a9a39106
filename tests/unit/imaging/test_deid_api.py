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


def related(
    files: list[bytes], boundary: str = "stow-boundary-42", part_type: str = "application/dicom"
) -> bytes:
    """A multipart/related body as a DICOMweb STOW-RS client sends it."""
    body = b"preamble, ignored\r\n"
    for data in files:
        body += f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode() + data + b"\r\n"
    return body + f"--{boundary}--\r\nepilogue, ignored".encode()


RELATED = 'multipart/related; type="application/dicom"; boundary=stow-boundary-42'


def parts_of(content_type: str, data: bytes) -> list[tuple[dict, bytes]]:
    from medserve.interop.multipart import split_related

    return split_related(data, content_type, max_parts=100)


def test_two_files_of_one_study_in_one_request_share_their_new_uids(imaging_app, imaging_context, emitted):
    ct, mr = plant("CT_small.dcm"), plant("MR_small.dcm", BurnedInAnnotation="NO")
    mr.FrameOfReferenceUID = ct.FrameOfReferenceUID
    status, headers, data = answer(
        imaging_app, request(related([dicom_bytes(ct), dicom_bytes(mr)]), RELATED), imaging_context
    )
    assert status == 200, data[:300]
    assert headers["Content-Type"].startswith('multipart/related; type="application/dicom"; boundary=')
    assert headers["X-Medserve-Burned-In-Risk"] == "yes; reasons=burned-in-annotation-not-stated"  # the CT's
    (ct_headers, ct_out), (mr_headers, mr_out) = parts_of(headers["Content-Type"], data)
    assert (
        ct_headers["x-medserve-burned-in-risk"].startswith("yes")
        and mr_headers["x-medserve-burned-in-risk"] == "no"
    )
    out_ct, out_mr = dcmread(io.BytesIO(ct_out)), dcmread(io.BytesIO(mr_out))
    assert out_ct.StudyInstanceUID == out_mr.StudyInstanceUID != ct.StudyInstanceUID
    assert out_ct.FrameOfReferenceUID == out_mr.FrameOfReferenceUID != ct.FrameOfReferenceUID
    assert out_ct.PixelData == ct.PixelData and out_mr.PixelData == mr.PixelData  # byte-exact parts
    assert out_ct.StudyDate == out_mr.StudyDate  # one patient, one offset (both planted the same date)
    assert not [v for v in planted_values() if v in data]
    assert not [v for v in planted_values() if v.decode() in emitted()]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (related([b"x"]), "multipart/related", 400, "MALFORMED_REQUEST"),  # no boundary
        (related([]), RELATED, 400, "MALFORMED_REQUEST"),  # no parts
        (related([pydicom_file("CT_small.dcm")])[:-40], RELATED, 400, "MALFORMED_REQUEST"),  # cut
        (
            related([pydicom_file("CT_small.dcm")], part_type="image/png"),
            RELATED,
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        (related([pydicom_file("CT_small.dcm"), b"DOE^JANE not dicom"]), RELATED, 422, "INVALID_INPUT"),
        (related([pydicom_file("MR_small.dcm")] * 101), RELATED, 400, "MALFORMED_REQUEST"),
    ],
    ids=["no boundary", "no parts", "truncated", "png part", "bad second part", "too many parts"],
)
def test_bad_multipart_bodies(imaging_app, imaging_context, body, content_type, status, code):
    got, answered = call(imaging_app, request(body, content_type), imaging_context)
    assert (got, answered["error"]["code"]) == (status, code), answered
    if code == "INVALID_INPUT":
        assert answered["error"]["details"][0]["field"] == "part[1]"
    assert "DOE^JANE" not in json.dumps(answered)


def test_a_multipart_answer_needs_an_accept_that_allows_it(imaging_app, imaging_context):
    event = request(related([pydicom_file("CT_small.dcm")]), RELATED, accept="application/dicom")
    status, body = call(imaging_app, event, imaging_context)
    assert status == 406 and body["error"]["code"] == "NOT_ACCEPTABLE"
