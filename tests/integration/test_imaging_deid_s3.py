"""DICOM de-identification through S3 (moto): uploads/imaging-deid/<path> -> the de-identified file
at results/imaging-deid/<path> and its report at <path>.json (SSE-KMS), exactly once per object
version, unusable files as .error.json, one audit record, nothing planted in reports or logs; and
large files through POST /v1/uploads (modality imaging-deid) and GET /v1/jobs/{id}'s download_url."""

import hashlib
import io
import json

import pytest
import requests
from pydicom import dcmread

from tests.helpers import call, http_event, s3_event, s3_json
from tests.imaging_samples import (
    NESTED_NAME,
    PLANTED,
    PRIVATE_NAME,
    as_chest_cr,
    dicom_bytes,
    plant,
    pydicom_file,
)
from tests.integration.conftest import AUDIT, DATA_KEY, UPLOADS


@pytest.fixture
def deid_stack(aws, services, monkeypatch):
    monkeypatch.setenv("UPLOADS_BUCKET", UPLOADS)
    monkeypatch.setenv("DATA_KEY_ARN", DATA_KEY)
    aws["s3"].create_bucket(Bucket=AUDIT)
    services.audit_bucket = AUDIT
    return services


def put_and_trigger(aws, app, context, key, body):
    version = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body)["VersionId"]
    event = s3_event(UPLOADS, key, version_id=version, size=len(body))
    return event, app.lambda_handler(event, context)


def planted() -> list[str]:
    return [v for v in (*PLANTED.values(), PRIVATE_NAME, NESTED_NAME) if len(v) > 2]


def test_an_upload_is_deidentified_once_into_results(aws, deid_stack, imaging_app, imaging_context, emitted):
    source = plant("CT_small.dcm")
    data = dicom_bytes(source)
    key = "uploads/imaging-deid/DOE JANE/ct 1.dcm"  # keys may name patients: never logged
    event, outcome = put_and_trigger(aws, imaging_app, imaging_context, key, data)
    assert outcome["outcomes"][0]["status"] == "succeeded"
    assert outcome["outcomes"][0]["result_key"] == "results/imaging-deid/DOE JANE/ct 1.dcm.json"

    written = aws["s3"].get_object(Bucket=UPLOADS, Key="results/imaging-deid/DOE JANE/ct 1.dcm")
    assert written["ContentType"] == "application/dicom"
    assert written["ServerSideEncryption"] == "aws:kms" and written["SSEKMSKeyId"] == DATA_KEY
    out = written["Body"].read()
    assert not [v for v in planted() if v.encode() in out]
    result = dcmread(io.BytesIO(out))
    assert result.PatientIdentityRemoved == "YES" and result.PixelData == source.PixelData
    assert result.StudyInstanceUID != source.StudyInstanceUID

    report = s3_json(aws["s3"], UPLOADS, "results/imaging-deid/DOE JANE/ct 1.dcm.json")
    assert report["burned_in_risk"] == {
        "risk": True,
        "reasons": ["burned-in-annotation-not-stated"],
        "pixels_cleaned": False,
    }
    assert report["result_file"] == {"bucket": UPLOADS, "key": "results/imaging-deid/DOE JANE/ct 1.dcm"}
    assert report["bytes"] == len(out) and report["counts"]["private_removed"] >= 1
    assert {c["code"] for c in report["profile"]["codes"]} == {"113100", "113107"}
    text = json.dumps(report)
    assert not [v for v in planted() if v in text] and str(source.SOPInstanceUID) not in text
    head = aws["s3"].head_object(Bucket=UPLOADS, Key="results/imaging-deid/DOE JANE/ct 1.dcm.json")
    assert head["ServerSideEncryption"] == "aws:kms"

    # S3 delivers the same event again: nothing is de-identified or written twice.
    again = imaging_app.lambda_handler(event, imaging_context)
    assert again["outcomes"] == outcome["outcomes"]
    versions = aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix="results/imaging-deid/")["Versions"]
    assert sorted(v["Key"] for v in versions) == [
        "results/imaging-deid/DOE JANE/ct 1.dcm",
        "results/imaging-deid/DOE JANE/ct 1.dcm.json",
    ]
    # One audit record, about the input by hash only.
    [listed] = aws["s3"].list_objects_v2(Bucket=AUDIT)["Contents"]
    entry = json.loads(aws["s3"].get_object(Bucket=AUDIT, Key=listed["Key"])["Body"].read())
    assert entry["action"] == "s3:ObjectCreated uploads/imaging-deid/"
    assert entry["input_sha256"] == hashlib.sha256(data).hexdigest()
    assert entry["outcome"] == {"status": 200, "error_code": None} and "DOE" not in json.dumps(entry)

    logs = emitted()
    assert not [v for v in planted() if v in logs] and "DOE JANE" not in logs


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("notes.txt", b"DOE^JANE is not a DICOM file" * 10, "not a DICOM Part 10 file"),
        ("cut.dcm", pydicom_file("CT_small.dcm")[:20_000], "truncated"),
        ("report.json", pydicom_file("CT_small.dcm"), "must not be named"),
    ],
)
def test_unusable_uploads_get_an_error_document(
    aws, deid_stack, imaging_app, imaging_context, name, body, message
):
    key = f"uploads/imaging-deid/{name}"
    _, outcome = put_and_trigger(aws, imaging_app, imaging_context, key, body)
    assert outcome["outcomes"][0]["status"] == "failed"
    error = s3_json(aws["s3"], UPLOADS, f"results/imaging-deid/{name}.error.json")
    assert error["error"]["code"] == "INVALID_INPUT" and message in error["error"]["message"]
    assert "DOE^JANE" not in json.dumps(error)
    assert s3_json(aws["s3"], UPLOADS, f"results/imaging-deid/{name}.json") is None
    listed = aws["s3"].list_objects_v2(Bucket=UPLOADS, Prefix="results/imaging-deid/")["Contents"]
    assert [o["Key"] for o in listed] == [f"results/imaging-deid/{name}.error.json"]


