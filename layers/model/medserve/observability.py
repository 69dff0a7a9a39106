"""Logger, Metrics and Tracer shared by every function (aws-lambda-powertools).

Privacy rule for everything emitted here: model names, versions, counts, timings, error codes and
request ids only. Never input values, text, pixels, file names chosen by callers, or identifiers.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "medserve"
Handler = TypeVar("Handler", bound=Callable[..., Any])

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)


class LazyTracer:
    """powertools' ``Tracer``, built on the first traced call and only where tracing is active.

    ``Tracer()`` imports the X-Ray SDK, which builds a botocore session at import: ~250-400 ms of
    every cold start, paid even where tracing is off (outside Lambda, under ``sam local``, with
    ``POWERTOOLS_TRACE_DISABLED``), where powertools then records nothing. Here the decorators are
    applied at import as before, but the SDK is imported only when a decorated function first
    runs in a function whose tracing is on (``Tracing: Active`` sets ``AWS_XRAY_DAEMON_ADDRESS``);
    elsewhere a decorated function is called as it is. Same segments, same annotations."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Any = None
        self._active: bool | None = None

    @property
    def active(self) -> bool:
        """Tracing is on: powertools' own rule (in Lambda, not under sam local, not disabled by
        env) and an X-Ray daemon to send to."""
        if self._active is None:
            from aws_lambda_powertools.tracing.tracer import Tracer

            self._active = not Tracer._is_tracer_disabled() and bool(os.getenv("AWS_XRAY_DAEMON_ADDRESS"))
        return self._active

    @property
    def tracer(self) -> Any:
        """The real powertools ``Tracer`` (imports the X-Ray SDK)."""
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(service=self.service, disabled=not self.active)
        return self._tracer

    def capture_lambda_handler(self, **options: Any) -> Callable[[Handler], Handler]:
        return self._lazy("capture_lambda_handler", options)

    def capture_method(self, **options: Any) -> Callable[[Handler], Handler]:
        return self._lazy("capture_method", options)

    def _lazy(self, decorator: str, options: dict[str, Any]) -> Callable[[Handler], Handler]:
        def wrap(fn: Handler) -> Handler:
            traced: list[Callable[..., Any]] = []

            @functools.wraps(fn)
            def call(*args: Any, **kwargs: Any) -> Any:
                if not self.active:
                    return fn(*args, **kwargs)
                if not traced:
                    traced.append(getattr(self.tracer, decorator)(**options)(fn))
                return traced[0](*args, **kwargs)

            return call  # type: ignore[return-value]

        return wrap

    def prepare(self) -> None:
        """Import the SDK now where tracing is active (SnapStart's before-snapshot hook)."""
        if self.active:
            _ = self.tracer


tracer = LazyTracer(SERVICE)

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
    "LazyTracer",
    "MetricUnit",
    "Stopwatch",
    "instrumented",
    "logger",
    "metrics",
    "model_dimensions",
    "record_prediction",
    "tracer",
]
