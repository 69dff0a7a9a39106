"""The HTTP API: an ``APIGatewayHttpResolver`` with pydantic validation and an OpenAPI document.

``create_app(router, ...)`` builds the resolver a function serves: the shared routes (health,
models, cards, ``/v1/openapi.json`` with the whole API's document) plus the modality routers
given, with the contract's error envelope for every failure. Every request is authorized first
(``medserve.security.auth``: a refused request is not even parsed) and leaves one audit record
(``medserve.security.audit``) once its answer is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve.api import common
from medserve.api.responses import error_body, event_request_id, register_error_handlers
from medserve.errors import MedserveError, UpstreamError
from medserve.security import audit
from medserve.security.auth import OPEN_ROUTES, Principal, authorize, caller, www_authenticate
from medserve.services import get_services
from medserve.wire import check_unicode, encode_json

__all__ = ["MedserveResolver", "create_app"]


class MedserveResolver(APIGatewayHttpResolver):
    """Authorize, resolve, audit: in that order, for every request."""

    def resolve(self, event: Any, context: Any) -> dict[str, Any]:
        try:
            principal = authorize(event)
        except MedserveError as refused:
            principal = caller(event)
            response = _error(event, context, refused)
        else:
            try:
                _check_url_text(event)
            except MedserveError as refused:
                response = _error(event, context, refused)
            else:
                response = super().resolve(event, context)
        return _audited(event, context, response, principal)


def _check_url_text(event: Mapping[str, Any]) -> None:
    """The URL's text (path, query) is valid Unicode before any route matches or reads it: a lone
    surrogate reached botocore's key encoding as a model name or job id (a 500)."""
    check_unicode(event.get("rawPath") or "", "path")
    check_unicode(event.get("pathParameters") or {}, "path")
    check_unicode(event.get("queryStringParameters") or {}, "query")


def _audited(
    event: Mapping[str, Any], context: Any, response: dict[str, Any], who: Principal
) -> dict[str, Any]:
    trail = get_services().audit
    if trail is None or event.get("routeKey") in OPEN_ROUTES:
        return response
    try:
        trail.write(audit.http_record(event, response, who.audit()))
    except UpstreamError as e:
        return _error(event, context, e)  # fail closed: no answer leaves unaudited
    return response


def _error(event: Mapping[str, Any], context: Any, error: MedserveError) -> dict[str, Any]:
    """An error answered outside the resolver (refused before routing, or unauditable after)."""
    content_type, body = error_body(event, event_request_id(event, context), error)
    headers = {"Content-Type": content_type}
    challenge = www_authenticate(error.status)
    if challenge:
        headers["WWW-Authenticate"] = challenge
    return {
        "statusCode": error.status,
        "headers": headers,
        "body": encode_json(body).decode(),
        "isBase64Encoded": False,
    }


def create_app(*routers: APIGatewayHttpRouter) -> MedserveResolver:
    # serializer: responses are built as JSON strings by the routes; dicts get allow_nan=False too.
    app = MedserveResolver(enable_validation=True)
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
