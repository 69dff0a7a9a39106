"""The audit trail (moto S3): exactly one record per request, who/what/outcome, never patient data."""

import hashlib
import json

from tests.helpers import call, http_event
from tests.integration.conftest import AUDIT, audit_records

PREDICT = "/v1/tabular/predict"


def test_a_prediction_leaves_exactly_one_record(aws, audit_bucket, tabular_app, lambda_context, record):
    body = json.dumps({"records": [record]})
    event = http_event("POST", PREDICT, body, scopes=("medserve/tabular",))
    status, answer = call(tabular_app, event, lambda_context)
    assert status == 200
    [entry] = audit_records(aws["s3"])

    assert entry["kind"] == "prediction" and entry["schema"] == "medserve.security.audit/1"
    assert entry["principal"]["subject"] == "pytest-client"
    assert entry["principal"]["issuer"].startswith("https://cognito-idp.")
    assert entry["action"] == "POST /v1/tabular/predict"
    assert entry["request_id"] == event["requestContext"]["requestId"] == answer["request_id"]
    assert entry["model"] == answer["model"]  # name, version, sha256
    assert entry["input_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert entry["input_bytes"] == len(body)
    assert entry["outcome"] == {"status": 200, "error_code": None}
    # No feature value reaches the record.
    text = json.dumps(entry)
    assert not any(repr(v) in text or str(v) in text for v in record.values() if abs(v) > 1)


def test_refusals_and_errors_are_audited_too(aws, audit_bucket, tabular_app, lambda_context, record):
    call(tabular_app, http_event("POST", PREDICT, {"records": [record]}, scopes=None), lambda_context)
    call(tabular_app, http_event("POST", PREDICT, {"records": [{"x": 1}]}), lambda_context)
    outcomes = sorted((r["outcome"]["status"], r["outcome"]["error_code"]) for r in audit_records(aws["s3"]))
    assert outcomes == [(401, "UNAUTHORIZED"), (422, "INVALID_INPUT")]
    anonymous = next(r for r in audit_records(aws["s3"]) if r["outcome"]["status"] == 401)
    assert anonymous["principal"]["subject"] == "anonymous" and anonymous["model"] is None


def test_health_probes_are_not_audited(aws, audit_bucket, tabular_app, lambda_context):
    call(tabular_app, http_event("GET", "/v1/health", scopes=None), lambda_context)
    assert audit_records(aws["s3"]) == []


def test_no_answer_leaves_unaudited(aws, services, tabular_app, lambda_context, record, emitted):
    # The audit bucket cannot be written (here: it does not exist): the caller gets a 502, not an
    # unaudited prediction.
    services.audit_bucket = "medserve-test-no-such-audit-bucket"
    status, body = call(tabular_app, http_event("POST", PREDICT, {"records": [record]}), lambda_context)
    assert (status, body["error"]["code"]) == (502, "UPSTREAM_ERROR")
    assert "predictions" not in body
    # Counted for AuditWriteFailuresAlarm (template.yaml), and logged by type only.
    text = emitted()
    assert '"AuditWriteFailures"' in text and "audit record not written" in text


def test_an_s3_upload_is_audited_once_per_object_version(aws, audit_bucket, tabular_app, lambda_context):
    from tests.helpers import REPO, s3_event
    from tests.integration.conftest import UPLOADS

    csv = (REPO / "events" / "data" / "tabular_batch.csv").read_bytes()
    key = "uploads/tabular/smith john 1957.csv"  # caller-chosen names may identify a patient
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=csv)
    event = s3_event(UPLOADS, key, version_id=put["VersionId"], size=len(csv))
    tabular_app.lambda_handler(event, lambda_context)
    tabular_app.lambda_handler(event, lambda_context)  # S3 delivers the same event again
    [entry] = audit_records(aws["s3"])
    assert entry["action"] == "s3:ObjectCreated uploads/tabular/"
    assert entry["principal"] == {"subject": "AWS:EXAMPLE", "client_id": "", "issuer": "aws:s3"}
    assert entry["input_sha256"] == hashlib.sha256(csv).hexdigest()
    assert entry["model"]["name"] == "breast-cancer-risk" and entry["outcome"]["status"] == 200
    assert "smith" not in json.dumps(entry)


def test_a_model_publication_is_audited(aws, audit_bucket, capsys):
    from medserve.serving.registry import BUNDLED_DIR

    from devtools.cli import main
    from tests.integration.conftest import MODELS

    directory = BUNDLED_DIR / "breast-cancer-risk"
    assert main(["models", "publish", str(directory), "--bucket", MODELS, "--audit-bucket", AUDIT]) == 0
    [entry] = audit_records(aws["s3"])
    card = json.loads((directory / "card.json").read_text())
    assert entry["kind"] == "publication" and entry["action"].startswith(f"models publish s3://{MODELS}")
    assert entry["model"] == {
        "name": card["name"],
        "version": card["version"],
        "sha256": card["artifact"]["sha256"],
    }
    assert entry["principal"]["issuer"] == "aws:iam" and entry["principal"]["subject"].startswith("arn:aws:")
    assert f"s3://{AUDIT}/audit/" in capsys.readouterr().out


def test_publishing_without_an_audit_bucket_is_refused(aws, monkeypatch, capsys):
    from medserve.serving.registry import BUNDLED_DIR

    from devtools.cli import main
    from tests.integration.conftest import MODELS

    monkeypatch.delenv("AUDIT_BUCKET", raising=False)
    assert main(["models", "publish", str(BUNDLED_DIR / "breast-cancer-risk"), "--bucket", MODELS]) == 2
    assert "--audit-bucket" in capsys.readouterr().err
    assert "Contents" not in aws["s3"].list_objects_v2(Bucket=MODELS)


def test_gateway_refusals_from_the_access_log_are_audited_once(aws, audit_bucket):
    """GatewayAuditFunction: the access log's 401/403 lines where no function ran, one record per
    request id however often the subscription delivers them."""
    from tests.helpers import REPO, lambda_context, stack

    function = stack().module("GatewayAuditFunction")
    event = json.loads((REPO / "events" / "access_log_refusals.json").read_text())
    context = lambda_context("GatewayAuditFunction")
    assert function.lambda_handler(event, context) == {"recorded": 1, "skipped": 1}
    function.lambda_handler(event, context)  # delivered again
    [entry] = audit_records(aws["s3"])
    assert entry["kind"] == "gateway-refusal" and entry["request_id"] == "Lm4nKhYdIAMEcXQ="
    assert entry["outcome"] == {"status": 401, "error_code": "UNAUTHORIZED"}
    assert entry["principal"] == {"subject": "anonymous", "client_id": "", "issuer": "api-gateway"}
    assert entry["action"] == "POST /v1/tabular/predict" and entry["input_sha256"] is None
