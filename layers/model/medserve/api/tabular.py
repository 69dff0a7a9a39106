"""``POST /v1/tabular/predict``: records in, risk, label and contributions out."""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import time
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve.api.responses import json_response, request_id
from medserve.api.schemas import ErrorEnvelope, PredictEnvelope, TabularPredictRequest
from medserve.observability import MetricUnit, logger, metrics, tracer
from medserve.services import get_services
from medserve.tabular import TabularModel, validate_records

router = APIGatewayHttpRouter()


def _errors(*codes: int) -> dict:
    return {
        c: {"description": d, "content": {"application/json": {"model": ErrorEnvelope}}}
        for c, d in {
            400: "malformed JSON",
            404: "unknown model",
            413: "too many records",
            422: "invalid records",
        }.items()
        if c in codes
    }


@router.post(
    "/v1/tabular/predict",
    summary="risk prediction for tabular records",
    tags=["tabular"],
    responses={
        200: {"description": "predictions", "content": {"application/json": {"model": PredictEnvelope}}},
        **_errors(400, 404, 413, 422),
    },
)
@tracer.capture_method(capture_response=False)  # responses carry patient-derived values
def tabular_predict(request: Annotated[TabularPredictRequest, Body()]):
    started = time.perf_counter()
    registry = get_services().registry
    name = request.model or registry.default_name("tabular")
    model = TabularModel(registry.load(name, modality="tabular"))
    metrics.add_dimension(name="model", value=model.card.name)
    metrics.add_dimension(name="model_version", value=model.card.version)

    validated = validate_records(model.card, request.records)
    t_validated = time.perf_counter()
    predictions = model.predict(validated.matrix, validated.warnings)
    t_predicted = time.perf_counter()
    explanations = model.explain(validated.matrix) if request.explain else []
    t_done = time.perf_counter()

    timing = {
        "validate": (t_validated - started) * 1000,
        "inference": (t_predicted - t_validated) * 1000,
        "explain": (t_done - t_predicted) * 1000,
        "total": (t_done - started) * 1000,
    }
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=len(predictions))
    metrics.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=timing["total"])
    logger.info(
        "tabular prediction",
        extra={
            "model": model.card.name,
            "version": model.card.version,
            "records": len(predictions),
            "explain": request.explain,
            "total_ms": round(timing["total"], 3),
        },
    )
    body = {
        "request_id": request_id(router),
        "model": model.loaded.envelope(),
        "placement": model.card.placement,
        "predictions": predictions,
        "explanations": explanations,
        "timing_ms": {k: round(v, 3) for k, v in timing.items()},
        "intended_use": model.card.intended_use,
    }
    return json_response(200, body)
