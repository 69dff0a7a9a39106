"""ImagingFunction with moto: POST /v1/uploads -> presigned PUT -> S3 trigger -> job -> result,
exactly once per object version, errors as .error.json and failed jobs, timeouts, s3_uri requests."""

import json
from urllib.parse import unquote, urlsplit

import pytest
import requests
from medserve.errors import UpstreamError
from medserve.triggers.jobs import JobStore, upload_job_id

from tests import helpers
from tests.helpers import call, http_event, s3_event
from tests.imaging_samples import PHANTOM, as_chest_cr, pydicom_file
from tests.integration.conftest import DATA_KEY, JOBS, UPLOADS

# A real file's pixels (pydicom's CT_small) under the headers the chest model accepts.
CR_CHEST = as_chest_cr("CT_small.dcm")


def ticket(imaging_app, imaging_context, **fields):
    request = {"modality": "imaging", "filename": "chest pa.png", "content_type": "image/png", **fields}
    status, body = call(imaging_app, http_event("POST", "/v1/uploads", request), imaging_context)
    assert status == 201, body
    return body


def job(imaging_app, imaging_context, job_id):
    event = http_event("GET", f"/v1/jobs/{job_id}", route="/v1/jobs/{id}", path_parameters={"id": job_id})
    return call(imaging_app, event, imaging_context)


def trigger(imaging_app, imaging_context, aws, key):
    version = aws["s3"].head_object(Bucket=UPLOADS, Key=key)["VersionId"]
    return imaging_app.lambda_handler(s3_event(UPLOADS, key, version_id=version), imaging_context)


def upload_key(url: str) -> str:
    return unquote(urlsplit(url).path).split(f"/{UPLOADS}/", 1)[-1].lstrip("/")


def test_upload_trigger_job_result(aws, jobs, imaging_app, imaging_context):
    t = ticket(imaging_app, imaging_context, explain=True)
    assert t["status"] == "queued" and t["method"] == "PUT" and t["job_url"] == f"/v1/jobs/{t['job_id']}"
    assert t["headers"] == {
        "content-type": "image/png",
        "x-amz-server-side-encryption": "aws:kms",
        "x-amz-server-side-encryption-aws-kms-key-id": DATA_KEY,
        "x-amz-meta-explain": "true",
    }
    assert job(imaging_app, imaging_context, t["job_id"])[1]["status"] == "queued"

    # The caller's PUT, with exactly the returned (signed) headers.
    put = requests.put(t["upload_url"], data=PHANTOM.read_bytes(), headers=t["headers"], timeout=30)
    assert put.status_code == 200, put.text
    key = upload_key(t["upload_url"])
    assert key == f"uploads/imaging/{t['job_id']}/chest pa.png" and upload_job_id(key) == t["job_id"]
    stored = aws["s3"].head_object(Bucket=UPLOADS, Key=key)
    assert stored["ServerSideEncryption"] == "aws:kms" and stored["SSEKMSKeyId"] == DATA_KEY

    outcome = trigger(imaging_app, imaging_context, aws, key)
    assert outcome["outcomes"][0]["status"] == "succeeded"
    status, body = job(imaging_app, imaging_context, t["job_id"])
    assert status == 200 and body["status"] == "succeeded" and "error" not in body
    result = body["result"]
    assert result["predictions"][0]["label"] == "nodule" and result["explanations"]  # metadata: explain
    assert result["source"]["key"] == key
    written = aws["s3"].head_object(Bucket=UPLOADS, Key=f"results/imaging/{t['job_id']}/chest pa.png.json")
    assert written["ServerSideEncryption"] == "aws:kms" and written["SSEKMSKeyId"] == DATA_KEY


def test_duplicate_delivery_is_predicted_once(aws, jobs, imaging_app, imaging_context):
    t = ticket(imaging_app, imaging_context)
    key = f"uploads/imaging/{t['job_id']}/chest pa.png"
    aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=PHANTOM.read_bytes())
    first = trigger(imaging_app, imaging_context, aws, key)
    second = trigger(imaging_app, imaging_context, aws, key)
    assert first == second
    versions = aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix=f"results/imaging/{t['job_id']}/")
    assert len(versions["Versions"]) == 1


