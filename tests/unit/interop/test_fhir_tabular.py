"""Tabular predictions as FHIR: a Bundle of RiskAssessments, errors as OperationOutcome."""

import base64
import json

import pytest

from tests.helpers import http_event
from tests.unit.interop.fhir_check import FHIR_TYPE, check_bundle, validate

PREDICT = "/v1/tabular/predict"
FHIR = {"accept": "application/fhir+json"}


def _call(app, event, context):
    response = app.lambda_handler(event, context)
    return response["statusCode"], response["headers"]["Content-Type"], json.loads(response["body"])


def test_bundle_has_one_risk_assessment_per_record(tabular_app, lambda_context, record, card):
    subject = {"reference": "Patient/123"}
    identified = {"identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}}
    body = {
        "records": [record, {**record, "subject": subject}, {**record, "subject": identified}],
        "explain": True,
    }
    event = http_event("POST", PREDICT, body, headers=FHIR)
    status, content_type, bundle = _call(tabular_app, event, lambda_context)
    assert (status, content_type) == (200, FHIR_TYPE)
    assert bundle["identifier"]["value"] == event["requestContext"]["requestId"]
    by_type = check_bundle(bundle, {"RiskAssessment"})
    assessments = by_type["RiskAssessment"]
    assert len(assessments) == 3

    plain = _call(
        tabular_app, http_event("POST", PREDICT, {"records": [record], "explain": True}), lambda_context
    )[2]
    expected = plain["predictions"][0]
    for ra in assessments:
        assert ra["status"] == "final"
        (prediction,) = ra["prediction"]
        assert prediction["outcome"]["text"] == card.outputs.positive_label
        assert prediction["probabilityDecimal"] == pytest.approx(expected["probability"], abs=1e-9)
        high = expected["probability"] >= card.outputs.decision_threshold
        assert prediction["qualitativeRisk"]["coding"][0]["code"] == ("high" if high else "low")
        assert prediction["rationale"] == plain["explanations"][0]["summary"]
        assert ra["performer"]["reference"] == by_type["Device"][0]["_url"]
        assert "basis" not in ra  # inputs only when asked for
    # No subject: a contained Patient with no data stands in (R4 requires one).
    assert assessments[0]["subject"]["reference"] == "#anonymous-subject"
    assert assessments[0]["contained"] == [{"resourceType": "Patient", "id": "anonymous-subject"}]
    assert assessments[1]["subject"] == subject and "contained" not in assessments[1]
    assert assessments[2]["subject"]["identifier"] == identified["identifier"]

    (device,) = by_type["Device"]
    assert device["deviceName"][0]["name"] == card.name and device["version"][0]["value"] == card.version
    assert device["identifier"][0]["value"].endswith(card.artifact.sha256)
    (doc,) = by_type["DocumentReference"]
    attached = {c["attachment"]["contentType"]: c["attachment"]["data"] for c in doc["content"]}
    assert (
        json.loads(base64.b64decode(attached["application/json"]))["artifact"]["sha256"]
        == card.artifact.sha256
    )
    assert card.intended_use in base64.b64decode(attached["text/markdown"]).decode()


def test_inputs_are_contained_observations_when_asked(tabular_app, lambda_context, record, card):
    event = http_event("POST", PREDICT, {"records": [record]}, headers=FHIR, query={"_include": "inputs"})
    status, _, bundle = _call(tabular_app, event, lambda_context)
    assert status == 200
    (ra,) = check_bundle(bundle, {"RiskAssessment"})["RiskAssessment"]
    observations = {o["id"]: o for o in ra["contained"] if o["resourceType"] == "Observation"}
    assert len(ra["basis"]) == len(card.inputs.features) == len(observations)
    for ref, spec in zip(ra["basis"], card.inputs.features, strict=True):
        obs = observations[ref["reference"].lstrip("#")]
        assert obs["code"]["text"] == spec.name and obs["valueQuantity"]["unit"] == spec.unit
        assert obs["valueQuantity"]["value"] == pytest.approx(record[spec.name])
        assert "meta" not in obs  # the caller's inputs are not AI-asserted


def test_format_query_and_q_values(tabular_app, lambda_context, record):
    by_query = http_event("POST", PREDICT, {"records": [record]}, query={"_format": "fhir"})
    assert _call(tabular_app, by_query, lambda_context)[1] == FHIR_TYPE
    weighted = http_event(
        "POST",
        PREDICT,
        {"records": [record]},
        headers={"accept": "application/json;q=0.4, application/fhir+json;q=0.6"},
    )
    assert _call(tabular_app, weighted, lambda_context)[1] == FHIR_TYPE
    preferred_json = http_event(
        "POST",
        PREDICT,
        {"records": [record]},
        headers={"accept": "application/fhir+json;q=0.5, application/json"},
    )
    assert _call(tabular_app, preferred_json, lambda_context)[1] == "application/json"


def test_plain_json_is_unchanged(tabular_app, lambda_context, record):
    # The subject key is accepted in JSON too, and changes nothing in the answer.
    for body in ({"records": [record]}, {"records": [{**record, "subject": {"reference": "Patient/1"}}]}):
        status, content_type, answer = _call(tabular_app, http_event("POST", PREDICT, body), lambda_context)
        assert (status, content_type) == (200, "application/json")
        assert set(answer) == {
            "request_id",
            "model",
            "placement",
            "ran_on",
            "predictions",
            "explanations",
            "timing_ms",
            "intended_use",
        }
        assert "subject" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("body", "status", "issue"),
    [
        ("{not json", 400, "structure"),
        ({"records": [{"mean_radius": "x"}]}, 422, "invalid"),
        ({"records": []}, 422, "invalid"),
        ({"records": [{"subject": {"reference": "Observation/1"}}]}, 422, "invalid"),
        ({"model": "no-such-model", "records": [{"a": 1}]}, 404, "not-found"),
    ],
)
def test_errors_are_operation_outcomes(tabular_app, lambda_context, body, status, issue):
    event = http_event("POST", PREDICT, body, headers=FHIR)
    got, content_type, outcome = _call(tabular_app, event, lambda_context)
    assert (got, content_type) == (status, FHIR_TYPE)
    validate(outcome)
    assert outcome["issue"][0]["code"] == issue and outcome["issue"][0]["severity"] == "error"
    assert event["requestContext"]["requestId"] in outcome["issue"][0]["diagnostics"]


