"""Builds the OpenAPI document of the whole HTTP API: every function's routes in one document.

Including a router in a second resolver rebinds its request state, so this runs in a process that
serves nothing: ``python -m devtools.openapi`` (``make openapi``) writes
``medserve/api/openapi.json``, which the layer ships and ``GET /v1/openapi.json`` answers;
``--check`` exits 1 when the committed file no longer matches the routes.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from medserve.api.openapi import DOCUMENT

TITLE = "medserve"
DESCRIPTION = (
    "Healthcare AI models served as AWS Lambda functions. Predictions carry the model's name, version, "
    "sha256 and intended use; errors carry a request_id and never echo patient data."
)


def build_document() -> dict[str, Any]:
    """Every router of every function in one resolver (in a process that serves nothing)."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from medserve import __version__
    from medserve.api import common, imaging, jobs, monitoring, multimodal, recommend, tabular, text

    app = APIGatewayHttpResolver(enable_validation=True)
    for module in (common, tabular, imaging, jobs, text, monitoring, recommend, multimodal):
        app.include_router(module.router)
    schema = app.get_openapi_json_schema(title=TITLE, version=__version__, description=DESCRIPTION)
    return with_security(json.loads(schema))


def with_security(document: dict[str, Any]) -> dict[str, Any]:
    """Each operation's scopes (``medserve.security.auth.ROUTE_SCOPES``, the table the template repeats) as
    OpenAPI security requirements, and the 401/403 answers of the routes that need a token."""
    from medserve.api.schemas import ErrorEnvelope
    from medserve.security.auth import ALL_SCOPES, required_scopes

    envelope = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}}
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).setdefault(
        "ErrorEnvelope", ErrorEnvelope.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    components["securitySchemes"] = {
        "oauth2": {
            "type": "oauth2",
            "description": "OAuth 2.0 client credentials (the stack's Cognito user pool, or your OIDC "
            "issuer); send the access token as 'Authorization: Bearer <token>'",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/oauth2/token",
                    "scopes": {scope: f"call the {scope.split('/')[1]} routes" for scope in ALL_SCOPES},
                }
            },
        }
    }
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            scopes = required_scopes(f"{method.upper()} {path}")
            if scopes is None:
                operation["security"] = []  # open
                continue
            # One requirement per scope: any one of them opens the route (as API Gateway checks).
            operation["security"] = [{"oauth2": [scope]} for scope in sorted(scopes)]
            responses = operation.setdefault("responses", {})
            responses["401"] = {
                "description": "no token, or a token that does not verify",
                "content": envelope,
            }
            responses["403"] = {"description": "the token lacks this route's scope", "content": envelope}
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.openapi", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if openapi.json is out of date")
    args = parser.parse_args(argv)
    built = json.dumps(build_document(), indent=1, sort_keys=True) + "\n"
    if args.check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != built:
            print(f"{DOCUMENT} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(built)
    print(f"wrote {DOCUMENT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
