"""Capture without PHI: one monitoring record per sampled request, for the drift job.

A record says which model (name, version, sha256), which route, how it ended (status) and how long
it took, and per item of the answer: its inference id, every input feature *binned* against the
baseline's bucket edges (a bin number, never the value), the output probability and label, and
the OOD score when the prediction carries one. No raw value, text, pixel, file name or caller
identifier is ever in a record (tests/integration/test_monitoring.py compares what is captured
with what was sent).

Inference ids: ``<request_id>:<index>`` for the HTTP API (the ``request_id`` of the response and
the item's position in ``predictions``), ``<batch id>:<row>`` for an S3 batch file (each result row
carries its ``inference_id``). ``POST /v1/monitoring/ground-truth`` takes the same ids.

Storage: direct S3 puts, batched per invocation: the records of one invocation are written as one
JSON Lines object per model version under
``monitoring/capture/<model>/<version>/<yyyy>/<mm>/<dd>/<hh>/<epoch ms>-<random>.jsonl`` in the
monitoring bucket (``MONITORING_BUCKET``), SSE-KMS with the stack's data key. Chosen over
Firehose: no extra resource, no buffering delay to reason about in tests, and the volume is small
(one put per sampled request; ``MEDSERVE_CAPTURE_SAMPLING`` or the card's
``monitoring.capture_sampling`` bound it). Sampling is decided per request from a hash of its id,
so a request is either captured whole or not at all.

A capture that fails (S3 refused, anything) is counted (``CaptureFailures``) and logged by error
type; the request it describes is answered as if nothing happened.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from medserve.aws.s3 import encryption_args
from medserve.config import settings
from medserve.monitoring.baseline import Baseline
from medserve.observability import MetricUnit, logger, metrics
from medserve.serving.cards import ModelCard

if TYPE_CHECKING:
    from medserve.serving.registry import Registry

__all__ = [
    "CAPTURE_PREFIX",
    "SCHEMA",
    "CaptureWriter",
    "capture_outputs",
    "capture_prefix",
    "capture_tabular",
    "inference_id",
    "object_batch_id",
    "prediction_summary",
    "sampled",
    "sampling_rate",
    "tabular_items",
]

CAPTURE_PREFIX = "monitoring/capture/"
SCHEMA = "medserve.monitoring.capture/1"
MAX_ITEMS = 10_000  # per captured record: a 100,000-row batch file keeps an evenly spaced tenth


def capture_prefix(model: str, version: str | None = None) -> str:
    return f"{CAPTURE_PREFIX}{model}/" + (f"{version}/" if version else "")


def inference_id(request_id: str, index: int) -> str:
    return f"{request_id}:{index}"


def object_batch_id(bucket: str, key: str, version_id: str | None) -> str:
    """The opaque id of one scored S3 object version (never its key, which callers choose)."""
    identity = f"{bucket}\n{key}\n{version_id or ''}"
    return "s3-" + hashlib.sha256(identity.encode()).hexdigest()[:24]


def sampling_rate(card: ModelCard) -> float:
    configured = settings().capture_sampling
    return card.monitoring.capture_sampling if configured is None else configured


def sampled(request_id: str, rate: float) -> bool:
    """Whether a request is captured: a hash of its id against ``rate`` (stable per request)."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    draw = int.from_bytes(hashlib.sha256(request_id.encode()).digest()[:8], "big") / 2**64
    return draw < rate


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def prediction_summary(prediction: Mapping[str, Any]) -> dict[str, Any]:
    """What of an answered item is kept: the positive-class (or top) probability, the label, the
    OOD score when the item has one (``ood.score``), and a multi-class model's probability vector."""
    summary: dict[str, Any] = {"label": prediction.get("label")}
    probability = _finite(prediction.get("probability"))
    if probability is None:
        probabilities = prediction.get("probabilities") or {}
        label = prediction.get("label")
        probability = _finite(probabilities.get(label)) if isinstance(probabilities, Mapping) else None
    summary["probability"] = probability
    if _finite(prediction.get("score")) is not None:  # a ranking model's score (recommenders)
        summary["score"] = _finite(prediction.get("score"))
    probabilities = prediction.get("probabilities")
    if isinstance(probabilities, Mapping) and len(probabilities) > 2:
        # A multi-class model's probability vector (labels sorted): the embedding summary the job
        # compares by MMD. Two-class vectors say nothing the probability does not.
        vector = [_finite(probabilities[label]) for label in sorted(probabilities)]
        if all(v is not None for v in vector):
            summary["probabilities"] = vector
    ood = prediction.get("ood")
    if isinstance(ood, Mapping) and _finite(ood.get("score")) is not None:
        summary["ood_score"] = _finite(ood.get("score"))
        if isinstance(ood.get("in_distribution"), bool):
            summary["in_distribution"] = ood["in_distribution"]
    return summary


def tabular_items(
    baseline: Baseline | None,
    card: ModelCard,
    rows: Sequence[Sequence[float]] | np.ndarray,
    predictions: Sequence[Mapping[str, Any]],
    ids: Sequence[str],
) -> list[dict[str, Any]]:
    """Per answered record: its id, each feature's bin, the prediction summary. Without a baseline
    no feature is captured at all (there are no edges to bin against)."""
    names = card.feature_names
    items = [
        {"inference_id": item_id, "prediction": prediction_summary(prediction)}
        for prediction, item_id in zip(predictions, ids, strict=True)
    ]
    if baseline is not None and items:
        x = np.asarray(rows, dtype=np.float64).reshape(len(items), len(names))
        # One column at a time (a batch file's 10,000 captured rows bin in a few numpy calls).
        columns = [baseline.bins(name, x[:, j]) for j, name in enumerate(names)]
        for item, bins in zip(items, zip(*columns, strict=True), strict=True):
            item["bins"] = dict(zip(names, bins, strict=True))
    return items


