"""Local parity of monitoring: `medserve serve` captures as the functions do (the template's
MONITORING_BUCKET, created in the embedded moto), and `medserve monitor run` runs the drift job
once against that bucket and prints where the report is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer
from training.tabular_wdbc import split


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def _post(api, path: str, body: dict) -> dict:
    req = urllib.request.Request(
        api.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", **bearer(api)},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status in (200, 201)
        return json.loads(resp.read())


def _monitor_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools.cli", "monitor", "run", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_serve_captures_and_monitor_run_reports(api):
    bucket = api.aws.buckets["MonitoringBucket"]
    card = json.loads((REPO / "layers/model/medserve/bundled/breast-cancer-risk/card.json").read_text())
    names = [f["name"] for f in card["inputs"]["features"]]
    _, x_test, _, y_test = split()
    answers = []
    for start in range(0, len(x_test), 50):
        records = [dict(zip(names, map(float, row), strict=True)) for row in x_test[start : start + 50]]
        answers.append(_post(api, "/v1/tabular/predict", {"records": records}))
    labels = card["outputs"]["labels"]
    ids = [f"{a['request_id']}:{p['index']}" for a in answers for p in a["predictions"]]
    for inference, y in list(zip(ids, y_test, strict=True))[:60]:
        _post(api, "/v1/monitoring/ground-truth", {"inference_id": inference, "label": labels[int(y)]})

    s3 = api.aws.client("s3")
    captured = s3.list_objects_v2(Bucket=bucket, Prefix="monitoring/capture/breast-cancer-risk/")
    assert len(captured["Contents"]) == len(answers)

    done = _monitor_run("--endpoint-url", api.aws.endpoint_url, "--model", "breast-cancer-risk")
    assert done.returncode == 0, done.stderr
    assert f"breast-cancer-risk {card['version']}: ok ({len(x_test)} items)" in done.stdout
    location = next(line.split("report: ", 1)[1] for line in done.stdout.splitlines() if "report: " in line)
    assert location.startswith(f"s3://{bucket}/monitoring/reports/breast-cancer-risk/")
    key = location.removeprefix(f"s3://{bucket}/")
    report = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    assert "verdict: ok" in report and "Performance (ground truth joined)" in report


def test_monitor_run_without_an_endpoint_says_what_to_do():
    done = subprocess.run(
        [sys.executable, "-m", "devtools.cli", "monitor", "run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"},
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "medserve serve" in done.stderr
