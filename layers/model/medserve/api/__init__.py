"""The HTTP API: an ``APIGatewayHttpResolver`` with pydantic validation and an OpenAPI document.

``create_app(router, ...)`` builds the resolver a function serves: the shared routes (health,
models, cards, ``/v1/openapi.json``) plus the modality routers given, with the contract's error
envelope for every failure.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve import __version__
from medserve.api import common
from medserve.api.responses import register_error_handlers

__all__ = ["create_app"]

OPENAPI_TITLE = "medserve"
OPENAPI_DESCRIPTION = (
    "Healthcare AI models served as AWS Lambda functions. Predictions carry the model's name, version, "
    "sha256 and intended use; errors carry a request_id and never echo patient data."
)


def create_app(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    # serializer: responses are built as JSON strings by the routes; dicts get allow_nan=False too.
    app = APIGatewayHttpResolver(enable_validation=True)
    app.include_router(common.router)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi():  # no return annotation: powertools would try to model Response itself
        schema = app.get_openapi_json_schema(
            title=OPENAPI_TITLE, version=__version__, description=OPENAPI_DESCRIPTION
        )
        return Response(200, content_types.APPLICATION_JSON, schema)

    return app
