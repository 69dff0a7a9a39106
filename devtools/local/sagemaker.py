"""A loopback stand-in for the SageMaker Runtime API, in front of in-process endpoint models.

boto3's ``sagemaker-runtime`` client is pointed here (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``), so
the offload path runs with real boto3 calls on one machine:

- ``POST /endpoints/{name}/invocations`` answers like SageMaker: the container's body, or a 424
  ``ModelError`` when the container answered with an error;
- ``POST /endpoints/{name}/async-invocations`` answers 202 with the output/failure locations,
  then (in a thread) reads the input from S3, runs the model, writes the output (or failure) to
  S3 and hands SageMaker's success/error notification to ``notify`` (SNS, locally).

``faults`` lets tests script what SageMaker does under stress: an HTTP error code (throttling,
5xx) or a delay, consumed one per request.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any

from medserve.endpoint.server import BackgroundHTTPServer, EndpointModel, answer

_PATH = re.compile(r"^/endpoints/(?P<name>[^/]+)/(?P<kind>invocations|async-invocations)$")


@dataclass
class Fault:
    """One scripted behaviour: an error answer (``status`` + ``code``) or a ``delay`` in seconds."""

    status: int = 0
    code: str = ""
    delay: float = 0.0


@dataclass
class AsyncTarget:
    """Where async results go and who is told (what an endpoint's AsyncInferenceConfig says).

    ``notify(notification, succeeded)`` stands for SageMaker publishing to its success or error
    SNS topic; locally it invokes the function the template subscribes to those topics.
    """

    s3_client: Any
    output_bucket: str
    output_prefix: str = "async-results"
    notify: Callable[[dict[str, Any], bool], None] | None = None
    region: str = "us-east-1"
    threads: list[threading.Thread] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: SageMakerLocal
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, **extra: Any) -> None:
        body = json.dumps({"message": message, **extra}).encode()
        self._send(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": code})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _PATH.match(self.path.split("?")[0])
        if not match:
            self._error(404, "UnknownOperationException", "unknown operation")
            return
        endpoint = self.server.endpoints.get(match["name"])
        if endpoint is None:
            self._error(400, "ValidationError", f"Endpoint {match['name']} not found.")
            return
        fault = self.server.next_fault()
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status:
            self._error(fault.status, fault.code, "scripted fault")
            return
        if match["kind"] == "invocations":
            self._realtime(endpoint, body)
        else:
            self._async(match["name"], endpoint)

    def _realtime(self, endpoint: EndpointModel, body: bytes) -> None:
        status, result = answer(endpoint, body, self.headers.get("Content-Type", "application/json"))
        if status != 200:
            # SageMaker wraps a container error as 424 ModelError, keeping the original status.
            self._error(
                424,
                "ModelError",
                "Received client error from model",
                OriginalStatusCode=status,
                OriginalMessage=json.dumps(result),
            )
            return
        self._send(
            200,
            json.dumps(result).encode(),
            {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "AllTraffic"},
        )

    def _async(self, name: str, endpoint: EndpointModel) -> None:
        target = self.server.async_target
        input_location = self.headers.get("X-Amzn-SageMaker-InputLocation", "")
        if target is None or not input_location.startswith("s3://"):
            self._error(400, "ValidationError", "async inference needs an InputLocation and an async config")
            return
        inference_id = self.headers.get("X-Amzn-SageMaker-Inference-Id") or str(uuid.uuid4())
        base = f"s3://{target.output_bucket}/{target.output_prefix}/{inference_id}"
        output, failure = f"{base}.out", f"{base}-error.out"
        thread = threading.Thread(
            target=_run_async,
            args=(target, name, endpoint, input_location, inference_id, output, failure),
            name=f"sagemaker-async-{inference_id}",
            daemon=True,
        )
        target.threads.append(thread)
        thread.start()
        accepted = {"InferenceId": inference_id, "OutputLocation": output, "FailureLocation": failure}
        self._send(202, json.dumps(accepted).encode(), {"Content-Type": "application/json"})


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _run_async(
    target: AsyncTarget,
    name: str,
    endpoint: EndpointModel,
    input_location: str,
    inference_id: str,
    output: str,
    failure: str,
) -> None:
    received = datetime.now(UTC).isoformat()
    try:
        bucket, key = _split(input_location)
        body = target.s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
        status, result = answer(endpoint, body, "application/json")
    except Exception as e:
        status, result = 500, {"error": {"code": "INTERNAL", "message": type(e).__name__}}
    succeeded = status == 200
    location = output if succeeded else failure
    bucket, key = _split(location)
    target.s3_client.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(result).encode(), ContentType="application/json"
    )
    notification: dict[str, Any] = {
        "awsRegion": target.region,
        "eventTime": datetime.now(UTC).isoformat(),
        "receivedTime": received,
        "invocationStatus": "Completed" if succeeded else "Failed",
        "requestParameters": {
            "contentType": "application/json",
            "endpointName": name,
            "inputLocation": input_location,
        },
        "inferenceId": inference_id,
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }
    if succeeded:
        notification["responseParameters"] = {"contentType": "application/json", "outputLocation": output}
    else:
        notification["failureReason"] = f"ClientError: Received server error ({status}) from model"
        notification["responseParameters"] = {"contentType": "application/json", "failureLocation": failure}
    if target.notify is not None:
        target.notify(notification, succeeded)


class SageMakerLocal(BackgroundHTTPServer):
    """The stand-in server. ``endpoints`` maps endpoint names to in-process endpoint models."""

    def __init__(
        self,
        endpoints: dict[str, EndpointModel],
        async_target: AsyncTarget | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__((host, port), _Handler)
        self.endpoints = endpoints
        self.async_target = async_target
        self.faults: deque[Fault] = deque()
        self._lock = threading.Lock()

    def next_fault(self) -> Fault | None:
        with self._lock:
            return self.faults.popleft() if self.faults else None

    def stop(self) -> None:
        super().stop()
        if self.async_target is not None:
            for thread in self.async_target.threads:
                thread.join(timeout=10)


# Demo models for `medserve serve --sagemaker-local`: the bundled tabular model republished with an
# offload placement, each hosted by a local endpoint, so both offload paths run without AWS.
DEMO_SOURCE = "breast-cancer-risk"
DEMOS = {
    "sagemaker-realtime": ("breast-cancer-risk-realtime", "medserve-local-realtime"),
    "sagemaker-async": ("breast-cancer-risk-async", "medserve-local-async"),
}


@dataclass
class LocalOffload:
    """The running stand-in and the environment the functions need to use it."""

    server: SageMakerLocal
    environment: dict[str, str]
    models: list[str]

    def stop(self) -> None:
        self.server.stop()


# The template parameters that turn offload on with existing endpoints of these names: the
# template then declares the invoke permissions, the async topics and JobsFunction.
LOCAL_ENDPOINT_PARAMETERS = {
    "RealtimeEndpointName": DEMOS["sagemaker-realtime"][1],
    "AsyncEndpointName": DEMOS["sagemaker-async"][1],
}


def start_local_offload(
    aws: Any, workdir: Any, notify: Callable[[dict[str, Any], bool], None] | None = None
) -> LocalOffload:
    """Publish the demo offload models to the embedded registry and host them on local endpoints.

    ``aws`` is the running ``EmbeddedAWS``; ``workdir`` a directory for the endpoints' model dirs;
    ``notify`` receives each async notification (see :class:`AsyncTarget`).
    """
    import shutil
    from pathlib import Path

    from medserve.serving.registry import BUNDLED_DIR, S3ModelStore, derive_model

    s3 = aws.client("s3")
    store = S3ModelStore(aws.buckets["ModelsBucket"], s3)
    source = BUNDLED_DIR / DEMO_SOURCE
    description = json.loads((source / "card.json").read_text())["description"]
    endpoints: dict[str, EndpointModel] = {}
    for placement, (name, endpoint) in DEMOS.items():
        target = Path(workdir) / name
        shutil.rmtree(target, ignore_errors=True)
        kind = placement.removeprefix("sagemaker-")
        derive_model(
            source,
            target,
            name=name,
            placement=placement,
            description=f"{description} Served from a SageMaker {kind} endpoint (demo).",
        )
        store.publish(target, alias=os.environ.get("MEDSERVE_MODEL_ALIAS", "production"))
        endpoints[endpoint] = EndpointModel(target, threads=1)
    target = AsyncTarget(s3, output_bucket=aws.buckets["UploadsBucket"], notify=notify)
    server = SageMakerLocal(endpoints, async_target=target).start()
    # boto3 >= 1.28 reads a per-service endpoint from the environment: real calls, local target.
    environment = {"AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": server.url}
    return LocalOffload(server=server, environment=environment, models=[n for n, _ in DEMOS.values()])
