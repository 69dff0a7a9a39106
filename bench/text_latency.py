"""Warm latency of TextFunction per 1,000 characters, against bare tokenisation + ``session.run``.

For notes of several lengths, the handler (API event in, response out: validation, envelope,
logging, metrics) on ``POST /v1/text/deidentify`` (tag mode) and ``POST /v1/text/predict``
(without and with ``explain``), against the floor measured in the same run: the ``tokenizers``
encode of the note plus one ``session.run`` of the encoder on its chunks and one of the head.
De-identification runs no model: its ratio says what the rules cost next to one encoder pass.
Also prints the process's peak RSS (what TextFunction's memory setting must hold).

Run: ``make bench`` or ``python bench/text_latency.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")  # 1 vCPU, as deployed
# Logs and EMF metrics are written as in Lambda (they are part of the cost) but into a buffer.
_real_stdout, sys.stdout = sys.stdout, io.StringIO()

import numpy as np  # noqa: E402
from _common import REPO, median_seconds  # noqa: E402

NOTE = (REPO / "events" / "data" / "text_note.txt").read_text()


def note_of(length: int) -> str:
    return (NOTE * (length // len(NOTE) + 1))[:length]


def http_event(path: str, body: dict) -> dict:
    event = json.loads((REPO / "events" / "text_predict.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {path}"
    event["body"] = json.dumps(body)
    return event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    from medserve.services import Services, set_services
    from medserve.serving.registry import BundledModels, Registry
    from medserve.text.classifier import TextClassifier

    from devtools.local.invoke import Invoker, LambdaContext
    from devtools.local.template import Template

    template = Template.load(REPO / "template.yaml")
    spec = template.functions()["TextFunction"]
    handler = Invoker(template).handler("TextFunction")
    # models/ read as a bundle: the same files the S3 registry serves, without S3 in the timing.
    registry = Registry(bundled=BundledModels(Path(REPO / "models")))
    set_services(Services(registry=registry))
    model = TextClassifier.load(registry, "note-specialty")
    encoder, head = model.encoder, model.head

    def floor(text: str) -> None:
        encoding = encoder.tokenizer.encode(text, add_special_tokens=False)
        room = encoder.max_tokens - 2
        ids = encoding.ids
        rows = [
            [encoder.cls_id, *ids[i : i + room], encoder.sep_id] for i in range(0, max(len(ids), 1), room)
        ]
        width = max(len(r) for r in rows)
        x = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros_like(x)
        for n, row in enumerate(rows):
            x[n, : len(row)] = row
            mask[n, : len(row)] = 1
        (embeddings,) = encoder.session.run(["embedding"], {"input_ids": x, "attention_mask": mask})
        pooled = embeddings.mean(axis=0, keepdims=True)
        head.run(["probabilities"], {"embedding": pooled / np.linalg.norm(pooled)})

    def call(event: dict) -> None:
        response = handler(event, LambdaContext.for_function(spec))
        assert response["statusCode"] == 200, response
        sys.stdout.seek(0)
        sys.stdout.truncate()

    rows = []
    for length in (1_000, 5_000, 20_000):
        text = note_of(length)
        repeat = max(args.repeat // (length // 1000), 5)
        bare = median_seconds(lambda text=text: floor(text), repeat, warmup=3)
        timings = {}
        for name, path, body in (
            ("deidentify", "/v1/text/deidentify", {"text": text}),
            ("predict", "/v1/text/predict", {"text": text}),
            ("predict+explain", "/v1/text/predict", {"text": text, "explain": True}),
        ):
            event = http_event(path, body)
            timings[name] = median_seconds(lambda event=event: call(event), repeat, warmup=3)
        rows.append((length, bare, timings))

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out = _real_stdout
    print(
        "TextFunction warm latency (median), ms per 1,000 characters; floor = tokenizers encode +", file=out
    )
    print("encoder session.run on the note's chunks + head session.run; ratio = handler / floor", file=out)
    header = f"{'chars':>7} {'floor':>8} {'deid':>8} {'ratio':>6} {'predict':>8} {'ratio':>6} "
    header += f"{'+explain':>9} {'ratio':>6}"
    print(header, file=out)
    for length, bare, t in rows:
        k = length / 1000
        print(
            f"{length:>7} {bare * 1e3 / k:>8.2f} "
            f"{t['deidentify'] * 1e3 / k:>8.2f} {t['deidentify'] / bare:>6.2f} "
            f"{t['predict'] * 1e3 / k:>8.2f} {t['predict'] / bare:>6.2f} "
            f"{t['predict+explain'] * 1e3 / k:>9.2f} {t['predict+explain'] / bare:>6.2f}",
            file=out,
        )
    print(f"peak RSS of this process: {peak_mb:.0f} MB", file=out)


if __name__ == "__main__":
    main()
