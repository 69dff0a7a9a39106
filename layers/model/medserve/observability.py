"""Logger, Metrics and Tracer shared by every function (aws-lambda-powertools).

Privacy rule for everything emitted here: model names, versions, counts, timings, error codes and
request ids only. Never input values, text, pixels, file names chosen by callers, or identifiers.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "medserve"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)
# Tracing switches itself off outside Lambda (and under sam local), so tests pay nothing for it.
tracer = Tracer(service=SERVICE)

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
