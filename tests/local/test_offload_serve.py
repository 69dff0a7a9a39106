"""`medserve serve --sagemaker-local`: the offload path end to end on one machine, real boto3 calls."""

import json
import time
import urllib.error
import urllib.request

import pytest

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0, sagemaker_local=True).start()
    yield server
    server.stop()


def post(api, path, payload):
    req = urllib.request.Request(
        api.url + path,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"content-type": "application/json", **bearer(api)},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def records():
    return json.loads(json.loads((REPO / "events" / "tabular_predict.json").read_text())["body"])["records"]


def test_the_demo_offload_models_are_listed(api):
    req = urllib.request.Request(api.url + "/v1/models", headers=bearer(api))
    with urllib.request.urlopen(req, timeout=30) as resp:
        listing = {m["name"]: m["placement"] for m in json.loads(resp.read())["models"]}
    assert listing["breast-cancer-risk-realtime"] == "sagemaker-realtime"
    assert listing["breast-cancer-risk-async"] == "sagemaker-async"
    assert listing["breast-cancer-risk"] == "lambda"


def test_a_realtime_card_runs_on_the_local_endpoint(api):
    status, body = post(
        api,
        "/v1/tabular/predict",
        {"model": "breast-cancer-risk-realtime", "records": records(), "explain": True},
    )
    assert status == 200
    assert body["placement"] == "sagemaker-realtime"
    assert body["ran_on"]["endpoint"] == "medserve-local-realtime"
    assert body["model"]["name"] == "breast-cancer-risk-realtime"
    assert len(body["predictions"]) == 2 and len(body["explanations"][0]["contributions"]) == 30
    # the same records give the same answer wherever they run
    status, local = post(api, "/v1/tabular/predict", {"records": records()})
    assert [p["probability"] for p in local["predictions"]] == pytest.approx(
        [p["probability"] for p in body["predictions"]], rel=1e-12
    )


def test_an_async_card_answers_202_and_its_job_reaches_succeeded(api):
    status, accepted = post(
        api, "/v1/tabular/predict", {"model": "breast-cancer-risk-async", "records": records()}
    )
    assert status == 202, accepted
    assert accepted["placement"] == "sagemaker-async" and accepted["status"] == "running"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        req = urllib.request.Request(api.url + accepted["job_url"], headers=bearer(api))
        with urllib.request.urlopen(req, timeout=30) as resp:
            job = json.loads(resp.read())
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["result"]["model"]["name"] == "breast-cancer-risk-async"
    assert len(job["result"]["predictions"]) == 2
