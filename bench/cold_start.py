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

Timing is spawn to the first answer (each child prints ``time.monotonic()``, a clock shared by
every process of the machine, when it has answered): process teardown, which no caller waits for,
is not counted, for the handler or the floor.

Two more columns per model function:

- ``+S3 floor``: the model floor plus what any function that resolves its model in an S3 registry
  and audits before answering cannot avoid: import boto3, build one S3 client, one GetObject (the
  alias) and one PutObject (the audit record). ``/+S3`` is the handler against it: what our own
  code (routing, validation, envelope, logging) costs at a cold start.
- ``snapstart``: SnapStart emulated with ``fork``: one process runs the init phase and
  ``medserve.snapstart.before_snapshot``, then each measurement forks it (the child's memory is
  the snapshot), runs ``after_restore`` and answers the first request. Lambda's own restore time
  (loading the snapshot, typically 100s of ms, not measurable here) comes on top.

``--built-layer build/layer/python`` (after ``make layer``) runs every child as Lambda would:
python3.13, the built layer (bytecode), boto3 installed for 3.13 as the runtime provides it.

Run: ``make bench`` or ``python bench/cold_start.py [--runs N] [--only TabularFunction,...]
[--built-layer build/layer/python]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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

# What resolving the model in an S3 registry and auditing before the answer cost, at the least.
S3_PART = """
import os, boto3
c = boto3.client("s3")
try:
    c.get_object(Bucket=os.environ["MODELS_BUCKET"], Key="models/bench/aliases/production.json")
except c.exceptions.NoSuchKey:
    pass
c.put_object(Bucket=os.environ["AUDIT_BUCKET"], Key="bench/floor.json", Body=b"{}")
"""

AWS_FLOOR = """
import boto3
boto3.client("dynamodb").list_tables()
"""

ANSWERED = "\nimport time as _t; print('answered', _t.monotonic())\n"

# What the Lambda runtime does: CodeUri and the layer on sys.path, `import app`, call the handler.
HANDLER = """
import io, json, sys, types
sys.path[:0] = [{code!r}, {layer!r}, *{extra!r}]
out, sys.stdout = sys.stdout, io.StringIO()
import app
event = json.loads({event!r})
context = types.SimpleNamespace(function_name={name!r}, function_version="$LATEST",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + {name!r},
    memory_limit_in_mb="1769", aws_request_id="bench", log_group_name="/aws/lambda/" + {name!r},
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 30000)
r = app.{function}(event, context)
assert {check}, str(r)[:300]
sys.stdout = out
"""