def test_imaging_uploads_are_still_predicted(aws, deid_stack, imaging_app, imaging_context):
    # The two prefixes share the function: an uploads/imaging/ object is predicted, not de-identified.
    _, outcome = put_and_trigger(
        aws, imaging_app, imaging_context, "uploads/imaging/ct.dcm", as_chest_cr("CT_small.dcm")
    )
    assert outcome["outcomes"][0]["result_key"] == "results/imaging/ct.dcm.json"
    assert s3_json(aws["s3"], UPLOADS, "results/imaging/ct.dcm.json")["predictions"]


def test_large_files_through_post_uploads_and_the_job(aws, jobs, imaging_app, imaging_context):
    ask = {"modality": "imaging-deid", "filename": "ct 1.dcm", "content_type": "application/dicom"}
    status, ticket = call(imaging_app, http_event("POST", "/v1/uploads", ask), imaging_context)
    assert status == 201, ticket
    key = f"uploads/imaging-deid/{ticket['job_id']}/ct 1.dcm"
    data = dicom_bytes(plant("CT_small.dcm"))
    put = requests.put(ticket["upload_url"], data=data, headers=ticket["headers"], timeout=30)
    assert put.status_code == 200, put.text
    version = aws["s3"].head_object(Bucket=UPLOADS, Key=key)["VersionId"]
    imaging_app.lambda_handler(s3_event(UPLOADS, key, version_id=version), imaging_context)

    event = http_event(
        "GET", f"/v1/jobs/{ticket['job_id']}", route="/v1/jobs/{id}", path_parameters={"id": ticket["job_id"]}
    )
    status, job = call(imaging_app, event, imaging_context)
    assert status == 200 and job["status"] == "succeeded" and job["modality"] == "imaging-deid"
    assert job["result"]["burned_in_risk"]["pixels_cleaned"] is False
    got = requests.get(job["download_url"], timeout=30)
    assert got.status_code == 200
    assert dcmread(io.BytesIO(got.content)).PatientIdentityRemoved == "YES"
    assert not [v for v in planted() if v.encode() in got.content]


@pytest.mark.parametrize(
    "fields",
    [{"content_type": "image/png"}, {"model": "cxr-nodule-phantom"}, {"explain": True}],
    ids=["png", "model", "explain"],
)
def test_deid_uploads_take_dicom_only(aws, jobs, imaging_app, imaging_context, fields):
    ask = {"modality": "imaging-deid", "filename": "x.dcm", "content_type": "application/dicom", **fields}
    status, body = call(imaging_app, http_event("POST", "/v1/uploads", ask), imaging_context)
    assert status == 422 and body["error"]["code"] == "INVALID_INPUT", body


def test_a_null_model_is_refused_as_the_document_says(aws, jobs, imaging_app, imaging_context):
    # The published schema forbids "model" for imaging-deid uploads (null included): so does the route.
    ask = {
        "modality": "imaging-deid",
        "filename": "x.dcm",
        "content_type": "application/dicom",
        "model": None,
    }
    status, _ = call(imaging_app, http_event("POST", "/v1/uploads", ask), imaging_context)
    assert status == 422