def test_unusable_upload_fails_the_job_with_its_error(aws, jobs, imaging_app, imaging_context):
    t = ticket(imaging_app, imaging_context, filename="scan.dcm", content_type="application/dicom")
    key = f"uploads/imaging/{t['job_id']}/scan.dcm"
    aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=pydicom_file("rtplan.dcm"))  # no pixel data
    assert trigger(imaging_app, imaging_context, aws, key)["outcomes"][0]["status"] == "failed"
    status, body = job(imaging_app, imaging_context, t["job_id"])
    assert status == 200 and body["status"] == "failed" and "result" not in body
    assert body["error"]["code"] == "INVALID_INPUT" and "pixel data" in body["error"]["message"]
    error_doc = json.loads(
        aws["s3"]
        .get_object(Bucket=UPLOADS, Key=f"results/imaging/{t['job_id']}/scan.dcm.error.json")["Body"]
        .read()
    )
    assert error_doc["error"]["code"] == "INVALID_INPUT"


def test_dicom_upload_and_model_metadata(aws, jobs, imaging_app, imaging_context):
    t = ticket(
        imaging_app,
        imaging_context,
        filename="ct.dcm",
        content_type="application/dicom",
        model="cxr-nodule-phantom",
    )
    assert t["headers"]["x-amz-meta-model"] == "cxr-nodule-phantom"
    key = upload_key(t["upload_url"])
    requests.put(t["upload_url"], data=CR_CHEST, headers=t["headers"], timeout=30)
    trigger(imaging_app, imaging_context, aws, key)
    body = job(imaging_app, imaging_context, t["job_id"])[1]
    assert body["status"] == "succeeded" and body["result"]["dicom"]["modality"] == "CR"
    assert "ood" in body["result"]["predictions"][0]


def test_an_upload_outside_the_intended_use_fails_its_job(aws, jobs, imaging_app, imaging_context):
    t = ticket(imaging_app, imaging_context, filename="ct.dcm", content_type="application/dicom")
    key = f"uploads/imaging/{t['job_id']}/ct.dcm"
    aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=pydicom_file("CT_small.dcm"))  # a real CT
    trigger(imaging_app, imaging_context, aws, key)
    body = job(imaging_app, imaging_context, t["job_id"])[1]
    assert body["status"] == "failed" and body["error"]["code"] == "OUT_OF_SCOPE"
    assert "Modality CT is not accepted" in body["error"]["message"]


def test_objects_outside_post_uploads(aws, jobs, imaging_app, imaging_context):
    # Written straight to S3 in the job layout: the job appears when the object does.
    job_id = "ab" * 16
    key = f"uploads/imaging/{job_id}/direct.png"
    aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=PHANTOM.read_bytes())
    trigger(imaging_app, imaging_context, aws, key)
    assert job(imaging_app, imaging_context, job_id)[1]["status"] == "succeeded"
    # Any other layout: predicted, no job.
    other = "uploads/imaging/ward 3/image.png"
    aws["s3"].put_object(Bucket=UPLOADS, Key=other, Body=PHANTOM.read_bytes())
    assert trigger(imaging_app, imaging_context, aws, other)["outcomes"][0]["status"] == "succeeded"
    assert upload_job_id(other) is None


def test_jobs_time_out(aws, jobs):
    now = [1_000_000.0]
    store = JobStore(JOBS, aws["dynamodb"], clock=lambda: now[0])
    store.create("c" * 32, modality="imaging", deadline_in=60)
    assert store.get("c" * 32).status == "queued"
    now[0] += 61
    timed_out = store.get("c" * 32)
    assert timed_out.status == "timed_out" and timed_out.error["code"] == "TIMED_OUT"
    store.mark_running("c" * 32, modality="imaging")
    assert store.get("c" * 32).status == "running"
    now[0] += 3600
    assert store.get("c" * 32).status == "timed_out"
    store.mark_finished("c" * 32, succeeded=True, result_location="s3://b/results/imaging/x.json")
    assert store.get("c" * 32).status == "succeeded"  # finished jobs never time out


