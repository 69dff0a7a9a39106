"""POST /v1/imaging/predict through the real handler (functions/imaging/app.py): event in, response out."""

import base64
import json

import pytest

from tests.helpers import call, http_event, serve_derived
from tests.imaging_samples import (
    IDENTIFIERS,
    PHANTOM,
    PHANTOM_WITHOUT_NODULE,
    PYDICOM_FILES,
    SHIPPED_IDENTIFIERS,
    bad_inputs,
    encode,
    phantom_grey,
    pydicom_file,
    with_attributes,
)

PREDICT = "/v1/imaging/predict"


def raw(data: bytes, content_type: str, **query: str) -> dict:
    return http_event("POST", PREDICT, data, headers={"content-type": content_type}, binary=True, query=query)


def assert_prediction(body: dict, card_name: str = "cxr-nodule-phantom") -> dict:
    assert body["model"]["name"] == card_name and len(body["model"]["sha256"]) == 64
    assert "not for clinical use" in body["intended_use"]
    [prediction] = body["predictions"]
    probabilities = prediction["probabilities"]
    assert set(probabilities) == {"no_nodule", "nodule"}
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)
    assert prediction["probability"] == probabilities["nodule"]
    expected = "nodule" if prediction["probability"] >= prediction["decision_threshold"] else "no_nodule"
    assert prediction["label"] == expected
    assert {"score", "threshold", "in_distribution", "method"} <= set(prediction["ood"])
    assert set(body["timing_ms"]) == {"decode", "preprocess", "inference", "explain", "total"}
    return prediction


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_pydicom_files(imaging_app, imaging_context, name, tmp_path):
    # The decoding pipeline through the route. None of these is a chest radiograph, so the chest
    # model's intended-use gate is lifted here (test_imaging_scope.py tests that it refuses them).
    serve_derived(tmp_path, "cxr-nodule-phantom", intended_use_gate=None)
    status, body = call(imaging_app, raw(pydicom_file(name), "application/dicom"), imaging_context)
    assert status == 200, body
    assert_prediction(body)
    assert body["input"]["format"] == "dicom"
    assert set(body["dicom"]) == {
        "modality",
        "rows",
        "columns",
        "photometric_interpretation",
        "frames",
        "frame_index",
    }


def test_the_model_sees_the_nodule(imaging_app, imaging_context):
    _, with_nodule = call(imaging_app, raw(PHANTOM.read_bytes(), "image/png"), imaging_context)
    _, without = call(imaging_app, raw(PHANTOM_WITHOUT_NODULE.read_bytes(), "image/png"), imaging_context)
    assert assert_prediction(with_nodule)["label"] == "nodule"
    assert assert_prediction(without)["label"] == "no_nodule"
    assert "dicom" not in with_nodule and with_nodule["input"] == {
        "format": "png",
        "width": 128,
        "height": 128,
        "mode": "L",
    }


@pytest.mark.parametrize(
    ("mode", "fmt", "content_type"),
    [
        ("L", "PNG", "image/png"),
        ("RGB", "PNG", "image/png"),
        ("RGBA", "PNG", "image/png"),
        ("I;16", "PNG", "image/png"),
        ("L", "JPEG", "image/jpeg"),
        ("RGB", "JPEG", "image/jpeg"),
    ],
)
def test_png_and_jpeg_modes(imaging_app, imaging_context, mode, fmt, content_type):
    grey = phantom_grey()
    image = grey.convert("I;16") if mode == "I;16" else grey.convert(mode)
    status, body = call(imaging_app, raw(encode(image, fmt), content_type), imaging_context)
    assert status == 200, body
    assert assert_prediction(body)["label"] == "nodule"


def test_explain_returns_a_map_within_budget(imaging_app, imaging_context):
    status, body = call(imaging_app, raw(PHANTOM.read_bytes(), "image/png", explain="true"), imaging_context)
    assert status == 200
    [explanation] = body["explanations"]
    assert explanation["method"] == "occlusion" and explanation["target_label"] == "nodule"
    grid = explanation["grid"]
    assert grid["rows"] == grid["columns"] == 8 and len(grid["values"]) == 8
    assert all(len(row) == 8 for row in grid["values"])
    assert explanation["evaluations"] <= explanation["budget"] == 65
    assert explanation["session_runs"] <= 2
    # The nodule of this phantom is centred at row 54, column 29 (16 px cells: cell 3, 1).
    assert (explanation["peak"]["row"], explanation["peak"]["column"]) == (3, 1)
    png = base64.b64decode(explanation["overlay_png_base64"])
    assert png.startswith(b"\x89PNG") and len(png) < 64 * 1024
    assert explanation["output"]["probability"] == pytest.approx(body["predictions"][0]["probability"])
    # No explanation unless asked.
    _, plain = call(imaging_app, raw(PHANTOM.read_bytes(), "image/png"), imaging_context)
    assert plain["explanations"] == []


def test_json_request_forms(imaging_app, imaging_context):
    b64 = base64.b64encode(PHANTOM.read_bytes()).decode()
    status, body = call(
        imaging_app, http_event("POST", PREDICT, {"image_base64": b64, "explain": True}), imaging_context
    )
    assert status == 200 and body["explanations"]
    data_url = "data:image/png;base64," + b64
    status, body = call(imaging_app, http_event("POST", PREDICT, {"image_base64": data_url}), imaging_context)
    assert status == 200 and not body["explanations"]
    named = {"image_base64": b64, "model": "cxr-nodule-phantom"}
    assert call(imaging_app, http_event("POST", PREDICT, named), imaging_context)[0] == 200


