"""Imaging predictions as FHIR (Observation + DiagnosticReport) and as a DICOM SR."""

import base64
import io
import json

import pydicom
import pytest

from tests import helpers
from tests.helpers import http_event
from tests.imaging_samples import as_chest_cr, encode, phantom_grey, pydicom_file
from tests.unit.interop.fhir_check import FHIR_TYPE, check_bundle, validate

PREDICT = "/v1/imaging/predict"


@pytest.fixture(scope="module")
def imaging_app():
    return helpers.stack().module("ImagingFunction")


@pytest.fixture
def ctx():
    return helpers.lambda_context("ImagingFunction")


def _raw(data: bytes, content_type: str, accept: str | None = None, **query: str) -> dict:
    headers = {"content-type": content_type, **({"accept": accept} if accept else {})}
    return http_event("POST", PREDICT, data, headers=headers, binary=True, query=query)


def _answer(app, event, ctx):
    response = app.lambda_handler(event, ctx)
    body = response["body"]
    raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
    return response["statusCode"], response["headers"]["Content-Type"], raw


def test_dicom_input_as_fhir(imaging_app, ctx):
    data = as_chest_cr("CT_small.dcm")
    header = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    status, content_type, raw = _answer(
        imaging_app, _raw(data, "application/dicom", "application/fhir+json", explain="true"), ctx
    )
    assert (status, content_type) == (200, FHIR_TYPE)
    bundle = json.loads(raw)
    by_type = check_bundle(bundle, {"Observation", "DiagnosticReport"})
    (obs,) = by_type["Observation"]
    (report,) = by_type["DiagnosticReport"]
    assert obs["category"][0]["coding"][0]["code"] == "imaging"
    assert obs["code"]["text"].startswith("Pulmonary nodule") and report["code"] == obs["code"]  # the card's
    assert obs["device"]["reference"] == by_type["Device"][0]["_url"]
    label = obs["valueCodeableConcept"]["text"]
    probabilities = {
        c["code"]["text"].removeprefix("probability of "): c["valueQuantity"]["value"]
        for c in obs["component"]
    }
    assert set(probabilities) == {"nodule", "no_nodule"}
    (confidence,) = obs["extension"]
    assert confidence["url"].endswith("/AIconfidence") and confidence["valueDecimal"] == probabilities[label]
    assert report["result"] == [{"reference": obs["_url"]}] and label in report["conclusion"]
    assert "not for clinical use" in report["conclusion"]
    (overlay,) = report["presentedForm"]
    assert overlay["contentType"] == "image/png" and base64.b64decode(overlay["data"]).startswith(b"\x89PNG")
    # derivedFrom the study by UID; no other header value (the CT's patient name, ids) anywhere.
    (study,) = obs["derivedFrom"]
    assert study["identifier"]["value"] == f"urn:oid:{header.StudyInstanceUID}"
    assert header.SOPInstanceUID in study["display"] and report["imagingStudy"] == [study]
    text = raw.decode()
    for value in (
        str(header.PatientName),
        str(header.PatientID),
        str(header.get("InstitutionName", "")) or "x" * 40,
    ):
        assert value not in text


def test_png_as_fhir_has_no_study_and_no_overlay_unless_explained(imaging_app, ctx):
    event = _raw(encode(phantom_grey()), "image/png", None, _format="fhir")
    status, content_type, raw = _answer(imaging_app, event, ctx)
    assert (status, content_type) == (200, FHIR_TYPE)
    by_type = check_bundle(json.loads(raw), {"Observation", "DiagnosticReport"})
    assert "derivedFrom" not in by_type["Observation"][0]
    assert "presentedForm" not in by_type["DiagnosticReport"][0]


def test_json_request_subject(imaging_app, ctx):
    body = {
        "image_base64": base64.b64encode(encode(phantom_grey())).decode(),
        "subject": {"reference": "Patient/7"},
    }
    event = http_event("POST", PREDICT, body, headers={"accept": "application/fhir+json"})
    status, _, raw = _answer(imaging_app, event, ctx)
    assert status == 200
    by_type = check_bundle(json.loads(raw), {"Observation", "DiagnosticReport"})
    assert by_type["Observation"][0]["subject"] == {"reference": "Patient/7"}
    bad = {**body, "subject": {"reference": "Patient/7", "identifier": {"system": "urn:x", "value": "1"}}}
    status, content_type, raw = _answer(
        imaging_app, http_event("POST", PREDICT, bad, headers={"accept": "application/fhir+json"}), ctx
    )
    assert (status, content_type) == (422, FHIR_TYPE) and validate(json.loads(raw))


