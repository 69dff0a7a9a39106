"""Cold start of every function in template.yaml: fresh process to first response, each against
its floor measured in the same run.

Each measurement is a new Python process (as a new Lambda container is), timed from spawn to the
first answer, with the function's Lambda environment (runtime variables, the template's variables)
and the embedded AWS stack (moto on loopback: the text encoder comes from its models bucket, the
audit trail and jobs table are real calls). Floors and handlers alternate run by run, so load on a
shared machine hits both alike; the figure that matters is the median ratio.

Floors: a model function's floor is a fresh process that imports numpy + onnxruntime, creates its
model's session and runs it once; a function without a model (Jobs, GatewayAudit, Monitor's health
check) has the floor of a fresh process that imports boto3 and makes one DynamoDB call.

Run: ``make bench`` or ``python bench/cold_start.py [--runs N] [--only TabularFunction,...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# BENCH_REPO: measure another checkout (e.g. main, for a before/after) with this script.
REPO = Path(os.environ.get("BENCH_REPO") or Path(__file__).resolve().parents[1])
BUNDLED = REPO / "layers/model/medserve/bundled"

MODEL_FLOOR = """
import numpy as np, onnxruntime as ort
s = ort.InferenceSession({model!r}, providers=["CPUExecutionProvider"])
feed = {{}}
for i in s.get_inputs():
    shape = [d if isinstance(d, int) else 1 for d in i.shape]
    dtypes = {{"tensor(int64)": np.int64, "tensor(double)": np.float64, "tensor(bool)": np.bool_}}
    feed[i.name] = np.zeros(shape, dtypes.get(i.type, np.float32))
s.run(None, feed)
"""

AWS_FLOOR = """
import boto3
boto3.client("dynamodb").list_tables()
"""

# What the Lambda runtime does: CodeUri and the layer on sys.path, `import app`, call the handler.
HANDLER = """
import io, json, sys, types
sys.path[:0] = [{code!r}, {layer!r}]
out, sys.stdout = sys.stdout, io.StringIO()
import app
event = json.loads({event!r})
context = types.SimpleNamespace(function_name={name!r}, function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + {name!r},
    memory_limit_in_mb="1769", aws_request_id="bench", log_group_name="/aws/lambda/" + {name!r},
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 30000)
r = app.{function}(event, context)
assert {check}, str(r)[:300]
"""


def _sns_notification() -> dict[str, Any]:
    message = {"inferenceId": "0" * 32, "invocationStatus": "Failed", "responseParameters": {}}
    return {
        "Records": [
            {"EventSource": "aws:sns", "Sns": {"Type": "Notification", "Message": json.dumps(message)}}
        ]
    }


def cases() -> dict[str, tuple[str, dict[str, Any], str]]:
    """Function -> (floor code, first event, check on the response)."""
    events = REPO / "events"

    def event(name: str) -> dict[str, Any]:
        return json.loads((events / name).read_text())

    def model_floor(path: Path) -> str:
        return MODEL_FLOOR.format(model=str(path))

    ok = 'r["statusCode"] == 200'
    return {
        "TabularFunction": (
            model_floor(BUNDLED / "breast-cancer-risk/model.onnx"),
            event("tabular_predict.json"),
            ok,
        ),
        "ImagingFunction": (
            model_floor(BUNDLED / "cxr-nodule-phantom/model.onnx"),
            event("imaging_predict_png.json"),
            ok,
        ),
        "TextFunction": (
            model_floor(REPO / "models/note-specialty/model.onnx"),
            event("text_predict.json"),
            ok,
        ),
        "RecommendFunction": (
            model_floor(BUNDLED / "treatment-recommender-demo/model.onnx"),
            event("recommend_treatment.json"),
            ok,
        ),
        "MonitorFunction": (AWS_FLOOR, event("health.json"), ok),
        "JobsFunction": (AWS_FLOOR, _sns_notification(), '"recorded" in r'),
        "GatewayAuditFunction": (AWS_FLOOR, event("access_log_refusals.json"), 'r.get("recorded") == 1'),
    }


def spawn_seconds(code: str, env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"cold-start child failed:\n{done.stderr[-2000:]}")
    return elapsed


def measure(runs: int, only: set[str] | None = None) -> list[dict[str, Any]]:
    """Median floor and first-response seconds and their median ratio, per function."""
    sys.path[:0] = [str(REPO), str(REPO / "layers/model")]
    from devtools.local.embedded import EmbeddedAWS
    from devtools.local.invoke import Invoker
    from devtools.local.template import Template

    template = Template.load(REPO / "template.yaml")
    invoker = Invoker(template)
    rows = []
    with EmbeddedAWS(template, invoker):
        base = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"}
        base.pop("PYTHONPATH", None)  # the child sees what Lambda puts on sys.path, nothing else
        for name, (floor, event, check) in cases().items():
            if name not in invoker.specs or (only and name not in only):
                continue
            spec = invoker.spec(name)
            env = {**base, **invoker.environment(name)}
            env.pop("AWS_SAM_LOCAL", None)  # as in Lambda; tracing stays off: no X-Ray daemon here
            code = HANDLER.format(
                code=str(spec.code_uri),
                layer=str(spec.layers[0] if spec.layers else REPO / "layers/model"),
                event=json.dumps(event),
                name=name,
                function=spec.function_name,
                check=check,
            )
            spawn_seconds(floor, env, spec.code_uri)  # warm the OS file cache, as Lambda's is
            spawn_seconds(code, env, spec.code_uri)
            floors, firsts = [], []
            for _ in range(runs):  # alternate: the machine's load hits both alike
                floors.append(spawn_seconds(floor, env, spec.code_uri))
                firsts.append(spawn_seconds(code, env, spec.code_uri))
            rows.append(
                {
                    "function": name,
                    "floor_ms": statistics.median(floors) * 1e3,
                    "first_ms": statistics.median(firsts) * 1e3,
                    "ratio": statistics.median(f / g for f, g in zip(firsts, floors, strict=True)),
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated function names")
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n} or None
    rows = measure(args.runs, only)
    print(f"Cold start, fresh process to first response (median of {args.runs}, alternating with the floor)")
    print(f"{'function':<22} {'floor ms':>9} {'first ms':>9} {'ratio':>6}")
    for row in rows:
        print(f"{row['function']:<22} {row['floor_ms']:9.1f} {row['first_ms']:9.1f} {row['ratio']:6.2f}")


if __name__ == "__main__":
    main()
