"""Wire formats of the HTTP API (pydantic): what the OpenAPI document publishes.

Also the two helpers every route declaration uses: :func:`error_responses` (the documented error
answers) and :data:`JSON_BODY` (a JSON-body route that refuses any other media type with 415).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from pydantic import BaseModel, ConfigDict, Field

from medserve.errors import InvalidInput, MalformedRequest
from medserve.imaging.sources import BASE64_PATTERN, UPLOAD_PREFIX
from medserve.interop.fhir import Subject
from medserve.interop.subjects import SUBJECT, SUBJECT_SCHEMA, parse_subject
from medserve.wire import check_unicode, json_text_is_encodable


class _Wire(BaseModel):
    # strict: the published types are the accepted ones (lax pydantic took 0, 1 and "yes" for a bool).
    model_config = ConfigDict(extra="forbid", strict=True)


def split_subjects(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[Subject | None]]:
    """The records without their optional ``subject`` key, and the subjects (None where absent).

    422 naming ``records[i].subject`` for a subject that is not a reference or an identifier.
    """
    stripped: list[dict[str, Any]] = []
    subjects: list[Subject | None] = []
    issues: list[dict[str, Any]] = []
    for i, record in enumerate(records):
        if not isinstance(record, dict) or SUBJECT not in record:
            stripped.append(record)
            subjects.append(None)
            continue
        stripped.append({k: v for k, v in record.items() if k != SUBJECT})
        try:
            subjects.append(parse_subject(record[SUBJECT], f"records[{i}].{SUBJECT}"))
        except InvalidInput as e:
            subjects.append(None)
            issues += e.details
    if issues:
        raise InvalidInput("subject is not a FHIR reference or identifier", issues)
    return stripped, subjects


def json_object(body: str | None, is_base64: bool) -> dict[str, Any]:
    """The JSON object of a body a route reads itself (one route, raw or JSON bodies: imaging;
    a size check before parsing: multi-modal): 400 when empty, not JSON or not an object, 422 for
    text that is not valid Unicode. The JSON_BODY routes get the same answers from powertools."""
    if not body:
        raise MalformedRequest("the request body is empty")
    try:
        text = base64.b64decode(body, validate=True).decode("utf-8") if is_base64 else body
        payload = json.loads(text)
    # UnicodeDecodeError and JSONDecodeError are ValueErrors; RecursionError: nested too deeply.
    except (binascii.Error, ValueError, RecursionError) as e:
        raise MalformedRequest("the request body is not valid JSON") from e
    if not isinstance(payload, dict):
        raise MalformedRequest("the request body must be a JSON object")
    check_unicode(payload)
    return payload


class TabularPredictRequest(_Wire):
    model: str | None = Field(default=None, description="model name; default: the deployment's tabular model")
    records: list[dict[str, Any]] = Field(
        description="one object per case, feature name -> number, exactly the card's features "
        "(GET /v1/models/{name}: inputs), at most the card's max_records (413 beyond)",
        # Published, not enforced by pydantic: validate_records checks the records against the card
        # (422 naming the record and field) whatever their shape.
        json_schema_extra={
            "minItems": 1,
            "items": {
                "type": "object",
                "minProperties": 1,
                "description": "feature name -> number; optionally `subject` (whom the record is about, "
                "for FHIR answers: {reference} or {identifier: {system, value}})",
                "properties": {SUBJECT: SUBJECT_SCHEMA},
                "additionalProperties": {"type": "number"},
            },
        },
    )
    explain: bool = Field(default=False, description="add per-feature Shapley contributions")

    def __repr__(self) -> str:
        # Never the records: powertools formats route arguments into a debug f-string on every
        # call (evaluated even when DEBUG is off), and a repr must not carry patient values.
        return (
            f"TabularPredictRequest(model={self.model!r}, records=<{len(self.records)}>, "
            f"explain={self.explain})"
        )

    __str__ = __repr__


# The image of a JSON request (imaging and multi-modal routes): the file inline, or an object
# already under uploads/imaging/ (medserve.imaging.sources reads either). Each route gives its own
# default and description. The patterns are published, and enforced by the sources (422) rather
# than by pydantic.
ImageBase64 = Annotated[str | None, Field(json_schema_extra={"pattern": BASE64_PATTERN})]
ImageS3Uri = Annotated[
    str | None, Field(max_length=1100, json_schema_extra={"pattern": f"^s3://[^/]+/{UPLOAD_PREFIX}."})
]


class ModelRefOut(BaseModel):
    name: str
    version: str
    sha256: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["INVALID_INPUT"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    request_id: str
    error: ErrorBody


class OodOut(BaseModel):
    """How far the input lies from the model's training data (docs/ood.md)."""

    score: float | None = Field(description="higher = further from the training data; null: not calibrated")
    threshold: float | None = Field(description="scores above it are out of distribution")
    in_distribution: bool | None
    method: str = Field(examples=["mahalanobis", "max-cosine-centroid", "none"])


class PredictionOut(BaseModel):
    model_config = ConfigDict(extra="allow")  # modality-specific fields (probability, warnings, ...)

    label: str
    probabilities: dict[str, float] = Field(description="{label: p}, summing to 1")
    ood: OodOut


