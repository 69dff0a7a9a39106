"""``POST /v1/text/predict`` and ``POST /v1/text/deidentify``: clinical notes in, specialty or PHI out.

Both take at most :data:`medserve.text.deid.MAX_CHARACTERS` characters of ``text`` (413
beyond: longer
notes go through the S3 upload). Nothing of the note (text, words, entities, embeddings) is
logged, counted in a metric or quoted in an error: logs carry the model, sizes and timings.
"""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from medserve.api.responses import fhir_response, json_response, negotiated, negotiation_check, request_id
from medserve.api.schemas import (
    FHIR_CONTENT,
    JSON_BODY,
    PredictEnvelope,
    error_responses,
    parse_subject,
)
from medserve.errors import InvalidInput, PayloadTooLarge
from medserve.interop import fhir
from medserve.interop.negotiation import FHIR_JSON, JSON
from medserve.interop.subjects import publish_subject, refuse_null
from medserve.monitoring.capture import capture_outputs
from medserve.observability import Stopwatch, model_dimensions, record_prediction, tracer
from medserve.services import get_services
from medserve.text import deid as phi
from medserve.text.predict import DEID_METHOD, deidentify_note, load_classifier

router = APIGatewayHttpRouter()


class _Wire(BaseModel):
    # strict: the published types are the accepted ones (lax pydantic took 0, 1 and "yes" for a bool).
    model_config = ConfigDict(extra="forbid", strict=True)


# Published limits the routes enforce themselves: over MAX_CHARACTERS is a 413, not pydantic's 422.
_LIMIT = {"maxLength": phi.MAX_CHARACTERS}


class TextPredictRequest(_Wire):
    text: str = Field(
        description=f"the note, at most {phi.MAX_CHARACTERS} characters (413 beyond), not blank",
        json_schema_extra={**_LIMIT, "pattern": r"\S"},  # blank text: 422 from the route
    )
    model: str | None = Field(default=None, description="model name; default: the deployment's text model")
    explain: bool = Field(default=False, description="add sentence and word attributions")
    subject: dict[str, Any] | None = Field(
        default=None,
        description="whom the note is about, for FHIR answers: {reference} or {identifier: {system, value}}",
        json_schema_extra=publish_subject,
    )

    @field_validator("subject", mode="before")
    @classmethod
    def _subject_not_null(cls, value: Any) -> Any:
        return refuse_null(value)

    def __repr__(self) -> str:
        # Never the text: powertools formats route arguments into a debug f-string on every call.
        return (
            f"TextPredictRequest(model={self.model!r}, text=<{len(self.text)} chars>, explain={self.explain})"
        )

    __str__ = __repr__


class DeidentifyRequest(_Wire):
    text: str = Field(
        description=f"the note, at most {phi.MAX_CHARACTERS} characters (413 beyond)",
        json_schema_extra=_LIMIT,
    )
    mode: Literal["tag", "mask", "surrogate"] = Field(
        default="tag",
        description="tag: [TYPE]; mask: one * per character (offsets unchanged); surrogate: consistent fake "
        "values, dates shifted by one random number of days per note",
    )

    def __repr__(self) -> str:
        return f"DeidentifyRequest(mode={self.mode!r}, text=<{len(self.text)} chars>)"

    __str__ = __repr__


class EntityOut(BaseModel):
    type: str = Field(examples=["NAME"])
    begin: int = Field(description="character offset of the first character in the input")
    end: int = Field(description="character offset after the last character in the input")
    score: float = Field(description="rule confidence in [0, 1], not a calibrated probability")


class DeidentifyEnvelope(BaseModel):
    request_id: str
    method: dict[str, str]
    mode: str
    entities: list[EntityOut]
    redacted_text: str
    counts: dict[str, int]
    timing_ms: dict[str, float]


_ERRORS = {
    400: "malformed JSON",
    404: "unknown model",
    413: f"text over {phi.MAX_CHARACTERS} characters",
    415: "not application/json",
    422: "invalid fields or empty text",
}
_PREDICT_ERRORS = {
    **_ERRORS,
    422: "invalid fields or empty text (INVALID_INPUT); a note outside the model's intended use "
    "(OUT_OF_SCOPE: another language, too few words)",
}


