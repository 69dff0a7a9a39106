"""Monitoring end to end with moto: held-out WDBC rows through TabularFunction, capture, the drift
job through MonitorFunction, ground truth, and what capture must never hold."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest

from tests.helpers import call, http_event, s3_event, stack
from tests.integration.conftest import UPLOADS
from training.tabular_wdbc import split

MONITORING = "medserve-test-monitoring"
PREDICT = "/v1/tabular/predict"
GROUND_TRUTH = "/v1/monitoring/ground-truth"
SCHEDULED = {"version": "0", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
SCALED = "mean_radius"


@pytest.fixture(scope="module")
def heldout() -> tuple[np.ndarray, np.ndarray]:
    _, x_test, _, y_test = split()
    return x_test, y_test


@pytest.fixture(scope="module")
def monitor_app():
    return stack().module("MonitorFunction")


@pytest.fixture
def monitoring(aws, services, monkeypatch):
    aws["s3"].create_bucket(Bucket=MONITORING)
    monkeypatch.setenv("MONITORING_BUCKET", MONITORING)
    services.monitoring_bucket = MONITORING
    return aws["s3"]


def _records(card, x: np.ndarray) -> list[dict[str, float]]:
    return [dict(zip(card.feature_names, map(float, row), strict=True)) for row in x]


def _predict(app, context, card, x, per_request: int = 25) -> list[dict[str, Any]]:
    answers = []
    for start in range(0, len(x), per_request):
        status, body = call(
            app,
            http_event("POST", PREDICT, {"records": _records(card, x[start : start + per_request])}),
            context,
        )
        assert status == 200, body
        answers.append(body)
    return answers


def _run_job(monitor_app, context) -> dict[str, Any]:
    return monitor_app.lambda_handler(dict(SCHEDULED), context)


def _objects(s3, prefix: str) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=MONITORING, Prefix=prefix).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=MONITORING, Key=o["Key"])["Body"].read() for o in listing}


def _report(s3, summary: dict[str, Any], name: str) -> bytes:
    prefix = summary["location"].split(f"s3://{MONITORING}/", 1)[1]
    return s3.get_object(Bucket=MONITORING, Key=prefix + name)["Body"].read()


def test_heldout_rows_do_not_drift_and_one_scaled_feature_does(
    monitoring, tabular_app, monitor_app, lambda_context, card, heldout
):
    x_test, _ = heldout
    _predict(tabular_app, lambda_context, card, x_test)
    captured = _objects(monitoring, f"monitoring/capture/{card.name}/{card.version}/")
    assert len(captured) == -(-len(x_test) // 25)  # one object per request (one invocation each)

    (summary,) = _run_job(monitor_app, lambda_context)["reports"]
    assert (summary["model"], summary["items"]) == (card.name, len(x_test))
    assert summary["verdict"] == "ok" and summary["violations"] == []
    assert json.loads(_report(monitoring, summary, "constraint_violations.json")) == {"violations": []}
    statistics = json.loads(_report(monitoring, summary, "statistics.json"))
    assert statistics["dataset"]["item_count"] == len(x_test)
    report = _report(monitoring, summary, "report.md").decode()
    assert "verdict: ok" in report
    # The model's own OOD flag on held-out rows (its card: a 2.1% false-alarm rate on them).
    assert summary["out_of_distribution"] <= 0.05 * len(x_test)
    assert "out of distribution (the predictions' own OOD flag)" in report

    # The same rows with one feature scaled by 1.3: a new window holds only them.
    for key in captured:
        monitoring.delete_object(Bucket=MONITORING, Key=key)
    scaled = x_test.copy()
    scaled[:, card.feature_names.index(SCALED)] *= 1.3
    _predict(tabular_app, lambda_context, card, scaled)
    (summary,) = _run_job(monitor_app, lambda_context)["reports"]
    assert summary["verdict"] == "violations"
    violations = json.loads(_report(monitoring, summary, "constraint_violations.json"))["violations"]
    assert [(v["feature_name"], v["constraint_check_type"]) for v in violations] == [
        (SCALED, "baseline_drift_check")
    ]
    assert "Robust L-infinity distance" in violations[0]["description"]


def test_below_the_minimum_sample_there_is_no_verdict(
    monitoring, tabular_app, monitor_app, lambda_context, card, heldout
):
    x_test, _ = heldout
    scaled = x_test[:20].copy()
    scaled[:, 0] *= 1.6  # drifted, but too few items to say so
    _predict(tabular_app, lambda_context, card, scaled, per_request=20)
    (summary,) = _run_job(monitor_app, lambda_context)["reports"]
    assert summary["verdict"] == "insufficient data" and summary["violations"] == []
    prefix = summary["location"].split(f"s3://{MONITORING}/", 1)[1]
    written = set(_objects(monitoring, prefix))
    assert prefix + "constraint_violations.json" not in written
    assert "insufficient data" in _report(monitoring, summary, "report.md").decode()


def test_ground_truth_gives_the_performance_report(
    monitoring, tabular_app, monitor_app, lambda_context, card, heldout
):
    x_test, y_test = heldout
    answers = _predict(tabular_app, lambda_context, card, x_test)
    # Inference id = "<request_id>:<index>" of the answer (docs/monitoring.md).
    ids = [f"{a['request_id']}:{p['index']}" for a in answers for p in a["predictions"]]
    for inference, y in zip(ids, y_test, strict=True):
        event = http_event(
            "POST",
            GROUND_TRUTH,
            {"inference_id": inference, "label": card.outputs.labels[int(y)]},
            scopes=("medserve/admin",),
        )
        status, body = call(monitor_app, event, lambda_context)
        assert status == 201 and body["stored"] is True
    (summary,) = _run_job(monitor_app, lambda_context)["reports"]
    performance = json.loads(_report(monitoring, summary, "performance.json"))
    assert performance["joined"] == len(x_test) == performance["n"]
    # The served model on its own held-out split: the card's numbers, recomputed from the capture.
    assert performance["roc_auc"] == pytest.approx(card.metrics["roc_auc"], abs=1e-3)
    assert performance["sensitivity"] == pytest.approx(card.metrics["recall"], abs=1e-3)
    assert performance["decision_threshold"] == card.outputs.decision_threshold
    assert "Confusion at threshold" in _report(monitoring, summary, "report.md").decode()


def test_ground_truth_needs_the_admin_scope_and_a_real_id(monitoring, monitor_app, lambda_context):
    body = {"inference_id": "req-1:0", "label": "malignant"}
    status, answer = call(
        monitor_app, http_event("POST", GROUND_TRUTH, body, scopes=("medserve/tabular",)), lambda_context
    )
    assert (status, answer["error"]["code"]) == (403, "FORBIDDEN")
    bad = http_event(
        "POST", GROUND_TRUTH, {"inference_id": "Jane Doe", "label": "x"}, scopes=("medserve/admin",)
    )
    status, answer = call(monitor_app, bad, lambda_context)
    assert status == 422 and "Jane" not in json.dumps(answer)


def _numbers(document: Any) -> list[float]:
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?(?:[eE]-?\d+)?", json.dumps(document))]


def test_no_captured_record_holds_a_raw_value_or_an_identifier(
    monitoring, aws, tabular_app, lambda_context, card, heldout
):
    x_test, _ = heldout
    rows = x_test[:30]
    _predict(tabular_app, lambda_context, card, rows, per_request=30)
    # A batch file with a caller's identifier column and a name in its key.
    header = "record_id," + ",".join(card.feature_names)
    lines = [f"MRN-0042-SMITH-{i}," + ",".join(repr(float(v)) for v in row) for i, row in enumerate(rows)]
    key = "uploads/tabular/smith_john_2026.csv"
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=("\n".join([header, *lines]) + "\n").encode())
    tabular_app.lambda_handler(s3_event(UPLOADS, key, version_id=put.get("VersionId")), lambda_context)

    captured = _objects(monitoring, "monitoring/capture/")
    records = [json.loads(line) for body in captured.values() for line in body.decode().splitlines()]
    assert len(records) == 2 and sum(len(r["items"]) for r in records) == 2 * len(rows)
    sent = {float(v) for v in rows.ravel()}
    text = "\n".join(body.decode() for body in captured.values())
    for record in records:
        for item in record["items"]:
            assert set(item["bins"]) == set(card.feature_names)
            assert all(isinstance(b, int) and 0 <= b <= 11 for b in item["bins"].values())
            assert set(item) == {"inference_id", "bins", "prediction"}
            assert set(item["prediction"]) <= {"label", "probability", "ood_score", "in_distribution"}
        # Not one number of the record is a value that was sent (bin numbers are small integers).
        leaked = {n for n in _numbers(record) if n in sent and not n.is_integer()}
        assert not leaked
    assert "MRN" not in text and "SMITH" not in text.upper() and "smith_john" not in text
    assert UPLOADS not in text  # nor the bucket: the route names the trigger's fixed prefix only
    assert {r["route"] for r in records} == {"POST /v1/tabular/predict", "s3:uploads/tabular/"}


def test_imaging_capture_holds_outputs_only(monitoring, imaging_app, imaging_context):
    from tests.imaging_samples import PHANTOM

    png = PHANTOM.read_bytes()
    event = http_event("POST", "/v1/imaging/predict", png, headers={"content-type": "image/png"}, binary=True)
    status, body = call(imaging_app, event, imaging_context)
    assert status == 200
    ((_key, raw),) = _objects(monitoring, "monitoring/capture/cxr-nodule-phantom/").items()
    (record,) = [json.loads(line) for line in raw.decode().splitlines()]
    (item,) = record["items"]
    assert item["inference_id"] == f"{body['request_id']}:0"
    assert set(item) == {"inference_id", "prediction"}  # no pixels, no header, no file name
    prediction = body["predictions"][0]
    assert item["prediction"]["label"] == prediction["label"]
    if "ood" in prediction:  # the intended-use gate's score, when the model has one
        assert item["prediction"]["ood_score"] == prediction["ood"]["score"]
    assert len(raw) < 1000  # a few hundred bytes: nothing of a 128x128 image fits


def test_text_capture_holds_outputs_only(monitoring, services, text_app, text_context):
    from medserve.serving.registry import BundledModels

    from tests.helpers import REPO

    services.registry.bundled = BundledModels(REPO / "models")
    note = (
        "Patient Zebulon Quartermaine reports crushing chest pain radiating to the left arm; troponin rising."
    )
    status, body = call(text_app, http_event("POST", "/v1/text/predict", {"text": note}), text_context)
    assert status == 200
    captured = _objects(monitoring, "monitoring/capture/note-specialty/")
    text = "\n".join(raw.decode() for raw in captured.values())
    (record,) = [json.loads(line) for line in text.splitlines()]
    assert record["items"][0]["prediction"]["label"] == body["predictions"][0]["label"]
    for word in ("Zebulon", "Quartermaine", "crushing", "troponin", "chest"):
        assert word not in text


def test_recommendation_capture_holds_the_top_item_only(monitoring):
    from tests.helpers import REPO, lambda_context

    app = stack().module("RecommendFunction")
    event = json.loads((REPO / "events" / "recommend_treatment.json").read_text())
    event["requestContext"]["authorizer"] = http_event("GET", "/")["requestContext"]["authorizer"]
    status, body = call(app, event, lambda_context("RecommendFunction"))
    assert status == 200
    captured = _objects(monitoring, "monitoring/capture/")
    (record,) = [json.loads(line) for raw in captured.values() for line in raw.decode().splitlines()]
    (item,) = record["items"]
    top = body["recommendations"][0]
    assert item["prediction"] == {"label": top["item"], "probability": None, "score": top["score"]}
    text = json.dumps(record)
    assert "metformin" not in text and "lisinopril" not in text.replace(top["item"], "")  # no history


def test_ground_truth_is_audited_without_the_label(monitoring, aws, services, monitor_app, lambda_context):
    aws["s3"].create_bucket(Bucket="medserve-test-monitoring-audit")
    services.audit_bucket = "medserve-test-monitoring-audit"
    body = {"inference_id": "req-abc:3", "label": "malignant"}
    status, _ = call(
        monitor_app, http_event("POST", GROUND_TRUTH, body, scopes=("medserve/admin",)), lambda_context
    )
    assert status == 201
    listed = aws["s3"].list_objects_v2(Bucket="medserve-test-monitoring-audit")["Contents"]
    (record,) = [
        json.loads(aws["s3"].get_object(Bucket="medserve-test-monitoring-audit", Key=o["Key"])["Body"].read())
        for o in listed
    ]
    assert record["action"] == "POST /v1/monitoring/ground-truth" and record["outcome"]["status"] == 201
    assert record["principal"]["subject"] == "pytest-client" and record["input_sha256"]
    assert "malignant" not in json.dumps(record)  # the input's digest, never the label itself