def test_bad_subject_names_the_field_never_the_value(tabular_app, lambda_context, record):
    body = {"records": [{**record, "subject": {"reference": "MRN 99812"}}]}
    status, _, outcome = _call(tabular_app, http_event("POST", PREDICT, body, headers=FHIR), lambda_context)
    assert status == 422 and "99812" not in json.dumps(outcome)
    assert any(i.get("expression") == ["records[0].subject.reference"] for i in outcome["issue"])


def test_unauthorized_with_fhir_accept_is_an_operation_outcome(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, {"records": [record]}, headers=FHIR, scopes=None)
    status, content_type, outcome = _call(tabular_app, event, lambda_context)
    assert (status, content_type) == (401, FHIR_TYPE)
    assert validate(outcome) and outcome["issue"][0]["code"] == "login"


@pytest.mark.parametrize("accept", ["application/fhir+xml", "application/xml, text/xml"])
def test_xml_only_is_406_before_the_body_is_read(tabular_app, lambda_context, accept):
    event = http_event("POST", PREDICT, "{not json", headers={"accept": accept})
    status, content_type, body = _call(tabular_app, event, lambda_context)
    assert (status, content_type) == (406, "application/json")
    assert body["error"]["code"] == "NOT_ACCEPTABLE"


def test_inputs_are_bounded_by_the_response_limit(tabular_app, lambda_context, record):
    from medserve.interop.fhir import MAX_RECORDS_WITH_INPUTS

    body = {"records": [record] * (MAX_RECORDS_WITH_INPUTS + 1)}
    event = http_event("POST", PREDICT, body, headers=FHIR, query={"_include": "inputs"})
    status, content_type, outcome = _call(tabular_app, event, lambda_context)
    assert (status, content_type) == (413, FHIR_TYPE) and outcome["issue"][0]["code"] == "too-costly"
    # Without the inputs the same records are answered.
    status, _, bundle = _call(tabular_app, http_event("POST", PREDICT, body, headers=FHIR), lambda_context)
    assert status == 200 and len(bundle["entry"]) == MAX_RECORDS_WITH_INPUTS + 1 + 3


def test_warnings_and_out_of_distribution_become_notes(tabular_app, lambda_context, record, card):
    spec = next(f for f in card.inputs.features if f.name == "worst_area")
    far = {**record, "worst_area": (spec.training_range[1] + spec.valid_range[1]) / 2}
    status, _, bundle = _call(
        tabular_app, http_event("POST", PREDICT, {"records": [far]}, headers=FHIR), lambda_context
    )
    assert status == 200
    (ra,) = check_bundle(bundle, {"RiskAssessment"})["RiskAssessment"]
    notes = [n["text"] for n in ra["note"]]
    assert any("worst_area is outside the training range" in n for n in notes)
    assert any("outside the model's training distribution" in n for n in notes)
    assert str(far["worst_area"]) not in json.dumps(ra["note"])  # names the field, never its value


def test_unexpected_errors_are_a_fatal_operation_outcome(tabular_app, lambda_context, record, monkeypatch):
    from medserve.tabular import model as tabular_model

    def boom(*_a, **_k):
        raise RuntimeError("a patient value 17.99 in an exception message")

    monkeypatch.setattr(tabular_model, "validate_records", boom)
    monkeypatch.setattr("medserve.api.tabular.validate_records", boom)
    status, content_type, outcome = _call(
        tabular_app, http_event("POST", PREDICT, {"records": [record]}, headers=FHIR), lambda_context
    )
    assert (status, content_type) == (500, FHIR_TYPE)
    validate(outcome)
    assert outcome["issue"][0]["severity"] == "fatal" and "17.99" not in json.dumps(outcome)


def test_informational_outcome_for_accepted_jobs_validates():
    from medserve.interop import fhir

    validate(fhir.information_outcome("accepted as job j-1: GET /v1/jobs/j-1"))
