"""Warm latency of ImagingFunction (API event in, response out) against the floor of decode +
preprocess + bare ``session.run`` on the same input, and the cost of an occlusion map.

Inputs: a 512 x 512 PNG phantom (events/data) and pydicom's CT_small.dcm, sent as API Gateway
sends binary bodies (base64). The floor calls the same decode/normalise/letterbox functions the
handler does, then ONNX Runtime alone, in the same run; the ratio says what event parsing, base64,
the envelope, JSON, logging and metrics cost on top. Run: ``make bench`` or
``python bench/imaging_latency.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")
# Logs and EMF metrics are written as in Lambda (they are part of the cost) but into a buffer.
_real_stdout, sys.stdout = sys.stdout, io.StringIO()

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
from _common import REPO, load_handler  # noqa: E402

PNG_512 = REPO / "events" / "data" / "imaging_phantom_nodule_512.png"


# The verified token's claims, as API Gateway's JWT authorizer passes them (the handler checks them).
AUTHORIZER = json.loads((REPO / "events" / "imaging_predict_png.json").read_text())["requestContext"][
    "authorizer"
]


def event(data: bytes, content_type: str, explain: bool) -> dict:
    return {
        "version": "2.0",
        "routeKey": "POST /v1/imaging/predict",
        "rawPath": "/v1/imaging/predict",
        "rawQueryString": "explain=true" if explain else "",
        "queryStringParameters": {"explain": "true"} if explain else None,
        "headers": {"content-type": content_type, "host": "bench"},
        "requestContext": {
            "http": {"method": "POST", "path": "/v1/imaging/predict", "sourceIp": "127.0.0.1"},
            "requestId": "bench",
            "routeKey": "POST /v1/imaging/predict",
            "stage": "$default",
            "authorizer": AUTHORIZER,
        },
        "isBase64Encoded": True,
        "body": base64.b64encode(data).decode(),
    }


def interleaved(fns: list[Callable[[], object]], repeat: int, warmup: int = 10) -> list[float]:
    """Median seconds of each function, timed in turn within every round: load on a shared machine
    then drifts over all of them alike instead of biasing whichever ran last."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return [statistics.median(times) for times in samples]


def _as_radiograph(path: str) -> bytes:
    """pydicom's CT sample with Modality DX: the model's intended-use gate accepts CR/DX only
    (a CT is a 422 OUT_OF_SCOPE); the pixels, their decode and size are unchanged."""
    import pydicom

    dataset = pydicom.dcmread(path)
    dataset.Modality = "DX"
    buffer = io.BytesIO()
    dataset.save_as(buffer)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    lambda_handler, context = load_handler("ImagingFunction")
    from medserve.imaging.decode import decode
    from medserve.imaging.model import ImagingModel
    from medserve.services import get_services
    from pydicom.data import get_testdata_file

    model = ImagingModel(get_services().registry.load("cxr-nodule-phantom"))
    card, session = model.card, model.loaded.session
    inputs = {
        "PNG 512x512": (PNG_512.read_bytes(), "image/png"),
        "CT_small.dcm": (
            _as_radiograph(get_testdata_file("CT_small.dcm", download=False)),
            "application/dicom",
        ),
    }
    grid = card.explanation.grid if card.explanation and card.explanation.grid else 8
    outputs = [card.outputs.probability_tensor]
    rows = []
    for name, (data, content_type) in inputs.items():
        x = model.prepare(decode(data))
        feed = {card.inputs.tensor: x.tensor[None, None]}
        # Floor of an explanation: its grid^2 + 1 evaluations in one bare batched run.
        batch = {card.inputs.tensor: np.repeat(x.tensor[None, None], grid * grid + 1, axis=0)}

        def handler(
            explain: bool, data: bytes = data, content_type: str = content_type
        ) -> Callable[[], None]:
            ev = event(data, content_type, explain)

            def invoke() -> None:
                response = lambda_handler(ev, context())
                assert response["statusCode"] == 200, response
                sys.stdout.seek(0)
                sys.stdout.truncate()

            return invoke

        run, floor, plain, explained, explain_floor = interleaved(
            [
                lambda feed=feed: session.run(outputs, feed),
                lambda data=data: session.run(
                    outputs, {card.inputs.tensor: model.prepare(decode(data)).tensor[None, None]}
                ),
                handler(False),
                handler(True),
                lambda batch=batch: session.run(outputs, batch),
            ],
            args.repeat,
        )
        handler_ms = {False: plain, True: explained}
        rows.append((name, run, floor, handler_ms[False], handler_ms[True], explain_floor))

    out = _real_stdout
    print(
        "ImagingFunction warm latency (median ms); floor = decode + preprocess + bare session.run", file=out
    )
    print(
        f"{'input':<14} {'run':>7} {'floor':>7} {'handler':>8} {'ratio':>6} "
        f"{'+explain':>9} {'explain':>8} {'expl.floor':>10} {'ratio':>6}",
        file=out,
    )
    for name, run, floor, plain, explained, explain_floor in rows:
        cost = explained - plain
        ms = [v * 1e3 for v in (run, floor, plain, explained, cost, explain_floor)]
        print(
            f"{name:<14} {ms[0]:>7.3f} {ms[1]:>7.3f} {ms[2]:>8.3f} {plain / floor:>6.2f} "
            f"{ms[3]:>9.3f} {ms[4]:>8.3f} {ms[5]:>10.3f} {cost / explain_floor:>6.2f}",
            file=out,
        )
    print(
        f"explanation: {grid * grid + 1} model evaluations per image in one batched session.run "
        "('explain' = handler with explain=true minus without; 'expl.floor' = that batch run bare)",
        file=out,
    )


if __name__ == "__main__":
    main()
