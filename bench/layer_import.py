"""Import time of every function's handler module from the built layer, bytecode against sources.

Lambda mounts a layer read-only under /opt: Python cannot write the bytecode it compiles there, so
a layer that ships sources is compiled again by every cold start. build_layer.sh ships CPython
3.13 bytecode instead; this builds the layer both ways (from the wheel cache, ~10 s each) and, on
python3.13 with nothing but the function's code, the layer and boto3 (the runtime's) on
``sys.path`` (``-I -S``; ``-B``: nothing written, as on a read-only /opt), times ``import app`` in
fresh processes, alternating the two layers.

Run: ``make bench`` or ``python bench/layer_import.py [--runs N]``. Needs a local python3.13.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
from _common import python313, runtime_packages

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS = ("tabular", "imaging", "text", "recommend", "multimodal", "monitor", "jobs")
CHILD = """
import sys, time
t0 = time.monotonic()
sys.path[:0] = [{code!r}, {layer!r}, {runtime!r}]
import app
sys.stdout.write(str(time.monotonic() - t0))
"""


def build(out: Path, bytecode: bool) -> Path:
    env = {**os.environ, "MEDSERVE_LAYER_BYTECODE": "1" if bytecode else "0"}
    env.setdefault("MEDSERVE_WHEEL_CACHE", str(REPO / "build" / "wheel-cache"))
    subprocess.run(
        ["bash", str(REPO / "layers/model/build_layer.sh"), str(out)],
        env=env,
        check=True,
        capture_output=True,
    )
    return out / "python"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    python = python313()
    if python is None:
        print("layer_import: no python3.13 here: skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        layers = {"sources": build(root / "src", False), "bytecode": build(root / "pyc", True)}
        runtime = runtime_packages(python, root / "runtime")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        print("Import of each handler module from the built layer on python3.13 (median ms, fresh processes)")
        print(f"{'function':<12} {'sources ms':>11} {'bytecode ms':>12} {'saved':>6}")
        for function in FUNCTIONS:
            code = REPO / "functions" / function
            times: dict[str, list[float]] = {name: [] for name in layers}
            for run in range(args.runs + 1):  # the first round warms the file cache
                for name, layer in layers.items():
                    child = CHILD.format(code=str(code), layer=str(layer), runtime=str(runtime))
                    done = subprocess.run(
                        [python, "-I", "-S", "-B", "-c", child], env=env, capture_output=True, text=True
                    )
                    if done.returncode:
                        raise RuntimeError(f"{function} ({name}): {done.stderr[-1500:]}")
                    if run:
                        times[name].append(float(done.stdout) * 1e3)
            src, pyc = (statistics.median(times[n]) for n in ("sources", "bytecode"))
            print(f"{function:<12} {src:>11.0f} {pyc:>12.0f} {1 - pyc / src:>6.0%}")


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print(f"({time.monotonic() - t0:.0f} s)", file=sys.stderr)
