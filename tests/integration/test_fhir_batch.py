"""S3 batch with object metadata ``format: fhir``: NDJSON beside the JSON result (moto S3)."""

import json

import pytest
from medserve.serving.registry import S3ModelStore

from tests.helpers import REPO, s3_event
from tests.imaging_samples import as_chest_cr
from tests.integration.conftest import MODELS, UPLOADS
from tests.unit.interop.fhir_check import labelled, validate

JSONL = (REPO / "events" / "data" / "tabular_batch.jsonl").read_bytes()
NOTE = (REPO / "events" / "data" / "text_note.txt").read_bytes()


def upload(aws, key: str, body: bytes, **metadata: str) -> dict:
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body, Metadata=metadata)
    return s3_event(UPLOADS, key, version_id=put.get("VersionId"), size=len(body))


def read(aws, key: str) -> bytes:
    return aws["s3"].get_object(Bucket=UPLOADS, Key=key)["Body"].read()


def resources(ndjson: bytes) -> list[dict]:
    """Every line one valid R4B resource, every reference resolving to another line."""
    assert ndjson.endswith(b"\n")
    lines = [json.loads(line) for line in ndjson.decode().splitlines()]
    ids = {f"{r['resourceType']}/{r['id']}" for r in lines}
    assert len(ids) == len(lines)
    for resource in lines:
        validate(resource)
        for ref in _references(resource):
            assert ref.startswith("#") or ref in ids or ref.startswith("Patient/"), ref
    return lines


def _references(value):
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "reference" and isinstance(v, str):
                yield v
            else:
                yield from _references(v)
    elif isinstance(value, list):
        for v in value:
            yield from _references(v)


def test_tabular_jsonl_as_ndjson(aws, services, tabular_app, lambda_context):
    rows = JSONL.decode().splitlines()
    first = json.loads(rows[0])
    rows[0] = json.dumps({**first, "subject": {"reference": "Patient/42"}})
    body = ("\n".join(rows) + "\n").encode()
    tabular_app.lambda_handler(upload(aws, "uploads/tabular/f.jsonl", body, format="fhir"), lambda_context)
    plain = json.loads(read(aws, "results/tabular/f.jsonl.json"))  # still written, as before
    assert plain["summary"] == {"rows": 3, "succeeded": 2, "failed": 1}
    assert plain["results"][0]["subject"] == {"reference": "Patient/42"}
    lines = resources(read(aws, "results/tabular/f.jsonl.ndjson"))
    assessments = [r for r in lines if r["resourceType"] == "RiskAssessment"]
    assert len(assessments) == 2 and all(labelled(r) for r in assessments)
    assert assessments[0]["subject"] == {"reference": "Patient/42"}
    assert {"type": {"text": "record_id"}, "value": first["record_id"]} in assessments[0]["identifier"]
    (provenance,) = [r for r in lines if r["resourceType"] == "Provenance"]
    assert {t["reference"] for t in provenance["target"]} == {
        f"RiskAssessment/{r['id']}" for r in assessments
    }
    for a, row in zip(assessments, plain["results"][:2], strict=True):
        assert a["prediction"][0]["probabilityDecimal"] == pytest.approx(row["prediction"]["probability"])


def test_without_the_metadata_no_ndjson(aws, services, tabular_app, lambda_context):
    tabular_app.lambda_handler(upload(aws, "uploads/tabular/g.jsonl", JSONL), lambda_context)
    assert read(aws, "results/tabular/g.jsonl.json")
    with pytest.raises(aws["s3"].exceptions.NoSuchKey):
        read(aws, "results/tabular/g.jsonl.ndjson")


def test_bad_subject_row_is_reported_in_place(aws, services, tabular_app, lambda_context):
    first = json.loads(JSONL.decode().splitlines()[0])
    body = json.dumps({**first, "subject": {"reference": "not a reference"}}).encode()
    tabular_app.lambda_handler(upload(aws, "uploads/tabular/h.jsonl", body, format="fhir"), lambda_context)
    plain = json.loads(read(aws, "results/tabular/h.jsonl.json"))
    assert plain["results"][0]["error"]["details"][0]["field"].startswith("subject")
    assert "not a reference" not in json.dumps(plain)


def test_imaging_dicom_as_ndjson(aws, services, imaging_app, imaging_context):
    data = as_chest_cr("CT_small.dcm")
    imaging_app.lambda_handler(upload(aws, "uploads/imaging/ct.dcm", data, format="fhir"), imaging_context)
    lines = resources(read(aws, "results/imaging/ct.dcm.ndjson"))
    kinds = sorted(r["resourceType"] for r in lines)
    assert kinds == ["Device", "DiagnosticReport", "DocumentReference", "Observation", "Provenance"]
    (obs,) = [r for r in lines if r["resourceType"] == "Observation"]
    assert obs["derivedFrom"][0]["identifier"]["system"] == "urn:dicom:uid"


def test_text_prediction_as_ndjson(aws, services, text_app, text_context):
    S3ModelStore(MODELS, aws["s3"]).publish(REPO / "models" / "note-specialty", alias="production")
    event = upload(aws, "uploads/text/n.txt", NOTE, format="fhir", predict="true")
    event["Records"][0]["s3"]["configurationId"] = "TextFunction-0"
    text_app.lambda_handler(event, text_context)
    lines = resources(read(aws, "results/text/n.txt.ndjson"))
    (obs,) = [r for r in lines if r["resourceType"] == "Observation"]
    assert labelled(obs) and obs["valueCodeableConcept"]["text"]
    # De-identification alone has no FHIR form: no NDJSON.
    event = upload(aws, "uploads/text/m.txt", NOTE, format="fhir")
    event["Records"][0]["s3"]["configurationId"] = "TextFunction-0"
    text_app.lambda_handler(event, text_context)
    with pytest.raises(aws["s3"].exceptions.NoSuchKey):
        read(aws, "results/text/m.txt.ndjson")