def _spread(n: int) -> list[int]:
    """All of ``range(n)``, or ``MAX_ITEMS`` of them evenly spaced."""
    if n <= MAX_ITEMS:
        return list(range(n))
    return sorted({int(i) for i in (k * n // MAX_ITEMS for k in range(MAX_ITEMS))})


class CaptureWriter:
    """Collects the records of one invocation; :meth:`flush` writes them (one put per model
    version). ``s3`` returns the client (built lazily); ``clock`` is injectable for tests."""

    def __init__(self, bucket: str, s3: Callable[[], Any], clock: Callable[[], float] = time.time) -> None:
        self.bucket = bucket
        self._s3 = s3
        self._clock = clock
        self._pending: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def add(
        self,
        card: ModelCard,
        baseline: Baseline | None,
        *,
        route: str,
        status: int,
        latency_ms: float,
        request_id: str,
        items: list[dict[str, Any]],
    ) -> bool:
        """Stage one request's record if it is sampled; whether it was."""
        if not sampled(request_id, sampling_rate(card)):
            return False
        record = {
            "schema": SCHEMA,
            "time": self._clock(),
            "model": card.ref(),
            "baseline": baseline.digest if baseline else None,
            "route": route,
            "status": status,
            "latency_ms": round(float(latency_ms), 3),
            "items": items,
        }
        self._pending.setdefault((card.name, card.version), []).append(record)
        return True

    def flush(self) -> list[str]:
        """Write what is staged; the keys written. Never raises: a failure is counted and logged."""
        pending, self._pending = self._pending, {}
        keys = []
        for (name, version), records in pending.items():
            moment = self._clock()
            hour = time.strftime("%Y/%m/%d/%H", time.gmtime(moment))
            key = f"{capture_prefix(name, version)}{hour}/{int(moment * 1000)}-{uuid.uuid4().hex[:12]}.jsonl"
            body = "".join(json.dumps(r, separators=(",", ":"), allow_nan=False) + "\n" for r in records)
            try:
                self._s3().put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body.encode(),
                    ContentType="application/x-ndjson",
                    **encryption_args(),
                )
            except Exception as e:  # capture must never fail the request it describes
                metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=1)
                logger.warning("monitoring capture not written", extra={"error_type": type(e).__name__})
                continue
            keys.append(key)
        return keys


def capture_tabular(
    writer: CaptureWriter | None,
    registry: Registry,
    card: ModelCard,
    *,
    route: str,
    status: int,
    latency_ms: float,
    request_id: str,
    rows: Sequence[Sequence[float]] | np.ndarray,
    predictions: Sequence[Mapping[str, Any]],
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Capture one tabular request (or batch file) and write it now; never raises."""
    if writer is None or not predictions:
        return []
    try:
        _, source = registry.resolve(card.name)
        baseline = registry.baseline(card, source)
        item_ids = ids if ids is not None else [inference_id(request_id, i) for i in range(len(predictions))]
        keep = _spread(len(predictions))
        items = tabular_items(
            baseline,
            card,
            np.asarray(rows, dtype=np.float64).reshape(len(predictions), -1)[keep],
            [predictions[i] for i in keep],
            [item_ids[i] for i in keep],
        )
        writer.add(
            card,
            baseline,
            route=route,
            status=status,
            latency_ms=latency_ms,
            request_id=request_id,
            items=items,
        )
    except (
        Exception
    ) as e:  # a baseline that cannot be read, a malformed prediction: never the request's problem
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=1)
        logger.warning("monitoring capture not staged", extra={"error_type": type(e).__name__})
        return []
    return writer.flush()


def capture_outputs(
    writer: CaptureWriter | None,
    registry: Registry,
    card: ModelCard,
    *,
    route: str,
    status: int,
    latency_ms: float,
    request_id: str,
    predictions: Sequence[Mapping[str, Any]],
    ids: Sequence[str] | None = None,
) -> list[str]:
    """Capture an imaging or text request: outputs only (probability, label, OOD score). The
    input itself (pixels, text) has no summary here: the OOD score is its embedding summary."""
    if writer is None or not predictions:
        return []
    try:
        _, source = registry.resolve(card.name)
        baseline = registry.baseline(card, source)
        item_ids = ids if ids is not None else [inference_id(request_id, i) for i in range(len(predictions))]
        items = [
            {"inference_id": item_id, "prediction": prediction_summary(p)}
            for item_id, p in zip(item_ids, predictions, strict=True)
        ]
        writer.add(
            card,
            baseline,
            route=route,
            status=status,
            latency_ms=latency_ms,
            request_id=request_id,
            items=items,
        )
    except Exception as e:
        metrics.add_metric(name="CaptureFailures", unit=MetricUnit.Count, value=1)
        logger.warning("monitoring capture not staged", extra={"error_type": type(e).__name__})
        return []
    return writer.flush()
