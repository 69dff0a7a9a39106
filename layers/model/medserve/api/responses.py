"""Success and error envelopes, and the single place exceptions become HTTP responses.

A prediction route answers in the format the caller negotiated (:func:`negotiated`: medserve
JSON, FHIR, or a DICOM SR); its errors are OperationOutcomes when the caller asked for FHIR
(:func:`error_body`, used by the resolver's handlers and by ``medserve.api``'s own catch point).

Exceptions never reach the caller as text: a ``MedserveError`` maps to its status and code with a
message we wrote; anything else is a 500 with a generic message, logged by type and stack frames
only (an exception's message may quote the input it choked on).
"""

from __future__ import annotations

import traceback
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from medserve.errors import InvalidInput, MalformedRequest, MedserveError, RouteNotFound, UnsupportedMediaType
from medserve.interop import fhir
from medserve.interop.negotiation import FHIR_CONTENT_TYPE, JSON, requested, wants_fhir
from medserve.observability import MetricUnit, logger, metrics
from medserve.wire import encode_json

# The routes that negotiate (Accept / _format): their errors follow the caller's choice too.
NEGOTIATED_ROUTES = frozenset({"/v1/tabular/predict", "/v1/imaging/predict", "/v1/text/predict"})


def request_id(app: APIGatewayHttpResolver) -> str:
    """API Gateway's request id (the caller sees it as ``apigw-requestid``), else Lambda's."""
    return event_request_id(app.current_event, app.lambda_context)


def event_request_id(event: Any, context: Any) -> str:
    rid = (event.get("requestContext") or {}).get("requestId") if event else None
    if rid:
        return str(rid)
    return getattr(context, "aws_request_id", "") or "local"


def json_response(status: int, body: dict[str, Any]) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=encode_json(body).decode(),
    )


def fhir_response(status: int, resource: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A FHIR R4 resource (Bundle, OperationOutcome) as ``application/fhir+json; fhirVersion=4.0``."""
    return Response(
        status_code=status,
        content_type=FHIR_CONTENT_TYPE,
        body=encode_json(resource).decode(),
        headers=headers,
    )


def _headers_and_query(event: Any) -> tuple[dict[str, str], dict[str, str]]:
    raw = getattr(event, "raw_event", event) or {}
    return raw.get("headers") or {}, raw.get("queryStringParameters") or {}


def negotiated(app: Any, offers: tuple[str, ...]) -> str:
    """The media type this request asked for among ``offers`` (JSON first); 406 when none."""
    headers, query = _headers_and_query(app.current_event)
    return requested(headers, query, offers)


def negotiation_check(offers: tuple[str, ...]) -> Any:
    """A route middleware answering 406 before the body is parsed (``offers``: every media type
    the route can answer; a route that learns more later, as imaging, negotiates again)."""

    def check(app: Any, next_middleware: Any) -> Any:
        negotiated(app, offers)
        return next_middleware(app)

    return check


def _asks_fhir(event: Any) -> bool:
    raw = getattr(event, "raw_event", event) or {}
    path = raw.get("rawPath") or ((raw.get("requestContext") or {}).get("http") or {}).get("path")
    if path not in NEGOTIATED_ROUTES:
        return False
    headers, query = _headers_and_query(event)
    return wants_fhir(headers, query)


def error_body(event: Any, rid: str, error: MedserveError) -> tuple[str, dict[str, Any]]:
    """Content type and body of an error answer: the envelope, or an OperationOutcome when the
    caller asked a negotiating route for FHIR."""
    envelope = error_envelope(rid, error)
    if _asks_fhir(event):
        return FHIR_CONTENT_TYPE, fhir.operation_outcome(rid, error)
    return JSON, envelope


def error_envelope(rid: str, error: MedserveError) -> dict[str, Any]:
    """The contract's error envelope for ``error``, counted and logged (status and code only)."""
    kind = "ClientErrors" if error.status < 500 else "ServerErrors"
    metrics.add_metric(name=kind, unit=MetricUnit.Count, value=1)
    logger.info(
        "request refused" if error.status < 500 else "upstream failure",
        extra={"status": error.status, "error_code": error.code},
    )
    return {
        "request_id": rid,
        "error": error.as_error(),
    }


def error_response(app: APIGatewayHttpResolver, error: MedserveError) -> Response:
    content_type, body = error_body(app.current_event, request_id(app), error)
    return Response(
        status_code=error.status,
        content_type=content_type,
        body=encode_json(body).decode(),
    )


def _from_validation(exc: RequestValidationError) -> MedserveError:
    errors = exc.errors()
    body_shape = {"json_invalid", "missing", "model_attributes_type", "dict_type", "model_type"}
    if any(e.get("type") == "json_invalid" for e in errors):
        return MalformedRequest("the request body is not valid JSON")
    if any(tuple(e.get("loc", ()))[:2] == ("body",) and e.get("type") in body_shape for e in errors):
        return MalformedRequest("the request body must be a JSON object")
    # pydantic's ``msg`` describes the expectation, never the input; ``input`` is never echoed.
    details = [
        {"field": _field_path(e.get("loc", ())), "issue": e.get("msg", e.get("type", "invalid"))}
        for e in errors
    ]
    return InvalidInput("the request does not match the schema", details)


def _field_path(loc: tuple | list) -> str:
    """('body', 'records', 0, 'x') -> 'records[0].x', the same notation the record checks use."""
    path = ""
    for part in loc:
        if part == "body" and not path:
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def register_error_handlers(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(MedserveError)
    def _medserve(exc: MedserveError) -> Response:
        return error_response(app, exc)

    @app.exception_handler(RequestValidationError)
    def _validation(exc: RequestValidationError) -> Response:
        return error_response(app, _from_validation(exc))

    @app.exception_handler(RequestUnsupportedContentType)
    def _media(exc: RequestUnsupportedContentType) -> Response:
        return error_response(app, UnsupportedMediaType("this route accepts application/json"))

    @app.not_found
    def _not_found(exc: NotFoundError) -> Response:
        return error_response(app, RouteNotFound("no such route"))

    @app.exception_handler(Exception)
    def _unexpected(exc: Exception) -> Response:
        metrics.add_metric(name="ServerErrors", unit=MetricUnit.Count, value=1)
        logger.error(
            "unhandled error",
            extra={"error_type": type(exc).__name__, "frames": traceback.format_tb(exc.__traceback__)},
        )
        error = {
            "code": "INTERNAL",
            "message": "internal error; quote the request_id to support",
            "details": [],
        }
        if _asks_fhir(app.current_event):
            return fhir_response(500, fhir.operation_outcome(request_id(app), status=500, **error))
        return json_response(500, {"request_id": request_id(app), "error": error})
