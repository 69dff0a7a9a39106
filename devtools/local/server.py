"""``medserve serve``: the template's HTTP API on localhost, as API Gateway HTTP API would serve it.

Contract of :class:`LocalApi` (``start()``/``stop()``, or ``with``):

* every ``Type: HttpApi`` event of every function becomes a route (``{name}`` and greedy
  ``{name+}`` path parameters; ``$default`` catches what nothing else matches). As in API Gateway,
  the most specific route wins: more literal segments first, greedy and ``$default`` last;
* a request becomes a **payload format 2.0** event (:func:`build_event`): ``version``,
  ``routeKey``, ``rawPath`` (URL-decoded, as HTTP API delivers it), ``rawQueryString``,
  ``cookies``, ``headers`` (lower-case names, repeats comma-joined, ``cookie`` moved to
  ``cookies``, API Gateway's ``x-forwarded-*`` and ``x-amzn-trace-id`` added),
  ``queryStringParameters`` (repeats comma-joined), ``pathParameters``, ``requestContext`` and
  ``body``/``isBase64Encoded`` (base64 unless the content type is textual: ``text/*``, JSON, XML,
  form, JavaScript; without a content type, text when the body is UTF-8);
* the handler's answer is translated back as API Gateway does: a dict with ``statusCode`` is taken
  field by field (``headers``, ``multiValueHeaders``, ``cookies`` → ``Set-Cookie``, base64
  ``body``); any other value is sent as ``200`` JSON. Every response has ``apigw-requestid``;
* errors that API Gateway itself would produce use the contract's envelope
  ``{"request_id", "error": {"code", "message"}}``: no route ``404 ROUTE_NOT_FOUND``, a known path
  with another method ``405 METHOD_NOT_ALLOWED``, a body over HTTP API's 10 MB
  ``413 PAYLOAD_TOO_LARGE``. A handler that raises (or answers malformed) gives API Gateway's
  ``500 {"message": "Internal Server Error"}``; the traceback goes to stderr;
* routes with a JWT authorizer in the template need ``Authorization: Bearer <token>``, verified
  against the server's own signing key (:mod:`devtools.local.auth`; :meth:`LocalApi.issue_token`)
  and the route's ``AuthorizationScopes``: ``401 UNAUTHORIZED`` / ``403 FORBIDDEN`` in the
  contract's envelope; the verified claims reach the handler in ``requestContext.authorizer``.
  A refusal is also written as an access-log line to the functions subscribed to the access log
  (:mod:`devtools.local.access_log`), as API Gateway's would be;
* one line per request on stderr: the route template (``GET /v1/jobs/{id}``; ``GET -`` when no
  route matched), status, milliseconds and the request id (``apigw-requestid``, the functions'
  correlation id). Never the path itself (``/v1/jobs/<an MRN>``), a body, a header or a query
  value: they may carry patient data;
* handlers run in per-function pools of worker processes (:mod:`devtools.local.workers`,
  ``workers`` per function): concurrent requests run concurrently, each execution environment
  with its own cold start; HTTP API's 30 s integration timeout answers 503;
* the connection behaves like API Gateway's: each response is one write (``TCP_NODELAY``); a
  client that stops sending is dropped after ``read_timeout`` (a started body: 408); a request
  line over 10,240 bytes is 414, request line and header values over 10,240 bytes 431, a
  malformed request line or an unknown HTTP version 400, all as API Gateway's JSON
  ``{"message"}`` (never an HTML page); any method token is routed (404/405); body framing errors
  (bad ``Content-Length``, chunking) are ``400 MALFORMED_REQUEST``.

:class:`LocalApi` also starts :class:`~devtools.local.embedded.EmbeddedAWS` (unless told not to),
sharing its :class:`~devtools.local.invoke.Invoker`, so S3 uploads trigger the same warm handlers.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import secrets
import shlex
import signal
import string
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from medserve.security.auth import ALL_SCOPES, www_authenticate

from devtools.local.access_log import AccessLog
from devtools.local.auth import AuthRefusal, LocalIssuer, authorizer_context, check_scopes
from devtools.local.embedded import FAKE_CREDENTIALS, EmbeddedAWS
from devtools.local.invoke import Invoker, read_env_vars
from devtools.local.sagemaker import LOCAL_ENDPOINT_PARAMETERS, LocalOffload, start_local_offload
from devtools.local.template import (
    LOCAL_ACCOUNT_ID,
    S3Trigger,
    Template,
    TemplateError,
    local_name,
    local_region,
)
from devtools.local.workers import (
    DEFAULT_WORKERS,
    FunctionError,
    FunctionTimeout,
    PooledInvoker,
    WorkerCrashed,
)

__all__ = ["MAX_BODY_BYTES", "LocalApi", "Route", "RouteTable", "build_event", "main_serve"]

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway HTTP API's payload limit
# HTTP API quota: "total combined size of request line and header values: 10240 bytes".
MAX_REQUEST_LINE_AND_HEADERS = 10240
INTEGRATION_TIMEOUT_SECONDS = 30  # HTTP API's maximum integration timeout (not raisable)
DEFAULT_READ_TIMEOUT = 10.0
DEFAULT_ROUTE = "$default"
INTERNAL_ERROR = {"message": "Internal Server Error"}  # API Gateway's own body, verbatim
# What API Gateway answers for requests it refuses itself, before any route or function: its own
# {"message": ...} bodies (never an HTML page), by status.
GATEWAY_MESSAGES = {
    400: "Bad Request",
    408: "Request Timeout",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT_TYPES = {
    "application/json",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/javascript",
    "application/graphql",
}
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}
BANNER_TOKEN_SECONDS = 12 * 3600  # a working day of experiments
NO_AUTH_WARNING = (
    "WARNING: authentication is OFF (--no-auth). Every route answers anyone who can reach this port, "
    "and the functions skip their scope checks. For experiments on a trusted machine only."
)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


# ------------------------------------------------------------------------------------ routing


@dataclass(frozen=True)
class Route:
    """One HTTP API route: ``method`` (or ``ANY``) and path template, served by ``function_id``."""

    method: str
    path: str
    function_id: str
    pattern: re.Pattern[str] = field(compare=False, repr=False)
    parameters: tuple[str, ...] = field(compare=False, repr=False)
    # The JWT authorizer's AuthorizationScopes (any one; () = any valid token); None = open route.
    scopes: tuple[str, ...] | None = field(default=None, compare=False)

    @classmethod
    def create(cls, method: str, path: str, function_id: str, scopes: tuple[str, ...] | None = None) -> Route:
        """Compile ``/v1/models/{name}`` (or ``/files/{proxy+}``) into a matcher."""
        if path == DEFAULT_ROUTE:
            return cls("ANY", path, function_id, re.compile(r".*"), (), scopes)
        parts, names = [], []
        for segment in path.strip("/").split("/"):
            variable = re.fullmatch(r"\{([^}]+?)(\+?)\}", segment)
            if variable:
                names.append(variable.group(1))
                parts.append("(.+)" if variable.group(2) else "([^/]+)")
            else:
                parts.append(re.escape(segment))
        pattern = re.compile("/" + "/".join(parts))
        return cls(method.upper(), path, function_id, pattern, tuple(names), scopes)

    @property
    def route_key(self) -> str:
        """``POST /v1/tabular/predict``, ``ANY /x`` or ``$default``: as in ``event.routeKey``."""
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: exact before templated, more literal segments first, greedy and $default last."""
        segments = self.path.strip("/").split("/")
        literal = sum(1 for s in segments if not s.startswith("{"))
        greedy = any(s.endswith("+}") for s in segments)
        return (self.path == DEFAULT_ROUTE, greedy, -literal, -len(segments))

    def match_path(self, path: str) -> dict[str, str] | None:
        """Path parameters (URL-decoded) if ``path`` fits this route, else None."""
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {name: unquote(value) for name, value in zip(self.parameters, found.groups(), strict=True)}


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_parameters: dict[str, str]


