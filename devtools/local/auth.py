"""The local stand-in for the HTTP API's JWT authorizer and its identity provider.

``medserve serve`` creates an RSA signing key when it starts (in memory: tokens die with the
server), issues RS256 access tokens shaped like Cognito's client-credentials tokens (``sub``,
``client_id``, ``scope``, ``token_use``, ``iss``, ``iat``, ``exp``, ``jti``) and verifies them
the way API Gateway does: signature, issuer, expiry, ``client_id``/``aud`` against the audience,
then the route's ``AuthorizationScopes`` (any one of them). The verified claims reach the handler
in ``requestContext.authorizer.jwt``, values as strings, as API Gateway passes them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from medserve.security.auth import claim_scopes

__all__ = [
    "LOCAL_AUDIENCE",
    "LOCAL_ISSUER",
    "AuthRefusal",
    "LocalIssuer",
    "authorizer_context",
    "check_scopes",
]

LOCAL_ISSUER = "https://devtools.local/idp"
LOCAL_AUDIENCE = "medserve-local-client"
_LEEWAY_SECONDS = 30  # clock skew API Gateway tolerates is unspecified; small and explicit here


@dataclass(frozen=True)
class AuthRefusal(Exception):
    """Why a request was refused: 401 (no or bad token) or 403 (missing scope)."""

    status: int
    code: str
    message: str


class LocalIssuer:
    """Issues and verifies the local server's access tokens."""

    def __init__(self, issuer: str = LOCAL_ISSUER, audience: str = LOCAL_AUDIENCE) -> None:
        self.issuer = issuer
        self.audience = audience
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = secrets.token_hex(8)

    def issue(self, scopes: Iterable[str], *, subject: str = "local-client", ttl_seconds: int = 3600) -> str:
        """An access token for ``subject`` with ``scopes``, valid ``ttl_seconds``."""
        now = int(time.time())
        claims = {
            "sub": subject,
            "client_id": self.audience,
            "iss": self.issuer,
            "token_use": "access",
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": secrets.token_hex(16),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self._kid})

    def verify(self, authorization: str | None) -> dict[str, Any]:
        """The claims of a valid ``Authorization: Bearer`` token; ``AuthRefusal`` (401) otherwise."""
        if not authorization:
            raise AuthRefusal(
                401, "UNAUTHORIZED", "a bearer token is required (Authorization: Bearer <token>)"
            )
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthRefusal(401, "UNAUTHORIZED", "the Authorization header must be 'Bearer <token>'")
        try:
            claims = jwt.decode(
                token.strip(),
                self._key.public_key(),
                algorithms=["RS256"],  # API Gateway accepts RSA-signed tokens only
                issuer=self.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as e:
            raise AuthRefusal(401, "UNAUTHORIZED", "the token has expired") from e
        except jwt.PyJWTError as e:
            raise AuthRefusal(401, "UNAUTHORIZED", "the token is not valid for this API") from e
        # Like API Gateway: the audience is checked against "aud", else "client_id".
        audience = claims.get("aud", claims.get("client_id"))
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise AuthRefusal(401, "UNAUTHORIZED", "the token is not valid for this API")
        return claims


def check_scopes(claims: Mapping[str, Any], required: Iterable[str]) -> list[str]:
    """The token's scopes if it has one of ``required`` (none required: any token); else 403."""
    granted = sorted(claim_scopes(claims))  # scope and scp, exactly as medserve.security.auth reads them
    needed = set(required)
    if needed and not needed.intersection(granted):
        raise AuthRefusal(
            403,
            "FORBIDDEN",
            f"the token lacks the scope this route requires (one of: {' '.join(sorted(needed))})",
        )
    return granted


def authorizer_context(claims: Mapping[str, Any], scopes: list[str]) -> dict[str, Any]:
    """``requestContext.authorizer`` as API Gateway fills it for a JWT authorizer."""
    return {"jwt": {"claims": {k: _claim_string(v) for k, v in claims.items()}, "scopes": scopes or None}}


def _claim_string(value: Any) -> str:
    # API Gateway passes every claim as a string; lists as "[a b]".
    if isinstance(value, list):
        return "[" + " ".join(str(v) for v in value) + "]"
    return str(value)