@pytest.mark.parametrize(
    ("request_body", "status", "code"),
    [
        ({"modality": "text", "filename": "a.png", "content_type": "image/png"}, 422, "INVALID_INPUT"),
        ({"modality": "imaging", "filename": "../a.png", "content_type": "image/png"}, 422, "INVALID_INPUT"),
        ({"modality": "imaging", "filename": "a.gif", "content_type": "image/gif"}, 422, "INVALID_INPUT"),
        (
            {
                "modality": "imaging",
                "filename": "a.png",
                "content_type": "image/png",
                "model": "breast-cancer-risk",
            },
            404,
            "MODEL_NOT_FOUND",
        ),
    ],
)
def test_bad_upload_requests(jobs, imaging_app, imaging_context, request_body, status, code):
    got_status, body = call(imaging_app, http_event("POST", "/v1/uploads", request_body), imaging_context)
    assert (got_status, body["error"]["code"]) == (status, code), body


def test_unknown_and_malformed_job_ids(jobs, imaging_app, imaging_context):
    for job_id in ("0" * 32, "not-a-job"):
        status, body = job(imaging_app, imaging_context, job_id)
        assert (status, body["error"]["code"]) == (404, "JOB_NOT_FOUND")


def test_jobs_need_their_table(services, imaging_app, imaging_context, monkeypatch):
    monkeypatch.setenv("UPLOADS_BUCKET", UPLOADS)
    status, body = job(imaging_app, imaging_context, "0" * 32)
    assert (status, body["error"]["code"]) == (503, "NOT_CONFIGURED")
    services.jobs_table = "no-such-table"
    status, body = job(imaging_app, imaging_context, "0" * 32)
    assert (status, body["error"]["code"]) == (502, "UPSTREAM_ERROR")
    with pytest.raises(UpstreamError):
        services.jobs.get("0" * 32)


def test_predict_from_s3_uri(aws, jobs, imaging_app, imaging_context):
    aws["s3"].put_object(Bucket=UPLOADS, Key="uploads/imaging/big/cr.dcm", Body=CR_CHEST)
    body = {"s3_uri": f"s3://{UPLOADS}/uploads/imaging/big/cr.dcm", "explain": True}
    status, got = call(imaging_app, http_event("POST", "/v1/imaging/predict", body), imaging_context)
    assert status == 200 and got["dicom"]["modality"] == "CR" and got["explanations"]
    for uri, code in (
        (f"s3://{UPLOADS}/uploads/imaging/big/missing.dcm", "INVALID_INPUT"),
        (f"s3://{UPLOADS}/results/imaging/x.json", "INVALID_INPUT"),  # outside the prefix
    ):
        status, got = call(
            imaging_app, http_event("POST", "/v1/imaging/predict", {"s3_uri": uri}), imaging_context
        )
        assert (status, got["error"]["code"]) == (422, code)
        assert "missing.dcm" not in json.dumps(got)  # keys are never echoed


def test_file_names_and_keys_stay_out_of_logs(aws, jobs, imaging_app, imaging_context, emitted):
    t = ticket(imaging_app, imaging_context, filename="SMITH_JOHN_MARKER.png")
    key = upload_key(t["upload_url"])
    requests.put(t["upload_url"], data=PHANTOM.read_bytes(), headers=t["headers"], timeout=30)
    trigger(imaging_app, imaging_context, aws, key)
    assert job(imaging_app, imaging_context, t["job_id"])[1]["status"] == "succeeded"
    text = emitted()
    assert '"message":"s3 upload scored"' in text and t["job_id"] in text  # logged, by id and hash
    assert "SMITH" not in text and "MARKER" not in text


def test_a_job_is_visible_to_its_creator_only(jobs, imaging_app, imaging_context):
    job_id = ticket(imaging_app, imaging_context)["job_id"]  # created by the default test client
    assert job(imaging_app, imaging_context, job_id)[0] == 200
    event = http_event("GET", f"/v1/jobs/{job_id}", route="/v1/jobs/{id}", path_parameters={"id": job_id})
    event["requestContext"]["authorizer"] = helpers.jwt_authorizer(
        ("medserve/imaging",), subject="other-client"
    )
    status, body = call(imaging_app, event, imaging_context)
    # Exactly what an unknown id answers: another client learns nothing about the job.
    assert (status, body["error"]["code"]) == (404, "JOB_NOT_FOUND")
