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

from medserve.batch import encryption_args
from medserve.errors import NotConfigured, UpstreamError
from medserve.jobs import JobStore, new_job_id
from medserve.observability import MetricUnit, logger, metrics
from medserve.offload import Route
from medserve.services import Services

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
    from botocore.exceptions import BotoCoreError, ClientError

    job_id = new_job_id()
    key = f"{INPUT_PREFIX}/{modality}/{job_id}.json"
    try:
        services.s3.put_object(
            Bucket=uploads_bucket, Key=key, Body=body, ContentType="application/json", **encryption_args()
        )
    except (ClientError, BotoCoreError) as e:
        raise UpstreamError("the request could not be staged for the asynchronous endpoint") from e
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
        self._apply = self._record
        self.config = None
        if services.idempotency_table:
            from aws_lambda_powertools.utilities.idempotency import (
                DynamoDBPersistenceLayer,
                IdempotencyConfig,
                idempotent_function,
            )

            self.config = IdempotencyConfig(
                event_key_jmespath="[inferenceId, invocationStatus]", raise_on_no_idempotency_key=True
            )
            store = DynamoDBPersistenceLayer(
                table_name=services.idempotency_table, boto3_client=services.dynamodb_client
            )
            self._apply = idempotent_function(
                data_keyword_argument="notification", persistence_store=store, config=self.config
            )(self._record)

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        if self.config is not None and context is not None:
            self.config.register_lambda_context(context)
        outcomes = []
        for record in event.get("Records", []):
            try:
                notification = json.loads(record["Sns"]["Message"])
                if not isinstance(notification, dict) or "inferenceId" not in notification:
                    raise ValueError("not a SageMaker async notification")
            except (KeyError, TypeError, ValueError):
                logger.warning("unrecognised notification ignored")  # nothing to retry: it will never parse
                continue
            outcomes.append(self._apply(notification=notification))
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
    from medserve.services import get_services

    global _recorder
    services = get_services()
    if _recorder is None or _recorder.jobs is not services.jobs:
        _recorder = NotificationRecorder(services)
    return _recorder.handle(event, context)