def _check_length(text: str) -> None:
    if len(text) > phi.MAX_CHARACTERS:
        raise PayloadTooLarge(
            f"text is limited to {phi.MAX_CHARACTERS} characters per request; "
            "put longer notes under uploads/text/ in the uploads bucket"
        )


@router.post(
    "/v1/text/deidentify",
    summary="find and remove the HIPAA Safe Harbor identifiers of a note",
    tags=["text"],
    responses={
        200: {
            "description": "entities and redacted text",
            "content": {"application/json": {"model": DeidentifyEnvelope}},
        },
        **error_responses(_ERRORS, 400, 413, 415, 422),
    },
    **JSON_BODY,
)
@tracer.capture_method(capture_response=False)  # the response is the note, redacted
def text_deidentify(request: Annotated[DeidentifyRequest, Body()]):
    clock = Stopwatch()
    _check_length(request.text)
    deidentified = deidentify_note(request.text, request.mode)
    model_dimensions(DEID_METHOD["name"], DEID_METHOD["version"])
    timing = clock.timing_ms()
    record_prediction(
        "text deidentified",
        count=1,
        total_ms=timing["total"],
        mode=request.mode,
        characters=len(request.text),
        entities=len(deidentified["entities"]),
    )
    body: dict[str, Any] = {"request_id": request_id(router), **deidentified, "timing_ms": timing}
    return json_response(200, body)


PREDICT_OFFERS = (JSON, FHIR_JSON)


@router.post(
    "/v1/text/predict",
    summary="route a clinical note to a specialty",
    tags=["text"],
    responses={
        200: {
            "description": "prediction (JSON), or a FHIR R4 Bundle (an Observation) when negotiated",
            "content": {"application/json": {"model": PredictEnvelope}, **FHIR_CONTENT},
        },
        **error_responses(
            {**_PREDICT_ERRORS, 406: "the Accept header (or _format) allows neither JSON nor FHIR"}
        ),
    },
    **{**JSON_BODY, "middlewares": [negotiation_check(PREDICT_OFFERS), *JSON_BODY["middlewares"]]},
)
@tracer.capture_method(capture_response=False)  # attributions quote words of the note
def text_predict(request: Annotated[TextPredictRequest, Body()]):
    """``Accept: application/fhir+json`` (or ``?_format=fhir``): the specialty as an Observation in
    a FHIR Bundle (see medserve.interop.fhir.text_bundle)."""
    clock = Stopwatch()
    answer_as = negotiated(router, PREDICT_OFFERS)
    _check_length(request.text)
    if not request.text.strip():
        raise InvalidInput("text is empty", [{"field": "text", "issue": "empty"}])
    subject = parse_subject(request.subject, "subject")
    model = load_classifier(request.model)
    model_dimensions(model.card.name, model.card.version)
    prediction, explanation, timing = model.predict(request.text, explain=request.explain)
    timing["total"] = clock.total_ms()
    record_prediction(
        "text prediction",
        count=1,
        total_ms=timing["total"],
        model=model.card.name,
        version=model.card.version,
        characters=len(request.text),
        chunks=prediction["chunks"],
        explain=request.explain,
    )
    body = {
        "request_id": request_id(router),
        "model": model.loaded.envelope(),
        "placement": model.card.placement,
        "predictions": [{"index": 0, **prediction}],
        "explanations": [{"index": 0, **explanation}] if explanation else [],
        "timing_ms": {k: round(v, 3) for k, v in timing.items()},
        "intended_use": model.card.intended_use,
    }
    # Outputs and the OOD score only: nothing of the text (medserve.monitoring.capture).
    services = get_services()
    capture_outputs(
        services.capture(),
        services.registry,
        model.card,
        route="POST /v1/text/predict",
        status=200,
        latency_ms=timing["total"],
        request_id=body["request_id"],
        predictions=body["predictions"],
    )
    if answer_as == FHIR_JSON:
        builder = fhir.BundleBuilder(request_id(router), model.card, body["model"])
        return fhir_response(200, fhir.text_bundle(builder, body["predictions"][0], subject))
    return json_response(200, body)
