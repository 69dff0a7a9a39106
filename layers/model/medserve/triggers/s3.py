"""S3-triggered batch predictions, shared by every modality.

An object put under ``uploads/<modality>/<path>`` is scored once per object version and its
result written to ``results/<modality>/<path>.json`` in the same bucket, or, when the file itself
is unusable (unknown format, too large, unknown model), the error envelope to
``results/<modality>/<path>.error.json``. A scorer that makes a file (DICOM de-identification)
returns a :class:`ResultFile`: the file goes to ``results/<modality>/<path>``, then its document to
``<path>.json``. Object metadata ``format: fhir`` adds FHIR NDJSON beside a successful result
(``results/<modality>/<path>.ndjson``, medserve.interop.batch). Duplicate S3 deliveries are
absorbed by powertools idempotency on DynamoDB keyed on (bucket, key, version). Failures of S3
itself are raised, so Lambda retries the async invocation and finally hands the event to the
on-failure destination.

Object keys are chosen by callers and may carry identifiers ("smith_john.csv"): logs show only a
short hash of the key.

Results are written with SSE-KMS under ``DATA_KEY_ARN`` when it is set: the uploads bucket's
policy refuses any PutObject that does not ask for exactly that key. An optional
:class:`JobTracker` hears when an object starts and finishes (``medserve.triggers.jobs.UploadJobs`` keeps
``GET /v1/jobs/{id}`` current with it).
"""

from __future__ import annotations

import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from medserve.aws.errors import aws_errors
from medserve.aws.idempotency import Idempotent
from medserve.aws.s3 import (
    UPLOADS_PREFIX,
    encryption_args,
    object_ref,
    result_file_key,
    result_key,
    upload_prefix,
)
from medserve.errors import MedserveError, PayloadTooLarge, UpstreamError
from medserve.interop import batch as fhir_batch
from medserve.observability import MetricUnit, logger, metrics
from medserve.security import audit
from medserve.services import Services, get_services
from medserve.serving.registry import LoadedModel
from medserve.wire import encode_json

MAX_OBJECT_BYTES = 50 * 1024 * 1024
IDEMPOTENCY_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class S3Upload:
    """An uploaded object as the scorer sees it."""

    bucket: str
    key: str
    version_id: str | None
    body: bytes
    content_type: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultFile:
    """A scorer's answer when it makes a file, not only a document: ``body`` is written to
    ``results/<modality>/<path>`` first, then ``document`` (with the file's key) to ``<path>.json``,
    which therefore appears only once the file is complete."""

    document: dict[str, Any]
    body: bytes
    content_type: str

    def __repr__(self) -> str:
        return f"ResultFile(bytes={len(self.body)}, content_type={self.content_type!r})"  # never the body


def rows_document(
    loaded: LoadedModel, results: list[dict[str, Any]], timing_ms: dict[str, float]
) -> dict[str, Any]:
    """The result document of a file answered row by row (the JSONL/CSV scorers): the model that
    ran, how many rows succeeded and failed (an entry with an ``error``), and every row's entry."""
    failed = sum(1 for r in results if "error" in r)
    return {
        "model": loaded.envelope(),
        "placement": loaded.card.placement,
        "summary": {"rows": len(results), "succeeded": len(results) - failed, "failed": failed},
        "results": results,
        "timing_ms": timing_ms,
        "intended_use": loaded.card.intended_use,
    }


ScoreFile = Callable[[S3Upload], "dict[str, Any] | ResultFile"]


class JobTracker(Protocol):
    """Told when an object's processing starts and how it ended (e.g. to update a jobs table)."""

    def started(self, key: str, modality: str) -> None: ...

    def finished(self, key: str, *, succeeded: bool, location: str, error: dict[str, Any] | None) -> None: ...


def is_s3_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and records[0].get("eventSource") == "aws:s3"


