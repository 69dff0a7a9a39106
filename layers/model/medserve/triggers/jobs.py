"""Asynchronous jobs: a small store over the DynamoDB jobs table, shared by every modality.

A job is ``{"job_id", "status", "result"?, "error"?}`` with ``status`` one of ``queued``,
``running``, ``succeeded``, ``failed``, ``timed_out`` (the contract). Producers:

* ``POST /v1/uploads`` creates a job ``queued`` (waiting for its upload) and hands out a presigned
  PUT for ``uploads/<modality>/<job_id>/<filename>``;
* the S3 trigger (:class:`UploadJobs`, hooked into :mod:`medserve.triggers.s3`) marks it ``running``
  when the object arrives, then ``succeeded`` or ``failed`` with the S3 location of the result
  (or error) document it wrote;
* any other asynchronous path (a SageMaker async endpoint) can do the same with its own location.

Each record carries a ``deadline`` (epoch seconds): a job still ``queued`` or ``running`` after
it is reported ``timed_out`` (its upload never came, or its processing died after Lambda's
retries; the dead-letter queue has the event). Records expire through the table's TTL attribute
``expires_at``. Records hold ids, states, timestamps, error codes and S3 locations: never inputs
or results (those stay in the encrypted bucket).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from medserve.aws.errors import aws_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["JOB_ID", "Job", "JobStatus", "JobStore", "UploadJobs", "new_job_id", "upload_job_id"]

JobStatus = Literal["queued", "running", "succeeded", "failed", "timed_out"]
JOB_ID = re.compile(r"^[0-9a-f]{32}$")  # uuid4().hex
# uploads/<modality>/<job id>/<one path segment>: the keys POST /v1/uploads hands out.
_UPLOAD_KEY = re.compile(r"^uploads/[a-z-]+/(?P<job>[0-9a-f]{32})/[^/]+$")  # imaging, imaging-deid, ...
RETENTION_SECONDS = 7 * 24 * 3600  # as long as the uploads bucket keeps inputs (default)
RUNNING_GRACE_SECONDS = 15 * 60  # > function timeout x (1 + 2 retries) + Lambda's retry backoff


def new_job_id() -> str:
    return uuid.uuid4().hex


def upload_job_id(key: str) -> str | None:
    """The job id in an upload key ``uploads/<modality>/<job_id>/<filename>``, else None."""
    found = _UPLOAD_KEY.match(key)
    return found.group("job") if found else None


@dataclass(frozen=True)
class Job:
    job_id: str
    modality: str
    status: JobStatus
    created_at: float
    updated_at: float
    deadline: float
    result_location: str | None = None  # s3://bucket/key of the result (or error) document
    error: dict[str, Any] | None = None  # {"code", "message"}
    owner: str | None = None  # Principal.key of the creator; None for jobs nobody asked for over the API

    def visible_to(self, principal_key: str) -> bool:
        """Only its creator sees a job (others get 404, as for an unknown id)."""
        return self.owner is None or self.owner == principal_key

    def public(self) -> dict[str, Any]:
        """The contract's view (without ``result``, which the caller adds from ``result_location``)."""
        body: dict[str, Any] = {
            "job_id": self.job_id,
            "status": self.status,
            "modality": self.modality,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }
        if self.error is not None:
            body["error"] = self.error
        return body


