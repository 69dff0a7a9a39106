"""Routes every function serves the same way: health, the model list and the model cards."""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve import __version__
from medserve.api.responses import json_response, request_id
from medserve.api.schemas import VALIDATION_ERROR, CardEnvelope, ErrorEnvelope, Health, ModelList
from medserve.config import settings
from medserve.services import get_services

router = APIGatewayHttpRouter()

_CARD = {
    200: {"description": "the model card", "content": {"application/json": {"model": CardEnvelope}}},
    404: {"description": "unknown model", "content": {"application/json": {"model": ErrorEnvelope}}},
    **VALIDATION_ERROR,  # a name over 64 characters
}


@router.get(
    "/v1/health",
    summary="liveness",
    tags=["service"],
    responses={
        200: {"description": "the service is up", "content": {"application/json": {"model": Health}}},
        **VALIDATION_ERROR,
    },
)
def health() -> Health:
    return Health(
        status="ok",
        service="medserve",
        version=__version__,
        function=settings().function_name,
    )


@router.get(
    "/v1/models",
    summary="every servable model",
    tags=["models"],
    responses={
        200: {"description": "the models", "content": {"application/json": {"model": ModelList}}},
        **VALIDATION_ERROR,
    },
)
def list_models() -> ModelList:
    registry = get_services().registry
    models = [{**card.summary(), "source": source} for card, source in registry.cards()]
    return ModelList.model_validate({"request_id": request_id(router), "models": models})


@router.get("/v1/models/<name>", summary="a model card", tags=["models"], responses=_CARD)
def model_card(name: Annotated[str, Path(max_length=64)]):  # documented via responses=
    card = get_services().registry.describe(name)
    return json_response(200, {"request_id": request_id(router), "model": card})
