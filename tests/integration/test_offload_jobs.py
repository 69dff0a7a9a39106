"""SageMaker async through the API with moto: accept (202) -> notification -> job state, once."""

import json

import boto3
import pytest
from medserve.serving.offload import OffloadConfig, SageMakerRuntime

from tests import helpers
from tests.helpers import call, http_event
from tests.integration.conftest import UPLOADS
from tests.integration.test_sagemaker import publish_variant


@pytest.fixture
def async_model(aws, services, jobs, tmp_path):
    publish_variant(aws, tmp_path, name="breast-cancer-risk-async", placement="sagemaker-async")
    services.offload = OffloadConfig(async_endpoint="medserve-async")
    services.sagemaker = SageMakerRuntime(boto3.client("sagemaker-runtime", region_name="us-east-1"))
    return jobs


def sns_event(notification: dict) -> dict:
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "Sns": {"Type": "Notification", "Message": json.dumps(notification)},
            }
        ]
    }


def notification(job_id: str, succeeded: bool) -> dict:
    base = {
        "inferenceId": job_id,
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
        "requestParameters": {"endpointName": "medserve-async"},
    }
    if succeeded:
        return {
            **base,
            "invocationStatus": "Completed",
            "responseParameters": {"outputLocation": f"s3://{UPLOADS}/async-results/{job_id}.out"},
        }
    return {
        **base,
        "invocationStatus": "Failed",
        "failureReason": "ClientError: 500 from model (PATIENT-X)",
        "responseParameters": {"failureLocation": f"s3://{UPLOADS}/async-results/{job_id}-error.out"},
    }


def submit(tabular_app, lambda_context, record):
    body = {"model": "breast-cancer-risk-async", "records": [record]}
    status, accepted = call(tabular_app, http_event("POST", "/v1/tabular/predict", body), lambda_context)
    assert status == 202, accepted
    return accepted


def test_accept_stage_and_queue(aws, async_model, tabular_app, lambda_context, record):
    accepted = submit(tabular_app, lambda_context, record)
    assert accepted["status"] == "running" and accepted["job_url"] == f"/v1/jobs/{accepted['job_id']}"
    assert accepted["ran_on"]["endpoint"] == "medserve-async"
    staged = aws["s3"].get_object(Bucket=UPLOADS, Key=f"async-inputs/tabular/{accepted['job_id']}.json")
    assert json.loads(staged["Body"].read())["records"] == [record]
    assert async_model.get(accepted["job_id"]).status == "running"


def test_success_notification_completes_the_job_once(aws, async_model, tabular_app, lambda_context, record):
    job_id = submit(tabular_app, lambda_context, record)["job_id"]
    aws["s3"].put_object(
        Bucket=UPLOADS,
        Key=f"async-results/{job_id}.out",
        Body=json.dumps({"model": {"name": "x"}, "predictions": [{"label": "benign"}]}),
    )
    # JobsFunction exists when the deployment names an async endpoint (its template condition)
    handle = helpers.stack({"AsyncEndpointName": "medserve-async"}).handler("JobsFunction")
    first = handle(sns_event(notification(job_id, True)), lambda_context)
    second = handle(sns_event(notification(job_id, True)), lambda_context)  # SNS delivers twice
    assert first == second and first["recorded"] == 1
    job = async_model.get(job_id)
    assert job.status == "succeeded" and job.result_location.endswith(f"{job_id}.out")


def test_failure_notification_fails_the_job_without_echoing_the_reason(
    async_model, tabular_app, lambda_context, record
):
    from medserve.triggers.async_jobs import record_notifications

    job_id = submit(tabular_app, lambda_context, record)["job_id"]
    record_notifications(sns_event(notification(job_id, False)), lambda_context)
    job = async_model.get(job_id)
    assert job.status == "failed" and job.error["code"] == "UPSTREAM_ERROR"
    assert "PATIENT" not in json.dumps(job.error)


def test_a_job_without_notification_times_out(async_model, tabular_app, lambda_context, record, monkeypatch):
    from medserve.triggers.async_jobs import ASYNC_DEADLINE_SECONDS

    job_id = submit(tabular_app, lambda_context, record)["job_id"]
    created = async_model.get(job_id).created_at
    monkeypatch.setattr(async_model, "_clock", lambda: created + ASYNC_DEADLINE_SECONDS + 1)
    assert async_model.get(job_id).status == "timed_out"


def test_unrecognised_messages_are_ignored(async_model, lambda_context):
    from medserve.triggers.async_jobs import record_notifications

    event = {"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "not json"}}]}
    assert record_notifications(event, lambda_context) == {"recorded": 0, "outcomes": []}
