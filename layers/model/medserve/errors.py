"""The error model: one root, each subclass carries its HTTP status and contract error code.

Messages and details must never contain patient data (input values, text, pixels, identifiers):
they name fields and say what is wrong with them, nothing more. ``api`` turns these into the
contract's error envelope at one catch point.
"""

from __future__ import annotations

from typing import Any


class MedserveError(Exception):
    """Root of every error medserve raises on purpose."""

    status: int = 500
    code: str = "INTERNAL"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def as_error(self) -> dict[str, Any]:
        """The contract's ``error`` object: ``{code, message, details}`` (the envelope's, a batch
        row's, an error result's)."""
        return {"code": self.code, "message": self.message, "details": self.details}


class MalformedRequest(MedserveError):
    status, code = 400, "MALFORMED_REQUEST"


class Unauthorized(MedserveError):
    """No credentials, or credentials that do not verify (missing, expired, wrong issuer)."""

    status, code = 401, "UNAUTHORIZED"


class Forbidden(MedserveError):
    """Verified credentials without a scope the route requires."""

    status, code = 403, "FORBIDDEN"


class ModelNotFound(MedserveError):
    status, code = 404, "MODEL_NOT_FOUND"


class RouteNotFound(MedserveError):
    status, code = 404, "ROUTE_NOT_FOUND"


class JobNotFound(MedserveError):
    """No job with that id (never created, malformed id, or expired by the jobs table's TTL)."""

    status, code = 404, "JOB_NOT_FOUND"


class NotConfigured(MedserveError):
    """A route or model whose resources (uploads bucket, jobs table, SageMaker endpoint) this
    deployment does not configure."""

    status, code = 503, "NOT_CONFIGURED"


class NotAcceptable(MedserveError):
    """The caller's ``Accept`` (or ``_format``) allows none of the media types the route answers."""

    status, code = 406, "NOT_ACCEPTABLE"


class PayloadTooLarge(MedserveError):
    status, code = 413, "PAYLOAD_TOO_LARGE"


class UnsupportedMediaType(MedserveError):
    status, code = 415, "UNSUPPORTED_MEDIA_TYPE"


class InvalidInput(MedserveError):
    status, code = 422, "INVALID_INPUT"


class OutOfScope(MedserveError):
    """A valid input outside the model's intended use (its card's ``intended_use_gate``) or, under
    an ``ood.policy`` of ``refuse``, outside its training distribution. The message names the
    reason in defined terms (a DICOM defined term, a card feature, a limit), never a free-text value."""

    status, code = 422, "OUT_OF_SCOPE"

    @classmethod
    def outside_intended_use(cls, subject: str, model: str, reasons: list[dict[str, Any]]) -> OutOfScope:
        """The refusal of a card's ``intended_use_gate`` (imaging, text): ``subject`` ("the image")
        is outside model ``model``'s intended use for every reason listed (each a detail whose
        ``issue`` the message repeats)."""
        return cls(
            f"{subject} is outside the intended use of model '{model}': "
            + "; ".join(r["issue"] for r in reasons),
            reasons,
        )


class UpstreamError(MedserveError):
    """An AWS dependency (S3, DynamoDB, SageMaker) failed: the one legitimate 5xx family."""

    status, code = 502, "UPSTREAM_ERROR"


class ModelIntegrityError(UpstreamError):
    """A model artifact's sha256 does not match its card: we refuse to serve it."""

    code = "MODEL_INTEGRITY_ERROR"


class InvalidModelCard(MedserveError):
    """A card fails validation when published or loaded (a publisher's error, not a caller's)."""

    status, code = 422, "INVALID_MODEL_CARD"


class Throttled(MedserveError):
    """An upstream (SageMaker) kept throttling after our bounded retries: the caller may retry."""

    status, code = 429, "THROTTLED"


class UpstreamTimeout(UpstreamError):
    """An upstream did not answer within the time the HTTP API leaves us."""

    status, code = 504, "UPSTREAM_TIMEOUT"
