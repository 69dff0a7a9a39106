"""FHIR and DICOM SR answers through `medserve serve`: real HTTP, the template's routes."""

import io
import json
import urllib.error
import urllib.request

import pydicom
import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer
from tests.imaging_samples import as_chest_cr
from tests.unit.interop.fhir_check import FHIR_TYPE, check_bundle, validate


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def send(api, path, body, headers):
    req = urllib.request.Request(
        f"{api.url}{path}", data=body, method="POST", headers={**headers, **bearer(api)}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_dicom_sr_and_fhir_over_http(api):
    data = as_chest_cr("CT_small.dcm")
    source = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    status, content_type, raw = send(
        api, "/v1/imaging/predict", data, {"content-type": "application/dicom", "accept": "application/dicom"}
    )
    assert (status, content_type) == (200, "application/dicom")
    report = pydicom.dcmread(io.BytesIO(raw))
    assert report.StudyInstanceUID == source.StudyInstanceUID and report.Modality == "SR"
    status, content_type, raw = send(
        api,
        "/v1/imaging/predict",
        data,
        {"content-type": "application/dicom", "accept": "application/fhir+json"},
    )
    assert (status, content_type) == (200, FHIR_TYPE)
    check_bundle(json.loads(raw), {"Observation", "DiagnosticReport"})


def test_tabular_fhir_and_operation_outcome_over_http(api):
    event = json.loads((REPO / "events" / "tabular_predict.json").read_text())
    body = event["body"].encode()
    headers = {"content-type": "application/json", "accept": "application/fhir+json"}
    status, content_type, raw = send(api, "/v1/tabular/predict", body, headers)
    assert (status, content_type) == (200, FHIR_TYPE)
    check_bundle(json.loads(raw), {"RiskAssessment"})
    status, content_type, raw = send(api, "/v1/tabular/predict", b'{"records": []}', headers)
    assert (status, content_type) == (422, FHIR_TYPE)
    validate(json.loads(raw))
    status, content_type, _ = send(
        api, "/v1/tabular/predict", body, {**headers, "accept": "application/fhir+xml"}
    )
    assert status == 406
