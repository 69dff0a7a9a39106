"""The three member models of a fusion, each run through its own modality's code.

Each ``run_*`` validates its part by that modality's rules (same error codes), runs the member's
session and returns a :class:`MemberResult`: the member's own prediction item (with its ``ood``
block), its log-odds for the fusion's target label and, when asked, its own explanation. Error
details are re-rooted under the part's prefix (``tabular.``, ``image.``, ``text.``) so a caller
knows which part of a multi-modal request was refused.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from medserve.errors import InvalidInput, MedserveError
from medserve.imaging.decode import decode
from medserve.imaging.model import ImagingModel
from medserve.imaging.scope import check_scope
from medserve.imaging.types import MAX_INLINE_BYTES
from medserve.services import get_services
from medserve.serving.cards import FusionMember
from medserve.serving.ood import refuse_if_required
from medserve.tabular import predict as tabular
from medserve.tabular.model import refuse_out_of_scope, validate_record
from medserve.text.predict import load_classifier

__all__ = ["PREFIX", "MemberResult", "log_odds", "prefixed", "run_image", "run_tabular", "run_text"]

PREFIX = {"tabular": "tabular", "imaging": "image", "text": "text"}
_CLIP = 1e-6  # a member's probability is clipped to [1e-6, 1 - 1e-6]: log-odds within +-13.8


def log_odds(p: float) -> float:
    p = min(max(float(p), _CLIP), 1.0 - _CLIP)
    return math.log(p) - math.log1p(-p)


@dataclass
class MemberResult:
    modality: str
    model: dict[str, str]
    prediction: dict[str, Any]
    log_odds: float
    explanation: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    ms: float = 0.0


@contextmanager
def prefixed(prefix: str) -> Iterator[None]:
    """Re-root the fields of a member's error under ``prefix`` (same class, status and code)."""
    try:
        yield
    except MedserveError as e:
        if e.details:
            for detail in e.details:
                if isinstance(detail, dict):
                    name = str(detail.get("field") or "")
                    name = name.removeprefix("records[0].")
                    detail["field"] = prefix if name in ("", prefix) else f"{prefix}.{name}"
        else:
            e.details = [{"field": prefix, "issue": e.message}]
        e.message = f"{prefix}: {e.message}"
        e.args = (e.message,)
        raise


def _target(card_labels: list[str], member: FusionMember) -> int:
    return card_labels.index(member.target_label)


def run_tabular(member: FusionMember, record: Mapping[str, Any], *, explain: bool) -> MemberResult:
    started = time.perf_counter()
    with prefixed("tabular"):
        if not isinstance(record, Mapping):
            raise InvalidInput("the record must be an object", [{"field": "", "issue": "not an object"}])
        model = tabular.load(member.name)
        values, issues, warnings = validate_record(model.card, record)
        if issues:
            raise InvalidInput(
                f"{len(issues)} invalid field(s) in the record", [i.as_detail() for i in issues[:100]]
            )
        matrix = np.asarray([values], dtype=np.float64)
        scored = tabular.score(model, matrix, [warnings], explain=explain)
        prediction = scored.predictions[0]
        refuse_out_of_scope(model.card, matrix, [prediction["ood"]])
    p = prediction["probabilities"][member.target_label]
    return MemberResult(
        "tabular",
        model.loaded.envelope(),
        prediction,
        log_odds(p),
        scored.explanations[0] if explain else None,
        list(prediction.get("warnings", [])),
        (time.perf_counter() - started) * 1000,
    )


def run_image(
    member: FusionMember, data: bytes, *, explain: bool, max_bytes: int = MAX_INLINE_BYTES
) -> MemberResult:
    """The imaging route's steps (decode, scope, prepare, predict, OOD policy) on one image."""
    started = time.perf_counter()
    with prefixed("image"):
        imaging = ImagingModel(get_services().registry.load(member.name, modality="imaging"))
        spec = imaging.spec
        decoded = decode(
            data, max_bytes=max_bytes, max_pixels=spec.max_pixels, reduce_to=2 * max(spec.height, spec.width)
        )
        check_scope(imaging.card, decoded)
        x = imaging.prepare(decoded)
        prediction, probs = imaging.predict(x, decoded.warnings)
        refuse_if_required(imaging.card, prediction["ood"], "the image")
    target = _target(list(imaging.card.outputs.labels), member)
    explanation = imaging.explain(x, probs) if explain else None
    return MemberResult(
        "imaging",
        imaging.loaded.envelope(),
        prediction,
        log_odds(probs[target]),
        explanation,
        list(prediction.get("warnings", [])),
        (time.perf_counter() - started) * 1000,
    )


def run_text(member: FusionMember, text: str, *, explain: bool) -> MemberResult:
    started = time.perf_counter()
    with prefixed("text"):
        if not isinstance(text, str):
            raise InvalidInput("text must be a string", [{"field": "", "issue": "not a string"}])
        classifier = load_classifier(member.name)
        prediction, explanation, _ = classifier.predict(text, explain=explain)
    return MemberResult(
        "text",
        classifier.loaded.envelope(),
        prediction,
        log_odds(prediction["probabilities"][member.target_label]),
        explanation,
        [],
        (time.perf_counter() - started) * 1000,
    )
