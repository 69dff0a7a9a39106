"""Warm latency of TabularFunction (API event in, response out) against bare ``session.run``.

The floor is ONNX Runtime alone on the same validated input, measured in the same run; the ratio
says what validation, explanation, envelope, logging and metrics cost on top of inference.
Run: ``make bench`` or ``python bench/tabular_latency.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
# Logs and EMF metrics are written as in Lambda (they are part of the cost) but into a buffer.
_real_stdout, sys.stdout = sys.stdout, io.StringIO()

import numpy as np  # noqa: E402
from _common import load_handler, median_seconds, predict_event  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=1000)
    args = parser.parse_args()

    lambda_handler, context = load_handler()
    from medserve.services import get_services
    from medserve.tabular.model import validate_records
    from medserve.tabular.shapley import evaluations_per_record

    model = get_services().registry.load("breast-cancer-risk")
    card, session = model.card, model.session
    rows = []
    for records, explain in [(1, False), (1, True), (100, False), (100, True)]:
        event = predict_event(records, explain)
        x = validate_records(card, json.loads(event["body"])["records"]).matrix
        feed = {card.inputs.tensor: x}
        floor = median_seconds(
            lambda feed=feed: session.run([card.outputs.probability_tensor], feed), args.repeat
        )
        if explain:  # the floor of an explanation: its batched evaluations in one bare run
            n = evaluations_per_record(len(card.inputs.features), card.explanation.permutations) * records
            big = {card.inputs.tensor: np.repeat(x, n // records, axis=0)}
            floor += median_seconds(
                lambda big=big: session.run([card.outputs.probability_tensor], big),
                max(args.repeat // 10, 20),
            )

        def invoke(event=event) -> None:
            response = lambda_handler(event, context())
            assert response["statusCode"] == 200, response
            sys.stdout.seek(0)
            sys.stdout.truncate()

        handler = median_seconds(invoke, max(args.repeat // (10 if explain or records > 1 else 1), 20))
        bare = naive = float("nan")
        if not explain:
            names = card.feature_names

            def bare_handler(event=event, session=session, names=names) -> str:
                # The bare JSON handler: json.loads -> numpy -> session.run -> json.dumps.
                recs = json.loads(event["body"])["records"]
                x = np.array([[r[n] for n in names] for r in recs], dtype=np.float64)
                (p,) = session.run([card.outputs.probability_tensor], {card.inputs.tensor: x})
                return json.dumps({"probabilities": np.asarray(p).tolist()})

            def naive_handler(event=event) -> str:
                # aws-samples' per-invoke style: a new session on every call.
                import onnxruntime as ort

                fresh = ort.InferenceSession(
                    str(model.files[card.artifact.file]), providers=["CPUExecutionProvider"]
                )
                return bare_handler(event, fresh)

            bare = median_seconds(bare_handler, max(args.repeat // 10, 20))
            naive = median_seconds(naive_handler, max(args.repeat // 20, 20), warmup=5)
        rows.append((records, explain, floor, handler, bare, naive))

    out = _real_stdout
    print("TabularFunction warm latency (median), handler vs bare session.run on the same input", file=out)
    print(
        "(bare: json.loads -> numpy -> session.run -> json.dumps; naive: the same with a new session",
        file=out,
    )
    print(" with a new session per call, as per-invoke sample handlers do; ratio = handler / peer)", file=out)
    head = f"{'records':>8} {'explain':>8} {'session.run ms':>15} {'handler ms':>11} {'ratio':>7}"
    print(head + f" {'bare ms':>8} {'/bare':>6} {'naive ms':>9} {'/naive':>7}", file=out)
    for records, explain, floor, handler, bare, naive in rows:
        print(
            f"{records:>8} {explain!s:>8} {floor * 1e3:>15.3f} {handler * 1e3:>11.3f} "
            f"{handler / floor:>7.1f} {bare * 1e3:>8.3f} {handler / bare:>6.2f} {naive * 1e3:>9.3f} "
            f"{handler / naive:>7.2f}",
            file=out,
        )


if __name__ == "__main__":
    main()
