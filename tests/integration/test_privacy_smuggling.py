"""PHI smuggling (issue 7): fake identifiers in every part of every request, and none anywhere else.

One made-up patient (name, MRN, SSN, phone, e-mail, date of birth) rides in every field a caller
controls: JSON fields (known ones, unknown extra ones, the model name), query parameters, path
parameters, headers (user-agent, x-forwarded-for, referer, a custom one), the file name of
``POST /v1/uploads`` (and so the S3 key the trigger reads), DICOM PatientName/PatientID/birth date,
CSV/JSONL record ids and values: on requests that succeed and on requests that fail validation.

Nothing of it may appear in what the functions emit: the powertools JSON log lines, the root
logger (at DEBUG, the most a misconfigured function could log), EMF metrics, stdout/stderr,
warnings, audit records. Responses may carry it only where it is the answer to the caller who sent
it: a prediction's explanation quoting the caller's note, the presigned URL of the caller's own
file name, a job result naming the caller's own object. ``redacted_text`` never does.
"""

import base64
import json
import warnings
from typing import Any

import pytest
from medserve.observability import logger
from medserve.serving.registry import S3ModelStore

from tests import helpers
from tests.helpers import REPO, http_event, s3_event
from tests.imaging_samples import with_attributes
from tests.integration.conftest import MODELS, UPLOADS

NAME = "Zebediah Quillfeather"
MRN = "MRN-5550123"
SSN = "987-65-4329"
PHONE = "(555) 014-2277"
EMAIL = "zeb.quillfeather@example.org"
DOB = "1937-02-28"
# What must never appear, whole or in the pieces a formatter might split it into.
SECRETS = (
    "Zebediah",
    "Quillfeather",
    "QUILLFEATHER",
    "quillfeather",
    "5550123",
    SSN,
    "014-2277",
    DOB,
    "19370228",
)

BLOB = f"{NAME} {MRN} SSN {SSN} tel {PHONE} {EMAIL} DOB {DOB}"  # ~95 characters
SHORT = "quillfeather-5550123"  # fits the 64-character fields (model, path ids), so reaches the lookups
NOTE = (
    f"Patient: {NAME}   MRN: {MRN}   SSN: {SSN}\n"
    f"DOB: {DOB}. Phone {PHONE}, email {EMAIL}.\n"
    "Mr. Quillfeather reports crushing chest pain radiating to the left arm; troponin rising.\n"
)
FILENAME = f"{NAME} {MRN} {SSN} {DOB}.dcm"  # a valid upload file name (letters, digits, . _ - space)
HEADERS = {
    "user-agent": BLOB,
    "x-forwarded-for": f"10.1.2.3, {SHORT}",
    "referer": f"https://ehr.example.org/chart?patient={SHORT}&dob={DOB}",
    "x-patient": BLOB,
    "cookie": f"patient={SHORT}",
}
QUERY = {"patient": BLOB, "mrn": MRN}
AUDIT = "medserve-test-audit"


@pytest.fixture(scope="module")
def apps() -> dict[str, Any]:
    stack = helpers.stack()
    return {name: stack.module(name) for name in ("TabularFunction", "TextFunction", "ImagingFunction")}


@pytest.fixture
def world(aws, services, jobs):
    """moto S3 + DynamoDB: models (the text encoder published to the registry), uploads, jobs and,
    when this version of medserve has one, the audit trail."""
    S3ModelStore(MODELS, aws["s3"]).publish(REPO / "models" / "note-specialty", alias="production")
    if hasattr(services, "audit_bucket"):
        aws["s3"].create_bucket(Bucket=AUDIT)
        services.audit_bucket = AUDIT
    return aws


@pytest.fixture
def loud(monkeypatch):
    """The most a misconfigured function could log: DEBUG, and powertools asked to log events."""
    monkeypatch.setenv("POWERTOOLS_LOGGER_LOG_EVENT", "true")
    level = logger.log_level
    logger.setLevel("DEBUG")
    yield
    logger.setLevel(level)