# SnapStart emulated: init and the before-snapshot hook once, then one fork per restore.
SNAPSTART = """
import io, json, os, sys, types
sys.path[:0] = [{code!r}, {layer!r}, *{extra!r}]
out, sys.stdout = sys.stdout, io.StringIO()
import app
from medserve import snapstart
snapstart.before_snapshot()
event = json.loads({event!r})
context = types.SimpleNamespace(function_name={name!r}, function_version="1",
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:" + {name!r},
    memory_limit_in_mb="1769", aws_request_id="bench", log_group_name="/aws/lambda/" + {name!r},
    log_stream_name="bench", get_remaining_time_in_millis=lambda: 30000)
import time
for line in sys.stdin:  # one line per restore
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        snapstart.after_restore()
        r = app.{function}(event, context)
        ok = {check}
        out.write(("%f\\n" % ((time.monotonic() - t0) if ok else -1.0)))
        out.flush()
        os._exit(0)
    os.waitpid(pid, 0)
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


# The interpreter the children run on, and what every program finds first on sys.path: this
# Python and the layer's sources by default; with --built-layer, python3.13 (-I -B: nothing from
# this environment, no bytecode written, as on Lambda's read-only /opt), the built layer and boto3.
PYTHON: list[str] = [sys.executable]
PATHS: list[str] = []


def _program(code: str) -> str:
    return f"import sys; sys.path[:0] = {PATHS!r}\n" + code if PATHS else code


def spawn_seconds(code: str, env: dict[str, str], cwd: Path) -> float:
    """Seconds from spawning ``code`` in a fresh interpreter to its answer (not to its exit)."""
    t0 = time.monotonic()
    done = subprocess.run(
        [*PYTHON, "-c", _program(code) + ANSWERED], env=env, cwd=cwd, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"cold-start child failed:\n{done.stderr[-2000:]}")
    answered = [line for line in done.stdout.splitlines() if line.startswith("answered ")]
    return float(answered[-1].split()[1]) - t0


def restore_seconds(code: str, env: dict[str, str], cwd: Path, runs: int) -> list[float]:
    """Fork-to-answer seconds of ``runs`` emulated SnapStart restores of one init."""
    proc = subprocess.Popen(
        [*PYTHON, "-c", _program(code)],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seconds = []
    for _ in range(runs + 1):  # the first restore warms the file cache, as for the others
        proc.stdin.write("restore\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line or float(line) < 0:
            proc.kill()
            raise RuntimeError(f"restored child failed:\n{proc.communicate()[1][-2000:]}")
        seconds.append(float(line))
    proc.stdin.close()
    proc.wait()
    return seconds[1:]


def use_built_layer(layer: Path, workdir: Path) -> None:
    """Children run as on Lambda: python3.13, the built layer (bytecode, as build_layer.sh makes
    it) and boto3 (which the runtime provides) installed for 3.13 into ``workdir``."""
    from _common import python313, runtime_packages

    python = python313()
    if python is None:
        raise SystemExit("cold_start: --built-layer needs a python3.13")
    runtime = runtime_packages(python, workdir / "runtime")
    PYTHON[:] = [python, "-I", "-B"]
    PATHS[:] = [str(layer), str(runtime)]


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
            fields = {
                "code": str(spec.code_uri),
                "layer": PATHS[0] if PATHS else str(spec.layers[0] if spec.layers else REPO / "layers/model"),
                "extra": PATHS[1:],
                "event": json.dumps(event),
                "name": name,
                "function": spec.function_name,
                "check": check,
            }
            code = HANDLER.format(**fields)
            model = floor is not AWS_FLOOR
            s3_floor = floor + S3_PART if model else None
            programs = [floor, code] + ([s3_floor] if s3_floor else [])
            for program in programs:  # warm the OS file cache, as Lambda's is
                spawn_seconds(program, env, spec.code_uri)
            times: dict[str, list[float]] = {"floor": [], "first": [], "s3": []}
            for _ in range(runs):  # alternate: the machine's load hits every program alike
                times["floor"].append(spawn_seconds(floor, env, spec.code_uri))
                times["first"].append(spawn_seconds(code, env, spec.code_uri))
                if s3_floor:
                    times["s3"].append(spawn_seconds(s3_floor, env, spec.code_uri))
            row: dict[str, Any] = {
                "function": name,
                "floor_ms": statistics.median(times["floor"]) * 1e3,
                "first_ms": statistics.median(times["first"]) * 1e3,
                "ratio": statistics.median(
                    f / g for f, g in zip(times["first"], times["floor"], strict=True)
                ),
            }
            if s3_floor:
                row["s3_floor_ms"] = statistics.median(times["s3"]) * 1e3
                row["ratio_s3"] = statistics.median(
                    f / g for f, g in zip(times["first"], times["s3"], strict=True)
                )
                restores = restore_seconds(SNAPSTART.format(**fields), env, spec.code_uri, runs)
                row["restore_ms"] = statistics.median(restores) * 1e3
                row["ratio_restore"] = row["restore_ms"] / row["floor_ms"]
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--only", default="", help="comma-separated function names")
    parser.add_argument(
        "--built-layer",
        type=Path,
        help="a built layer's python/ directory (make layer: build/layer/python): run on python3.13 from it",
    )
    args = parser.parse_args()
    only = {n for n in args.only.split(",") if n} or None
    with tempfile.TemporaryDirectory() as workdir:
        if args.built_layer:
            use_built_layer(args.built_layer.resolve(), Path(workdir))
            print(f"(children: {PYTHON[0]} on the built layer {args.built_layer})")
        rows = measure(args.runs, only)
    print(f"Cold start, fresh process to first answer (median of {args.runs}, alternating with the floors)")
    print(
        f"{'function':<22} {'floor ms':>9} {'first ms':>9} {'ratio':>6} {'+S3 floor':>10} {'/+S3':>5}"
        f" {'snapstart ms':>13} {'/floor':>6}"
    )
    for row in rows:
        line = f"{row['function']:<22} {row['floor_ms']:9.1f} {row['first_ms']:9.1f} {row['ratio']:6.2f}"
        if "s3_floor_ms" in row:
            line += (
                f" {row['s3_floor_ms']:10.1f} {row['ratio_s3']:5.2f}"
                f" {row['restore_ms']:13.1f} {row['ratio_restore']:6.2f}"
            )
        print(line)


if __name__ == "__main__":
    main()
