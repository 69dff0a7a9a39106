"""FHIR and DICOM SR answers leave the same audit record as JSON ones (model, outcome), moto S3."""

from tests.helpers import http_event
from tests.imaging_samples import as_chest_cr
from tests.integration.conftest import audit_records

FHIR = {"accept": "application/fhir+json"}


def test_fhir_answers_are_audited_like_json(aws, audit_bucket, tabular_app, lambda_context, record, card):
    tabular_app.lambda_handler(
        http_event("POST", "/v1/tabular/predict", {"records": [record]}, headers=FHIR), lambda_context
    )
    tabular_app.lambda_handler(
        http_event("POST", "/v1/tabular/predict", {"records": [{"x": 1}]}, headers=FHIR), lambda_context
    )
    by_status = {r["outcome"]["status"]: r for r in audit_records(aws["s3"])}
    assert by_status[200]["model"] == card.ref() and by_status[200]["outcome"]["error_code"] is None
    assert by_status[422]["outcome"]["error_code"] == "INVALID_INPUT"


def test_a_dicom_sr_answer_names_its_model(aws, audit_bucket, imaging_app, imaging_context):
    event = http_event(
        "POST",
        "/v1/imaging/predict",
        as_chest_cr("CT_small.dcm"),
        headers={"content-type": "application/dicom", "accept": "application/dicom"},
        binary=True,
    )
    response = imaging_app.lambda_handler(event, imaging_context)
    assert response["statusCode"] == 200
    (entry,) = audit_records(aws["s3"])
    assert entry["model"]["name"] == "cxr-nodule-phantom" and len(entry["model"]["sha256"]) == 64
    assert response["headers"]["X-Medserve-Model"].startswith("cxr-nodule-phantom 1.0.0 ")
