"""``make bench``: every benchmark, then one table of the issue-17 figures (ratios against floors
and peers measured in the same run, with the absolute numbers).

Runs cold_start.py, tabular_latency.py, imaging_latency.py, text_latency.py, upload_burst.py,
layer_import.py and tabular_batch.py as separate processes (each prints its own detailed table
first) and reads their tables back; adds the REPORT figures of the last ``make test-sam``
(build/sam/sam-init.json) when that file exists. On a shared or loaded machine the absolute
times move; the ratios are the figures to compare.

Run: ``make bench`` or ``python bench/report.py [--quick]`` (--quick: fewer repetitions).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def run(script: str, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "layers/model")])}
    done = subprocess.run(
        [sys.executable, str(HERE / script), *args], env=env, capture_output=True, text=True, check=False
    )
    print(done.stdout, flush=True)
    if done.returncode:
        print(f"{script} failed:\n{done.stderr[-1500:]}", file=sys.stderr)
    return done.stdout


def rows_of(text: str, pattern: str) -> list[tuple[str, ...]]:
    return [m.groups() for m in re.finditer(pattern, text, re.MULTILINE)]


def sam_rows(path: Path) -> list[tuple[str, str, str, str]]:
    """The last `make test-sam`'s figures per function (scripts/sam/invoke_events.py wrote them):
    the emulator's Init Duration (its own step: the module import is in Duration) and the
    median Duration of a fresh container's first invoke (runtime start + init + handler)."""
    if not path.exists():
        return []
    data = json.loads(path.read_text())
    rows = []
    for function, figures in sorted(data["functions"].items()):
        median = figures["median"]
        if median["first_invoke_duration_ms"] is None:  # no REPORT line: test-sam said so
            continue
        rows.append(
            (
                f"sam local invoke {function}",
                f"{median['first_invoke_duration_ms']:.0f} ms 1st invoke, Init {median['init_ms']}",
                "-",
                f"(make test-sam {data['measured_at'][:10]})",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick
    cold = run("cold_start.py", "--runs", "3" if quick else "7")
    tabular = run("tabular_latency.py", "--repeat", "200" if quick else "1000")
    imaging = run("imaging_latency.py", *(["--repeat", "20"] if quick else []))
    text = run("text_latency.py", "--repeat", "10" if quick else "30")
    layer = run("layer_import.py", "--runs", "3" if quick else "5")
    batch = run("tabular_batch.py", "--repeat", "3" if quick else "5")

    table: list[tuple[str, str, str, str]] = []  # figure, absolute, ratio, target
    cold_row = (
        r"^(\w+Function)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)(?:\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+))?$"
    )
    for name, floor, first, ratio, s3_floor, to_s3, restore, to_restore in rows_of(cold, cold_row):
        table.append((f"cold start {name}", f"{first} ms (floor {floor})", f"{ratio}x floor", "<= 2x"))
        if s3_floor:
            table.append(("  vs model + S3 floor", f"floor+S3 {s3_floor} ms", f"{to_s3}x", "(our code)"))
            table.append(("  SnapStart (fork emulation)", f"{restore} ms", f"{to_restore}x floor", "<= 2x"))
    for function, sources, bytecode, saved in rows_of(layer, r"^(\w+)\s+(\d+)\s+(\d+)\s+(-?\d+%)$"):
        table.append(
            (f"layer import {function}", f"{bytecode} ms (sources {sources})", f"{saved} saved", "-")
        )
    for records, _, _, handler, _, bare, to_bare, naive, to_naive in rows_of(
        tabular,
        r"^\s+(\d+)\s+(False)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$",
    ):
        table.append(
            (f"tabular warm, {records} record(s)", f"{handler} ms (bare {bare})", f"{to_bare}x bare", "<= 2x")
        )
        table.append((f"tabular vs naive peer, {records}", f"naive {naive} ms", f"{to_naive}x naive", "< 1x"))
    for name, _, floor, handler, ratio in rows_of(
        imaging,
        r"^(PNG 512x512|CT_small\.dcm)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
        r"\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$",
    ):
        table.append((f"imaging warm, {name}", f"{handler} ms (floor {floor})", f"{ratio}x floor", "<= 1.3x"))
    for chars, _, _, _, predict, _, explain, _ in rows_of(
        text, r"^\s+(1000)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$"
    ):
        ratio = float(explain) / float(predict)
        table.append(
            (
                f"text explain, {chars} chars",
                f"{explain} ms (predict {predict})",
                f"{ratio:.2f}x predict",
                "<= 4x, <= 500 ms",
            )
        )

    with tempfile.TemporaryDirectory() as tmp:
        burst_json = Path(tmp) / "burst.json"
        run("upload_burst.py", "--images", "200" if quick else "1000", "--json", str(burst_json))
        burst = json.loads(burst_json.read_text()) if burst_json.exists() else None
    if burst:
        b = burst["burst"]
        table.append(
            (
                f"upload burst, {b['images']} PNG",
                f"{b['images_per_s']} img/s, {b['failures']} failed",
                f"{burst['ratio_to_floor']:.3f}x floor",
                "failures 0",
            )
        )
    table += sam_rows(REPO / "build" / "sam" / "sam-init.json")
    for fmt, rows, _, _, _, per_s, _, floor_per_s, ratio in rows_of(
        batch,
        r"^(CSV|JSONL)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)$",
    ):
        table.append(
            (
                f"S3 batch, {int(rows):,}-row {fmt}",
                f"{int(per_s):,} rows/s (floor {int(floor_per_s):,})",
                f"{ratio}x floor",
                ">= 0.5x",
            )
        )

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"medserve bench summary - {stamp}, {os.cpu_count()}-core {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(f"{'figure':<38} {'absolute':<30} {'ratio':<16} {'target':<16}")
    for figure, absolute, ratio, target in table:
        print(f"{figure:<38} {absolute:<30} {ratio:<16} {target:<16}")
    print("layer size: `make layer` prints it (build_layer.sh)")


if __name__ == "__main__":
    main()