class RouteTable:
    """The routes of every function; :meth:`match` finds the one API Gateway would pick."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = sorted(routes, key=Route.specificity)

    @classmethod
    def from_invoker(cls, invoker: Invoker) -> RouteTable:
        return cls(
            Route.create(method, path, function_id, spec.route_scopes.get((method, path)))
            for function_id, spec in invoker.specs.items()
            for method, path in spec.http_routes
        )

    def match(self, method: str, path: str) -> RouteMatch | None:
        """The best route for ``method`` and ``path`` (``$default`` last), or None."""
        for route in self.routes:
            if route.method not in ("ANY", method):
                continue
            parameters = route.match_path(path)
            if parameters is not None:
                return RouteMatch(route, parameters)
        return None

    def allowed_methods(self, path: str) -> list[str]:
        """Methods of the non-default routes whose path template fits ``path`` (for 405's Allow)."""
        return sorted(
            {r.method for r in self.routes if r.path != DEFAULT_ROUTE and r.match_path(path) is not None}
        )


# ------------------------------------------------------------------------------ event building


def new_request_id() -> str:
    """An id shaped like API Gateway's (``JKJaXmPLvHcESHA=``)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15)) + "="


def _clf_time(epoch: float) -> str:
    """``12/Mar/2020:19:03:58 +0000``, independent of the locale."""
    t = time.gmtime(epoch)
    return f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:{time.strftime('%H:%M:%S', t)} +0000"


def is_text(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this type as text (else base64)."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    """``(body, isBase64Encoded)`` for the event. Textual types that are not UTF-8 go as base64."""
    if is_text(content_type) or not content_type:
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _join_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    return headers


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Sequence[tuple[str, str]],
    body: bytes,
    source_ip: str,
    match: RouteMatch,
    request_id: str,
    now: float | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The API Gateway HTTP API payload 2.0 event for one request (``authorizer``: the verified
    token's ``requestContext.authorizer``)."""
    epoch = time.time() if now is None else now
    joined = _join_headers(headers)
    cookie_header = joined.pop("cookie", None)
    forwarded = joined.get("x-forwarded-for")
    joined["x-forwarded-for"] = f"{forwarded}, {source_ip}" if forwarded else source_ip
    joined.setdefault("x-forwarded-proto", "http")
    authority = urlsplit("//" + joined.get("host", "localhost"))
    domain = authority.hostname or "localhost"
    if authority.port:
        joined.setdefault("x-forwarded-port", str(authority.port))
    joined.setdefault("x-amzn-trace-id", f"Root=1-{int(epoch):08x}-{secrets.token_hex(12)}")

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": match.route.route_key,
        "rawPath": unquote(raw_path),  # HTTP API (unlike REST APIs) delivers the path decoded
        "rawQueryString": raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    event["headers"] = joined
    if raw_query:
        event["queryStringParameters"] = _query_parameters(raw_query)
    if match.path_parameters:
        event["pathParameters"] = match.path_parameters
    event["requestContext"] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".", 1)[0],
        "http": {
            "method": method,
            "path": unquote(raw_path),
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": joined.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": match.route.route_key,
        "stage": "$default",
        "time": _clf_time(epoch),
        "timeEpoch": int(epoch * 1000),
    }
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    if body:
        event["body"], event["isBase64Encoded"] = encode_body(body, joined.get("content-type"))
    else:
        event["isBase64Encoded"] = False
    return event


