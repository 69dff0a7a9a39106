"""Capture records: sampled per request, binned, never failing the request."""

from __future__ import annotations

import json

import boto3
import pytest
from medserve.monitoring.capture import CaptureWriter, prediction_summary, sampled, sampling_rate
from medserve.serving.registry import BundledModels
from moto import mock_aws


@pytest.fixture
def card():
    return BundledModels().get("breast-cancer-risk")[0]


def test_sampling_is_per_request_and_about_the_rate():
    ids = [f"req-{i}" for i in range(4000)]
    share = sum(sampled(i, 0.25) for i in ids) / len(ids)
    assert 0.2 < share < 0.3
    assert all(sampled(i, 0.25) == sampled(i, 0.25) for i in ids[:50])  # stable per id
    assert all(sampled(i, 1.0) for i in ids[:50]) and not any(sampled(i, 0.0) for i in ids[:50])


def test_the_environment_overrides_the_card(card, monkeypatch):
    assert sampling_rate(card) == card.monitoring.capture_sampling == 1.0
    monkeypatch.setenv("MEDSERVE_CAPTURE_SAMPLING", "0.1")
    assert sampling_rate(card) == 0.1
    monkeypatch.setenv("MEDSERVE_CAPTURE_SAMPLING", "not a number")
    assert sampling_rate(card) == 1.0


def test_prediction_summary_keeps_the_ood_score_when_present():
    item = {"label": "malignant", "probability": 0.9, "probabilities": {"benign": 0.1, "malignant": 0.9}}
    assert prediction_summary(item) == {"label": "malignant", "probability": 0.9}
    ood = {"score": 3.2, "threshold": 5.0, "in_distribution": True, "method": "mahalanobis"}
    assert prediction_summary({**item, "ood": ood})["ood_score"] == 3.2
    text = {"label": "cardiology", "probabilities": {"cardiology": 0.7, "neurology": 0.3}}
    assert prediction_summary(text) == {"label": "cardiology", "probability": 0.7}


def test_a_failing_put_is_counted_not_raised(card, emitted):
    from medserve.observability import metrics

    metrics.clear_metrics()
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")  # the bucket does not exist
        writer = CaptureWriter("no-such-bucket", lambda: s3)
        writer.add(card, None, route="r", status=200, latency_ms=1.0, request_id="x", items=[])
        assert writer.flush() == []
    assert metrics.metric_set["CaptureFailures"]["Value"] == [1.0]  # CaptureFailuresAlarm
    metrics.clear_metrics()
    out = emitted()
    assert "monitoring capture not written" in out and "NoSuchBucket" in out


def test_records_are_batched_per_invocation_under_the_hour(card):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="mon")
        writer = CaptureWriter("mon", lambda: s3, clock=lambda: 1795352400.0)  # 2026-11-22 13:00 UTC
        for rid in ("a", "b", "c"):
            writer.add(card, None, route="r", status=200, latency_ms=1.0, request_id=rid, items=[])
        (key,) = writer.flush()
        assert key.startswith(f"monitoring/capture/breast-cancer-risk/{card.version}/2026/11/22/13/")
        lines = s3.get_object(Bucket="mon", Key=key)["Body"].read().decode().splitlines()
        assert [json.loads(line)["model"] for line in lines] == [card.ref()] * 3
        assert writer.flush() == []  # nothing staged twice
