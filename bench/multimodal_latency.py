"""Warm latency of a fused request against the sum of its members' own latencies.

The card's example (record + radiograph PNG + note) through MultimodalFunction's handler on
``POST /v1/multimodal/predict``, without and with ``explain``; the same three parts each through
its own function's handler (``POST /v1/tabular/predict`` with the one record, ``POST
/v1/imaging/predict`` with the image as JSON base64, ``POST /v1/text/predict`` with the note),
same ``explain``. Ratio = fused / (tabular + imaging + text), the members run one after the
other and (``threads``) at once (``medserve.multimodal.predict.PARALLEL``). Also prints the peak RSS after the
fused requests alone (what MultimodalFunction's memory setting must hold).

Run: ``make bench`` or ``python bench/multimodal_latency.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1769")  # 1 vCPU, as deployed
_real_stdout, sys.stdout = sys.stdout, io.StringIO()  # logs and EMF are written, into a buffer

from _common import REPO, median_seconds  # noqa: E402

FUSION = "multimodal-fusion-demo"
DIRS = {
    "breast-cancer-risk": REPO / "layers/model/medserve/bundled/breast-cancer-risk",
    "cxr-nodule-phantom": REPO / "layers/model/medserve/bundled/cxr-nodule-phantom",
    "note-specialty": REPO / "models/note-specialty",
    FUSION: REPO / "models" / FUSION,
}


def http_event(path: str, body: dict) -> dict:
    event = json.loads((REPO / "events" / "multimodal_predict.json").read_text())
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["routeKey"] = event["requestContext"]["routeKey"] = f"POST {path}"
    event["body"] = json.dumps(body)
    event["headers"].pop("content-length", None)
    return event


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    from medserve.services import Services, set_services
    from medserve.serving.registry import BundledModels, Registry

    from devtools.local.invoke import Invoker, LambdaContext
    from devtools.local.template import Template

    os.environ["MEDSERVE_REQUIRE_AUTH"] = "false"  # scopes differ per function; auth is not timed here
    template = Template.load(REPO / "template.yaml")
    invoker = Invoker(template)
    root = Path(tempfile.mkdtemp(prefix="mm-bench-"))
    for name, directory in DIRS.items():
        (root / name).symlink_to(directory)
    # Registry models read as a bundle: the same files S3 serves, without S3 in the timing.
    set_services(Services(registry=Registry(bundled=BundledModels(root))))
    example = json.loads((DIRS[FUSION] / "card.json").read_text())["multimodal"]["example"]

    def caller(function: str, event: dict):
        handler = invoker.handler(function)
        spec = template.functions()[function]

        def call() -> None:
            response = handler(event, LambdaContext.for_function(spec))
            assert response["statusCode"] == 200, response
            sys.stdout.seek(0)
            sys.stdout.truncate()

        return call

    from medserve.multimodal import predict as fusion

    results = {}
    peak_fused_mb = 0.0
    for parallel in (False, True):
        fusion.PARALLEL = parallel
        for explain in (False, True):
            body = {**example, "explain": explain}
            fused = caller("MultimodalFunction", http_event("/v1/multimodal/predict", body))
            key = "fused-parallel" if parallel else "fused"
            results[(key, explain)] = median_seconds(fused, args.repeat, warmup=3)
            peak_fused_mb = max(peak_fused_mb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    for explain in (False, True):
        members = {
            "tabular": caller(
                "TabularFunction",
                http_event("/v1/tabular/predict", {"records": [example["tabular"]], "explain": explain}),
            ),
            "imaging": caller(
                "ImagingFunction",
                http_event(
                    "/v1/imaging/predict", {"image_base64": example["image_base64"], "explain": explain}
                ),
            ),
            "text": caller(
                "TextFunction", http_event("/v1/text/predict", {"text": example["text"], "explain": explain})
            ),
        }
        for name, call in members.items():
            results[(name, explain)] = median_seconds(call, args.repeat, warmup=3)

    out = _real_stdout
    print(
        f"Warm latency (median of {args.repeat}), ms: the card's example fused vs each member alone",
        file=out,
    )
    header = f"{'explain':>8} {'tabular':>8} {'imaging':>8} {'text':>8} {'sum':>8} {'fused':>8} {'ratio':>6}"
    print(header + f" {'threads':>8} {'ratio':>6}", file=out)
    for explain in (False, True):
        parts = [results[(m, explain)] * 1e3 for m in ("tabular", "imaging", "text")]
        fused = results[("fused", explain)] * 1e3
        threads = results[("fused-parallel", explain)] * 1e3
        print(
            f"{explain!s:>8} {parts[0]:>8.2f} {parts[1]:>8.2f} {parts[2]:>8.2f} {sum(parts):>8.2f} "
            f"{fused:>8.2f} {fused / sum(parts):>6.2f} {threads:>8.2f} {threads / sum(parts):>6.2f}",
            file=out,
        )
    print(f"peak RSS after the fused requests: {peak_fused_mb:.0f} MB", file=out)


if __name__ == "__main__":
    main()
