"""S3 batch scoring through the real handler, against moto S3 and DynamoDB (idempotency)."""

import json

import pytest
from medserve.errors import UpstreamError

from tests.helpers import REPO, s3_event
from tests.integration.conftest import UPLOADS

CSV = (REPO / "events" / "data" / "tabular_batch.csv").read_bytes()
JSONL = (REPO / "events" / "data" / "tabular_batch.jsonl").read_bytes()


def upload(aws, key: str, body: bytes, **metadata: str) -> dict:
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body, Metadata=metadata)
    return s3_event(UPLOADS, key, version_id=put.get("VersionId"), size=len(body))


def result(aws, key: str) -> dict:
    return json.loads(aws["s3"].get_object(Bucket=UPLOADS, Key=key)["Body"].read())


def versions(aws, key: str) -> int:
    listing = aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix=key)
    return len([v for v in listing.get("Versions", []) if v["Key"] == key])


def test_csv_is_scored_row_by_row_with_bad_rows_reported(aws, services, tabular_app, lambda_context):
    key = "uploads/tabular/ward 7/batch 2026-11.csv"  # spaces arrive URL-encoded in the event
    out = tabular_app.lambda_handler(upload(aws, key, CSV), lambda_context)
    assert out["processed"] == 1 and out["outcomes"][0]["status"] == "succeeded"
    body = result(aws, "results/tabular/ward 7/batch 2026-11.csv.json")
    assert body["summary"] == {"rows": 6, "succeeded": 5, "failed": 1}
    assert body["source"]["key"] == key and body["source"]["version_id"]
    assert body["model"]["name"] == "breast-cancer-risk" and body["intended_use"]
    good, bad = body["results"][0], body["results"][5]
    assert good["row"] == 1 and good["record_id"] == "case-000"
    assert sum(good["prediction"]["probabilities"].values()) == pytest.approx(1.0)
    assert bad["record_id"] == "case-bad" and bad["error"]["code"] == "INVALID_INPUT"
    assert bad["error"]["details"] == [{"field": "mean_radius", "issue": "not a number"}]
    assert "explanation" not in good


def test_jsonl_with_explanations_and_a_broken_line(aws, services, tabular_app, lambda_context):
    event = upload(aws, "uploads/tabular/b.jsonl", JSONL, explain="true")
    tabular_app.lambda_handler(event, lambda_context)
    body = result(aws, "results/tabular/b.jsonl.json")
    assert body["summary"] == {"rows": 3, "succeeded": 2, "failed": 1}
    explained = body["results"][0]["explanation"]
    total = sum(c["contribution"] for c in explained["contributions"])
    assert total == pytest.approx(
        explained["output"]["log_odds"] - explained["baseline"]["log_odds"], abs=1e-9
    )
    assert body["results"][2]["error"]["code"] == "MALFORMED_ROW"


def test_duplicate_event_yields_one_result(aws, services, tabular_app, lambda_context):
    event = upload(aws, "uploads/tabular/dup.csv", CSV)
    first = tabular_app.lambda_handler(event, lambda_context)
    second = tabular_app.lambda_handler(event, lambda_context)  # S3 delivers the same event again
    assert first == second
    assert versions(aws, "results/tabular/dup.csv.json") == 1
    # a new version of the same key is a new upload and is scored again
    tabular_app.lambda_handler(upload(aws, "uploads/tabular/dup.csv", CSV), lambda_context)
    assert versions(aws, "results/tabular/dup.csv.json") == 2


@pytest.mark.parametrize(
    ("key", "body", "code"),
    [
        ("uploads/tabular/x.xlsx", b"PK\x03\x04", "UNSUPPORTED_MEDIA_TYPE"),
        ("uploads/tabular/x.csv", b"\xff\xfe\x00garbage", "INVALID_INPUT"),
        ("uploads/tabular/x.csv", b"", "INVALID_INPUT"),
        ("uploads/tabular/x.jsonl", b"\n\n", "INVALID_INPUT"),
    ],
)
def test_unusable_files_get_an_error_result(aws, services, tabular_app, lambda_context, key, body, code):
    out = tabular_app.lambda_handler(upload(aws, key, body), lambda_context)
    assert out["outcomes"][0]["status"] == "failed"
    error = result(aws, key.replace("uploads/", "results/", 1) + ".error.json")
    assert error["error"]["code"] == code and error["request_id"]


def test_unknown_model_in_metadata_is_an_error_result(aws, services, tabular_app, lambda_context):
    tabular_app.lambda_handler(upload(aws, "uploads/tabular/m.csv", CSV, model="nope"), lambda_context)
    assert result(aws, "results/tabular/m.csv.error.json")["error"]["code"] == "MODEL_NOT_FOUND"


def test_objects_outside_the_prefix_are_ignored(aws, services, tabular_app, lambda_context):
    out = tabular_app.lambda_handler(upload(aws, "uploads/imaging/a.csv", CSV), lambda_context)
    assert out == {"processed": 0, "outcomes": []}


def test_s3_failure_raises_so_lambda_retries_and_the_dlq_gets_it(aws, services, tabular_app, lambda_context):
    # GIVEN an event for an object that cannot be read
    event = s3_event(UPLOADS, "uploads/tabular/vanished.csv", version_id="nope")
    with pytest.raises(UpstreamError):
        tabular_app.lambda_handler(event, lambda_context)
    # and the failed attempt does not poison idempotency: once the object exists, a retry works
    event = upload(aws, "uploads/tabular/vanished.csv", CSV)
    assert tabular_app.lambda_handler(event, lambda_context)["outcomes"][0]["status"] == "succeeded"


def test_keys_and_values_stay_out_of_logs(aws, services, tabular_app, lambda_context, emitted):
    key = "uploads/tabular/smith_john_mrn_4711.csv"
    tabular_app.lambda_handler(upload(aws, key, CSV), lambda_context)
    text = emitted()
    assert '"message":"s3 upload scored"' in text and '"status":"succeeded"' in text
    assert "smith" not in text and "4711" not in text and "case-000" not in text and "17.99" not in text


def test_an_object_over_the_size_limit_is_refused_unread(
    aws, services, tabular_app, lambda_context, monkeypatch
):
    # The size comes from GetObject's headers (no HeadObject first); the body is never read.
    from medserve.triggers import s3 as trigger

    monkeypatch.setattr(trigger, "MAX_OBJECT_BYTES", len(CSV) - 1)
    event = upload(aws, "uploads/tabular/big.csv", CSV)
    calls: list[str] = []
    aws["s3"].meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    services.s3_client = aws["s3"]
    out = tabular_app.lambda_handler(event, lambda_context)
    read = [c for c in calls if c in ("HeadObject", "GetObject")]
    assert out["outcomes"][0]["status"] == "failed"
    assert result(aws, "results/tabular/big.csv.error.json")["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert read == ["GetObject"]


def test_a_record_id_with_a_lone_surrogate_is_echoed_not_a_failure(
    aws, services, tabular_app, lambda_context
):
    # JSON Lines may spell a lone surrogate ("\ud800") in the record_id we echo: the result is
    # still written (escaped), the file is not retried into the dead-letter queue.
    first = JSONL.decode().splitlines()[0]
    row = json.loads(first)
    line = json.dumps({**row, "record_id": "x"}).replace('"x"', '"id-\\ud800"').encode()
    out = tabular_app.lambda_handler(upload(aws, "uploads/tabular/odd.jsonl", line + b"\n"), lambda_context)
    assert out["outcomes"][0]["status"] == "succeeded"
    assert result(aws, "results/tabular/odd.jsonl.json")["results"][0]["record_id"] == "id-\ud800"
