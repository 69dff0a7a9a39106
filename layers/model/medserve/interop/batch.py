"""FHIR NDJSON for S3 batch results (object metadata ``format: fhir``).

Beside ``results/<modality>/<path>.json`` (always written, unchanged), the S3 trigger writes
``results/<modality>/<path>.ndjson``: the Bundle's resources one per line, Bulk Data style, with
``Type/id`` references (:func:`medserve.interop.fhir.ndjson`):

* tabular: one RiskAssessment per scored row (``subject`` from the row, ``identifier`` its
  ``record_id``), then Device, DocumentReference, Provenance; rows that failed are reported in the
  JSON result only;
* imaging: the Observation and DiagnosticReport (derivedFrom the study UIDs of a DICOM input);
* imaging de-identification (a DICOM file out): no FHIR form, no NDJSON;
* text: the specialty Observation when the object asked for a prediction (``predict: true``);
  de-identification alone has no FHIR form, so no NDJSON is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from medserve.interop import fhir
from medserve.services import get_services

__all__ = ["FHIR_SUFFIX", "ndjson_result", "wants_fhir"]

FHIR_SUFFIX = ".ndjson"


def wants_fhir(metadata: Mapping[str, str]) -> bool:
    return metadata.get("format", "").strip().lower() == "fhir"


def _builder(request_id: str, modality: str, model: Mapping[str, Any]) -> fhir.BundleBuilder:
    card, _ = get_services().registry.resolve(str(model["name"]), modality=modality)
    return fhir.BundleBuilder(request_id, card, model)


def ndjson_result(modality: str, body: bytes, result: Mapping[str, Any], request_id: str) -> bytes | None:
    """The NDJSON for a scorer's ``result`` of the object ``body``; None when it has no FHIR form."""
    # A result without predictions (a de-identified DICOM file, say) has no FHIR form.
    if modality == "tabular" and "results" in result:
        return _tabular(result, request_id)
    if modality == "imaging" and result.get("predictions"):
        return _imaging(body, result, request_id)
    if modality == "text":
        if "prediction" not in result:
            return None
        builder = _builder(request_id, "text", result["model"])
        return fhir.ndjson(fhir.text_bundle(builder, result["prediction"]))
    return None


def _tabular(result: Mapping[str, Any], request_id: str) -> bytes | None:
    scored = [r for r in result["results"] if "prediction" in r]
    if not scored:
        return None
    predictions, explanations, subjects = [], [], []
    for i, row in enumerate(scored):
        predictions.append({**row["prediction"], "index": i})
        if "explanation" in row:
            explanations.append({**row["explanation"], "index": i})
        ref = row.get("subject")
        subjects.append(fhir.Subject(**_subject_fields(ref)) if ref else None)
    bundle = fhir.tabular_bundle(
        _builder(request_id, "tabular", result["model"]), predictions, explanations, subjects
    )
    # The caller's join key: each RiskAssessment says which row and record_id it answers.
    results = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "RiskAssessment"]
    for resource, row in zip(results, scored, strict=True):
        identifiers = [{"type": {"text": "row"}, "value": str(row["row"])}]
        if row.get("record_id") not in (None, ""):
            identifiers.append({"type": {"text": "record_id"}, "value": str(row["record_id"])})
        resource["identifier"] = identifiers
    return fhir.ndjson(bundle)


def _subject_fields(ref: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "reference": ref.get("reference"),
        "identifier": ref.get("identifier"),
        "display": ref.get("display"),
    }


def _imaging(body: bytes, result: Mapping[str, Any], request_id: str) -> bytes:
    study = None
    if result.get("input", {}).get("format") == "dicom":
        from medserve.interop import sr

        study = sr.input_uids(sr.read_header(body))
    explanations = result.get("explanations") or []
    bundle = fhir.imaging_bundle(
        _builder(request_id, "imaging", result["model"]),
        result["predictions"][0],
        explanations[0] if explanations else None,
        study,
    )
    return fhir.ndjson(bundle)
