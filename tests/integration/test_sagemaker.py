"""SageMaker offload with real boto3 calls: moto's sagemaker-runtime, the local SageMaker Runtime
stand-in over loopback (for throttling, timeouts and 5xx), and the serving container's server."""

import json
import urllib.error
import urllib.request

import boto3
import pytest
import requests
from botocore.config import Config
from medserve.endpoint.server import EndpointModel, EndpointServer
from medserve.errors import Throttled, UpstreamError, UpstreamTimeout
from medserve.serving.offload import OffloadConfig, SageMakerRuntime
from medserve.serving.registry import BUNDLED_DIR, S3ModelStore, derive_model

from devtools.local.sagemaker import Fault, SageMakerLocal
from tests.helpers import call, http_event
from tests.integration.conftest import MODELS

MODEL_DIR = BUNDLED_DIR / "breast-cancer-risk"


@pytest.fixture(scope="module")
def endpoint_model() -> EndpointModel:
    return EndpointModel(MODEL_DIR, threads=1)


@pytest.fixture
def shim(endpoint_model):
    server = SageMakerLocal({"medserve-realtime": endpoint_model}).start()
    yield server
    server.stop()


def runtime_for(shim, read_timeout=5.0, sleeps=None) -> SageMakerRuntime:
    """Real boto3 against the stand-in; backoff sleeps recorded instead of slept."""
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=shim.url,
        region_name="us-east-1",
        config=Config(connect_timeout=1, read_timeout=read_timeout, retries={"total_max_attempts": 1}),
    )
    record_sleep = sleeps.append if sleeps is not None else (lambda _seconds: None)
    return SageMakerRuntime(client, read_timeout=read_timeout, sleep=record_sleep, rand=lambda: 0.5)


def body(record, explain=False) -> bytes:
    return json.dumps({"records": [record], "explain": explain}).encode()


# -- moto --------------------------------------------------------------------------------------
def test_moto_realtime_and_async(aws):
    requests.post(
        "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
        json={"results": [{"Body": json.dumps({"predictions": []}), "ContentType": "application/json"}]},
        timeout=5,
    )
    runtime = SageMakerRuntime(boto3.client("sagemaker-runtime", region_name="us-east-1"))
    assert json.loads(runtime.invoke("any-endpoint", b"{}")) == {"predictions": []}
    locations = runtime.invoke_async("any-async", "s3://bucket/input.json", "inference-1")
    assert locations["output_location"].startswith("s3://")


# -- the local stand-in over loopback --------------------------------------------------------
def test_realtime_success_runs_the_container_model(shim, record):
    answer = json.loads(runtime_for(shim).invoke("medserve-realtime", body(record, explain=True)))
    assert answer["model"]["name"] == "breast-cancer-risk" and answer["providers"] == ["CPUExecutionProvider"]
    assert sum(answer["predictions"][0]["probabilities"].values()) == pytest.approx(1.0)
    assert len(answer["explanations"][0]["contributions"]) == 30


def test_throttling_then_success_is_retried_with_backoff(shim, record):
    shim.faults.extend([Fault(429, "ThrottlingException"), Fault(503, "ServiceUnavailable")])
    sleeps: list[float] = []
    answer = json.loads(runtime_for(shim, sleeps=sleeps).invoke("medserve-realtime", body(record)))
    assert answer["predictions"] and sleeps == [0.2 * 1.5, 0.4 * 1.5]  # exponential, with jitter


def test_persistent_throttling_is_a_429(shim, record):
    shim.faults.extend([Fault(429, "ThrottlingException")] * 3)
    with pytest.raises(Throttled):
        runtime_for(shim).invoke("medserve-realtime", body(record))


def test_persistent_5xx_is_a_502(shim, record):
    shim.faults.extend([Fault(500, "InternalFailure")] * 3)
    with pytest.raises(UpstreamError) as caught:
        runtime_for(shim).invoke("medserve-realtime", body(record))
    assert caught.value.status == 502


def test_a_slow_endpoint_is_a_504_without_retry(shim, record):
    shim.faults.extend([Fault(delay=1.5), Fault(delay=1.5)])
    with pytest.raises(UpstreamTimeout) as caught:
        runtime_for(shim, read_timeout=0.3).invoke("medserve-realtime", body(record))
    assert caught.value.status == 504
    assert len(shim.faults) == 1  # one attempt only: a retry would overrun the API's 30 s


def test_container_errors_are_a_502_model_error(shim):
    with pytest.raises(UpstreamError) as caught:
        runtime_for(shim).invoke("medserve-realtime", b'{"records": [{"x": 1}]}')
    assert "container" in caught.value.message


# -- the serving container's own HTTP contract ---------------------------------------------
def test_container_ping_and_invocations_over_loopback(endpoint_model, record):
    server = EndpointServer(endpoint_model, host="127.0.0.1", port=0).start()
    try:
        with urllib.request.urlopen(server.url + "/ping", timeout=5) as resp:
            assert resp.status == 200
        req = urllib.request.Request(
            server.url + "/invocations",
            data=body(record),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert json.loads(resp.read())["predictions"][0]["label"] in {"benign", "malignant"}
        for data, content_type, status in [
            (b"{bad", "application/json", 400),
            (b"x", "text/csv", 415),
            (b'{"records": [{}]}', "application/json", 422),
        ]:
            req = urllib.request.Request(
                server.url + "/invocations", data=data, method="POST", headers={"Content-Type": content_type}
            )
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(req, timeout=5)
            assert caught.value.code == status
    finally:
        server.stop()


def publish_variant(aws, tmp_path, *, name: str, placement: str, version: str = "1.0.0") -> None:
    """The bundled model republished to the S3 registry under another name/version and placement."""
    model_dir = derive_model(MODEL_DIR, tmp_path / name, name=name, version=version, placement=placement)
    S3ModelStore(MODELS, aws["s3"]).publish(model_dir, alias="production")


# -- through the API: a card placed on SageMaker is served there --------------------------
def test_api_routes_a_realtime_card_to_the_endpoint(
    aws, services, shim, tmp_path, tabular_app, lambda_context, record
):
    publish_variant(
        aws, tmp_path, name="breast-cancer-risk", placement="sagemaker-realtime", version="1.0.0-gpu"
    )
    services.offload = OffloadConfig(realtime_endpoint="medserve-realtime")
    services.sagemaker = runtime_for(shim)

    status, got = call(
        tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [record]}), lambda_context
    )
    assert status == 200
    assert got["placement"] == "sagemaker-realtime"
    assert got["ran_on"] == {
        "placement": "sagemaker-realtime",
        "endpoint": "medserve-realtime",
        "reason": "model card placement",
    }
    assert got["model"]["name"] == "breast-cancer-risk"
    # validation stays in Lambda: a bad record never reaches the endpoint
    status, got = call(
        tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [{}]}), lambda_context
    )
    assert status == 422
    # and an upstream failure is an envelope, never a 500
    shim.faults.extend([Fault(500, "InternalFailure")] * 3)
    status, got = call(
        tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [record]}), lambda_context
    )
    assert (status, got["error"]["code"]) == (502, "UPSTREAM_ERROR")
