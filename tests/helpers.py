"""Test helpers: real-shaped AWS events, and the template's functions and Lambda contexts."""

from __future__ import annotations

import base64
import importlib.util
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from medserve.security.auth import ALL_SCOPES

from devtools.local.invoke import Invoker, LambdaContext
from devtools.local.template import Template

REPO = Path(__file__).resolve().parents[1]


def http_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    route: str | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    path_parameters: dict[str, str] | None = None,
    binary: bool = False,
    scopes: tuple[str, ...] | None = ALL_SCOPES,
) -> dict[str, Any]:
    """An API Gateway HTTP API payload 2.0 event; ``body`` may be a dict (sent as JSON) or str/bytes.

    ``scopes``: the event carries the claims of a token with these scopes, as API Gateway's JWT
    authorizer passes them (all of medserve's by default); None for a request without a token."""
    if isinstance(body, dict | list):
        body = json.dumps(body)
    hdrs = {"content-type": "application/json", "host": "local", "user-agent": "pytest"}
    hdrs.update(headers or {})
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} {route or path}",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": hdrs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "pytest",
            },
            "requestId": f"req-{uuid.uuid4().hex[:12]}",
            "routeKey": f"{method} {route or path}",
            "stage": "$default",
            "timeEpoch": 1795352400000,
        },
        "isBase64Encoded": binary,
    }
    if scopes is not None:
        event["requestContext"]["authorizer"] = jwt_authorizer(scopes)
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body is not None:
        if binary:
            event["body"] = base64.b64encode(body if isinstance(body, bytes) else body.encode()).decode()
        else:
            event["body"] = body if isinstance(body, str) else body.decode()
    return event


def jwt_authorizer(scopes: tuple[str, ...], subject: str = "pytest-client") -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway's JWT authorizer fills it (claims as strings)."""
    claims = {
        "sub": subject,
        "client_id": subject,
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pytest",
        "token_use": "access",
        "scope": " ".join(scopes),
        "exp": "1795356000",
        "iat": "1795352400",
    }
    return {"jwt": {"claims": claims, "scopes": list(scopes) or None}}


def bearer(api: Any, scopes: tuple[str, ...] = ALL_SCOPES, **kwargs: Any) -> dict[str, str]:
    """The Authorization header of a token the local server ``api`` (a LocalApi) accepts."""
    return {"authorization": f"Bearer {api.issue_token(scopes, **kwargs)}"}


def s3_event(
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    sequencer: str = "0055AED6DCD90281E5",
    size: int = 0,
) -> dict[str, Any]:
    """An S3 ObjectCreated:Put notification as S3 sends it (key URL-encoded)."""
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "size": size,
        "eTag": "0123456789abcdef",
        "sequencer": sequencer,
    }
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-22T13:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:EXAMPLE"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE/ID"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "TabularUploads",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "EXAMPLE"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


def stack(parameter_overrides: dict[str, str] | None = None) -> Invoker:
    """The functions of template.yaml, resolved (Handler, CodeUri, Layers) as Lambda would;
    ``parameter_overrides`` as for ``sam deploy`` (conditional functions appear with them)."""
    return Invoker(Template.load(REPO / "template.yaml", parameter_overrides=parameter_overrides))


def lambda_context(function: str = "TabularFunction") -> LambdaContext:
    """The context object the Python runtime passes, for ``function`` of template.yaml."""
    return LambdaContext.for_function(Template.load(REPO / "template.yaml").functions()[function])


def call(app_module: ModuleType, event: dict[str, Any], context: Any) -> tuple[int, dict[str, Any]]:
    """Invoke a handler with an HTTP event and decode its JSON answer."""
    response = app_module.lambda_handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def eventually(probe: Callable[[], Any], *, seconds: float = 30, what: str = "the result") -> Any:
    """Call ``probe`` until it returns something other than None; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} did not arrive within {seconds} s")


def s3_json(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at ``key``, or None while it does not exist yet."""
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def medserve_invoke(function: str, event_file: str) -> tuple[dict[str, Any], str]:
    """``medserve invoke <function> --event <file>`` exactly as a user types it: its JSON answer,
    and everything it printed (to check for what must not be there)."""
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cli", "invoke", function, "--event", event_file],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stdout + done.stderr


def serve_derived(tmp_path: Path, name: str, **card_updates: Any) -> None:
    """Serve the bundled model ``name`` under a changed card (same artifacts, so the sha256s hold),
    e.g. without its intended-use gate or with an OOD policy of refuse; for this test only."""
    from medserve.services import Services, set_services
    from medserve.serving.registry import BUNDLED_DIR, BundledModels, Registry, derive_model

    derive_model(BUNDLED_DIR / name, tmp_path / "derived" / name, **card_updates)
    registry = Registry(BundledModels(tmp_path / "derived"), cache_dir=tmp_path / "derived-cache")
    set_services(Services(registry=registry))


def load_bench(script: str) -> ModuleType:
    """A bench/ script as a module (bench/ is scripts, not a package), for tests that drive it."""
    name = f"medserve_bench_{Path(script).stem}"
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before exec: its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
