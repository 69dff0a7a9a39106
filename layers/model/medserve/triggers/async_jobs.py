"""SageMaker asynchronous inference as medserve jobs.

``submit`` stages the request in the uploads bucket (``async-inputs/<modality>/<job_id>.json``,
SSE-KMS with the stack's data key, as the bucket policy demands), records a job, and queues the
inference with the job id as SageMaker's ``InferenceId``. SageMaker then publishes a success or
error notification to SNS; ``record_notifications`` (the ``JobsFunction`` handler) turns each
into the job's final state with the S3 location of the output or failure, so ``GET /v1/jobs/{id}``
can answer. A notification delivered twice is recorded once (powertools idempotency on
(inference id, status)). A job whose notification never comes is reported ``timed_out`` after
``ASYNC_DEADLINE_SECONDS``.
"""

from __future__ import annotations

import json
from typing import Any

from medserve.aws.errors import aws_errors
from medserve.aws.idempotency import Idempotent
from medserve.aws.s3 import encryption_args
from medserve.errors import NotConfigured
from medserve.observability import MetricUnit, logger, metrics
from medserve.services import Services, get_services
from medserve.serving.offload import Route
from medserve.triggers.jobs import JobStore, new_job_id

# SageMaker async invocations may run up to an hour; then a margin for the notification.
ASYNC_DEADLINE_SECONDS = 3600 + 15 * 60
INPUT_PREFIX = "async-inputs"


def submit(
    services: Services,
    route: Route,
    modality: str,
    body: bytes,
    uploads_bucket: str,
    owner: str | None = None,
) -> str:
    """Stage ``body``, create the job (readable by ``owner`` only) and queue the inference; the job id."""
    jobs = services.jobs
    if jobs is None or not uploads_bucket or not route.endpoint:
        raise NotConfigured("asynchronous jobs are not configured in this deployment")
    job_id = new_job_id()
    key = f"{INPUT_PREFIX}/{modality}/{job_id}.json"
    with aws_errors("the request could not be staged for the asynchronous endpoint"):
        services.s3.put_object(
            Bucket=uploads_bucket, Key=key, Body=body, ContentType="application/json", **encryption_args()
        )
    jobs.create(job_id, modality=modality, deadline_in=ASYNC_DEADLINE_SECONDS, owner=owner)
    services.sagemaker.invoke_async(route.endpoint, f"s3://{uploads_bucket}/{key}", job_id)
    jobs.mark_running(job_id, modality=modality, deadline_in=ASYNC_DEADLINE_SECONDS)
    metrics.add_metric(name="AsyncJobsSubmitted", unit=MetricUnit.Count, value=1)
    return job_id


def is_sns_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, dict) else None
    return bool(records) and isinstance(records, list) and records[0].get("EventSource") == "aws:sns"


class NotificationRecorder:
    """Applies SageMaker async notifications to the jobs table, once per (inference id, status)."""

    def __init__(self, services: Services) -> None:
        jobs = services.jobs
        if jobs is None:
            raise NotConfigured("JOBS_TABLE is not set: notifications cannot be recorded")
        self.jobs: JobStore = jobs
        self._once = Idempotent(
            self._record,
            table=services.idempotency_table,
            key_jmespath="[inferenceId, invocationStatus]",
            argument="notification",
            dynamodb_client=services.dynamodb_client,
        )

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self._once.register(context)
        outcomes = []
        for record in event.get("Records", []):
            try:
                notification = json.loads(record["Sns"]["Message"])
                if not isinstance(notification, dict) or "inferenceId" not in notification:
                    raise ValueError("not a SageMaker async notification")
            except (KeyError, TypeError, ValueError):
                logger.warning("unrecognised notification ignored")  # nothing to retry: it will never parse
                continue
            outcomes.append(self._once.run(notification=notification))
        return {"recorded": len(outcomes), "outcomes": outcomes}

    def _record(self, notification: dict[str, Any]) -> dict[str, Any]:
        job_id = str(notification["inferenceId"])
        succeeded = notification.get("invocationStatus") == "Completed"
        response = notification.get("responseParameters") or {}
        if succeeded:
            self.jobs.mark_finished(
                job_id, succeeded=True, result_location=response.get("outputLocation", "")
            )
        else:
            # SageMaker's failureReason may quote the container's message: keep it out of the job.
            self.jobs.mark_finished(
                job_id,
                succeeded=False,
                result_location=response.get("failureLocation", ""),
                error={"code": "UPSTREAM_ERROR", "message": "the SageMaker endpoint failed the job"},
            )
        outcome = "AsyncJobsSucceeded" if succeeded else "AsyncJobsFailed"
        metrics.add_metric(name=outcome, unit=MetricUnit.Count, value=1)
        logger.info("async job recorded", extra={"job_id": job_id, "succeeded": succeeded})
        return {"job_id": job_id, "status": "succeeded" if succeeded else "failed"}


_recorder: NotificationRecorder | None = None


def record_notifications(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Entry point for ``JobsFunction``: one recorder per container (rebuilt if services change)."""
    global _recorder
    services = get_services()
    if _recorder is None or _recorder.jobs is not services.jobs:
        _recorder = NotificationRecorder(services)
    return _recorder.handle(event, context)
