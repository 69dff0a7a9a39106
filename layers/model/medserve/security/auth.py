"""Who is calling, and may they call this route: OAuth 2.0 scopes from a verified JWT.

In AWS, the HTTP API's JWT authorizer verifies the bearer token (signature, issuer, audience,
expiry) and the route's ``AuthorizationScopes`` before any function runs, then passes the token's
claims in ``requestContext.authorizer.jwt``. The functions check the scopes again (defence in
depth): a route deployed without its authorizer, a direct invocation or a test event without
claims must not be answered. ``medserve serve`` verifies tokens itself (``devtools.local.auth``)
and passes claims the same way.

``ROUTE_SCOPES`` is the one table of which scope opens which route; ``template.yaml`` repeats it
as each route's ``AuthorizationScopes`` (tests/template/test_template.py checks they agree).
``MEDSERVE_REQUIRE_AUTH=false`` switches the check off (``medserve serve --no-auth`` does, loudly).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from medserve.config import settings
from medserve.errors import Forbidden, Unauthorized

__all__ = [
    "ALL_SCOPES",
    "OPEN_ROUTES",
    "ROUTE_SCOPES",
    "Principal",
    "auth_required",
    "authorize",
    "caller",
    "principal_of",
    "required_scopes",
    "www_authenticate",
]

TABULAR, IMAGING, TEXT, ADMIN = "medserve/tabular", "medserve/imaging", "medserve/text", "medserve/admin"
RECOMMEND, MULTIMODAL = "medserve/recommend", "medserve/multimodal"
ALL_SCOPES: tuple[str, ...] = (TABULAR, IMAGING, TEXT, RECOMMEND, MULTIMODAL, ADMIN)

OPEN_ROUTES = frozenset({"GET /v1/health"})  # liveness probes carry no token
# A token needs ANY ONE of a route's scopes (API Gateway's rule for AuthorizationScopes).
ROUTE_SCOPES: dict[str, frozenset[str]] = {
    "GET /v1/models": frozenset(ALL_SCOPES),
    "GET /v1/models/{name}": frozenset(ALL_SCOPES),
    "GET /v1/openapi.json": frozenset(ALL_SCOPES),
    "POST /v1/tabular/predict": frozenset({TABULAR}),
    "POST /v1/imaging/predict": frozenset({IMAGING}),
    "POST /v1/imaging/deidentify": frozenset({IMAGING}),
    "POST /v1/uploads": frozenset({IMAGING}),
    "GET /v1/jobs/{id}": frozenset({IMAGING, TABULAR}),  # tabular async offload jobs too
    "POST /v1/text/predict": frozenset({TEXT}),
    "POST /v1/text/deidentify": frozenset({TEXT}),
    # Labels feed the performance report: an operator feed (e.g. a lab results interface), not
    # something a prediction client may write (it could poison the report of others' predictions).
    "POST /v1/monitoring/ground-truth": frozenset({ADMIN}),
    "POST /v1/recommend/treatment": frozenset({RECOMMEND}),
    "POST /v1/multimodal/predict": frozenset({MULTIMODAL}),
}


@dataclass(frozen=True)
class Principal:
    """The caller as the token names it: a client or user id, never a patient."""

    subject: str
    client_id: str
    issuer: str
    scopes: frozenset[str]

    def audit(self) -> dict[str, str]:
        return {"subject": self.subject, "client_id": self.client_id, "issuer": self.issuer}

    @property
    def key(self) -> str:
        """A stable opaque id of this caller (what a job records as its owner)."""
        return hashlib.sha256(f"{self.issuer}\n{self.subject}".encode()).hexdigest()[:32]


ANONYMOUS = Principal(subject="anonymous", client_id="", issuer="", scopes=frozenset())


def www_authenticate(status: int) -> str | None:
    """The ``WWW-Authenticate`` challenge of a 401 or 403 (RFC 6750), else None."""
    if status == 401:
        return 'Bearer realm="medserve"'
    if status == 403:
        return 'Bearer realm="medserve", error="insufficient_scope"'
    return None


def auth_required() -> bool:
    """On unless ``MEDSERVE_REQUIRE_AUTH`` says ``false`` (secure by default)."""
    return settings().require_auth


def required_scopes(route_key: str | None) -> frozenset[str] | None:
    """The scopes that open ``route_key`` (any one suffices); None for an open route. A route this
    table does not know (``$default``, a typo) needs a token with any medserve scope."""
    if route_key in OPEN_ROUTES:
        return None
    return ROUTE_SCOPES.get(route_key or "", frozenset(ALL_SCOPES))


def principal_of(event: Mapping[str, Any]) -> Principal | None:
    """The principal of a payload 2.0 event's JWT claims, or None when the event carries none."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    jwt = authorizer.get("jwt") if isinstance(authorizer, Mapping) else None
    if not isinstance(jwt, Mapping):
        return None
    claims = jwt.get("claims")
    if not isinstance(claims, Mapping) or not claims.get("sub"):
        return None
    scopes = set(jwt.get("scopes") or []) | claim_scopes(claims)
    return Principal(
        subject=str(claims["sub"]),
        client_id=str(claims.get("client_id") or claims.get("azp") or claims.get("aud") or ""),
        issuer=str(claims.get("iss") or ""),
        scopes=frozenset(scopes),
    )


def claim_scopes(claims: Mapping[str, Any]) -> set[str]:
    """The scopes a token's claims grant: ``scope`` and ``scp``, each a space-separated string
    (API Gateway passes a list claim as ``"[a b]"``) or a list. The one reading of scopes: the
    local authorizer (devtools.local.auth) uses it too."""
    scopes: set[str] = set()
    # Cognito and most issuers put scopes in "scope" (space-separated); Okta/Azure use "scp".
    for claim in ("scope", "scp"):
        value = claims.get(claim)
        if isinstance(value, str):
            scopes.update(value.strip("[]").split())
        elif isinstance(value, list):
            scopes.update(str(v) for v in value)
    return scopes


def caller(event: Mapping[str, Any] | None) -> Principal:
    """The principal of an already authorized event (``ANONYMOUS`` when it names none)."""
    return (principal_of(event) if event else None) or ANONYMOUS


def authorize(event: Mapping[str, Any]) -> Principal:
    """The caller of ``event`` if it may call its route; ``Unauthorized`` (401) without verified
    claims, ``Forbidden`` (403) without one of the route's scopes. Open routes and a disabled
    check answer the principal the event names, else ``ANONYMOUS``."""
    principal = principal_of(event)
    needed = required_scopes(event.get("routeKey"))
    if needed is None or not auth_required():
        return principal or ANONYMOUS
    if principal is None:
        raise Unauthorized("a bearer token is required (Authorization: Bearer <access token>)")
    if not needed & principal.scopes:
        raise Forbidden(
            "the token lacks the scope this route requires",
            [{"field": "scope", "issue": f"needs one of: {' '.join(sorted(needed))}"}],
        )
    return principal
