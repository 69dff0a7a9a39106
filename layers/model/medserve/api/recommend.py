"""``POST /v1/recommend/treatment``: a patient's history in, ranked treatments out.

Nothing of the history (items, values, features) is logged or counted: logs carry the model,
sizes, the basis of the answer and timings.
"""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import time
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ConfigDict, Field

from medserve.api.responses import json_response, request_id
from medserve.api.schemas import JSON_BODY, ModelRefOut, error_responses
from medserve.monitoring.capture import capture_outputs
from medserve.observability import model_dimensions, record_prediction, tracer
from medserve.recommend.model import RecommendModel
from medserve.recommend.predict import recommend
from medserve.recommend.types import parse_query
from medserve.services import get_services

router = APIGatewayHttpRouter()


class RecommendRequest(BaseModel):
    # strict: the published types are the accepted ones. The history's entries and the patient's
    # features are checked against the card by medserve.recommend (422 naming the entry), the
    # same code that checks each line of an S3 upload.
    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(default=None, description="model name; default: the deployment's recommender")
    history: list[dict[str, Any]] = Field(
        default_factory=list,
        description="items the patient has had: {item: card item id, value?: number in the card's "
        "recommend.value_range}; at most recommend.max_history entries (413 beyond); empty = cold start",
        json_schema_extra={
            "items": {
                "type": "object",
                "required": ["item"],
                "properties": {"item": {"type": "string"}, "value": {"type": "number"}},
                "additionalProperties": False,
            }
        },
    )
    patient: dict[str, Any] | None = Field(
        default=None,
        description="patient features (the card's inputs.features), used when the history is empty",
        json_schema_extra={"additionalProperties": {"type": "number"}},
    )
    exclude: list[Any] = Field(
        default_factory=list,
        description="items never to recommend (card item ids)",
        json_schema_extra={"items": {"type": "string"}},
    )
    k: Any = Field(
        default=None,
        description="how many items (default: the card's recommend.default_k, at most recommend.max_k)",
        json_schema_extra={"type": "integer", "minimum": 1},
    )
    explain: bool = Field(
        default=False, description="add per-item contributions that sum to score - baseline"
    )

    def __repr__(self) -> str:
        # Never the history: powertools formats route arguments into a debug f-string on every call.
        return (
            f"RecommendRequest(model={self.model!r}, history=<{len(self.history)}>, "
            f"patient={'<features>' if self.patient is not None else None}, exclude=<{len(self.exclude)}>, "
            f"explain={self.explain})"
        )

    __str__ = __repr__


class RecommendationOut(BaseModel):
    item: str
    label: str
    score: float = Field(description="the card's recommend.score; ranked by it, descending")
    rank: int


class ExclusionOut(BaseModel):
    item: str
    label: str
    rule: Literal["history", "request", "conflict"]
    reason: str
    conflicts_with: str | None = None


class RecommendEnvelope(BaseModel):
    request_id: str
    model: ModelRefOut
    placement: Literal["lambda"] = "lambda"
    recommendations: list[RecommendationOut]
    excluded: list[ExclusionOut]
    personalised: bool = Field(description="false: a popularity ranking (no history, no usable features)")
    basis: Literal["history", "features", "popularity"]
    explanations: list[dict[str, Any]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    timing_ms: dict[str, float]
    intended_use: str


_ERRORS = {
    400: "malformed JSON",
    404: "unknown model",
    413: "history or exclusions longer than the card allows",
    415: "not application/json",
    422: "unknown item, value or k out of range, invalid patient features",
}


@router.post(
    "/v1/recommend/treatment",
    summary="rank treatments for a patient from their history (matrix factorisation)",
    tags=["recommend"],
    responses={
        200: {
            "description": "recommendations",
            "content": {"application/json": {"model": RecommendEnvelope}},
        },
        **error_responses(_ERRORS),
    },
    **JSON_BODY,
)
@tracer.capture_method(capture_response=False)  # responses carry patient-derived items
def recommend_treatment(request: Annotated[RecommendRequest, Body()]):
    started = time.perf_counter()
    model = RecommendModel.load(get_services().registry, request.model or None)
    model_dimensions(model.card.name, model.card.version)
    query = parse_query(
        request.model_dump(exclude={"model"}),
        max_history=model.spec.max_history,
        max_exclude=model.spec.max_exclude,
    )
    result = recommend(model, query)
    total = (time.perf_counter() - started) * 1000
    record_prediction(
        "treatment recommendation",
        count=1,
        total_ms=total,
        model=model.card.name,
        version=model.card.version,
        history=len(query.history),
        basis=result.basis,
        returned=len(result.recommendations),
        excluded=len(result.excluded),
        explain=query.explain,
    )
    body = {
        "request_id": request_id(router),
        "model": model.loaded.envelope(),
        "placement": model.card.placement,
        **result.as_dict(),
        "timing_ms": {"total": round(total, 3)},
        "intended_use": model.card.intended_use,
    }
    body.setdefault("warnings", [])
    # The top item and its score only: never the history, the patient or the exclusions.
    top = result.recommendations[:1]
    services = get_services()
    capture_outputs(
        services.capture(),
        services.registry,
        model.card,
        route="POST /v1/recommend/treatment",
        status=200,
        latency_ms=total,
        request_id=body["request_id"],
        predictions=[{"label": r.item, "score": r.score} for r in top],
    )
    return json_response(200, body)
