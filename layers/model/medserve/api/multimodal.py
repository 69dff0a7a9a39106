"""``POST /v1/multimodal/predict``: a record, an image and a note in, one fused prediction out.

JSON ``{model?, tabular?: {record}, image_base64? | image_s3_uri?, text?, explain?}``. Each part
is validated by its own modality's rules (the same error codes; fields prefixed ``tabular.``,
``image.``, ``text.``); none at all is a 422. The whole body is refused over
:data:`MAX_REQUEST_BYTES` before it is parsed (413), and the work is bounded in time by the card's
``multimodal.time_budget_seconds`` and the function's remaining time (504, naming the step).
Nothing of the parts (values, pixels, text) is logged: logs carry the model, the modalities
used and timings.
"""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import time
from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medserve.api.responses import json_response, request_id
from medserve.api.schemas import (
    ImageBase64,
    ImageS3Uri,
    ModelRefOut,
    error_responses,
    json_object,
    media_type,
)
from medserve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from medserve.imaging.pixels import check_size
from medserve.imaging.sources import image_from_base64, image_from_s3
from medserve.imaging.types import MAX_INLINE_BYTES, MAX_UPLOAD_BYTES
from medserve.monitoring.capture import capture_outputs
from medserve.multimodal import predict as multimodal
from medserve.multimodal.members import prefixed
from medserve.observability import model_dimensions, record_prediction, tracer
from medserve.services import get_services

__all__ = ["MAX_REQUEST_BYTES", "MultimodalPredictRequest", "router"]

router = APIGatewayHttpRouter()
# Lambda's synchronous payload limit is 6 MB: an inline image (4.5 MB, 6 MB as base64) is the
# bulk; larger images go by image_s3_uri. Checked on the raw body, before any parsing.
MAX_REQUEST_BYTES = 6 * 1024 * 1024
_LAMBDA_MARGIN_S = 1.0  # time left to build and send the 504 itself


class MultimodalPredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(
        default=None, max_length=64, description="fusion model; default: the deployment's"
    )
    tabular: dict[str, Any] | None = Field(
        default=None,
        description="one record: exactly the tabular member's features (its card), as numbers",
        json_schema_extra={"additionalProperties": {"type": "number"}},
    )
    image_base64: ImageBase64 = Field(
        default=None, description="a PNG, JPEG or DICOM file, base64 (at most 4.5 MB decoded)"
    )
    image_s3_uri: ImageS3Uri = Field(
        default=None,
        description="s3://<uploads bucket>/uploads/imaging/<key> (POST /v1/uploads): up to 50 MB",
    )
    text: str | None = Field(default=None, description="the note (the text member's limits apply)")
    explain: bool = Field(
        default=False,
        description="add exact Shapley values over the modalities present and each member's own explanation",
    )

    def __repr__(self) -> str:
        # Never the parts: powertools and tracebacks format arguments; they are patient data.
        given = [
            k for k in ("tabular", "image_base64", "image_s3_uri", "text") if getattr(self, k) is not None
        ]
        return f"MultimodalPredictRequest(model={self.model!r}, given={given}, explain={self.explain})"

    __str__ = __repr__


class ModalitiesOut(BaseModel):
    used: list[str]
    missing: list[str]


class MultimodalEnvelope(BaseModel):
    request_id: str
    model: ModelRefOut
    placement: str = "lambda"
    modalities: ModalitiesOut
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]] = Field(default_factory=list)
    members: list[dict[str, Any]] = Field(description="each member's model, log-odds and own prediction")
    timing_ms: dict[str, float]
    intended_use: str


_ERRORS = {
    400: "malformed JSON, or JSON that is not an object",
    404: "unknown model",
    413: "body over 6 MB, an image over its limit, text over the text member's limit",
    415: "not application/json",
    422: "no modality, or a part invalid by its modality's rules (fields tabular.*, image.*, text.*), "
    "or outside a member's intended use (OUT_OF_SCOPE)",
    502: "S3 failed, or a member model differs from the one the fusion head was trained on",
    504: "the prediction ran out of its time budget",
}


