"""TextFunction's HTTP routes through its handler: the contract's shapes, errors, and privacy
(no note text, entity text or embedding in logs, metrics or error bodies)."""

import json

import pytest
from medserve.api.text import DeidentifyRequest, TextPredictRequest
from medserve.services import Services, set_services
from medserve.serving.registry import BundledModels, Registry

from tests.helpers import REPO, call, http_event

PHI_NOTE = (
    "Patient: Zebulon Quartermaine   MRN: 88812345   DOB: 07/04/1951\n"
    "Mr. Quartermaine lives at 77 Juniperberry Lane, Wolcottville, IN 46795, phone 260-555-0199.\n"
    "Seen for crushing chest pain with ST elevation; troponin rising. Email zq1951@example.net.\n"
)
SECRETS = (
    "Zebulon",
    "Quartermaine",
    "88812345",
    "07/04/1951",
    "Juniperberry",
    "Wolcottville",
    "46795",
    "260-555-0199",
    "zq1951",
    "crushing",
    "troponin",
)


@pytest.fixture(autouse=True)
def _text_model():
    # The registry model from the repository, read as a bundle (tests/integration and tests/local
    # serve the same directory from S3).
    set_services(Services(registry=Registry(bundled=BundledModels(REPO / "models"))))


def post(app, text_context, path, body):
    return call(app, http_event("POST", path, body), text_context)


def test_deidentify_contract(text_app, text_context):
    status, body = post(text_app, text_context, "/v1/text/deidentify", {"text": PHI_NOTE})
    assert status == 200
    assert (
        body["request_id"] and body["mode"] == "tag" and body["method"]["name"] == "phi-rules+model+safelist"
    )
    for entity in body["entities"]:
        assert set(entity) == {"type", "begin", "end", "score"}
    values = {PHI_NOTE[e["begin"] : e["end"]] for e in body["entities"]}
    assert {"Zebulon Quartermaine", "88812345", "07/04/1951", "260-555-0199", "zq1951@example.net"} <= values
    assert body["redacted_text"].startswith("Patient: [NAME]   MRN: [MRN]   DOB: [DATE]\nMr. [NAME] lives at")
    assert sum(body["counts"].values()) == len(body["entities"])


@pytest.mark.parametrize("mode", ["tag", "mask", "surrogate"])
def test_deidentify_modes_leave_no_identifier(text_app, text_context, mode):
    status, body = post(text_app, text_context, "/v1/text/deidentify", {"text": PHI_NOTE, "mode": mode})
    assert status == 200 and body["mode"] == mode
    for secret in SECRETS[:-2]:
        assert secret not in body["redacted_text"]
    if mode == "mask":
        assert len(body["redacted_text"]) == len(PHI_NOTE)


def test_predict_contract(text_app, text_context):
    status, body = post(text_app, text_context, "/v1/text/predict", {"text": PHI_NOTE, "explain": True})
    assert status == 200
    assert body["model"]["name"] == "note-specialty" and len(body["model"]["sha256"]) == 64
    (prediction,) = body["predictions"]
    assert prediction["label"] == "cardiology"
    assert abs(sum(prediction["probabilities"].values()) - 1) < 1e-6
    # Two of its three lines are identifiers: it scores just above the OOD threshold (flagged, answered).
    assert set(prediction["ood"]) == {"score", "threshold", "in_distribution", "method"}
    assert prediction["ood"]["method"] == "max-cosine-centroid"
    (explanation,) = body["explanations"]
    assert explanation["attributions"] and explanation["evaluations"] <= 64
    assert body["intended_use"] and body["timing_ms"]["total"] > 0
    status, plain = post(text_app, text_context, "/v1/text/predict", {"text": PHI_NOTE})
    assert status == 200 and plain["explanations"] == []


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/v1/text/predict", {"text": "x" * 20_001}, 413, "PAYLOAD_TOO_LARGE"),
        ("/v1/text/deidentify", {"text": "x" * 20_001}, 413, "PAYLOAD_TOO_LARGE"),
        ("/v1/text/predict", {"text": "  "}, 422, "INVALID_INPUT"),
        ("/v1/text/predict", {"note": "chest pain"}, 422, "INVALID_INPUT"),
        ("/v1/text/deidentify", {"text": "a", "mode": "shred"}, 422, "INVALID_INPUT"),
        ("/v1/text/predict", {"text": "chest pain", "model": "no-such-model"}, 404, "MODEL_NOT_FOUND"),
        ("/v1/text/predict", "{not json", 400, "MALFORMED_REQUEST"),
        (
            "/v1/text/predict",
            {"text": "Der Patient klagt seit zwei Tagen über Atemnot und Husten."},
            422,
            "OUT_OF_SCOPE",
        ),
    ],
)
def test_errors(text_app, text_context, path, body, status, code):
    got_status, got = post(text_app, text_context, path, body)
    assert (got_status, got["error"]["code"]) == (status, code)
    assert got["request_id"]


def test_a_tabular_model_is_not_a_text_model(text_app, text_context):
    set_services(Services(registry=Registry()))  # the layer's bundle: tabular only
    status, got = post(
        text_app, text_context, "/v1/text/predict", {"text": "chest pain", "model": "breast-cancer-risk"}
    )
    assert (status, got["error"]["code"]) == (404, "MODEL_NOT_FOUND")


def test_415_for_other_media_types(text_app, text_context):
    event = http_event("POST", "/v1/text/deidentify", "chest pain", headers={"content-type": "text/plain"})
    status, got = call(text_app, event, text_context)
    assert (status, got["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")


def test_request_reprs_never_carry_the_text():
    for request in (TextPredictRequest(text=PHI_NOTE, explain=True), DeidentifyRequest(text=PHI_NOTE)):
        for rendering in (repr(request), str(request), f"{request}"):
            assert "Quartermaine" not in rendering and "chars" in rendering


def test_logs_metrics_and_errors_carry_no_phi(text_app, text_context, emitted):
    bodies = [
        ("/v1/text/deidentify", {"text": PHI_NOTE, "mode": "surrogate"}),
        ("/v1/text/predict", {"text": PHI_NOTE, "explain": True}),
        ("/v1/text/predict", {"text": PHI_NOTE * 200}),  # 413
        ("/v1/text/deidentify", {"text": PHI_NOTE, "mode": "Quartermaine"}),  # 422 on the mode
        ("/v1/text/predict", '{"text": "Zebulon Quartermaine 88812345'),  # 400
    ]
    errors = []
    for path, body in bodies:
        status, got = post(text_app, text_context, path, body)
        if status >= 400:
            errors.append(json.dumps(got))
    text = emitted()
    # logging and metrics did happen
    assert '"message":"text prediction"' in text and '"message":"text deidentified"' in text
    assert '"Predictions"' in text and '"error_code":"PAYLOAD_TOO_LARGE"' in text
    for secret in SECRETS:
        assert secret not in text, secret
        assert all(secret not in e for e in errors), secret
    assert "cardiology" not in text  # not even the predicted specialty
    assert "embedding" not in text.lower()
