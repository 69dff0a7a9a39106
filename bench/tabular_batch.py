"""S3 batch throughput of TabularFunction: a 100,000-row CSV and JSON Lines file against a bare floor.

Handler: ``medserve.tabular.batch.score_tabular_file`` on an :class:`S3Upload` built in memory, then
the result document serialised as ``S3BatchProcessor`` writes it (``medserve.wire.encode_json``). That is
the handler's own work: parse, validate every row, score, OOD, the per-row result entries, the
monitoring capture (written to an in-memory moto bucket, as a real deployment writes it to S3) and
the result JSON. Not measured: the S3 get/put of the file and result and the idempotency record
(network and moto costs, not the handler's).

Floor, on the same bytes in the same run: CSV - ``np.loadtxt`` of the feature columns, one
``session.run``, ``json.dumps`` of the probabilities; JSON Lines - ``json.loads`` of each line, the
feature values into one float64 matrix, one ``session.run``, ``json.dumps`` of the probabilities.
The floor validates nothing, reports nothing and captures nothing.

Rows (CSV: ``--rows``, 100,000; JSON Lines: as many of the same rows as fit in one upload,
``MAX_OBJECT_BYTES`` = 50 MiB, ~63,000): drawn with replacement from scikit-learn's WDBC (the
bundled breast-cancer-risk model's training source) with 1% multiplicative jitter, 4 significant
digits, each with a ``record_id``; without scikit-learn, the records of events/tabular_predict.json
with the same jitter.
Handler and floor alternate; medians. Run: ``make bench`` or
``python bench/tabular_batch.py [--rows N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
_real_stdout, sys.stdout = sys.stdout, io.StringIO()  # logs/metrics as in Lambda, into a buffer

import numpy as np  # noqa: E402
from _common import EVENT  # noqa: E402

MONITORING = "bench-monitoring"
SEED = 20261201


def source_rows(names: list[str]) -> np.ndarray:
    try:
        from sklearn.datasets import load_breast_cancer

        data = load_breast_cancer()
        columns = [n.replace(" ", "_") for n in data.feature_names]
        return np.asarray(data.data[:, [columns.index(n) for n in names]], dtype=np.float64)
    except ImportError:
        records = json.loads(json.loads(EVENT.read_text())["body"])["records"]
        return np.array([[r[n] for n in names] for r in records], dtype=np.float64)


def make_files(names: list[str], rows: int, max_bytes: int) -> tuple[bytes, bytes]:
    """The CSV of ``rows`` rows, and the JSON Lines file of as many of the same rows as fit in an
    upload (``max_bytes``: a JSON object repeats the 30 feature names, ~800 bytes a row)."""
    rng = np.random.default_rng(SEED)
    base = source_rows(names)
    x = base[rng.integers(0, len(base), rows)] * rng.normal(1.0, 0.01, (rows, len(names)))
    cells = [[f"{v:.4g}" for v in row] for row in x]
    csv_lines = [",".join(["record_id", *names])]
    csv_lines += [f"r{i:06d}," + ",".join(row) for i, row in enumerate(cells)]
    jsonl = [
        json.dumps({"record_id": f"r{i:06d}", **{n: float(v) for n, v in zip(names, row, strict=True)}})
        for i, row in enumerate(cells)
    ]
    fit = int(np.searchsorted(np.cumsum([len(line) + 1 for line in jsonl]), max_bytes, side="right"))
    del jsonl[fit:]
    return ("\n".join(csv_lines) + "\n").encode(), ("\n".join(jsonl) + "\n").encode()


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import boto3
    from medserve.services import Services, set_services
    from medserve.serving.registry import Registry
    from medserve.tabular.batch import score_tabular_file
    from medserve.triggers.s3 import MAX_OBJECT_BYTES, S3Upload
    from medserve.wire import encode_json
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=MONITORING)
        registry = Registry()
        set_services(Services(registry=registry, s3_client=s3, monitoring_bucket=MONITORING))
        loaded = registry.load("breast-cancer-risk", modality="tabular")
        card, session = loaded.card, loaded.session
        names = card.feature_names
        csv_body, jsonl_body = make_files(names, args.rows, MAX_OBJECT_BYTES)

        summaries: dict[str, dict[str, int]] = {}

        def handler(key: str, body: bytes) -> Callable[[], bytes]:
            def run() -> bytes:
                result = score_tabular_file(S3Upload("bench-uploads", key, "v1", body))
                summaries[key] = result["summary"]
                return encode_json(result)

            return run

        def csv_floor() -> str:
            x = np.loadtxt(io.BytesIO(csv_body), delimiter=",", skiprows=1, usecols=range(1, len(names) + 1))
            (p,) = session.run([card.outputs.probability_tensor], {card.inputs.tensor: x})
            return json.dumps(np.asarray(p).tolist())

        def jsonl_floor() -> str:
            records = [json.loads(line) for line in jsonl_body.splitlines()]
            x = np.array([[r[n] for n in names] for r in records], dtype=np.float64)
            (p,) = session.run([card.outputs.probability_tensor], {card.inputs.tensor: x})
            return json.dumps(np.asarray(p).tolist())

        cases = [
            ("CSV", "uploads/tabular/bench.csv", csv_body, csv_floor),
            ("JSONL", "uploads/tabular/bench.jsonl", jsonl_body, jsonl_floor),
        ]
        runs = {name: handler(key, body) for name, key, body, _ in cases}
        samples: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, *_ in cases}
        for name, _, _, floor in cases:  # warm-up: sessions, baseline, caches
            runs[name]()
            floor()
        for _ in range(args.repeat):
            for name, _, _, floor in cases:
                samples[name][1].append(timed(floor))
                samples[name][0].append(timed(runs[name]))

    out = _real_stdout
    print(
        f"TabularFunction S3 batch throughput (median of {args.repeat}, handler and floor alternating)",
        file=out,
    )
    print(
        "(handler: score_tabular_file + result json.dumps; floor: parse + one session.run + dumps;", file=out
    )
    print(
        " ratio = floor time / handler time: the share of the floor's throughput the handler reaches)",
        file=out,
    )
    head = f"{'format':<6} {'rows':>7} {'MiB':>5} {'failed':>6} {'handler s':>10} {'rows/s':>8}"
    print(head + f" {'floor s':>8} {'rows/s':>8} {'ratio':>6}", file=out)
    for name, key, body, _ in cases:
        summary = summaries[key]
        rows = summary["rows"]
        handler_s = statistics.median(samples[name][0])
        floor_s = statistics.median(samples[name][1])
        print(
            f"{name:<6} {rows:>7} {len(body) / 2**20:>5.1f} {summary['failed']:>6} {handler_s:>10.3f} "
            f"{rows / handler_s:>8.0f} {floor_s:>8.3f} {rows / floor_s:>8.0f} {floor_s / handler_s:>6.2f}",
            file=out,
        )


if __name__ == "__main__":
    main()