@router.post(
    "/v1/multimodal/predict",
    summary="one prediction from a record, an image and a note together (late fusion)",
    tags=["multimodal"],
    responses={
        200: {
            "description": "fused prediction",
            "content": {"application/json": {"model": MultimodalEnvelope}},
        },
        **error_responses(_ERRORS),
    },
    openapi_extensions={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": MultimodalPredictRequest.model_json_schema()}},
        }
    },
)
@tracer.capture_method(capture_response=False)  # responses carry patient-derived values
def multimodal_predict():
    started = time.monotonic()
    event = router.current_event
    if media_type(event.headers) != "application/json":
        raise UnsupportedMediaType("this route accepts application/json bodies")
    request = _parse(event.get("body"), bool(event.get("isBase64Encoded")))
    model = multimodal.load(request.model)
    model_dimensions(model.card.name, model.card.version)
    image, max_bytes = None, MAX_INLINE_BYTES
    with prefixed("image"):
        if request.image_base64 is not None and request.image_s3_uri is not None:
            raise InvalidInput(
                "give at most one of image_base64 and image_s3_uri",
                [{"field": "", "issue": "both image_base64 and image_s3_uri"}],
            )
        if request.image_base64 is not None:
            image = image_from_base64(request.image_base64)
        elif request.image_s3_uri is not None:
            image, max_bytes = image_from_s3(request.image_s3_uri), MAX_UPLOAD_BYTES
    query = multimodal.MultimodalQuery(
        tabular=request.tabular,
        image=image,
        text=request.text,
        explain=request.explain,
        image_max_bytes=max_bytes,
    )
    budget = model.spec.time_budget_seconds
    context = router.lambda_context
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        budget = min(budget, max(0.0, remaining() / 1000 - _LAMBDA_MARGIN_S))
    body = multimodal.predict(model, query, deadline=started + budget)
    rid = request_id(router)
    record_prediction(
        "multimodal prediction",
        count=1,
        total_ms=body["timing_ms"]["total"],
        model=model.card.name,
        version=model.card.version,
        used=",".join(body["modalities"]["used"]),
        explain=request.explain,
    )
    services = get_services()
    capture_outputs(
        services.capture(),
        services.registry,
        model.card,
        route="POST /v1/multimodal/predict",
        status=200,
        latency_ms=body["timing_ms"]["total"],
        request_id=rid,
        predictions=body["predictions"],
    )
    return json_response(200, {"request_id": rid, **body})


def _parse(body: str | None, is_base64: bool) -> MultimodalPredictRequest:
    # The size of what arrived, before anything is decoded or parsed (an empty body: 400 below).
    size = (len(body) * 3 // 4 if is_base64 else len(body.encode("utf-8", "surrogatepass"))) if body else 0
    if size > MAX_REQUEST_BYTES:
        raise PayloadTooLarge(
            f"the request is {size} bytes; at most {MAX_REQUEST_BYTES} are accepted: send the image "
            "through POST /v1/uploads and give image_s3_uri"
        )
    payload = json_object(body, is_base64)
    if isinstance(payload.get("image_base64"), str):
        with prefixed("image"):
            check_size(len(payload["image_base64"]) * 3 // 4, MAX_INLINE_BYTES, hint="; use image_s3_uri")
    try:
        return MultimodalPredictRequest.model_validate(payload)
    except ValidationError as e:
        details = [
            {
                "field": _field(err.get("loc", ())),
                "issue": err.get("msg", "invalid"),
            }
            for err in e.errors(include_input=False, include_url=False)
        ]
        raise InvalidInput("the request does not match the schema", details) from e


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("image_base64", "image_s3_uri"):
        parts = ["image", *parts]
    return ".".join(parts) or "body"
