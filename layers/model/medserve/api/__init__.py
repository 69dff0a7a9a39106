"""The HTTP API: an ``APIGatewayHttpResolver`` with pydantic validation and an OpenAPI document.

``create_app(router, ...)`` builds the resolver a function serves: the shared routes (health,
models, cards, ``/v1/openapi.json`` with the whole API's document) plus the modality routers
given, with the contract's error envelope for every failure.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve.api import common
from medserve.api.responses import register_error_handlers

__all__ = ["create_app"]


def create_app(*routers: APIGatewayHttpRouter) -> APIGatewayHttpResolver:
    # serializer: responses are built as JSON strings by the routes; dicts get allow_nan=False too.
    app = APIGatewayHttpResolver(enable_validation=True)
    app.include_router(common.router)
    for router in routers:
        app.include_router(router)
    register_error_handlers(app)

    @app.get("/v1/openapi.json", include_in_schema=False)
    def openapi():  # no return annotation: powertools would try to model Response itself
        # Every function's routes, not just this resolver's: see medserve.api.openapi.
        from medserve.api.openapi import served_document

        return Response(200, content_types.APPLICATION_JSON, served_document())

    return app
