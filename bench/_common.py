"""Shared bench helpers: the tabular handler, its sample event and a real-shaped Lambda context."""

from __future__ import annotations

import glob
import json
import os
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EVENT = REPO / "events" / "tabular_predict.json"


def load_handler(
    function: str = "TabularFunction",
) -> tuple[Callable[[dict[str, Any], Any], Any], Callable[[], Any]]:
    """A function's handler as template.yaml names it, and a factory of its Lambda contexts."""
    from devtools.local.invoke import Invoker, LambdaContext
    from devtools.local.template import Template

    template = Template.load(REPO / "template.yaml")
    spec = template.functions()[function]
    return Invoker(template).handler(function), lambda: LambdaContext.for_function(spec)


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


def python313() -> str | None:
    """A working CPython 3.13 (the Lambda runtime's version), if this machine has one."""
    found = [
        shutil.which("python3.13"),
        *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13"))),
    ]
    for candidate in filter(None, found):
        probe = [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"]
        ok = subprocess.run(probe, capture_output=True)  # a pyenv shim without 3.13 active fails
        if ok.returncode == 0:
            return candidate
    return None


def runtime_packages(python: str, where: Path) -> Path:
    """boto3 & co, which the python3.13 Lambda runtime provides (and the layer leaves out)."""
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--target",
            str(where),
            "boto3",
        ],
        check=True,
        capture_output=True,
    )
    return where
