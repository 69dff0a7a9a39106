"""FHIR R4 resources for medserve results, as plain dicts (the layer carries no FHIR library).

Every Bundle answering a prediction is ``type: collection`` with the request id as its
``identifier``, a ``timestamp`` and ``urn:uuid`` full URLs (derived from the request id, so the
same request gives the same URLs), and follows the HL7 AI Transparency on FHIR guide
(hl7.fhir.uv.aitransparency) as far as R4 allows:

* each result resource carries ``meta.security`` ``AIAST`` ("Artificial Intelligence asserted");
* one **Device** (AI-Device profile: type ``Artificial-Intelligence``, name, version, the
  artifact's sha256 as identifier, a reference to its model card);
* one **DocumentReference** (AI-ModelCard profile): the card as Markdown and as its JSON;
* one **Provenance** (AI-Provenance profile): ``target`` every result, ``agent`` the Device,
  ``entity`` the card, ``reason`` AIAST.

Results: tabular -> one RiskAssessment per record; imaging -> an Observation and a
DiagnosticReport; text -> an Observation (specialty routing). Errors -> OperationOutcome.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from medserve.errors import MedserveError
from medserve.serving.cards import ModelCard

__all__ = [
    "AIAST",
    "MAX_RECORDS_WITH_INPUTS",
    "BundleBuilder",
    "Subject",
    "audit_view",
    "imaging_bundle",
    "information_outcome",
    "ndjson",
    "operation_outcome",
    "tabular_bundle",
    "text_bundle",
]

_IG = "http://hl7.org/fhir/uv/aitransparency"
_V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
AIAST = {"system": _V3_OBSERVATION_VALUE, "code": "AIAST", "display": "Artificial Intelligence asserted"}
_AI_DEVICE_TYPE = f"{_IG}/CodeSystem/AIdeviceTypeCS"
_AI_INPUTS = f"{_IG}/CodeSystem/AIinputsCS"
_AI_CONFIDENCE = f"{_IG}/StructureDefinition/AIconfidence"
_MODEL_CARD_EXTENSION = f"{_IG}/StructureDefinition/aitransparency.modelCardDescription"
_AI_KIND_EXTENSION = f"{_IG}/StructureDefinition/aitransparency.AIKind"
PROFILES = {
    "Device": f"{_IG}/StructureDefinition/AI-Device",
    "DocumentReference": f"{_IG}/StructureDefinition/AI-ModelCard",
    "Provenance": f"{_IG}/StructureDefinition/AI-Provenance",
}
_RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
_OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
_PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_UCUM = "http://unitsofmeasure.org"
_URI = "urn:ietf:rfc:3986"
_DICOM_UID = "urn:dicom:uid"
# ?_include=inputs adds ~9 KB per record (30 contained Observations for WDBC): Lambda's 6 MB
# response limit allows ~600; 200 leaves room for wider cards.
MAX_RECORDS_WITH_INPUTS = 200
_NAMESPACE = uuid.UUID("0b1f6c55-9d7e-4b7e-8d55-3a4f2f0e6d21")  # medserve's: fullUrls per request

# Our error codes -> FHIR IssueType (http://hl7.org/fhir/issue-type). Unlisted codes: exception.
ISSUE_CODES = {
    "MALFORMED_REQUEST": "structure",
    "UNAUTHORIZED": "login",
    "FORBIDDEN": "forbidden",
    "MODEL_NOT_FOUND": "not-found",
    "ROUTE_NOT_FOUND": "not-found",
    "JOB_NOT_FOUND": "not-found",
    "NOT_ACCEPTABLE": "not-supported",
    "NOT_CONFIGURED": "not-supported",
    "PAYLOAD_TOO_LARGE": "too-costly",
    "UNSUPPORTED_MEDIA_TYPE": "not-supported",
    "INVALID_INPUT": "invalid",
    "OUT_OF_SCOPE": "business-rule",
    "INVALID_MODEL_CARD": "exception",
    "THROTTLED": "throttled",
    "UPSTREAM_ERROR": "transient",
    "UPSTREAM_TIMEOUT": "timeout",
    "MODEL_INTEGRITY_ERROR": "security",
    "INTERNAL": "exception",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _label(text: str) -> dict[str, Any]:
    return {"text": text}


@dataclass(frozen=True)
class Subject:
    """Whom a result is about, as the caller named them: a reference or an identifier (never
    both), or nobody (an anonymous contained Patient stands in; see :func:`tabular_bundle`)."""

    reference: str | None = None
    identifier: Mapping[str, str] | None = None
    display: str | None = None

    def as_reference(self) -> dict[str, Any]:
        ref: dict[str, Any] = {}
        if self.reference is not None:
            ref["reference"] = self.reference
        if self.identifier is not None:
            ref["type"] = "Patient"
            ref["identifier"] = dict(self.identifier)
        if self.display is not None:
            ref["display"] = self.display
        return ref


_ANONYMOUS = "anonymous-subject"


def _anonymous_subject() -> tuple[dict[str, Any], dict[str, Any]]:
    """A contained Patient with no data, and the reference to it: R4 requires a subject and the
    caller named none. Says "this result is about someone the sender did not identify"."""
    patient = {"resourceType": "Patient", "id": _ANONYMOUS}
    return patient, {"reference": f"#{_ANONYMOUS}", "display": "subject not identified by the caller"}


def _model_markdown(card: ModelCard) -> str:
    """The card as Markdown (what a clinician reads in the EHR's document viewer): the HTI-1
    transparency attributes first, then limitations and the held-out metrics."""
    lines = [
        f"# {card.name} {card.version}",
        "",
        card.description,
        "",
        "## Intended use",
        "",
        card.intended_use,
    ]
    t = card.transparency
    if t is not None:
        lines += ["", "## Intended patients", "", t.intended_patient_population]
        lines += ["", "## Intended users", "", t.intended_users]
        lines += ["", "## Out-of-scope use", "", *(f"- {item}" for item in t.out_of_scope_uses)]
        lines += [
            "",
            "## Training data",
            "",
            t.training_data.description,
            "",
            f"Demographics: {t.training_data.demographics}",
        ]
        lines += ["", "## Validation", "", t.validation.process, ""]
        lines += [f"- {name}: {_inline(card.metrics[name])}" for name in t.validation.metrics]
        lines += ["", "## Fairness", "", t.fairness.analysis]
        lines += ["", "## Update and maintenance", "", t.update_and_maintenance]
        lines += ["", "## Known risks", "", *(f"- {item}" for item in t.known_risks)]
        lines += ["", "## Developer", "", t.developer]
    if card.limitations:
        lines += ["", "## Limitations", "", *(f"- {item}" for item in card.limitations)]
    if card.metrics:
        lines += ["", "## All metrics (held-out)", "", *_markdown_value(card.metrics)]
    lines += ["", f"Artifact sha256: `{card.artifact.sha256}`", ""]
    return "\n".join(lines)


def _markdown_value(value: Any, indent: str = "") -> list[str]:
    if isinstance(value, Mapping):
        out: list[str] = []
        for k, v in value.items():
            if isinstance(v, Mapping | list) and not (isinstance(v, list) and all(_scalar(x) for x in v)):
                out.append(f"{indent}- {k}:")
                out += _markdown_value(v, indent + "  ")
            else:
                out.append(f"{indent}- {k}: {_inline(v)}")
        return out
    if isinstance(value, list):
        out = []
        for v in value:
            if _scalar(v):
                out.append(f"{indent}- {_inline(v)}")
            else:
                out.append(f"{indent}-")
                out += _markdown_value(v, indent + "  ")
        return out
    return [f"{indent}{_inline(value)}"]


def _scalar(v: Any) -> bool:
    return not isinstance(v, Mapping | list)


def _inline(v: Any) -> str:
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


@dataclass
class BundleBuilder:
    """One answer's Bundle: results added in order, then Device, DocumentReference, Provenance."""

    request_id: str
    card: ModelCard
    model: Mapping[str, Any]  # the response's ``model`` block: what actually ran
    now: str = field(default_factory=_now)
    _results: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _count: int = 0

    def url(self, role: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{self.request_id}/{role}')}"

    @property
    def device_url(self) -> str:
        return self.url("device")

    @property
    def card_url(self) -> str:
        return self.url("model-card")

    def device_reference(self) -> dict[str, Any]:
        return {"reference": self.device_url, "display": f"{self.model['name']} {self.model['version']}"}

    def add(self, resource: dict[str, Any], role: str | None = None) -> str:
        """Add an AI-produced result (labelled AIAST here); its fullUrl."""
        url = self.url(role or f"result/{self._count}")
        self._count += 1
        meta = resource.setdefault("meta", {})
        meta.setdefault("security", []).append(dict(AIAST))
        self._results.append((url, resource))
        return url

    def device(self) -> dict[str, Any]:
        sha = str(self.model.get("sha256") or self.card.artifact.sha256)
        return {
            "resourceType": "Device",
            "meta": {"profile": [PROFILES["Device"]]},
            "extension": [
                {"url": _MODEL_CARD_EXTENSION, "valueReference": {"reference": self.card_url}},
                {
                    "url": _AI_KIND_EXTENSION,
                    "valueCodeableConcept": {
                        "coding": [
                            {
                                "system": _AI_DEVICE_TYPE,
                                "code": "Machine-Learning-Models",
                                "display": "Machine Learning Models",
                            }
                        ]
                    },
                },
            ],
            # RFC 6920 "nih" URI: the artifact's sha256 in the hex every medserve answer quotes.
            "identifier": [
                {
                    "type": {"text": "SHA-256 of the model artifact"},
                    "system": _URI,
                    "value": f"nih:sha-256;{sha}",
                }
            ],
            "status": "active",
            "deviceName": [{"name": str(self.model["name"]), "type": "model-name"}],
            "type": {
                "coding": [
                    {
                        "system": _AI_DEVICE_TYPE,
                        "code": "Artificial-Intelligence",
                        "display": "All kinds of Artificial Intelligence",
                    }
                ]
            },
            "version": [{"value": str(self.model["version"])}],
            "note": [{"text": self.card.intended_use}],
        }

    def model_card(self) -> dict[str, Any]:
        card_json = json.dumps(self.card.model_dump(mode="json"), separators=(",", ":"))
        markdown = _model_markdown(self.card)
        title = f"{self.card.name} {self.card.version} model card"
        return {
            "resourceType": "DocumentReference",
            "meta": {"profile": [PROFILES["DocumentReference"]]},
            "status": "current",
            "type": {"coding": [{"system": _AI_INPUTS, "code": "AIModelCard", "display": "AI Model-Card"}]},
            "category": [
                {
                    "coding": [
                        {
                            "system": _AI_INPUTS,
                            "code": "AIModelCardMarkdownFormat",
                            "display": "Markdown Format",
                        }
                    ]
                }
            ],
            "date": self.now,
            "description": markdown,
            "content": [
                {
                    "attachment": {
                        "contentType": "text/markdown",
                        "data": _b64(markdown.encode()),
                        "title": title,
                    }
                },
                {
                    "attachment": {
                        "contentType": "application/json",
                        "data": _b64(card_json.encode()),
                        "title": title,
                    }
                },
            ],
        }

    def provenance(self) -> dict[str, Any]:
        return {
            "resourceType": "Provenance",
            "meta": {"profile": [PROFILES["Provenance"]]},
            "target": [{"reference": url} for url, _ in self._results],
            "recorded": self.now,
            "reason": [{"coding": [dict(AIAST)]}],
            "agent": [
                {
                    "type": {
                        "coding": [{"system": _PARTICIPANT_TYPE, "code": "author", "display": "Author"}]
                    },
                    "role": [
                        {
                            "coding": [
                                {
                                    "system": _AI_DEVICE_TYPE,
                                    "code": "Artificial-Intelligence",
                                    "display": "All kinds of Artificial Intelligence",
                                }
                            ]
                        }
                    ],
                    "who": self.device_reference(),
                }
            ],
            "entity": [{"role": "derivation", "what": {"reference": self.card_url, "display": "model card"}}],
        }

    def build(self) -> dict[str, Any]:
        entries = [{"fullUrl": url, "resource": resource} for url, resource in self._results]
        entries += [
            {"fullUrl": self.device_url, "resource": self.device()},
            {"fullUrl": self.card_url, "resource": self.model_card()},
            {"fullUrl": self.url("provenance"), "resource": self.provenance()},
        ]
        return {
            "resourceType": "Bundle",
            "identifier": {"type": {"text": "medserve request id"}, "value": self.request_id},
            "type": "collection",
            "timestamp": self.now,
            "entry": entries,
        }


def _notes(prediction: Mapping[str, Any]) -> list[dict[str, str]]:
    """The prediction's warnings (ours: they name fields, never values) as annotations."""
    return [{"text": str(w)} for w in prediction.get("warnings") or []]


def _ood_note(prediction: Mapping[str, Any]) -> list[dict[str, str]]:
    ood = prediction.get("ood")
    if isinstance(ood, Mapping) and ood.get("in_distribution") is False:
        return [{"text": "the input lies outside the model's training distribution: read with caution"}]
    return []


def tabular_bundle(
    builder: BundleBuilder,
    predictions: Sequence[Mapping[str, Any]],
    explanations: Sequence[Mapping[str, Any]],
    subjects: Sequence[Subject | None],
    inputs: Sequence[Sequence[float]] | None = None,
) -> dict[str, Any]:
    """One RiskAssessment per record (``status: final``).

    ``subject``: the caller's per-record subject, else a contained anonymous Patient (R4 requires
    one; we do not invent an identity). ``performer``: the Device. ``prediction``: the card's
    positive label as ``outcome``, its probability, ``qualitativeRisk`` high when the probability
    reaches the card's decision threshold (low otherwise) and, when explained, the Shapley summary
    as ``rationale``. ``inputs`` (the validated records in card order): contained Observations,
    one per feature, listed in ``basis``.
    """
    card = builder.card
    positive = card.outputs.positive_label or card.outputs.labels[-1]
    threshold = card.outputs.decision_threshold
    rationale = {int(e.get("index", i)): e.get("summary") for i, e in enumerate(explanations)}
    for i, prediction in enumerate(predictions):
        index = int(prediction.get("index", i))
        p = float(prediction["probabilities"][positive])
        high = p >= threshold
        contained: list[dict[str, Any]] = []
        subject = subjects[index] if index < len(subjects) else None
        if subject is None:
            patient, subject_ref = _anonymous_subject()
            contained.append(patient)
        else:
            subject_ref = subject.as_reference()
        item: dict[str, Any] = {
            "outcome": {"text": positive},
            "probabilityDecimal": p,
            "qualitativeRisk": {
                "coding": [
                    {
                        "system": _RISK_PROBABILITY,
                        "code": "high" if high else "low",
                        "display": "High likelihood" if high else "Low likelihood",
                    }
                ],
                "text": f"{'at or above' if high else 'below'} the model's decision threshold {threshold}",
            },
        }
        if rationale.get(index):
            item["rationale"] = str(rationale[index])
        resource: dict[str, Any] = {"resourceType": "RiskAssessment"}
        if inputs is not None:
            basis = []
            for j, (spec, value) in enumerate(zip(card.inputs.features, inputs[index], strict=True)):
                obs_id = f"input-{j}"
                contained.append(
                    {
                        "resourceType": "Observation",
                        "id": obs_id,
                        "status": "final",
                        "code": {"text": spec.name},
                        "subject": subject_ref,
                        "valueQuantity": {"value": float(value), "unit": spec.unit},
                    }
                )
                basis.append({"reference": f"#{obs_id}", "display": spec.name})
        if contained:
            resource["contained"] = contained
        resource |= {
            "status": "final",
            "method": {"text": f"{card.name} {card.version}: {card.task}"},
            "code": _observation_code(card, f"risk of {positive} ({card.name})"),
            "subject": subject_ref,
            "occurrenceDateTime": builder.now,
            "performer": builder.device_reference(),
        }
        if inputs is not None:
            resource["basis"] = basis
        resource["prediction"] = [item]
        notes = _notes(prediction) + _ood_note(prediction)
        if notes:
            resource["note"] = notes
        builder.add(resource)
    return builder.build()


def _confidence(p: float) -> dict[str, Any]:
    return {"url": _AI_CONFIDENCE, "valueDecimal": p}


def _probability_components(prediction: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "code": {"text": f"probability of {label}"},
            "valueQuantity": {"value": float(p), "unit": "probability", "system": _UCUM, "code": "1"},
        }
        for label, p in prediction["probabilities"].items()
    ]


def _observation_code(card: ModelCard, default: str) -> dict[str, Any]:
    """The card's ``outputs.fhir_code`` (a CodeableConcept), else text naming the model's output."""
    code = card.outputs.fhir_code
    if code is None:
        return {"text": default}
    return code.model_dump(mode="json", exclude_none=True, exclude_defaults=True) | {"text": code.text}


def _ai_observation(
    builder: BundleBuilder,
    prediction: Mapping[str, Any],
    code: dict[str, Any],
    subject: Subject | None,
    *,
    category: list[dict[str, Any]] | None = None,
    derived_from: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The Observation of one classification (imaging, text): ``preliminary`` (an AI finding
    awaits a human), the predicted label as its value with the model's confidence in it, every
    label's probability as a component, the warnings and an out-of-distribution caution as notes."""
    label = str(prediction["label"])
    obs: dict[str, Any] = {
        "resourceType": "Observation",
        "extension": [_confidence(float(prediction["probabilities"][label]))],
        "status": "preliminary",
    }
    if category is not None:
        obs["category"] = category
    obs["code"] = code
    if subject is not None:
        obs["subject"] = subject.as_reference()
    # No effective[x]: when the image was taken or the note written is the input's (its header or
    # the EHR's), not ours; ``issued`` is when this result was made.
    obs |= {
        "issued": builder.now,
        "device": builder.device_reference(),
        "valueCodeableConcept": {"text": label},
    }
    notes = _notes(prediction) + _ood_note(prediction)
    if notes:
        obs["note"] = notes
    if derived_from is not None:
        obs["derivedFrom"] = derived_from
    obs["component"] = _probability_components(prediction)
    return obs


def imaging_bundle(
    builder: BundleBuilder,
    prediction: Mapping[str, Any],
    explanation: Mapping[str, Any] | None,
    study: Mapping[str, str] | None = None,
    subject: Subject | None = None,
) -> dict[str, Any]:
    """An imaging Observation and the DiagnosticReport presenting it (both ``preliminary``: an
    AI finding awaits a reader). ``study``: the DICOM input's UIDs (study, series, SOP instance),
    referenced as ``derivedFrom``/``imagingStudy`` by identifier only."""
    card = builder.card
    label = str(prediction["label"])
    p_label = float(prediction["probabilities"][label])
    code = _observation_code(card, f"{card.name}: {card.task}")
    study_ref = _study_reference(study) if study else None
    obs = _ai_observation(
        builder,
        prediction,
        code,
        subject,
        category=[{"coding": [{"system": _OBSERVATION_CATEGORY, "code": "imaging", "display": "Imaging"}]}],
        derived_from=[study_ref] if study_ref is not None else None,
    )
    obs_url = builder.add(obs, "observation")

    threshold = prediction.get("decision_threshold")
    conclusion = f"{label} (AI estimate, p = {p_label:.3f}"
    conclusion += f"; decision threshold {threshold})" if threshold is not None else ")"
    conclusion += f". {card.intended_use}"
    report: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "status": "preliminary",
        "category": [{"coding": [{"system": _V2_0074, "code": "RAD", "display": "Radiology"}]}],
        "code": code,
    }
    if subject is not None:
        report["subject"] = subject.as_reference()
    report["issued"] = builder.now
    if study_ref is not None:
        report["imagingStudy"] = [study_ref]
    report |= {"result": [{"reference": obs_url}], "conclusion": conclusion}
    if explanation and explanation.get("overlay_png_base64"):
        report["presentedForm"] = [
            {
                "contentType": "image/png",
                "data": explanation["overlay_png_base64"],
                "title": f"occlusion map: {explanation.get('summary', '')}".strip(),
            }
        ]
    builder.add(report, "report")
    return builder.build()


def _study_reference(study: Mapping[str, str]) -> dict[str, Any] | None:
    uid = study.get("study_instance_uid")
    if not uid:
        return None
    ref: dict[str, Any] = {
        "type": "ImagingStudy",
        "identifier": {"system": _DICOM_UID, "value": f"urn:oid:{uid}"},
    }
    # R4 has no reference to one SOP instance outside ImagingStudy: the UIDs go in the display.
    parts = [f"{k.replace('_instance_uid', '').replace('_', ' ')} {v}" for k, v in study.items() if v]
    ref["display"] = "DICOM " + "; ".join(parts)
    return ref


def text_bundle(
    builder: BundleBuilder, prediction: Mapping[str, Any], subject: Subject | None = None
) -> dict[str, Any]:
    """The specialty a note was routed to, as an Observation (``preliminary``: for a human to
    confirm, as the card's intended use says)."""
    code = _observation_code(builder.card, "specialty the clinical note most concerns (routing suggestion)")
    builder.add(_ai_observation(builder, prediction, code, subject), "observation")
    return builder.build()


def operation_outcome(request_id: str, error: MedserveError | None = None, **fields: Any) -> dict[str, Any]:
    """An error as OperationOutcome: one issue for the error (its code mapped to a FHIR IssueType),
    one per detail naming the field (as ``expression``). ``fields`` (code, message, details,
    status) describe an error that is not a MedserveError (the generic 500)."""
    code = error.code if error is not None else str(fields.get("code", "INTERNAL"))
    message = error.message if error is not None else str(fields.get("message", "internal error"))
    details = error.details if error is not None else list(fields.get("details", []))
    status = error.status if error is not None else int(fields.get("status", 500))
    severity = "error" if status < 500 else "fatal"
    issues: list[dict[str, Any]] = [
        {
            "severity": severity,
            "code": ISSUE_CODES.get(code, "exception"),
            "details": {"text": message},
            "diagnostics": f"{code} (HTTP {status}); request id {request_id}",
        }
    ]
    for detail in details:
        if not isinstance(detail, Mapping):
            continue
        issue: dict[str, Any] = {
            "severity": severity,
            "code": "value" if code == "INVALID_INPUT" else ISSUE_CODES.get(code, "exception"),
            "details": {"text": str(detail.get("issue") or detail.get("message") or message)},
        }
        if detail.get("field"):
            issue["expression"] = [str(detail["field"])]
        issues.append(issue)
    return {"resourceType": "OperationOutcome", "issue": issues}


def audit_view(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit trail reads from a FHIR answer, in the shape of the JSON envelope: the model
    (from the Bundle's Device) or the error code (from the OperationOutcome this module wrote)."""
    if document.get("resourceType") == "Bundle":
        for entry in document.get("entry") or []:
            device = entry.get("resource") or {}
            if device.get("resourceType") != "Device":
                continue
            sha = next(
                (
                    str(i.get("value")).removeprefix("nih:sha-256;")
                    for i in device.get("identifier") or []
                    if str(i.get("value", "")).startswith("nih:sha-256;")
                ),
                None,
            )
            return {
                "model": {
                    "name": (device.get("deviceName") or [{}])[0].get("name"),
                    "version": (device.get("version") or [{}])[0].get("value"),
                    "sha256": sha,
                }
            }
    if document.get("resourceType") == "OperationOutcome":
        first = (document.get("issue") or [{}])[0]
        if first.get("severity") in ("error", "fatal"):
            # operation_outcome writes "<CODE> (HTTP <status>); request id <id>".
            return {"error": {"code": str(first.get("diagnostics", "")).split(" ", 1)[0] or "INTERNAL"}}
    return {}


def information_outcome(text: str) -> dict[str, Any]:
    """An informational OperationOutcome (e.g. a prediction accepted as an asynchronous job)."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "information", "code": "informational", "details": {"text": text}}],
    }


def ndjson(bundle: Mapping[str, Any]) -> bytes:
    """A Bundle's resources, one per line (Bulk Data style NDJSON).

    Outside a Bundle a ``urn:uuid`` full URL resolves to nothing: each resource gets the uuid as
    its ``id`` and every reference to a full URL becomes ``Type/id``.
    """
    ids: dict[str, str] = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        ids[entry["fullUrl"]] = f"{resource['resourceType']}/{entry['fullUrl'].rsplit(':', 1)[-1]}"
    lines = []
    for entry in bundle["entry"]:
        resource = {
            "resourceType": entry["resource"]["resourceType"],
            "id": ids[entry["fullUrl"]].split("/")[1],
        }
        resource |= _relinked({k: v for k, v in entry["resource"].items() if k != "resourceType"}, ids)
        lines.append(json.dumps(resource, allow_nan=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode()


def _relinked(value: Any, ids: Mapping[str, str]) -> Any:
    if isinstance(value, Mapping):
        return {
            k: (ids.get(v, v) if k == "reference" and isinstance(v, str) else _relinked(v, ids))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_relinked(v, ids) for v in value]
    return value
