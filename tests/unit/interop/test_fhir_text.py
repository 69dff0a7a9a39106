"""Text specialty routing as FHIR: an Observation; de-identification stays plain JSON."""

import json

import pytest
from medserve.services import Services, set_services
from medserve.serving.registry import BundledModels, Registry

from tests.helpers import REPO, http_event
from tests.unit.interop.fhir_check import FHIR_TYPE, check_bundle, validate

NOTE = "Crushing chest pain radiating to the left arm, troponin rising, ST elevation on the ECG."
FHIR = {"accept": "application/fhir+json"}


@pytest.fixture(autouse=True)
def _text_model():
    # The note-specialty model from the repository (models/), read as a bundle, as test_text_api does.
    set_services(Services(registry=Registry(bundled=BundledModels(REPO / "models"))))


def _call(app, event, context):
    response = app.lambda_handler(event, context)
    return response["statusCode"], response["headers"]["Content-Type"], json.loads(response["body"])


def test_specialty_as_an_observation(text_app, text_context):
    body = {"text": NOTE, "subject": {"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-5"}}}
    status, content_type, bundle = _call(
        text_app, http_event("POST", "/v1/text/predict", body, headers=FHIR), text_context
    )
    assert (status, content_type) == (200, FHIR_TYPE)
    by_type = check_bundle(bundle, {"Observation"})
    (obs,) = by_type["Observation"]
    plain = _call(text_app, http_event("POST", "/v1/text/predict", {"text": NOTE}), text_context)[2]
    assert obs["valueCodeableConcept"]["text"] == plain["predictions"][0]["label"] == "cardiology"
    assert obs["subject"]["identifier"]["value"] == "MRN-5"
    assert obs["status"] == "preliminary" and obs["device"]["reference"] == by_type["Device"][0]["_url"]
    assert NOTE not in json.dumps(bundle)  # the note itself is never in the answer


def test_text_errors_as_operation_outcome(text_app, text_context):
    status, content_type, outcome = _call(
        text_app, http_event("POST", "/v1/text/predict", {"text": "   "}, headers=FHIR), text_context
    )
    assert (status, content_type) == (422, FHIR_TYPE)
    validate(outcome)


def test_deidentify_stays_json(text_app, text_context):
    event = http_event(
        "POST", "/v1/text/deidentify", {"text": "Seen by Dr. Smith on 2020-01-02."}, headers=FHIR
    )
    status, content_type, body = _call(text_app, event, text_context)
    assert (status, content_type) == (200, "application/json") and "redacted_text" in body


def test_a_null_subject_is_refused_as_the_schema_says(text_app, text_context):
    for subject in (None, {"reference": None, "identifier": {"system": "urn:x", "value": "1"}}):
        event = http_event("POST", "/v1/text/predict", {"text": NOTE, "subject": subject}, headers=FHIR)
        status, content_type, outcome = _call(text_app, event, text_context)
        assert (status, content_type) == (422, FHIR_TYPE), subject
        assert any(i.get("expression", [""])[0].startswith("subject") for i in outcome["issue"])
