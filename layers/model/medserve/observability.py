"""Logger, Metrics and Tracer shared by every function (aws-lambda-powertools).

Privacy rule for everything emitted here: model names, versions, counts, timings, error codes and
request ids only. Never input values, text, pixels, file names chosen by callers, or identifiers.
"""

from __future__ import annotations

import logging

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

__all__ = ["MetricUnit", "logger", "metrics", "tracer"]