def dicom_with_phi() -> bytes:
    return with_attributes(
        "CT_small.dcm",
        Modality="CR",  # the headers the chest model's intended-use gate accepts: decoded, predicted
        BodyPartExamined="CHEST",
        PatientName="QUILLFEATHER^ZEBEDIAH",
        PatientID=MRN,
        PatientBirthDate="19370228",
        OtherPatientIDs=SSN,
        PatientTelephoneNumbers=PHONE,
        InstitutionName=BLOB[:64],
        StudyDescription=f"CHEST {SHORT}",
    )


def request(
    method: str, path: str, body: Any = None, *, route: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    headers = {**HEADERS, **kwargs.pop("headers", {})}
    query = {**QUERY, **kwargs.pop("query", {})}
    return http_event(method, path, body, route=route, headers=headers, query=query, **kwargs)


def requests_with_phi() -> list[tuple[str, str, dict[str, Any], int]]:
    """(function, what, event, expected status): every route, succeeding and failing."""
    dicom = dicom_with_phi()
    record = dict(
        json.loads(json.loads((REPO / "events" / "tabular_predict.json").read_text())["body"])["records"][0]
    )
    bad_record = {**record, "mean_radius": BLOB, "worst_area": SSN}
    encoded = base64.b64encode(dicom).decode()
    uploads = "/v1/uploads"
    ticket = {"modality": "imaging", "filename": FILENAME, "content_type": "application/dicom"}
    return [
        # tabular
        ("TabularFunction", "tabular ok", request("POST", "/v1/tabular/predict", {"records": [record]}), 200),
        ("TabularFunction", "tabular values", request("POST", "/v1/tabular/predict", {"records": [bad_record]}), 422),
        ("TabularFunction", "tabular model", request("POST", "/v1/tabular/predict", {"records": [record], "model": SHORT}), 404),
        ("TabularFunction", "tabular extras", request("POST", "/v1/tabular/predict", {"records": [record], "patient_name": BLOB, "model": BLOB}), 422),
        ("TabularFunction", "tabular broken json", request("POST", "/v1/tabular/predict", '{"records": [{"mean_radius": "' + BLOB), 400),
        # imaging, JSON
        ("ImagingFunction", "imaging json ok", request("POST", "/v1/imaging/predict", {"image_base64": encoded}), 200),
        ("ImagingFunction", "imaging json model", request("POST", "/v1/imaging/predict", {"image_base64": encoded, "model": SHORT}), 404),
        ("ImagingFunction", "imaging json extras", request("POST", "/v1/imaging/predict", {"image_base64": BLOB, "patient": BLOB, "model": BLOB}), 422),
        ("ImagingFunction", "imaging json base64", request("POST", "/v1/imaging/predict", {"image_base64": BLOB}), 422),
        ("ImagingFunction", "imaging s3_uri", request("POST", "/v1/imaging/predict", {"s3_uri": f"s3://{UPLOADS}/uploads/imaging/{FILENAME}"}), 422),
        ("ImagingFunction", "imaging s3_uri outside", request("POST", "/v1/imaging/predict", {"s3_uri": f"s3://{SHORT}/{BLOB}"}), 422),
        # imaging, raw bodies (query model/explain)
        ("ImagingFunction", "imaging raw ok", request("POST", "/v1/imaging/predict", dicom, binary=True, headers={"content-type": "application/dicom"}, query={"explain": "true"}), 200),
        ("ImagingFunction", "imaging raw model", request("POST", "/v1/imaging/predict", dicom, binary=True, headers={"content-type": "application/dicom"}, query={"model": SHORT}), 404),
        ("ImagingFunction", "imaging raw explain", request("POST", "/v1/imaging/predict", dicom, binary=True, headers={"content-type": "application/dicom"}, query={"explain": BLOB, "model": BLOB}), 422),
        ("ImagingFunction", "imaging raw truncated", request("POST", "/v1/imaging/predict", dicom[: len(dicom) // 2], binary=True, headers={"content-type": "application/dicom"}), 422),
        ("ImagingFunction", "imaging raw media", request("POST", "/v1/imaging/predict", dicom, binary=True, headers={"content-type": f"image/{SHORT}"}), 415),
        # text
        ("TextFunction", "predict ok", request("POST", "/v1/text/predict", {"text": NOTE}), 200),
        ("TextFunction", "predict model", request("POST", "/v1/text/predict", {"text": NOTE, "model": SHORT}), 404),
        ("TextFunction", "predict extras", request("POST", "/v1/text/predict", {"text": NOTE, "patient": BLOB, "explain": BLOB}), 422),
        ("TextFunction", "predict too long", request("POST", "/v1/text/predict", {"text": NOTE * 200}), 413),
        ("TextFunction", "predict not text", request("POST", "/v1/text/predict", {"text": {"name": NAME, "mrn": MRN}}), 422),
        ("TextFunction", "deidentify tag", request("POST", "/v1/text/deidentify", {"text": NOTE}), 200),
        ("TextFunction", "deidentify mask", request("POST", "/v1/text/deidentify", {"text": NOTE, "mode": "mask"}), 200),
        ("TextFunction", "deidentify surrogate", request("POST", "/v1/text/deidentify", {"text": NOTE, "mode": "surrogate"}), 200),
        ("TextFunction", "deidentify mode", request("POST", "/v1/text/deidentify", {"text": NOTE, "mode": BLOB}), 422),
        ("TextFunction", "deidentify extras", request("POST", "/v1/text/deidentify", {"text": NOTE, "patient": BLOB}), 422),
        ("TextFunction", "deidentify broken json", request("POST", "/v1/text/deidentify", '{"text": "' + NOTE), 400),
        # uploads
        ("ImagingFunction", "uploads ok", request("POST", uploads, ticket), 201),
        ("ImagingFunction", "uploads model", request("POST", uploads, {**ticket, "model": SHORT}), 404),
        ("ImagingFunction", "uploads filename", request("POST", uploads, {**ticket, "filename": f"{NAME} <{EMAIL}>.dcm"}), 422),
        ("ImagingFunction", "uploads extras", request("POST", uploads, {**ticket, "content_type": BLOB, "patient": BLOB}), 422),
        # model cards and jobs (path parameters)
        ("TabularFunction", "card ok", request("GET", "/v1/models/breast-cancer-risk", route="/v1/models/{name}", path_parameters={"name": "breast-cancer-risk"}), 200),
        ("TabularFunction", "card short", request("GET", f"/v1/models/{SHORT}", route="/v1/models/{name}", path_parameters={"name": SHORT}), 404),
        ("TabularFunction", "card long", request("GET", f"/v1/models/{BLOB}", route="/v1/models/{name}", path_parameters={"name": BLOB}), 422),
        ("ImagingFunction", "job short", request("GET", f"/v1/jobs/{SHORT}", route="/v1/jobs/{id}", path_parameters={"id": SHORT}), 404),
        ("ImagingFunction", "job long", request("GET", f"/v1/jobs/{BLOB}", route="/v1/jobs/{id}", path_parameters={"id": BLOB}), 422),
        ("TabularFunction", "models list", request("GET", "/v1/models"), 200),
    ]  # fmt: skip


def without_answer(what: str, body: dict[str, Any]) -> dict[str, Any]:
    """The response minus the parts that are the answer to the caller's own input."""
    body = dict(body)
    if what == "uploads ok":
        body.pop("upload_url")  # a presigned PUT for the caller's own file name
    if what == "job ok" and isinstance(body.get("result"), dict):
        body["result"] = {k: v for k, v in body["result"].items() if k != "source"}  # the caller's own key
    return body


def test_phi_in_every_field_leaves_no_trace(world, apps, emitted, loud):
    contexts = {name: helpers.lambda_context(name) for name in apps}
    responses: list[tuple[str, str]] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for function, what, event, expected in requests_with_phi():
            response = apps[function].lambda_handler(event, contexts[function])
            body = json.loads(response["body"])
            assert response["statusCode"] == expected, (what, body)
            if what.startswith("deidentify") and expected == 200:
                for secret in SECRETS:
                    assert secret not in body["redacted_text"], (what, secret, body["redacted_text"])
            if what == "uploads ok":
                ticket = body
            responses.append((what, json.dumps({**response, "body": without_answer(what, body)})))

        # The upload arrives (its key carries the file name) and the trigger predicts it; then the job.
        key = f"uploads/imaging/{ticket['job_id']}/{FILENAME}"
        put = world["s3"].put_object(Bucket=UPLOADS, Key=key, Body=dicom_with_phi())
        s3 = s3_event(UPLOADS, key, version_id=put["VersionId"])
        outcome = apps["ImagingFunction"].lambda_handler(s3, contexts["ImagingFunction"])
        assert outcome["outcomes"][0]["status"] == "succeeded", outcome
        job = request(
            "GET",
            f"/v1/jobs/{ticket['job_id']}",
            route="/v1/jobs/{id}",
            path_parameters={"id": ticket["job_id"]},
        )
        response = apps["ImagingFunction"].lambda_handler(job, contexts["ImagingFunction"])
        body = json.loads(response["body"])
        assert response["statusCode"] == 200 and body["status"] == "succeeded", body
        responses.append(("job ok", json.dumps({**response, "body": without_answer("job ok", body)})))

        # Batch files named after the patient, with the patient in record ids and values.
        csv = f"record_id,mean_radius\n{NAME} {MRN},{SSN}\n".encode()
        for name, data in (
            (f"uploads/tabular/{NAME} {MRN}.csv", csv),
            (f"uploads/text/{NAME} {DOB}.txt", NOTE.encode()),
        ):
            put = world["s3"].put_object(Bucket=UPLOADS, Key=name, Body=data)
            function = "TabularFunction" if "tabular" in name else "TextFunction"
            apps[function].lambda_handler(
                s3_event(UPLOADS, name, version_id=put["VersionId"]), contexts[function]
            )
        text_result = json.loads(
            world["s3"].get_object(Bucket=UPLOADS, Key=f"results/text/{NAME} {DOB}.txt.json")["Body"].read()
        )
        assert all(secret not in text_result["redacted_text"] for secret in SECRETS), text_result[
            "redacted_text"
        ]

    emitted_text = emitted() + "\n".join(str(w.message) for w in caught)
    # The capture works: request logs, error logs and metrics of these very requests are in it.
    for sign in ('"message":"tabular prediction"', '"message":"imaging prediction"', '"message":"text deidentified"',
                 '"error_code":"MODEL_NOT_FOUND"', '"message":"s3 upload scored"', '"Predictions"'):  # fmt: skip
        assert sign in emitted_text, sign
    listing = world["s3"].list_objects_v2(Bucket=AUDIT).get("Contents", []) if _exists(world, AUDIT) else []
    audit = [world["s3"].get_object(Bucket=AUDIT, Key=o["Key"])["Body"].read().decode() for o in listing]
    assert len(audit) >= len(responses) or not _exists(world, AUDIT)  # one record per API request
    for secret in SECRETS:
        assert secret not in emitted_text, (secret, _around(emitted_text, secret))
        for record in audit:
            assert secret not in record, (secret, record)
        for what, response in responses:
            assert secret not in response, (secret, what, _around(response, secret))


def _exists(world: Any, bucket: str) -> bool:
    return any(b["Name"] == bucket for b in world["s3"].list_buckets()["Buckets"])


def _around(text: str, secret: str) -> str:
    at = text.find(secret)
    return text[max(0, at - 300) : at + 100]
