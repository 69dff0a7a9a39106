"""Logger, Metrics and Tracer shared by every function (aws-lambda-powertools).

Privacy rule for everything emitted here: model names, versions, counts, timings, error codes and
request ids only. Never input values, text, pixels, file names chosen by callers, or identifiers.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "medserve"

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


def record_prediction(message: str, *, count: int, total_ms: float, **fields: Any) -> None:
    """The metrics and the one log line of a served request: ``fields`` are names, counts and
    flags (model, version, explain, ...), never patient values."""
    metrics.add_metric(name="Predictions", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="LatencyMs", unit=MetricUnit.Milliseconds, value=total_ms)
    logger.info(message, extra={**fields, "total_ms": round(total_ms, 3)})


__all__ = ["MetricUnit", "logger", "metrics", "record_prediction", "tracer"]
