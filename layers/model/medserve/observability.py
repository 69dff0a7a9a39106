"""Logger, Metrics and Tracer shared by every function (aws-lambda-powertools).

Privacy rule for everything emitted here: model names, versions, counts, timings, error codes and
request ids only. Never input values, text, pixels, file names chosen by callers, or identifiers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "medserve"
Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)
# Tracing switches itself off outside Lambda (and under sam local), so tests pay nothing for it.
tracer = Tracer(service=SERVICE)

# Library loggers that write request contents at DEBUG: powertools logs every route's parsed
# arguments (the records themselves), botocore logs request and response bodies. Whatever level the
# function's log configuration sets, they never go below INFO/WARNING here.
for _name, _level in {
    "aws_lambda_powertools": logging.INFO,
    "botocore": logging.WARNING,
    "boto3": logging.WARNING,
    "urllib3": logging.WARNING,
    "s3transfer": logging.WARNING,
}.items():
    logging.getLogger(_name).setLevel(_level)


class Stopwatch:
    """The ``timing_ms`` of a response: named laps since the start, and the total, in milliseconds."""

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()
        self.laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """Close the lap ``name`` (the time since the previous lap, or the start)."""
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + (now - self._last) * 1000
        self._last = now

    def total_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def timing_ms(self) -> dict[str, float]:
        """The laps and the total so far, rounded to microseconds."""
        return {**{k: round(v, 3) for k, v in self.laps.items()}, "total": round(self.total_ms(), 3)}


def model_dimensions(name: str, version: str) -> None:
    """Every metric of this invocation is split by the model that served it."""
    metrics.add_dimension(name="model", value=name)
    metrics.add_dimension(name="model_version", value=version)


def instrumented(*, http: bool = True) -> Callable[[Handler], Handler]:
    """The one decorator stack of every function's handler: the invocation's context in each log
    line (correlated by the API request id when ``http``), one trace segment without the response
    (it carries patient-derived values), and the metrics flushed with the cold-start metric. Events
    are never logged."""
    from aws_lambda_powertools.logging import correlation_paths

    correlation = correlation_paths.API_GATEWAY_HTTP if http else None

    def wrap(handler: Handler) -> Handler:
        handler = metrics.log_metrics(capture_cold_start_metric=True)(handler)
        handler = tracer.capture_lambda_handler(capture_response=False)(handler)
        return logger.inject_lambda_context(correlation_id_path=correlation, log_event=False)(handler)

    return wrap


def record_prediction(message: str, *, count: int, total_ms: float, **fields: Any) -> None:
    """The metrics and the one log line of a served request: ``fields`` are names, counts and
    flags (model, version, explain, ...), never patient values."""
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=total_ms)
    logger.info(message, extra={**fields, "total_ms": round(total_ms, 3)})


__all__ = [
    "MetricUnit",
    "Stopwatch",
    "instrumented",
    "logger",
    "metrics",
    "model_dimensions",
    "record_prediction",
    "tracer",
]
