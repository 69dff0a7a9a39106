"""``POST /v1/imaging/predict``: one image in, label, calibrated probabilities and an occlusion map
out; ``POST /v1/imaging/deidentify``: one DICOM file in, the same file de-identified out.

Two request shapes:

* a raw body with ``Content-Type: image/png``, ``image/jpeg`` or ``application/dicom`` (API
  Gateway delivers it base64-encoded, ``isBase64Encoded: true``), query ``model`` and ``explain``;
* JSON ``{"image_base64": str | "s3_uri": str, "model"?: str, "explain"?: bool}``; an ``s3_uri``
  must name an object under ``uploads/imaging/`` of the deployment's uploads bucket (the only
  place the function may read), up to 50 MB.

Sizes are checked before anything is decoded (base64 included): 4.5 MB of image through the API
(Lambda's 6 MB payload after base64), else ``POST /v1/uploads``.

De-identification (:mod:`medserve.imaging.deid`, PS3.15 Annex E basic profile) takes a raw
``application/dicom`` body of the same size and answers ``application/dicom`` with the header
``X-Medserve-Burned-In-Risk`` (``yes; reasons=...`` or ``no``): text burned into the pixels is
flagged, never removed. Several files of one study in one ``multipart/related;
type="application/dicom"`` body (as DICOMweb STOW-RS sends them) are one batch: UIDs and the
per-patient date offset are consistent across them, and the answer is ``multipart/related`` in
the same order, each part with its own risk header. Larger files: ``uploads/imaging-deid/``.
"""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import base64
import binascii
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medserve.api.responses import fhir_response, json_response, negotiated, negotiation_check, request_id
from medserve.api.schemas import (
    FHIR_CONTENT,
    ImageBase64,
    ImageS3Uri,
    PredictEnvelope,
    error_responses,
    json_object,
    media_type,
    parse_subject,
)
from medserve.aws.s3 import upload_prefix
from medserve.errors import (
    InvalidInput,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from medserve.imaging.deid import DEID_MODALITY, BurnedInRisk, DeidentifiedDicom, DicomDeidentifier
from medserve.imaging.model import capture_prediction, predict_image
from medserve.imaging.pixels import check_size
from medserve.imaging.sources import image_from_base64, image_from_s3
from medserve.imaging.types import MAX_INLINE_BYTES, MAX_UPLOAD_BYTES, MEDIA_TYPES
from medserve.interop import fhir, sr
from medserve.interop.multipart import MULTIPART_RELATED, join_related, split_related
from medserve.interop.negotiation import DICOM, FHIR_JSON, JSON
from medserve.interop.subjects import publish_subject, refuse_null
from medserve.observability import Stopwatch, record_prediction, tracer
from medserve.security.audit import MODEL_HEADER
from medserve.wire import flag_from

__all__ = ["BURNED_IN_HEADER", "ImagingPredictRequest", "router"]

router = APIGatewayHttpRouter()
# A DICOM SR answers DICOM inputs only: other inputs are offered JSON and FHIR (see _offers).
OFFERS = (JSON, FHIR_JSON, DICOM)

_DEID_TOO_BIG_HINT = f"; put larger files under {upload_prefix(DEID_MODALITY)} of the uploads bucket"
_TOO_BIG_HINT = "; send larger images through POST /v1/uploads"
BURNED_IN_HEADER = "X-Medserve-Burned-In-Risk"
# Lambda's synchronous response limit (6 MB) holds the base64 of the file and the response's JSON.
_MAX_RESPONSE_BASE64 = 6 * 1024 * 1024 - 16 * 1024
MAX_DEID_PARTS = 100  # files in one multipart request (a series of small images fits; more: S3)
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_ERRORS = {
    400: "malformed request (empty body, JSON that is not an object)",
    404: "unknown model",
    406: "the Accept header (or _format) allows no answer for this input (a DICOM SR needs a DICOM input)",
    413: "image over the byte or pixel limit",
    415: "unsupported media type, image format or DICOM transfer syntax",
    422: "invalid image (truncated, corrupt, not an image, DICOM without pixel data) or request fields "
    "(INVALID_INPUT); an image outside the model's intended use (OUT_OF_SCOPE: e.g. a DICOM Modality it does "
    "not accept)",
    502: "S3 failed",
    503: "the model runs on SageMaker (imaging offload is not offered yet)",
}


class ImagingPredictRequest(BaseModel):
    """The JSON form of ``POST /v1/imaging/predict``."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,  # the published types, no coercion
        # Published for _one_source, which pydantic cannot express in the schema it generates.
        json_schema_extra={
            "oneOf": [
                {"required": ["image_base64"], "properties": {"image_base64": {"type": "string"}}},
                {"required": ["s3_uri"], "properties": {"s3_uri": {"type": "string"}}},
            ]
        },
    )

    image_base64: ImageBase64 = Field(
        default=None, description="the PNG, JPEG or DICOM file, base64 (a data: URL prefix is accepted)"
    )
    s3_uri: ImageS3Uri = Field(
        default=None, description="s3://<uploads bucket>/uploads/imaging/<key>: an object already uploaded"
    )
    model: str | None = Field(
        default=None, max_length=64, description="model name; default: the imaging model"
    )
    explain: bool | None = Field(default=None, description="add an occlusion map (default false)")
    subject: dict | None = Field(
        default=None,
        description="whom the image shows, for FHIR answers: {reference} or {identifier: {system, value}}",
        json_schema_extra=publish_subject,
    )

    @field_validator("subject", mode="before")
    @classmethod
    def _subject_not_null(cls, value: Any) -> Any:
        return refuse_null(value)

    @model_validator(mode="after")
    def _one_source(self) -> "ImagingPredictRequest":
        if (self.image_base64 is None) == (self.s3_uri is None):
            raise ValueError("give exactly one of image_base64 and s3_uri")
        return self

    def __repr__(self) -> str:
        # Never the image: powertools and tracebacks format arguments; pixels are patient data.
        return f"ImagingPredictRequest(model={self.model!r}, explain={self.explain})"

    __str__ = __repr__


_RAW_IMAGE = {"schema": {"type": "string", "format": "binary", "minLength": 1}}  # empty: 400
_REQUEST_BODY = {
    # The route reads the body itself (two shapes, one route): described here for the document.
    "required": True,
    "content": {
        "image/png": _RAW_IMAGE,
        "image/jpeg": _RAW_IMAGE,
        "application/dicom": _RAW_IMAGE,
        "application/json": {"schema": ImagingPredictRequest.model_json_schema()},
    },
}


@router.post(
    "/v1/imaging/predict",
    summary="classify one image (PNG, JPEG or DICOM), optionally with an occlusion map",
    description=(
        "Raw body with Content-Type image/png, image/jpeg or application/dicom (query: model, explain), "
        "or JSON {image_base64 | s3_uri, model?, explain?}. DICOM responses carry a `dicom` block of "
        "technical attributes only (modality, rows, columns, photometric interpretation, frames)."
    ),
    tags=["imaging"],
    responses={
        200: {
            "description": "prediction (JSON); negotiated: a FHIR R4 Bundle (Observation, DiagnosticReport), "
            "or, for a DICOM input, a DICOM Comprehensive SR in the input's study",
            "content": {
                "application/json": {"model": PredictEnvelope},
                **FHIR_CONTENT,
                "application/dicom": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **error_responses(_ERRORS),
    },
    openapi_extensions={"requestBody": _REQUEST_BODY},
    middlewares=[negotiation_check(OFFERS)],
)
@tracer.capture_method(capture_response=False)  # responses carry patient-derived values
def imaging_predict(
    model: Annotated[str | None, Query(max_length=64, description="model name (raw bodies)")] = None,
    explain: Annotated[bool, Query(description="add an occlusion map (raw bodies): true or false")] = False,
):
    event = router.current_event
    # Declared for the document; the value is the query's text read by the one flag parser
    # (medserve.wire): powertools' lax bool took "yes", "on" and "1".
    explain = flag_from(event.query_string_parameters or {}, "explain", "query.explain")
    media = media_type(event.headers)
    subject = None
    if media in MEDIA_TYPES:
        data, max_bytes = _raw_image(event.get("body"), bool(event.get("isBase64Encoded"))), MAX_INLINE_BYTES
    elif media == "application/json":
        request = _json_request(event.get("body"), bool(event.get("isBase64Encoded")))
        model = request.model or model
        explain = request.explain if request.explain is not None else explain
        subject = parse_subject(request.subject, "subject")
        if request.image_base64 is not None:
            data, max_bytes = image_from_base64(request.image_base64), MAX_INLINE_BYTES
        else:
            data, max_bytes = image_from_s3(request.s3_uri or ""), MAX_UPLOAD_BYTES
    else:
        raise UnsupportedMediaType(
            "this route accepts image/png, image/jpeg, application/dicom or application/json bodies"
        )
    # Known from the bytes before anything is decoded: a DICOM SR is offered for DICOM only.
    is_dicom = data[128:132] == b"DICM"
    answer_as = negotiated(router, OFFERS if is_dicom else (JSON, FHIR_JSON))
    body = predict_image(data, model=model, explain=explain, max_bytes=max_bytes)
    card = capture_prediction(body, route="POST /v1/imaging/predict", request_id=request_id(router))
    if answer_as == JSON:
        return json_response(200, {"request_id": request_id(router), **body})
    prediction = body["predictions"][0]
    if answer_as == DICOM:
        report = sr.dicom_sr(data, card, body["model"], prediction)
        ref = body["model"]
        named = {MODEL_HEADER: f"{ref['name']} {ref['version']} {ref.get('sha256', '')}".strip()}
        return Response(200, DICOM, report, headers=named)
    study = sr.input_uids(sr.read_header(data)) if body["input"]["format"] == "dicom" else None
    builder = fhir.BundleBuilder(request_id(router), card, body["model"])
    explanation = body["explanations"][0] if body["explanations"] else None
    return fhir_response(200, fhir.imaging_bundle(builder, prediction, explanation, study, subject))


_DEID_ERRORS = {
    400: "malformed request (empty body, not valid base64, a multipart body without boundary or parts)",
    406: "the Accept header excludes the answer's type (application/dicom, or multipart/related)",
    413: "body over the size limit, or a de-identified answer too large for a synchronous answer",
    415: "a Content-Type other than application/dicom or multipart/related of application/dicom parts",
    422: "not a DICOM Part 10 file, or one that is truncated or corrupt (details name the part)",
    502: "S3 failed (the audit trail)",
}


@router.post(
    "/v1/imaging/deidentify",
    summary="de-identify DICOM files (PS3.15 Annex E basic profile, modified dates)",
    description=(
        "Raw body: one DICOM Part 10 file (Content-Type application/dicom, up to 4.5 MB), or several "
        'as multipart/related; type="application/dicom" (up to 100 parts, 4.5 MB in all; answered '
        "as multipart/related in the same order). Answer: the files de-identified per DICOM PS3.15 "
        "Annex E, Basic Application Level Confidentiality Profile with the Retain Longitudinal "
        "Temporal Information with Modified Dates option: identifying attributes removed, emptied or "
        "replaced, private elements removed, UIDs replaced (consistently across the request's "
        "files), dates shifted by one undisclosed offset per patient, PatientIdentityRemoved YES, "
        "pixel data byte-identical. Text burned into the pixels is not removed: the "
        f"{BURNED_IN_HEADER} header (on the answer, and on each part) says whether it is likely "
        "(`yes; reasons=...` or `no`). Larger files: the S3 trigger on uploads/imaging-deid/."
    ),
    tags=["imaging"],
    responses={
        200: {
            "description": "the de-identified DICOM file",
            "headers": {
                BURNED_IN_HEADER: {
                    "description": "`yes; reasons=<comma-separated>` when text may be burned into the "
                    "pixels (BurnedInAnnotation YES or not stated, modalities such as US, XA, ES, "
                    "secondary captures), else `no`; pixels are never cleaned",
                    "schema": {"type": "string"},
                }
            },
            "content": {DICOM: _BINARY, MULTIPART_RELATED: _BINARY},
        },
        **error_responses(_DEID_ERRORS),
    },
    openapi_extensions={
        "requestBody": {"required": True, "content": {DICOM: _RAW_IMAGE, MULTIPART_RELATED: _RAW_IMAGE}}
    },
)
@tracer.capture_method(capture_response=False)  # the answer is a patient's file
def imaging_deidentify():
    event = router.current_event
    content_type = event.headers.get("content-type") or ""
    media = content_type.split(";", 1)[0].strip().lower()
    if media not in (DICOM, MULTIPART_RELATED):
        raise UnsupportedMediaType(
            "this route accepts application/dicom (one DICOM Part 10 file) or multipart/related "
            "(several) bodies"
        )
    negotiated(router, (media,))  # 406 before the body is read: the answer has the request's type
    clock = Stopwatch()
    data = _raw_image(event.get("body"), bool(event.get("isBase64Encoded")), hint=_DEID_TOO_BIG_HINT)
    files = [data] if media == DICOM else _dicom_parts(data, content_type)
    results = _deidentified(files, multipart=media != DICOM)
    risk = BurnedInRisk.combined(r.burned_in for r in results)
    if media == DICOM:
        answer_type, answer = DICOM, results[0].data
    else:
        answer_type, answer = join_related(
            [({BURNED_IN_HEADER: r.burned_in.header()}, r.data) for r in results], part_type=DICOM
        )
    if (len(answer) + 2) // 3 * 4 > _MAX_RESPONSE_BASE64:
        raise PayloadTooLarge(
            f"the de-identified answer ({len(answer)} bytes) is too large for a synchronous answer"
            + _DEID_TOO_BIG_HINT
        )
    record_prediction(
        "dicom de-identified",
        count=len(results),
        total_ms=clock.total_ms(),
        format="dicom",
        files=len(results),
        burned_in_risk=risk.risk,
        **_total_counts(results),
    )
    return Response(
        status_code=200,
        content_type=answer_type,
        body=answer,  # bytes: powertools answers them base64-encoded (isBase64Encoded)
        headers={BURNED_IN_HEADER: risk.header(), "Cache-Control": "no-store"},
    )


def _dicom_parts(data: bytes, content_type: str) -> list[bytes]:
    """The DICOM files of a multipart/related body: every part application/dicom (415 otherwise)."""
    parts = split_related(data, content_type, max_parts=MAX_DEID_PARTS)
    for index, (headers, _) in enumerate(parts):
        kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind != DICOM:
            raise UnsupportedMediaType(
                "every part of a multipart/related body must be application/dicom",
                [{"field": f"part[{index}]", "issue": "not application/dicom"}],
            )
    return [body for _, body in parts]


def _deidentified(files: list[bytes], *, multipart: bool) -> list[DeidentifiedDicom]:
    """One batch (one UID map, one offset per patient); a part that fails is named."""
    session = DicomDeidentifier()
    results = []
    for index, data in enumerate(files):
        try:
            results.append(session.deidentify(data))
        except InvalidInput as e:
            if not multipart:
                raise
            raise InvalidInput(e.message, [{"field": f"part[{index}]", "issue": e.message}]) from e
    return results


def _total_counts(results: list[DeidentifiedDicom]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for result in results:
        for name, value in vars(result.counts).items():
            totals[name] = totals.get(name, 0) + value
    return totals


def _raw_image(body: str | None, is_base64: bool, *, hint: str = _TOO_BIG_HINT) -> bytes:
    if not body:
        raise MalformedRequest("the request body is empty: send the image file as the body")
    if not is_base64:  # API Gateway base64-encodes binary media types; a text body is no image
        body_bytes = body.encode("utf-8", "surrogateescape")
        check_size(len(body_bytes), MAX_INLINE_BYTES, hint=hint)
        return body_bytes
    check_size(len(body) * 3 // 4, MAX_INLINE_BYTES, hint=hint)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as e:
        raise MalformedRequest("the request body is not valid base64") from e


def _json_request(body: str | None, is_base64: bool) -> ImagingPredictRequest:
    payload = json_object(body, is_base64)
    if isinstance(payload.get("image_base64"), str):
        # Before pydantic copies it around: a huge string is refused on its length alone.
        check_size(len(payload["image_base64"]) * 3 // 4, MAX_INLINE_BYTES, hint=_TOO_BIG_HINT)
    try:
        return ImagingPredictRequest.model_validate(payload)
    except ValidationError as e:
        details = [
            {
                "field": ".".join(str(p) for p in err.get("loc", ())) or "body",
                "issue": err.get("msg", "invalid"),
            }
            for err in e.errors(include_input=False, include_url=False)
        ]
        raise InvalidInput("the request does not match the schema", details) from e
