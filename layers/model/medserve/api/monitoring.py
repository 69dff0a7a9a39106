"""``POST /v1/monitoring/ground-truth``: the true label of an earlier prediction, for the drift
job's performance report (medserve.monitoring.job joins it to the capture by inference id)."""

# No `from __future__ import annotations`: powertools reads the route signatures at runtime.

import json
import time
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from medserve.api.responses import json_response, request_id
from medserve.api.schemas import JSON_BODY, GroundTruthAccepted, GroundTruthRequest, error_responses
from medserve.aws.errors import aws_errors
from medserve.aws.s3 import encryption_args
from medserve.errors import NotConfigured
from medserve.monitoring.job import ground_truth_key
from medserve.observability import MetricUnit, logger, metrics
from medserve.services import get_services

router = APIGatewayHttpRouter()

_ERRORS = {
    400: "malformed JSON",
    415: "not application/json",
    422: "not an inference id and a label",
    502: "the monitoring bucket could not be written",
    503: "monitoring is not configured (no MONITORING_BUCKET)",
}


@router.post(
    "/v1/monitoring/ground-truth",
    summary="the true label of an earlier prediction",
    tags=["monitoring"],
    responses={
        201: {"description": "stored", "content": {"application/json": {"model": GroundTruthAccepted}}},
        **error_responses(_ERRORS),
    },
    **JSON_BODY,
)
def ground_truth(request: Annotated[GroundTruthRequest, Body()]):
    services = get_services()
    bucket = services.monitoring_bucket
    if not bucket:
        raise NotConfigured("monitoring is not configured for this deployment")
    now = time.time()
    # The label is health information: stored encrypted in the monitoring bucket, never logged.
    document = {"inference_id": request.inference_id, "label": request.label, "time": now}
    with aws_errors("the ground truth could not be stored"):
        services.s3.put_object(
            Bucket=bucket,
            Key=ground_truth_key(request.inference_id, now),
            Body=json.dumps(document, separators=(",", ":")).encode(),
            ContentType="application/json",
            **encryption_args(),
        )
    metrics.add_metric(name="GroundTruthLabels", unit=MetricUnit.Count, value=1)
    logger.info("ground truth stored")
    body = {"request_id": request_id(router), "inference_id": request.inference_id, "stored": True}
    return json_response(201, body)