class PredictEnvelope(BaseModel):
    request_id: str
    model: ModelRefOut
    placement: Literal["lambda", "sagemaker-realtime", "sagemaker-async"] = "lambda"
    ran_on: dict[str, Any] = Field(default_factory=dict, description="placement, endpoint and why")
    predictions: list[PredictionOut]
    explanations: list[dict[str, Any]] = Field(default_factory=list)
    timing_ms: dict[str, float]
    intended_use: str


# The FHIR answer a negotiating route documents beside its JSON (validated in the tests with
# fhir.resources; no FHIR library ships in the layer).
FHIR_CONTENT: dict[str, Any] = {
    "application/fhir+json": {
        "schema": {
            "type": "object",
            "description": "FHIR R4 Bundle (type collection) with AIAST-labelled results, Device, "
            "DocumentReference (model card) and Provenance; see docs/fhir.md",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "enum": ["Bundle"]}},
        }
    }
}


class AcceptedJob(BaseModel):
    """``202``: a prediction accepted as an asynchronous job (``GET /v1/jobs/{id}`` answers it)."""

    request_id: str
    job_id: str
    status: Literal["queued", "running"]
    job_url: str
    model: ModelRefOut
    placement: Literal["sagemaker-async"]
    ran_on: dict[str, Any] = Field(default_factory=dict)
    intended_use: str


class ModelSummary(BaseModel):
    name: str
    version: str
    modality: str
    task: str
    placement: str
    intended_use: str
    sha256: str
    source: str


class ModelList(BaseModel):
    request_id: str
    models: list[ModelSummary]


class Health(BaseModel):
    status: Literal["ok"]
    service: str
    version: str
    function: str | None = None


class CardEnvelope(BaseModel):
    request_id: str
    model: dict[str, Any] = Field(description="the model card (see README: model cards)")


VALIDATION_ERROR = {
    422: {"description": "invalid parameters", "content": {"application/json": {"model": ErrorEnvelope}}}
}
"""Every route's ``422``: powertools documents one for each route, with its own body by default."""


def error_responses(descriptions: Mapping[int, str], *codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI ``responses`` entries for a route's errors (all of ``descriptions`` unless ``codes``
    picks some), each with the error envelope as its body."""
    return {
        code: {"description": descriptions[code], "content": {"application/json": {"model": ErrorEnvelope}}}
        for code in (codes or tuple(descriptions))
    }


def media_type(headers: Mapping[str, str]) -> str:
    """The media type a request's body declares, lower-cased, without parameters; "" if none.

    The one rule for every route that takes a body: a body must say what it is. A request
    without ``Content-Type`` gets 415 like any other type the route does not take (curl's ``-d``
    sends a form type; only a hand-built request omits it), never a guess from its bytes.
    """
    return (headers.get("content-type") or "").split(";", 1)[0].strip().lower()


def _json_only(app: Any, next_middleware: Any) -> Any:
    """415 for a body that is not ``application/json`` (or has no content type), 400 for one that
    is not JSON or not a JSON object, 422 for text in it that is not valid Unicode, before
    powertools parses it.

    Powertools would parse form and multipart bodies into the model (a multipart type without a
    boundary raised: 500; a form body's keys, the caller's text, came back as field names), and
    only catches ``JSONDecodeError``: a body that is not UTF-8 or nests too deeply was a 500.
    """
    event = app.current_event
    if media_type(event.headers) != "application/json":  # missing included: see media_type
        raise RequestUnsupportedContentType("Unsupported content type", errors=[])
    try:
        body = event.json_body  # parsed once here, cached for the validation that follows
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, binascii.Error
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}, "ctx": {}}]
        ) from e
    # Powertools validates the FIRST element of a top-level array as the body: the rest vanished.
    if not isinstance(body, dict):
        raise MalformedRequest("the request body must be a JSON object")
    if not json_text_is_encodable(event.decoded_body):
        check_unicode(body)
    return next_middleware(app)


JSON_BODY: dict[str, Any] = {
    # A route's middlewares run after powertools' request validation, which is what parses the
    # body: so validation is off for the route and runs as its second middleware, after the check.
    # (Responses are unchanged: the routes return ready JSON, which response validation passed on.)
    "enable_validation": False,
    "middlewares": [_json_only, OpenAPIRequestValidationMiddleware()],
}
"""``@router.post(..., **JSON_BODY)``: a route whose body is a pydantic model, JSON only."""


class GroundTruthRequest(_Wire):
    inference_id: str = Field(
        min_length=3,
        max_length=160,
        pattern=r"^[A-Za-z0-9=_.+/-]+:[0-9]{1,7}$",
        description="the prediction's id: '<request_id>:<index>' of an API answer (the response's "
        "request_id and the item's position in predictions), or a batch result row's inference_id",
    )
    label: str = Field(
        min_length=1, max_length=64, description="the true label, one of the model card's output labels"
    )


class GroundTruthAccepted(BaseModel):
    request_id: str
    inference_id: str
    stored: bool
