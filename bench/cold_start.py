"""Cold start of TabularFunction: fresh process to first response, against the floor of a fresh
process that only imports numpy + onnxruntime, creates the session and runs it once.

Each measurement is a new Python process (as a new Lambda container is), timed from spawn to the
first answer; medians over ``--runs``. Run: ``make bench`` or ``python bench/cold_start.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "layers/model/medserve/bundled/breast-cancer-risk/model.onnx"

FLOOR = f"""
import numpy as np, onnxruntime as ort
s = ort.InferenceSession({str(MODEL)!r}, providers=["CPUExecutionProvider"])
s.run(None, {{s.get_inputs()[0].name: np.zeros((1, 30))}})
"""

# What the Lambda runtime does: /var/task (CodeUri) and /opt/python (the layer) on sys.path,
# `import app`, call the handler. No devtools.local tooling: it is not in the layer.
HANDLER = f"""
import io, json, sys, types
sys.path[:0] = [{str(REPO / "functions/tabular")!r}, {str(REPO / "layers/model")!r}]
out, sys.stdout = sys.stdout, io.StringIO()
import app
event = json.load(open({str(REPO / "events/tabular_predict.json")!r}))
context = types.SimpleNamespace(function_name="TabularFunction", function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:TabularFunction",
    memory_limit_in_mb="1769", aws_request_id="bench", log_group_name="/aws/lambda/TabularFunction",
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 30000)
r = app.lambda_handler(event, context)
assert r["statusCode"] == 200, r
"""

PYTHON_ONLY = "pass"


def spawn_seconds(code: str) -> float:
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    results = {}
    for name, code in [
        ("python alone", PYTHON_ONLY),
        ("floor: imports + session + run", FLOOR),
        ("TabularFunction first response", HANDLER),
    ]:
        spawn_seconds(code)  # warm the OS file cache; Lambda's is warm for its runtime too
        results[name] = statistics.median(spawn_seconds(code) for _ in range(args.runs))
    floor = results["floor: imports + session + run"]
    print(f"Cold start, fresh process to first result (median of {args.runs})")
    for name, seconds in results.items():
        print(f"{name:<34} {seconds * 1e3:8.1f} ms   ratio to floor {seconds / floor:5.2f}")


if __name__ == "__main__":
    main()