@pytest.mark.parametrize("case", sorted(bad_inputs()))
def test_bad_raw_inputs(imaging_app, imaging_context, case):
    data, content_type, status, code = bad_inputs()[case]
    event = raw(data, content_type)
    if not data:
        event.pop("body", None)
    got_status, body = call(imaging_app, event, imaging_context)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert body["request_id"] and body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image_base64": "%%%not base64%%%"}, 422, "INVALID_INPUT"),
        ({}, 422, "INVALID_INPUT"),
        ({"image_base64": "aGVsbG8=", "s3_uri": "s3://b/uploads/imaging/x.png"}, 422, "INVALID_INPUT"),
        ({"image_base64": "aGVsbG8=", "unexpected": 1}, 422, "INVALID_INPUT"),
        ({"s3_uri": "s3://someone-elses-bucket/uploads/imaging/x.png"}, 422, "INVALID_INPUT"),
        ({"image_base64": "PLACEHOLDER", "model": "no-such-model"}, 404, "MODEL_NOT_FOUND"),
        ({"image_base64": "PLACEHOLDER", "model": "breast-cancer-risk"}, 404, "MODEL_NOT_FOUND"),
        ("[1, 2]", 400, "MALFORMED_REQUEST"),
        ("{oops", 400, "MALFORMED_REQUEST"),
    ],
)
def test_bad_json_requests(imaging_app, imaging_context, body, status, code):
    if isinstance(body, dict) and body.get("image_base64") == "PLACEHOLDER":
        body = dict(body, image_base64=base64.b64encode(PHANTOM.read_bytes()).decode())
    got_status, got = call(imaging_app, http_event("POST", PREDICT, body), imaging_context)
    assert (got_status, got["error"]["code"]) == (status, code), got


def test_bad_base64_raw_body(imaging_app, imaging_context):
    event = raw(b"", "image/png")
    event["body"] = "not*base64!"
    status, body = call(imaging_app, event, imaging_context)
    assert (status, body["error"]["code"]) == (400, "MALFORMED_REQUEST")


def test_too_large_is_refused_before_decoding(imaging_app, imaging_context):
    event = raw(b"", "image/png")
    event["body"] = "A" * (7 * 1024 * 1024)  # 5.25 MB once decoded: refused on its length
    status, body = call(imaging_app, event, imaging_context)
    assert (status, body["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert "/v1/uploads" in body["error"]["message"]


def test_query_is_validated(imaging_app, imaging_context):
    status, body = call(imaging_app, raw(PHANTOM.read_bytes(), "image/png", explain="maybe"), imaging_context)
    assert (status, body["error"]["code"]) == (422, "INVALID_INPUT")


def test_openapi_documents_the_imaging_routes(imaging_app, imaging_context):
    status, schema = call(imaging_app, http_event("GET", "/v1/openapi.json"), imaging_context)
    assert status == 200
    assert {"/v1/imaging/predict", "/v1/uploads", "/v1/jobs/{id}"} <= set(schema["paths"])


def test_no_identifiers_or_pixels_in_responses_or_logs(imaging_app, imaging_context, emitted, tmp_path):
    serve_derived(tmp_path, "cxr-nodule-phantom", intended_use_gate=None)  # decode CT and MR here
    tagged = with_attributes("CT_small.dcm", **IDENTIFIERS)
    bodies = []
    for event in (
        raw(tagged, "application/dicom", explain="true"),
        raw(with_attributes("MR_small.dcm", **IDENTIFIERS), "application/dicom"),
        raw(tagged[: len(tagged) - 5000], "application/dicom"),  # truncated: an error path
        http_event("POST", PREDICT, {"image_base64": base64.b64encode(tagged).decode()}),
    ):
        bodies.append(json.dumps(call(imaging_app, event, imaging_context)[1]))
    text = emitted()
    assert '"message":"imaging prediction"' in text  # logging did happen
    for secret in [*IDENTIFIERS.values(), *SHIPPED_IDENTIFIERS, "DOE", "19420817"]:
        for where, haystack in (("logs", text), *(("response", b) for b in bodies)):
            assert secret not in haystack, (secret, where)
    pixels = base64.b64encode(tagged[-3000:-2000]).decode()[:40]  # a run of raw pixel bytes
    assert pixels not in text


def test_a_card_placed_on_sagemaker_is_not_run_here(imaging_app, imaging_context, tmp_path):
    from medserve.services import Services, set_services
    from medserve.serving.registry import BUNDLED_DIR, BundledModels, Registry, derive_model

    name = "cxr-nodule-phantom"
    derive_model(BUNDLED_DIR / name, tmp_path / name, placement="sagemaker-realtime")
    set_services(Services(registry=Registry(BundledModels(tmp_path), cache_dir=tmp_path / "cache")))
    status, body = call(imaging_app, raw(PHANTOM.read_bytes(), "image/png"), imaging_context)
    assert (status, body["error"]["code"]) == (503, "NOT_CONFIGURED")
