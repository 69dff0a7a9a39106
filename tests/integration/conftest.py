"""moto-backed AWS for the integration tests: buckets, the idempotency table, and services wired to them."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from medserve.services import Services, set_services
from medserve.serving.registry import Registry, S3ModelStore
from moto import mock_aws

UPLOADS = "medserve-test-uploads"
MODELS = "medserve-test-models"
TABLE = "medserve-test-idempotency"
JOBS = "medserve-test-jobs"
AUDIT = "medserve-test-audit"
DATA_KEY = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (UPLOADS, MODELS):
            s3.create_bucket(Bucket=bucket)
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield {"s3": s3, "dynamodb": dynamodb}


@pytest.fixture
def services(aws, tmp_path) -> Services:
    registry = Registry(store=S3ModelStore(MODELS, aws["s3"]), cache_dir=tmp_path / "cache")
    wired = Services(
        registry=registry, s3_client=aws["s3"], idempotency_table=TABLE, dynamodb_client=aws["dynamodb"]
    )
    set_services(wired)
    return wired


@pytest.fixture
def jobs(aws, services, monkeypatch):
    """The jobs table (as template.yaml's JobsTable), wired into services; uploads need the data key."""
    aws["dynamodb"].create_table(
        TableName=JOBS,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    services.jobs_table = JOBS
    monkeypatch.setenv("UPLOADS_BUCKET", UPLOADS)
    monkeypatch.setenv("DATA_KEY_ARN", DATA_KEY)
    return services.jobs


@pytest.fixture
def audit_bucket(aws, services) -> str:
    """The audit trail on: its bucket in moto, the services writing to it."""
    aws["s3"].create_bucket(Bucket=AUDIT)
    services.audit_bucket = AUDIT
    return AUDIT


def audit_records(s3) -> list[dict]:
    """Every record in the audit bucket, parsed."""
    listed = s3.list_objects_v2(Bucket=AUDIT).get("Contents", [])
    return [json.loads(s3.get_object(Bucket=AUDIT, Key=o["Key"])["Body"].read()) for o in listed]