def upload_modality(event: dict[str, Any]) -> str | None:
    """The ``<modality>`` of ``uploads/<modality>/...`` in an S3 event's first record (S3 sends one
    record per notification), for a function that serves several upload prefixes."""
    try:
        key = urllib.parse.unquote_plus(event["Records"][0]["s3"]["object"]["key"])
    except (KeyError, IndexError, TypeError):
        return None
    parts = key.split("/")
    return parts[1] if len(parts) > 2 and parts[0] == UPLOADS_PREFIX else None


def _object_identity(record: dict[str, Any]) -> dict[str, str]:
    s3 = record["s3"]
    obj = s3["object"]
    return {
        "bucket": s3["bucket"]["name"],
        # S3 URL-encodes keys in events (spaces as '+').
        "key": urllib.parse.unquote_plus(obj["key"]),
        "version_id": obj.get("versionId") or "",
        # Without versioning, the sequencer tells a re-upload from a re-delivery.
        "version": obj.get("versionId") or obj.get("sequencer") or obj.get("eTag", ""),
        # Who put the object (an IAM principal id, never a patient): for the audit trail.
        "uploader": str((record.get("userIdentity") or {}).get("principalId") or "unknown"),
    }


class S3BatchProcessor:
    """Scores uploads of one modality, at most once per object version."""

    def __init__(
        self, modality: str, score_file: ScoreFile, services: Services, jobs: JobTracker | None = None
    ) -> None:
        self.modality = modality
        self.score_file = score_file
        self.services = services
        self.jobs = jobs
        self._context: Any = None
        self._once = Idempotent(
            self._process,
            table=services.idempotency_table,
            key_jmespath="[bucket, key, version]",
            argument="obj",
            dynamodb_client=services.dynamodb_client,
            expires_after_seconds=IDEMPOTENCY_TTL_SECONDS,
        )

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._context = context
        self._once.register(context)
        outcomes = []
        for record in event.get("Records", []):
            identity = _object_identity(record)
            if not identity["key"].startswith(upload_prefix(self.modality)) or identity["key"].endswith("/"):
                logger.info(
                    "object outside the upload prefix skipped", extra={"object": object_ref(identity["key"])}
                )
                continue
            outcomes.append(self._once.run(obj=identity))
        return {"processed": len(outcomes), "outcomes": outcomes}

    def _process(self, obj: dict[str, str]) -> dict[str, Any]:
        started = time.perf_counter()
        ref = object_ref(obj["key"])
        request_id = getattr(self._context, "aws_request_id", None) or os.urandom(8).hex()
        if self.jobs is not None:
            self.jobs.started(obj["key"], self.modality)
        upload: S3Upload | None = None
        fhir_lines: bytes | None = None
        outcome: dict[str, Any] = {"status": 200, "error_code": None}
        try:
            upload = self._read(obj)
            result = self.score_file(upload)
            if isinstance(result, ResultFile):
                made = result_file_key(obj["key"], self.modality)
                self._put(obj["bucket"], made, result.body, result.content_type)
                result = {**result.document, "result_file": {"bucket": obj["bucket"], "key": made}}
            body = {"request_id": request_id, "source": _source(obj), **result}
            target = result_key(obj["key"], self.modality)
            status = "succeeded"
            if fhir_batch.wants_fhir(upload.metadata):
                fhir_lines = fhir_batch.ndjson_result(self.modality, upload.body, result, request_id)
        except UpstreamError:
            raise  # S3 is failing: let Lambda retry, then the on-failure destination take it
        except MedserveError as e:
            body = {
                "request_id": request_id,
                "source": _source(obj),
                "error": e.as_error(),
            }
            target = result_key(obj["key"], self.modality, error=True)
            status = "failed"
            outcome = {"status": e.status, "error_code": e.code}
        if fhir_lines is not None:  # beside the JSON result, written first: the JSON says "done"
            fhir_key = target.removesuffix(".json") + fhir_batch.FHIR_SUFFIX
            self._put(obj["bucket"], fhir_key, fhir_lines, "application/fhir+ndjson")
        self._write(obj["bucket"], target, body)
        self._audit(obj, upload, body, outcome, request_id)
        if self.jobs is not None:
            error = (
                None
                if status == "succeeded"
                else {"code": body["error"]["code"], "message": body["error"]["message"]}
            )
            self.jobs.finished(
                obj["key"],
                succeeded=status == "succeeded",
                location=f"s3://{obj['bucket']}/{target}",
                error=error,
            )
        elapsed = (time.perf_counter() - started) * 1000
        metrics.add_metric(
            name="BatchFiles" if status == "succeeded" else "BatchFileErrors", unit=MetricUnit.Count, value=1
        )
        logger.info(
            "s3 upload scored", extra={"object": ref, "status": status, "total_ms": round(elapsed, 2)}
        )
        return {"object": ref, "status": status, "result_key": target}

    def _audit(
        self,
        obj: dict[str, str],
        upload: S3Upload | None,
        body: dict[str, Any],
        outcome: dict[str, Any],
        request_id: str,
    ) -> None:
        """One audit record per object version (this runs under the idempotency guard). A failed
        write raises UpstreamError: Lambda retries, and finally the dead-letter queue has it."""
        trail = self.services.audit
        if trail is None:
            return
        sha, size = audit.input_digest(upload.body if upload is not None else None)
        trail.write(
            audit.AuditRecord(
                kind="prediction",
                principal={"subject": obj.get("uploader", "unknown"), "client_id": "", "issuer": "aws:s3"},
                action=f"s3:ObjectCreated {upload_prefix(self.modality)}",
                request_id=request_id,
                outcome=outcome,
                model=audit.model_ref(body.get("model")),
                input_sha256=sha,
                input_bytes=size,
            )
        )

    def _read(self, obj: dict[str, str]) -> S3Upload:
        kwargs: dict[str, Any] = {"Bucket": obj["bucket"], "Key": obj["key"]}
        if obj["version_id"]:
            kwargs["VersionId"] = obj["version_id"]
        with aws_errors("the uploaded object could not be read"):
            # One call: the response's headers give the size before a byte of the body is read
            # (a HeadObject first cost every upload one more S3 round trip).
            response = self.services.s3.get_object(**kwargs)
            if response["ContentLength"] > MAX_OBJECT_BYTES:
                response["Body"].close()
                raise PayloadTooLarge(f"uploads are limited to {MAX_OBJECT_BYTES // (1024 * 1024)} MB")
            return S3Upload(
                bucket=obj["bucket"],
                key=obj["key"],
                version_id=obj["version_id"] or None,
                body=response["Body"].read(),
                content_type=response.get("ContentType", ""),
                metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
            )

    def _write(self, bucket: str, key: str, body: dict[str, Any]) -> None:
        self._put(bucket, key, encode_json(body), "application/json")

    def _put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        with aws_errors("the result could not be written"):
            self.services.s3.put_object(
                Bucket=bucket, Key=key, ContentType=content_type, Body=body, **encryption_args()
            )


def _source(obj: dict[str, str]) -> dict[str, Any]:
    return {"bucket": obj["bucket"], "key": obj["key"], "version_id": obj["version_id"] or None}


_processors: dict[str, S3BatchProcessor] = {}


def process_s3_event(
    event: dict[str, Any],
    context: Any,
    *,
    modality: str,
    score_file: ScoreFile,
    jobs: JobTracker | None = None,
) -> dict[str, Any]:
    """Entry point for handlers: one processor per modality for the container's life (rebuilt
    only when the services it was built with are replaced, as tests do)."""
    services = get_services()
    processor = _processors.get(modality)
    if (
        processor is None
        or processor.services is not services
        or processor.score_file is not score_file
        or processor.jobs is not jobs
    ):
        processor = _processors[modality] = S3BatchProcessor(modality, score_file, services, jobs)
    return processor.handle(event, context)
