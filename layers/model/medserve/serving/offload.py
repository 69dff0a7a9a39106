"""Where a prediction runs, and the SageMaker Runtime calls when it is not in Lambda.

``route`` decides from the card's ``placement`` and the payload size: ``lambda`` runs here;
``sagemaker-realtime`` calls ``invoke_endpoint`` (falling back to the async endpoint when the
payload is over SageMaker's 6 MB real-time limit); ``sagemaker-async`` stages the input in S3
and calls ``invoke_endpoint_async``. Endpoint names come from the deployment
(``MEDSERVE_REALTIME_ENDPOINT``, ``MEDSERVE_ASYNC_ENDPOINT``; empty = the feature is off).

``SageMakerRuntime`` owns retries (botocore's are switched off so the budget is ours): throttling
and 5xx answers are retried a bounded number of times with exponential backoff and jitter, all
inside the time the HTTP API leaves (30 s); a read timeout is a 504, anything else upstream a 502,
throttling that outlasts the retries a 429. Never a 500, never a hang.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from medserve.aws.errors import aws_errors
from medserve.config import Settings, settings
from medserve.errors import NotConfigured, PayloadTooLarge, Throttled, UpstreamError, UpstreamTimeout
from medserve.observability import MetricUnit, logger, metrics
from medserve.serving.cards import ModelCard

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime import SageMakerRuntimeClient

Placement = Literal["lambda", "sagemaker-realtime", "sagemaker-async"]

# SageMaker real-time payloads are limited to 6 MB; keep headroom for the envelope.
REALTIME_MAX_BYTES = 6 * 1024 * 1024 - 64 * 1024
# Throttling-like error codes SageMaker Runtime returns; 5xx answers are retried too.
_RETRYABLE_CODES = {"ThrottlingException", "ModelNotReadyException", "ServiceUnavailable", "InternalFailure"}
_THROTTLE_CODES = {"ThrottlingException", "ModelNotReadyException"}


@dataclass(frozen=True)
class OffloadConfig:
    realtime_endpoint: str = ""
    async_endpoint: str = ""

    @classmethod
    def from_settings(cls, config: Settings | None = None) -> OffloadConfig:
        config = config or settings()
        return cls(realtime_endpoint=config.realtime_endpoint, async_endpoint=config.async_endpoint)


@dataclass(frozen=True)
class Route:
    placement: Placement
    endpoint: str | None
    reason: str

    def describe(self) -> dict[str, Any]:
        """The ``ran_on`` block of a response: where the prediction ran and why."""
        return {"placement": self.placement, "endpoint": self.endpoint, "reason": self.reason}


def route(card: ModelCard, payload_bytes: int, config: OffloadConfig) -> Route:
    """Decide where one request runs. Raises when the card asks for an endpoint that is off."""
    if card.placement == "lambda":
        return Route("lambda", None, "model card placement")
    off = "which this deployment has not configured"
    if card.placement == "sagemaker-realtime" and payload_bytes <= REALTIME_MAX_BYTES:
        if not config.realtime_endpoint:
            raise NotConfigured(f"model '{card.name}' runs on a SageMaker real-time endpoint, {off}")
        return Route("sagemaker-realtime", config.realtime_endpoint, "model card placement")
    if card.placement == "sagemaker-async":
        reason = "model card placement"
    else:
        reason = "payload over the real-time limit"
    if not config.async_endpoint:
        if card.placement == "sagemaker-realtime":
            raise PayloadTooLarge(
                f"the request is over SageMaker's real-time limit ({REALTIME_MAX_BYTES // (1024 * 1024)} MB) "
                "and this deployment has no asynchronous endpoint"
            )
        raise NotConfigured(f"model '{card.name}' runs on a SageMaker asynchronous endpoint, {off}")
    return Route("sagemaker-async", config.async_endpoint, reason)


class SageMakerRuntime:
    """``sagemaker-runtime`` with explicit timeouts and our own bounded retries.

    ``client`` may be injected (tests); otherwise one is built on first use with the timeouts.
    ``sleep`` and ``rand`` are injectable so tests of the backoff are instant and deterministic.
    """

    def __init__(
        self,
        client: SageMakerRuntimeClient | None = None,
        *,
        connect_timeout: float = 2.0,
        read_timeout: float = 20.0,
        attempts: int = 3,
        backoff: float = 0.2,
        budget_seconds: float = 25.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.attempts = attempts
        self.backoff = backoff
        self.budget_seconds = budget_seconds
        self._sleep = sleep
        self._rand = rand

    @property
    def client(self) -> SageMakerRuntimeClient:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "sagemaker-runtime",
                config=Config(
                    connect_timeout=self.connect_timeout,
                    read_timeout=self.read_timeout,
                    retries={"total_max_attempts": 1},  # retries are ours, within our budget
                ),
            )
        return self._client

    def invoke(self, endpoint: str, body: bytes, content_type: str = "application/json") -> bytes:
        """One real-time inference; the endpoint's response body."""
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectTimeoutError,
            EndpointConnectionError,
            ReadTimeoutError,
        )

        started = time.monotonic()
        for attempt in range(1, self.attempts + 1):
            try:
                response = self.client.invoke_endpoint(
                    EndpointName=endpoint, Body=body, ContentType=content_type, Accept="application/json"
                )
                metrics.add_metric(name="OffloadAttempts", unit=MetricUnit.Count, value=attempt)
                return response["Body"].read()
            except (ReadTimeoutError, ConnectTimeoutError) as e:
                # Retrying after a timeout would overrun the API's 30 s: answer now.
                raise UpstreamTimeout("the SageMaker endpoint did not answer in time") from e
            except ClientError as e:
                error = e.response.get("Error", {})
                code = error.get("Code", "")
                status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
                if code == "ModelError":  # the container answered with an error: not retryable
                    raise UpstreamError("the SageMaker model container returned an error") from e
                retryable = code in _RETRYABLE_CODES or status >= 500 or status == 429
                if not retryable or not self._wait(attempt, started):
                    logger.warning("sagemaker invoke failed", extra={"error_code": code, "attempts": attempt})
                    if code in _THROTTLE_CODES or status == 429:
                        raise Throttled("the model endpoint is busy; retry later") from e
                    raise UpstreamError("the SageMaker endpoint failed") from e
            except (EndpointConnectionError, BotoCoreError) as e:
                if not self._wait(attempt, started):
                    raise UpstreamError("the SageMaker endpoint could not be reached") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, attempt: int, started: float) -> bool:
        """Sleep before the next attempt; False when no attempt or no time budget is left."""
        if attempt >= self.attempts:
            return False
        delay = self.backoff * (2 ** (attempt - 1)) * (1 + self._rand())
        if time.monotonic() - started + delay + self.read_timeout > self.budget_seconds:
            return False
        self._sleep(delay)
        return True

    def invoke_async(self, endpoint: str, input_location: str, inference_id: str) -> dict[str, str]:
        """Queue one asynchronous inference; SageMaker's output and failure locations."""
        with aws_errors("the SageMaker asynchronous endpoint did not accept the job"):
            response = self.client.invoke_endpoint_async(
                EndpointName=endpoint,
                InputLocation=input_location,
                InferenceId=inference_id,
                ContentType="application/json",
                Accept="application/json",
            )
        return {
            "output_location": response.get("OutputLocation", ""),
            "failure_location": response.get("FailureLocation", ""),
        }
