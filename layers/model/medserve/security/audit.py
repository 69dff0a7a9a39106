"""The audit trail: one record per prediction request and per model publication.

A record says who (the token's subject and client, or the S3 uploader), when, what (route, model
name/version/sha256, the sha256 and size of the input) and how it ended (status, error code),
with the request id that ties it to the logs. Never the input itself, a result value or a file
name a caller chose: an auditor proves *which* input was seen by hashing their copy.

Records go to the audit bucket (``AUDIT_BUCKET``: versioned, object-locked, SSE-KMS) as
``audit/<yyyy>/<mm>/<dd>/<kind>/<epoch ms>-<id>.json``. Writing is fail-closed for the HTTP API:
a request whose record cannot be written is answered 502 (nothing unaudited leaves), and the
failure is counted (``AuditWriteFailures``). Without ``AUDIT_BUCKET`` auditing is off (unit tests,
experiments); every deployed function has it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from medserve.aws.errors import boto_errors
from medserve.aws.s3 import encryption_args
from medserve.config import settings
from medserve.errors import UpstreamError
from medserve.interop import fhir
from medserve.observability import MetricUnit, logger, metrics

__all__ = ["AuditLog", "AuditRecord", "http_record", "input_digest"]

SCHEMA = "medserve.security.audit/1"
_SAFE_ID = re.compile(r"[^A-Za-z0-9=_-]")


@dataclass
class AuditRecord:
    kind: str  # "prediction" | "publication"
    principal: dict[str, str]
    action: str  # "POST /v1/tabular/predict", "s3:uploads/imaging/", "models publish"
    request_id: str
    outcome: dict[str, Any]  # {"status": 200, "error_code": None}
    model: dict[str, str] | None = None  # name, version, sha256
    input_sha256: str | None = None
    input_bytes: int = 0
    function: str = field(default_factory=lambda: settings().function_name or "local")
    time: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    schema: str = SCHEMA

    def document(self) -> dict[str, Any]:
        return asdict(self)


def input_digest(data: bytes | None) -> tuple[str | None, int]:
    """``(sha256 hex, size)`` of an input; ``(None, 0)`` when there is none."""
    if not data:
        return None, 0
    return hashlib.sha256(data).hexdigest(), len(data)


# On answers that are not JSON (a DICOM SR): "<name> <version> <sha256>" of the model that ran.
MODEL_HEADER = "X-Medserve-Model"


def model_ref(value: Any) -> dict[str, str] | None:
    """name/version/sha256 of a model reference or card, if it has them."""
    if not isinstance(value, Mapping) or not value.get("name"):
        return None
    return {k: str(value[k]) for k in ("name", "version", "sha256") if value.get(k) is not None}


class AuditLog:
    """Writes audit records to S3. ``s3`` is a callable returning the client (built lazily)."""

    def __init__(self, bucket: str, s3: Callable[[], Any]) -> None:
        self.bucket = bucket
        self._s3 = s3

    def key_for(self, record: AuditRecord, now: float | None = None, *, key_by_request: bool = False) -> str:
        moment = time.time() if now is None else now
        day = time.strftime("%Y/%m/%d", time.gmtime(moment))
        rid = _SAFE_ID.sub("_", record.request_id)[:80] or "none"
        if key_by_request:  # one record per request id, however often it is delivered
            return f"audit/{day}/{record.kind}/{rid}.json"
        # The random suffix keeps two records of one request id (a retried invocation) apart.
        return f"audit/{day}/{record.kind}/{int(moment * 1000)}-{rid}-{uuid.uuid4().hex[:8]}.json"

    def write(self, record: AuditRecord, *, key_by_request: bool = False) -> str:
        """Store ``record``; its key. ``UpstreamError`` when S3 refuses (counted and logged).
        ``key_by_request``: the key is the request id's (for at-least-once deliveries)."""
        key = self.key_for(record, key_by_request=key_by_request)
        try:
            self._s3().put_object(
                Bucket=self.bucket,
                Key=key,
                Body=json.dumps(record.document(), separators=(",", ":")).encode(),
                ContentType="application/json",
                # The bucket is object-locked: S3 wants a checksum on every PutObject (the boto3 of
                # a Lambda runtime may predate default checksums).
                ChecksumAlgorithm="SHA256",
                **encryption_args(),
            )
        except boto_errors() as e:
            metrics.add_metric(name="AuditWriteFailures", unit=MetricUnit.Count, value=1)
            logger.error("audit record not written", extra={"error_type": type(e).__name__})
            raise UpstreamError("the audit record could not be written; the request was not served") from e
        return key


def http_record(
    event: Mapping[str, Any], response: Mapping[str, Any], principal: dict[str, str]
) -> AuditRecord:
    """The record of one HTTP API request (payload 2.0 ``event``) and the ``response`` it got."""
    status = int(response.get("statusCode", 0))
    document = _json_body(response)
    if document.get("resourceType"):  # a FHIR answer: read as the envelope it stands for
        document = fhir.audit_view(document)
    elif not document:  # a binary answer (a DICOM SR) names its model in a header
        document = {"model": _header_model(response)}
    error = document.get("error") if isinstance(document.get("error"), Mapping) else None
    sha, size = input_digest(_event_body(event))
    return AuditRecord(
        kind="prediction",
        principal=principal,
        action=str(event.get("routeKey") or "unknown"),
        request_id=str(
            (event.get("requestContext") or {}).get("requestId") or document.get("request_id") or ""
        ),
        outcome={"status": status, "error_code": error.get("code") if error else None},
        model=model_ref(document.get("model")),
        input_sha256=sha,
        input_bytes=size,
    )


def _event_body(event: Mapping[str, Any]) -> bytes | None:
    body = event.get("body")
    if not isinstance(body, str) or not body:
        return None
    if event.get("isBase64Encoded"):
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            pass  # hashed as sent: still identifies the input
    return body.encode("utf-8", "surrogatepass")


def _header_model(response: Mapping[str, Any]) -> dict[str, str] | None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    parts = str(headers.get(MODEL_HEADER.lower(), "")).split()
    return dict(zip(("name", "version", "sha256"), parts, strict=False)) if parts else None


def _json_body(response: Mapping[str, Any]) -> dict[str, Any]:
    body = response.get("body")
    if not isinstance(body, str) or response.get("isBase64Encoded") or not body.startswith("{"):
        return {}
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