def test_dicom_sr_in_the_input_study(imaging_app, ctx, tmp_path):
    data = as_chest_cr("CT_small.dcm")
    source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    status, content_type, raw = _answer(
        imaging_app, _raw(data, "application/dicom", "application/dicom"), ctx
    )
    assert (status, content_type) == (200, "application/dicom")
    report = pydicom.dcmread(io.BytesIO(raw))
    assert report.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33" and report.Modality == "SR"
    assert report.StudyInstanceUID == source.StudyInstanceUID
    assert report.PatientName == source.PatientName and report.PatientID == source.PatientID
    assert report.SeriesInstanceUID != source.SeriesInstanceUID
    assert report.SOPInstanceUID != source.SOPInstanceUID
    assert report.VerificationFlag == "UNVERIFIED"
    assert report.ContentTemplateSequence[0].TemplateIdentifier == "1500"

    items = list(_walk(report))
    texts = {
        i.ConceptNameCodeSequence[0].CodeMeaning: i.get("TextValue") for i in items if i.ValueType == "TEXT"
    }
    assert texts["Algorithm Name"] == "cxr-nodule-phantom" and texts["Algorithm Version"] == "1.0.0"
    assert "not for clinical use" in texts["Comment"]
    (classification,) = [
        i
        for i in items
        if i.ValueType == "CODE" and i.ConceptNameCodeSequence[0].CodeValue == "classification"
    ]
    (probability,) = [i for i in items if i.ValueType == "NUM"]
    label = classification.ConceptCodeSequence[0].CodeValue
    p = float(probability.MeasuredValueSequence[0].NumericValue)
    plain = json.loads(_answer(imaging_app, _raw(data, "application/dicom"), ctx)[2])
    assert label == plain["predictions"][0]["label"]
    assert p == pytest.approx(plain["predictions"][0]["probabilities"][label], abs=1e-5)
    images = [i for i in items if i.ValueType == "IMAGE"]
    assert {i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in images} == {source.SOPInstanceUID}

    # highdicom, the reference reader, parses it as a Comprehensive SR holding a TID 1500 report.
    # Optional, not in the dev extra: it requires pyjpegls, which would give pydicom a JPEG-LS
    # decoder the Lambda layer lacks (tests/unit/imaging checks that JPEG-LS is refused with 415).
    # `pip install --no-deps highdicom` to run this part.
    highdicom = pytest.importorskip("highdicom")
    parsed = highdicom.sr.srread(io.BytesIO(raw))
    assert isinstance(parsed, highdicom.sr.ComprehensiveSR)
    assert parsed.StudyInstanceUID == source.StudyInstanceUID
    (group,) = highdicom.sr.MeasurementReport.from_sequence(parsed.content).get_image_measurement_groups()
    assert group.finding_type.value == "nodule"
    (evaluation,) = group.get_qualitative_evaluations()
    assert evaluation.value.value == label
    (measurement,) = group.get_measurements()
    assert measurement.value == pytest.approx(p)
    assert [s.referenced_sop_instance_uid for s in group.source_images] == [source.SOPInstanceUID]


def _walk(ds):
    for item in ds.get("ContentSequence", []):
        yield item
        yield from _walk(item)


def test_dicom_accept_needs_a_dicom_input(imaging_app, ctx):
    png = encode(phantom_grey())
    status, content_type, raw = _answer(imaging_app, _raw(png, "image/png", "application/dicom"), ctx)
    assert (status, content_type) == (406, "application/json")
    assert json.loads(raw)["error"]["code"] == "NOT_ACCEPTABLE"
    # With a fallback the caller accepts, the fallback answers.
    status, content_type, _ = _answer(
        imaging_app, _raw(png, "image/png", "application/dicom, application/json;q=0.5"), ctx
    )
    assert (status, content_type) == (200, "application/json")


def test_invalid_image_with_fhir_accept_is_an_operation_outcome(imaging_app, ctx):
    status, content_type, raw = _answer(
        imaging_app, _raw(b"not an image at all", "image/png", "application/fhir+json"), ctx
    )
    assert 400 <= status < 500 and content_type == FHIR_TYPE
    outcome = json.loads(raw)
    validate(outcome)
    assert outcome["issue"][0]["severity"] == "error"


def test_plain_json_unchanged(imaging_app, ctx):
    status, content_type, raw = _answer(
        imaging_app, _raw(as_chest_cr("CT_small.dcm"), "application/dicom"), ctx
    )
    assert (status, content_type) == (200, "application/json")
    body = json.loads(raw)
    assert body["predictions"][0]["label"] in {"nodule", "no_nodule"} and "resourceType" not in body


def test_out_of_scope_input_is_a_business_rule_outcome(imaging_app, ctx):
    # A CT slice is outside the chest radiograph model's intended use (issue 13's gate).
    ct = pydicom_file("CT_small.dcm")
    status, content_type, raw = _answer(
        imaging_app, _raw(ct, "application/dicom", "application/fhir+json"), ctx
    )
    assert (status, content_type) == (422, FHIR_TYPE)
    outcome = json.loads(raw)
    validate(outcome)
    assert (
        outcome["issue"][0]["code"] == "business-rule"
        and "OUT_OF_SCOPE" in outcome["issue"][0]["diagnostics"]
    )
    # No SR is written for it either: the caller who asked only for DICOM gets the JSON envelope.
    status, content_type, raw = _answer(imaging_app, _raw(ct, "application/dicom", "application/dicom"), ctx)
    assert (status, content_type) == (422, "application/json")
    assert json.loads(raw)["error"]["code"] == "OUT_OF_SCOPE"