class JobStore:
    """Jobs in one DynamoDB table (key ``job_id``); every AWS failure becomes an ``UpstreamError``."""

    def __init__(
        self, table: str, client: DynamoDBClient | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.table = table
        self._client = client
        self._clock = clock

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3

            self._client = boto3.client("dynamodb")
        return self._client

    def create(self, job_id: str, *, modality: str, deadline_in: float, owner: str | None = None) -> Job:
        """A new ``queued`` job that times out ``deadline_in`` seconds from now unless it starts;
        ``owner`` (a ``Principal.key``) alone may read it."""
        now = self._clock()
        job = Job(job_id, modality, "queued", now, now, now + deadline_in, owner=owner)
        item = {
            "job_id": {"S": job_id},
            "modality": {"S": modality},
            "status": {"S": "queued"},
            "created_at": {"N": _num(now)},
            "updated_at": {"N": _num(now)},
            "deadline": {"N": _num(job.deadline)},
            "expires_at": {"N": str(int(now + RETENTION_SECONDS))},
        }
        if owner:
            item["owner"] = {"S": owner}
        self._call(
            "put_item",
            TableName=self.table,
            Item=item,
            ConditionExpression="attribute_not_exists(job_id)",  # a uuid4 collision must not overwrite
        )
        return job

    def mark_running(self, job_id: str, *, modality: str, deadline_in: float = RUNNING_GRACE_SECONDS) -> None:
        """The input arrived (or SageMaker accepted the job): ``running`` until ``deadline_in``
        seconds from now. Creates the record if the object was written without ``POST /v1/uploads``
        (same key layout)."""
        now = self._clock()
        self._update(
            job_id,
            "SET #s = :s, updated_at = :now, deadline = :deadline, modality = if_not_exists(modality, :m), "
            "created_at = if_not_exists(created_at, :now), expires_at = :expires REMOVE result_location, "
            "error_code, error_message",
            {
                ":s": {"S": "running"},
                ":now": {"N": _num(now)},
                ":deadline": {"N": _num(now + deadline_in)},
                ":m": {"S": modality},
                ":expires": {"N": str(int(now + RETENTION_SECONDS))},
            },
        )

    def mark_finished(
        self, job_id: str, *, succeeded: bool, result_location: str, error: dict[str, Any] | None = None
    ) -> None:
        """``succeeded`` or ``failed``, with the S3 location of the result or error document."""
        names = "SET #s = :s, updated_at = :now, result_location = :loc"
        values: dict[str, Any] = {
            ":s": {"S": "succeeded" if succeeded else "failed"},
            ":now": {"N": _num(self._clock())},
            ":loc": {"S": result_location},
        }
        if error is not None:
            names += ", error_code = :code, error_message = :message"
            values[":code"] = {"S": str(error.get("code", "ERROR"))}
            values[":message"] = {"S": str(error.get("message", ""))}
        self._update(job_id, names, values)

    def get(self, job_id: str) -> Job | None:
        """The job, with ``timed_out`` for a queued or running one past its deadline; None if absent."""
        if not JOB_ID.match(job_id):
            return None
        item = self._call(
            "get_item", TableName=self.table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        found = item.get("Item")
        if not found:
            return None
        status: JobStatus = found["status"]["S"]  # type: ignore[assignment]
        deadline = float(found.get("deadline", {}).get("N", "inf"))
        error = None
        if "error_code" in found:
            error = {"code": found["error_code"]["S"], "message": found.get("error_message", {}).get("S", "")}
        if status in ("queued", "running") and self._clock() > deadline:
            status = "timed_out"
            error = {
                "code": "TIMED_OUT",
                "message": "no upload arrived before the upload URL expired"
                if found["status"]["S"] == "queued"
                else "processing did not finish before its deadline (a failed S3 event is in the "
                "dead-letter queue; a SageMaker job sent no notification)",
            }
        return Job(
            job_id=job_id,
            modality=found.get("modality", {}).get("S", ""),
            status=status,
            created_at=float(found.get("created_at", {}).get("N", "0")),
            updated_at=float(found.get("updated_at", {}).get("N", "0")),
            deadline=deadline,
            result_location=found.get("result_location", {}).get("S"),
            error=error,
            owner=found.get("owner", {}).get("S"),
        )

    def _update(self, job_id: str, expression: str, values: dict[str, Any]) -> None:
        self._call(
            "update_item",
            TableName=self.table,
            Key={"job_id": {"S": job_id}},
            UpdateExpression=expression,
            ExpressionAttributeNames={"#s": "status"},  # a DynamoDB reserved word
            ExpressionAttributeValues=values,
        )

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        with aws_errors("the jobs table could not be reached"):
            return getattr(self.client, operation)(**kwargs)


class UploadJobs:
    """Keeps the jobs of S3 uploads current; plugged into :class:`medserve.triggers.s3.S3BatchProcessor`.

    Objects whose key is not ``uploads/<modality>/<job_id>/<filename>`` (written straight to S3,
    not through ``POST /v1/uploads``) have no job and are left alone. ``store`` is called per
    event, so tests and containers can swap the services behind it.
    """

    def __init__(self, store: Callable[[], JobStore | None]) -> None:
        self._store = store

    def started(self, key: str, modality: str) -> None:
        job_id, store = upload_job_id(key), self._store()
        if job_id and store is not None:
            store.mark_running(job_id, modality=modality)

    def finished(self, key: str, *, succeeded: bool, location: str, error: dict[str, Any] | None) -> None:
        job_id, store = upload_job_id(key), self._store()
        if job_id and store is not None:
            store.mark_finished(job_id, succeeded=succeeded, result_location=location, error=error)


def _num(value: float) -> str:
    return f"{value:.3f}"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
