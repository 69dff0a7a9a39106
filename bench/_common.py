"""Shared bench helpers: the tabular handler, its sample event and a real-shaped Lambda context."""

from __future__ import annotations

import importlib.util
import json
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "events" / "tabular_predict.json"


class Context:
    function_name = "medserve-TabularFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:medserve-TabularFunction"
    log_group_name = "/aws/lambda/medserve-TabularFunction"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def load_handler() -> ModuleType:
    spec = importlib.util.spec_from_file_location("medserve_bench_tabular", REPO / "functions/tabular/app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def predict_event(records: int = 1, explain: bool = False) -> dict[str, Any]:
    event = json.loads(EVENT.read_text())
    body = json.loads(event["body"])
    body["records"] = (body["records"] * records)[:records]
    body["explain"] = explain
    event["body"] = json.dumps(body)
    return event


def median_seconds(fn: Callable[[], Any], repeat: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)