def _query_parameters(raw_query: str) -> dict[str, str]:
    """Decoded query parameters; a repeated name's values comma-joined (``a=1&a=2`` → ``1,2``)."""
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


# ---------------------------------------------------------------------------- response mapping


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def json_response(status: int, payload: Any, extra_headers: Sequence[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(
        status, [("Content-Type", "application/json"), *extra_headers], json.dumps(payload).encode()
    )


def error_response(status: int, request_id: str, code: str, message: str, **kw: Any) -> HttpResponse:
    """The contract's error envelope, for errors the gateway raises before any handler runs."""
    return json_response(
        status, {"request_id": request_id, "error": {"code": code, "message": message, "details": []}}, **kw
    )


def handler_response(result: Any) -> HttpResponse:
    """Translate a handler's return value as API Gateway (payload 2.0) does; ValueError if malformed."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return json_response(200, result)  # 2.0 infers a 200 JSON response from anything else
    status = int(result["statusCode"])
    if not 100 <= status <= 599:
        raise ValueError(f"statusCode {status} out of range")
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(v)) for v in values)
    headers.extend(("Set-Cookie", str(c)) for c in result.get("cookies") or [])
    headers = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP]
    body = result.get("body")
    if body is None:
        data = b""
    elif not isinstance(body, str):
        data = json.dumps(body).encode()
    elif result.get("isBase64Encoded"):
        data = base64.b64decode(body, validate=True)
    else:
        data = body.encode("utf-8")
    return HttpResponse(status, headers, data)


# ------------------------------------------------------------------------------------- server


class _BodyTooLarge(Exception):
    pass


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client must not keep the process alive on Ctrl-C
    request_queue_size = 128  # 16 clients connecting at once overflowed the default backlog of 5
    api: LocalApi


def gateway_response(status: int) -> HttpResponse:
    """API Gateway's own answer for a request it refuses before routing: JSON ``{"message"}``."""
    return json_response(status, {"message": GATEWAY_MESSAGES.get(status, "Bad Request")})


class _RequestHandler(BaseHTTPRequestHandler):
    """Turns each HTTP request into one handler invocation."""

    server: _HttpServer
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway; every response has a length
    server_version = "medserve-local"
    # Each response goes out in one write; without TCP_NODELAY a keep-alive client's next request
    # could still wait on Nagle + delayed ACK (~40 ms) behind a small response.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # A per-read socket timeout: a client that stops sending (headers or body) is dropped
        # instead of holding a thread forever; the body also has an overall deadline (_read_body).
        self.timeout = self.server.api.read_timeout
        super().setup()

    def version_string(self) -> str:
        return self.server_version

    def __getattr__(self, name: str) -> Any:
        # Any method token reaches routing (404/405 in JSON), as at API Gateway; the base class
        # would answer an unknown method with an HTML 501 page.
        if name.startswith("do_"):
            return self.do_any
        raise AttributeError(name)

    def do_any(self) -> None:
        started = time.monotonic()
        request_id = new_request_id()
        self._route_key = f"{self.command} -"  # until a route matches: "GET -", never the path
        try:
            response = self._respond(request_id)
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = json_response(500, INTERNAL_ERROR)
        # Logged before sending, so the line exists by the time the client has its answer. The
        # route template and the request id, never the path itself: paths carry identifiers
        # (/v1/jobs/<id>, a model name); the request id ties the line to the function's logs.
        _log(f"{self._route_key} {response.status} {(time.monotonic() - started) * 1000:.1f} ms {request_id}")
        self._send(response, request_id)

    def handle_expect_100(self) -> bool:
        # curl sends "Expect: 100-continue" before large bodies: refuse those before they arrive.
        if self._declared_length() > MAX_BODY_BYTES:
            self.do_any()
            return False
        return super().handle_expect_100()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's error page (bad request line, line too long, too many headers...), as
        API Gateway answers it: its status and a JSON ``{"message"}``, never HTML."""
        # An unknown HTTP version is a malformed request to a gateway, not its failure: 400 too.
        status = {414: 414, 431: 431, 408: 408}.get(code, 400)
        self.close_connection = True
        if not hasattr(self, "command") or self.command is None:
            self.command = ""
        if not hasattr(self, "request_version"):
            self.request_version = "HTTP/1.1"
        _log(f"- - {status} 0.0 ms (refused before routing)")
        self._send(gateway_response(status), new_request_id())

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default line carries the path and query string; do_any logs its own

    def _too_large_head(self) -> HttpResponse | None:
        """414/431 past HTTP API's 10,240 bytes of request line and header values."""
        line = len(self.requestline.encode("latin-1", "replace"))
        if line > MAX_REQUEST_LINE_AND_HEADERS:
            return gateway_response(414)
        values = sum(len(v.encode("latin-1", "replace")) for v in self.headers.values())
        if line + values > MAX_REQUEST_LINE_AND_HEADERS:
            return gateway_response(431)
        return None

    def _respond(self, request_id: str) -> HttpResponse:
        api = self.server.api
        too_large = self._too_large_head()
        if too_large is not None:
            self.close_connection = True  # the body (if any) is left unread
            return too_large
        parts = urlsplit(self.path)
        raw_path = parts.path or "/"
        try:
            body = self._read_body()
        except _BodyTooLarge:
            self.close_connection = True  # the unread body cannot be skipped on this connection
            return error_response(
                413, request_id, "PAYLOAD_TOO_LARGE", f"request body exceeds {MAX_BODY_BYTES} bytes"
            )
        except TimeoutError:
            self.close_connection = True
            return gateway_response(408)
        except ValueError:
            self.close_connection = True
            return error_response(400, request_id, "MALFORMED_REQUEST", "malformed request body framing")
        match = api.routes.match(self.command, unquote(raw_path))
        if match is None:
            allowed = api.routes.allowed_methods(unquote(raw_path))
            if allowed:
                return error_response(
                    405,
                    request_id,
                    "METHOD_NOT_ALLOWED",
                    f"{self.command} is not allowed on this path (allowed: {', '.join(allowed)})",
                    extra_headers=[("Allow", ", ".join(allowed))],
                )
            # The method and "no route", never the path: it may carry an identifier.
            return error_response(
                404, request_id, "ROUTE_NOT_FOUND", f"no route for this {self.command} request"
            )
        self._route_key = match.route.route_key
        authorizer = None
        if api.issuer is not None and match.route.scopes is not None:
            claims: dict[str, Any] = {}
            try:
                claims = api.issuer.verify(self.headers.get("Authorization"))
                authorizer = authorizer_context(claims, check_scopes(claims, match.route.scopes))
            except AuthRefusal as refused:
                api.log_refusal(request_id, match.route.route_key, refused, self.client_address[0], claims)
                return error_response(
                    refused.status,
                    request_id,
                    refused.code,
                    refused.message,
                    extra_headers=[("WWW-Authenticate", www_authenticate(refused.status) or "Bearer")],
                )
        event = build_event(
            method=self.command,
            raw_path=raw_path,
            raw_query=parts.query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            match=match,
            request_id=request_id,
            authorizer=authorizer,
        )
        function_id = match.route.function_id
        try:
            result = api.invoker.invoke(
                function_id, event, request_id=request_id, timeout=INTEGRATION_TIMEOUT_SECONDS
            )
            return handler_response(result)
        except FunctionTimeout:
            spec = api.invoker.spec(function_id)
            _log(f"{function_id} timed out on {match.route.route_key} (request {request_id})")
            # Past the integration's 30 s API Gateway answers 503; a function stopped by its own
            # shorter Timeout is an error response of the function: 500.
            return gateway_response(503 if spec.timeout >= INTEGRATION_TIMEOUT_SECONDS else 500)
        except FunctionError as failed:
            _log(f"{function_id} failed on {match.route.route_key} (request {request_id}):\n{failed.trace}")
            return json_response(500, INTERNAL_ERROR)
        except (WorkerCrashed, Exception):
            _log(f"{function_id} failed on {match.route.route_key} (request {request_id}):")
            traceback.print_exc(file=sys.stderr)
            return json_response(500, INTERNAL_ERROR)

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def _read_body(self) -> bytes:
        # The whole body within 3 read timeouts (each read also has one): a client trickling a
        # byte every few seconds is dropped too.
        deadline = time.monotonic() + 3 * self.server.api.read_timeout
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(deadline)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        size = int(length)  # ValueError → 400
        if size < 0:
            raise ValueError("negative Content-Length")
        if size > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self._read_exactly(size, deadline)

    def _read_exactly(self, size: int, deadline: float) -> bytes:
        chunks, left = [], size
        while left > 0:
            if time.monotonic() > deadline:
                raise TimeoutError
            chunk = (
                self.rfile.read1(min(left, 1 << 16))
                if hasattr(self.rfile, "read1")
                else self.rfile.read(left)
            )
            if not chunk:
                raise ValueError("the body ended before Content-Length bytes")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _read_chunked(self, deadline: float) -> bytes:
        chunks, total = [], 0
        while True:
            if time.monotonic() > deadline:
                raise TimeoutError
            line = self.rfile.readline(1024)
            if not line:
                raise ValueError("the body ended inside a chunk")
            size = int(line.split(b";", 1)[0].strip(), 16)
            if size < 0:
                raise ValueError("negative chunk size")
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    if time.monotonic() > deadline:
                        raise TimeoutError
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunks.append(self._read_exactly(size, deadline))
            self.rfile.readline(3)

    def _send(self, response: HttpResponse, request_id: str) -> None:
        """Status line, headers and body in ONE write (two writes cost a Nagle/delayed-ACK stall)."""
        reason = self.responses.get(response.status, ("",))[0]
        lines = [f"{self.protocol_version} {response.status} {reason}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines += [
            f"Date: {self.date_time_string()}",
            f"apigw-requestid: {request_id}",
            f"Content-Length: {len(response.body)}",
        ]
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
        try:
            self.wfile.write(head if self.command == "HEAD" else head + response.body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client left; nothing to tell it


class LocalApi:
    """The local HTTP API (and, by default, the embedded AWS behind it), startable in a thread.

    ``port=0`` picks a free port (see :attr:`url`). ``env_vars`` is sam's ``--env-vars`` mapping.
    ``auth`` (default on): routes with a JWT authorizer in the template need a bearer token from
    :meth:`issue_token`, verified as API Gateway would; off, nothing is verified and the functions
    run with ``MEDSERVE_REQUIRE_AUTH=false``.
    """

    def __init__(
        self,
        template: Template,
        host: str = "127.0.0.1",
        port: int = 3000,
        *,
        env_vars: Mapping[str, Mapping[str, Any]] | None = None,
        embedded_aws: bool = True,
        aws_port: int = 0,
        sagemaker_local: bool = False,
        auth: bool = True,
        workers: int = DEFAULT_WORKERS,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
    ) -> None:
        self.template = template
        self.read_timeout = read_timeout
        self.issuer: LocalIssuer | None = LocalIssuer() if auth else None
        self.host = host
        self.port = port
        self.sagemaker_local = sagemaker_local and embedded_aws
        self.offload: LocalOffload | None = None
        if self.sagemaker_local and template.path is not None:
            # Offload on, as a deployment with existing endpoints: the template's conditions then
            # add the invoke permissions, the async topics and JobsFunction.
            overrides = {**LOCAL_ENDPOINT_PARAMETERS, **template.parameter_overrides}
            template = Template.load(template.path, parameter_overrides=overrides)
            self.template = template
        if not auth:  # the functions' own scope check would refuse every request without claims
            env_vars = dict(env_vars or {})
            env_vars["Parameters"] = {**(env_vars.get("Parameters") or {}), "MEDSERVE_REQUIRE_AUTH": "false"}
        # Per-function pools of worker processes (devtools.local.workers): requests run concurrently,
        # each execution environment with its own init, as Lambda's; workers=0: in this process.
        self.invoker = PooledInvoker(template, env_vars, size=workers)
        self.access_log = AccessLog.from_template(template) if auth else None
        self.routes = RouteTable.from_invoker(self.invoker)
        self.aws: EmbeddedAWS | None = (
            EmbeddedAWS(template, self.invoker, port=aws_port) if embedded_aws else None
        )
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None

    def log_refusal(
        self, request_id: str, route_key: str, refused: AuthRefusal, source_ip: str, claims: Mapping[str, Any]
    ) -> None:
        """A request refused here, as API Gateway logs it: the access-log line, delivered to the
        functions subscribed to the access log (GatewayAuditFunction audits it)."""
        if self.access_log is None:
            return
        line = self.access_log.line(
            {
                "requestId": request_id,
                "requestTime": _clf_time(time.time()),
                "routeKey": route_key,
                "status": refused.status,
                "identity.sourceIp": source_ip,
                "authorizer.claims.client_id": claims.get("client_id", "-"),
                "authorizer.error": refused.message,
            }
        )
        for function_id in self.access_log.subscribers:
            try:
                self.invoker.invoke(function_id, self.access_log.event(line))
            except Exception:
                _log(f"access-log delivery to {function_id} failed:\n{traceback.format_exc()}")

    def issue_token(
        self, scopes: Sequence[str] = ALL_SCOPES, *, subject: str = "local-client", ttl_seconds: int = 3600
    ) -> str:
        """An access token this server accepts, with ``scopes``."""
        if self.issuer is None:
            raise RuntimeError("authentication is off (--no-auth): no tokens to issue")
        return self.issuer.issue(scopes, subject=subject, ttl_seconds=ttl_seconds)

    @property
    def url(self) -> str:
        """``http://host:port`` as bound (a wildcard host is shown as 127.0.0.1)."""
        if self._httpd is None:
            raise RuntimeError("LocalApi is not started")
        host, port = self._httpd.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else str(host)  # noqa: S104
        return f"http://{shown}:{port}"

    def start(self) -> LocalApi:
        """Start the embedded AWS, then serve HTTP in a background thread. Returns self."""
        if self.aws is not None:
            self.aws.start()
        try:
            if self.sagemaker_local and self.aws is not None:
                self._start_offload(self.aws)
            self._httpd = _HttpServer((self.host, self.port), _RequestHandler)
        except BaseException:
            if self.offload is not None:
                self.offload.stop()
            if self.aws is not None:
                self.aws.stop()
            raise
        self._httpd.api = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="medserve-http", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, then stop the embedded AWS. Idempotent."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.invoker.close()  # the workers, before the embedded AWS they talk to
        if self.offload is not None:
            self.offload.stop()
            self.offload = None
        if self.aws is not None:
            self.aws.stop()

    def _start_offload(self, aws: EmbeddedAWS) -> None:
        """``--sagemaker-local``: demo offload models on local endpoints, reached with real boto3."""
        workdir = Path(tempfile.mkdtemp(prefix="medserve-endpoints-"))
        self.offload = start_local_offload(aws, workdir, notify=self._notify_subscribers)
        env_vars = dict(self.invoker.env_vars or {})
        env_vars["Parameters"] = {**(env_vars.get("Parameters") or {}), **self.offload.environment}
        self.invoker.env_vars = env_vars

    def _notify_subscribers(self, notification: dict[str, Any], succeeded: bool) -> None:
        """SageMaker's async notification, delivered as SNS would to the subscribed function."""
        topic = "AsyncSuccessTopic" if succeeded else "AsyncErrorTopic"
        for function_id in self.template.functions():
            events = (self.template.properties(function_id).get("Events") or {}).values()
            if any(
                e.get("Type") == "SNS" and e.get("Properties", {}).get("Topic") == {"Ref": topic}
                for e in events
            ):
                topic_arn = f"arn:aws:sns:{local_region()}:{LOCAL_ACCOUNT_ID}:{local_name(topic)}"
                event = {
                    "Records": [
                        {
                            "EventSource": "aws:sns",
                            "EventVersion": "1.0",
                            "EventSubscriptionArn": f"{topic_arn}:{secrets.token_hex(8)}",
                            "Sns": {
                                "Type": "Notification",
                                "MessageId": secrets.token_hex(16),
                                "TopicArn": topic_arn,
                                "Subject": None,
                                "Message": json.dumps(notification),
                                "Timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                            },
                        }
                    ]
                }
                try:
                    self.invoker.invoke(function_id, event)
                except Exception:
                    _log(f"SNS delivery to {function_id} failed:\n{traceback.format_exc()}")

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --------------------------------------------------------------------------- the banner

    def banner(self) -> str:
        """What ``medserve serve`` prints once ready: URL, routes, embedded AWS, commands to paste."""
        lines = [f"medserve local API: {self.url}", "", "routes:"]
        width = max((len(r.route_key) for r in self.routes.routes), default=0)
        lines += [f"  {r.route_key:<{width}}  -> {r.function_id}" for r in self.routes.routes]
        if self.aws is not None:
            lines += ["", f"embedded AWS (moto): {self.aws.endpoint_url}"]
            lines += [f"  bucket {name}  ({lid})" for lid, name in self.aws.buckets.items()]
            lines += [f"  table  {name}  ({lid})" for lid, name in self.aws.tables.items()]
        if self.offload is not None:
            lines += ["", f"local SageMaker Runtime: {self.offload.server.url}"]
            lines += [
                f"  endpoint {e}  serves model {m}"
                for e, m in zip(self.offload.server.endpoints, self.offload.models, strict=True)
            ]
        if self.issuer is not None:
            token = self.issue_token(ttl_seconds=BANNER_TOKEN_SECONDS)
            lines += [
                "",
                f"authentication: on (JWT, as the HttpApi's authorizer). A token with every scope "
                f"({' '.join(ALL_SCOPES)}), valid {BANNER_TOKEN_SECONDS // 3600} h:",
                f"  export TOKEN={token}",
            ]
        else:
            lines += ["", NO_AUTH_WARNING]
        lines += ["", "try:"]
        lines += [f"  {command}" for command in self._examples()]
        lines += ["", "Ctrl-C stops."]
        return "\n".join(lines)

    def _examples(self) -> list[str]:
        examples = []
        for route in self.routes.routes:
            if route.method == "GET" and route.path in ("/v1/health", "/v1/models"):
                examples.append(f"curl -s{self._auth_flag(route)} {self.url}{route.path}")
        for route in self.routes.routes:
            if route.method == "POST" and not route.parameters and route.path != DEFAULT_ROUTE:
                sample = _sample_body(self.template.base_dir, route.path)
                if sample is not None:
                    examples.append(
                        f"curl -s{self._auth_flag(route)} -X POST {self.url}{route.path} "
                        f"-H 'content-type: application/json' -d {shlex.quote(sample)}"
                    )
                    continue
                binary = _sample_binary(self.template.base_dir, route.path)
                if binary is not None:
                    file, content_type = binary
                    examples.append(
                        f"curl -s{self._auth_flag(route)} -X POST '{self.url}{route.path}?explain=true' "
                        f"-H 'content-type: {content_type}' --data-binary @{shlex.quote(file)}"
                    )
        if self.aws is not None:
            examples += self._upload_examples()
        return examples

    def _auth_flag(self, route: Route) -> str:
        """The curl flag sending the banner's token, for routes that need one."""
        needs_token = self.issuer is not None and route.scopes is not None
        return ' -H "authorization: Bearer $TOKEN"' if needs_token else ""

    def _upload_examples(self) -> list[str]:
        assert self.aws is not None
        env = (
            " ".join(f"{k}={v}" for k, v in FAKE_CREDENTIALS.items())
            + f" AWS_DEFAULT_REGION={local_region()}"
        )
        aws = f"{env} aws --endpoint-url {self.aws.endpoint_url}"
        examples = []
        for route in self.aws.s3_routes.values():
            prefix = route.trigger.prefix
            local_file = _sample_upload(self.template.base_dir, route.trigger)
            filename = local_file.rsplit("/", 1)[-1]
            examples.append(
                f"{aws} s3 cp {shlex.quote(local_file)} s3://{route.bucket_name}/{prefix}{filename}"
            )
            if prefix.startswith("uploads/"):
                results = "results/" + prefix.removeprefix("uploads/")
                examples.append(f"{aws} s3 ls --recursive s3://{route.bucket_name}/{results}")
        audit = self.aws.buckets.get("AuditBucket")
        if audit:  # one record per request (medserve.security.audit)
            examples.append(f"{aws} s3 ls --recursive s3://{audit}/audit/")
        if "MonitorFunction" in self.invoker.specs:  # the drift job over what was captured so far
            examples.append(f"medserve monitor run --endpoint-url {self.aws.endpoint_url}")
        return examples


def _sample_body(base_dir: Path, path: str) -> str | None:
    """The JSON body of ``events/<a>_<b>.json`` for route ``/v1/<a>/<b>``, compacted, if present."""
    segments = [s for s in path.strip("/").split("/") if s != "v1"]
    event_file = base_dir / "events" / ("_".join(segments) + ".json")
    try:
        event = json.loads(event_file.read_text(encoding="utf-8"))
        body = event.get("body")
        if not isinstance(body, str) or event.get("isBase64Encoded"):
            return None
        return json.dumps(json.loads(body), separators=(",", ":"))
    except (OSError, ValueError, AttributeError):
        return None


_BINARY_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".dcm": "application/dicom",
}


def _sample_binary(base_dir: Path, path: str) -> tuple[str, str] | None:
    """A binary sample for route ``/v1/<a>/...``: the first ``events/data/<a>_*`` file of a known
    media type (``.png``, ``.jpg``, ``.dcm``), as a path paste-able from the working directory."""
    segments = [s for s in path.strip("/").split("/") if s != "v1"]
    if not segments:
        return None
    for candidate in sorted((base_dir / "events" / "data").glob(f"{segments[0]}_*")):
        content_type = _BINARY_TYPES.get(candidate.suffix.lower())
        if content_type is not None:
            with contextlib.suppress(ValueError):
                return os.path.relpath(candidate), content_type
            return str(candidate), content_type
    return None


def _sample_upload(base_dir: Path, trigger: S3Trigger) -> str:
    """A sample input for an upload prefix: ``events/data/<modality>_*`` if one exists, else a stand-in."""
    modality = trigger.prefix.removeprefix("uploads/").strip("/").split("/")[0]
    candidates = (
        sorted((base_dir / "events" / "data").glob(f"{modality}_*{trigger.suffix}")) if modality else []
    )
    if not candidates:
        return f"your-file{trigger.suffix}"
    with contextlib.suppress(ValueError):
        return os.path.relpath(candidates[0])  # paste-able from where the server was started
    return str(candidates[0])


def _log(message: str) -> None:
    print(f"medserve: {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- medserve serve


def main_serve(args: argparse.Namespace) -> int:
    """``medserve serve``: serve until Ctrl-C or SIGTERM. 0 on a clean stop, 1/2 on start-up errors."""
    try:
        template = Template.load(args.template)
        env_vars = read_env_vars(getattr(args, "env_vars", None))
        api = LocalApi(
            template,
            args.host,
            args.port,
            env_vars=env_vars,
            aws_port=getattr(args, "aws_port", 0) or 0,
            sagemaker_local=getattr(args, "sagemaker_local", False),
            auth=not getattr(args, "no_auth", False),
            workers=getattr(args, "workers", DEFAULT_WORKERS),
            read_timeout=getattr(args, "read_timeout", DEFAULT_READ_TIMEOUT),
        )
    except (TemplateError, OSError, ValueError) as e:
        print(f"medserve serve: {e}", file=sys.stderr)
        return 2
    try:
        api.start()
    except OSError as e:
        print(f"medserve serve: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    previous = _on_sigterm(stopping.set)
    if api.issuer is None:
        _log(NO_AUTH_WARNING)  # on stderr too, where logs are watched
    try:
        print(api.banner(), flush=True)
        while not stopping.wait(0.5):  # a timed wait, so Ctrl-C (KeyboardInterrupt) gets through
            pass
    except KeyboardInterrupt:
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        api.stop()
        _log("stopped")
    return 0


def _on_sigterm(callback: Callable[[], None]) -> Any:
    """Call ``callback`` on SIGTERM (kill, docker stop); the previous handler, or None off the main thread."""
    try:
        return signal.signal(signal.SIGTERM, lambda *_: callback())
    except ValueError:  # signals can only be handled in the main thread
        return None
