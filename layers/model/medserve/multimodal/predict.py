"""The one multi-modal prediction: the HTTP route and the S3 scorer both call :func:`predict`.

Each part present runs through its member (medserve.multimodal.members: the modality's own
validation, decoding and session), then the fusion head combines the members' log-odds. Absent
parts are listed in ``modalities.missing`` and handled by the head's missing terms.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from medserve.errors import InvalidInput, UpstreamTimeout
from medserve.imaging.types import MAX_INLINE_BYTES
from medserve.multimodal import members as run
from medserve.multimodal.fusion import FusionModel, combine_ood
from medserve.services import get_services
from medserve.serving.cards import FusionMember

__all__ = ["PARALLEL", "MultimodalQuery", "load", "predict"]

# Members one after the other. Threads (True) measured by bench/multimodal_latency.py on a shared
# 2-core machine were inconclusive (0.49-1.42x the members' sum over four runs, against 0.48-1.01x
# sequential), and the deployed function has one vCPU. Kept switchable for hosts with spare cores;
# tests run both paths.
PARALLEL = False


@dataclass(frozen=True)
class MultimodalQuery:
    tabular: dict[str, Any] | None = None
    image: bytes | None = None
    text: str | None = None
    explain: bool = False
    image_max_bytes: int = MAX_INLINE_BYTES

    def given(self) -> list[str]:
        parts = {"tabular": self.tabular, "imaging": self.image, "text": self.text}
        return [m for m, v in parts.items() if v is not None]


def load(name: str | None) -> FusionModel:
    return FusionModel.load(get_services().registry, name)


def predict(model: FusionModel, query: MultimodalQuery, *, deadline: float | None = None) -> dict[str, Any]:
    """The response body without ``request_id``. ``deadline``: a ``time.monotonic()`` instant
    after which no further member is started (504: the answer would come too late)."""
    started = time.perf_counter()
    given = query.given()
    unknown = [m for m in given if m not in model.modalities]
    if unknown:
        raise InvalidInput(
            f"model '{model.card.name}' does not read {', '.join(unknown)}",
            [{"field": run.PREFIX[m], "issue": "not an input of this model"} for m in unknown],
        )
    if not given:
        raise InvalidInput(
            "give at least one of tabular, image_base64 / image_s3_uri and text",
            [{"field": "body", "issue": "no modality"}],
        )
    members = [m for m in model.spec.members if m.modality in given]
    results: dict[str, run.MemberResult] = {}
    timing: dict[str, float] = {}
    if PARALLEL and len(members) > 1:
        results = _run_parallel(members, query, deadline)
    else:
        for member in members:
            _check_deadline(deadline, member.modality)
            results[member.modality] = _run(member, query)
    for modality, result in results.items():
        timing[modality] = round(result.ms, 3)
    _check_deadline(deadline, "fusion")
    fused_at = time.perf_counter()
    prediction, explanation = model.predict(
        {m: r.log_odds for m, r in results.items()}, explain=query.explain
    )
    timing["fusion"] = round((time.perf_counter() - fused_at) * 1000, 3)
    prediction["ood"] = combine_ood({m: r.prediction["ood"] for m, r in results.items()})
    warnings = [f"{run.PREFIX[m]}: {w}" for m, r in results.items() for w in r.warnings]
    if warnings:
        prediction["warnings"] = warnings
    member_blocks = [
        {
            "modality": m,
            "model": r.model,
            "target_label": next(x.target_label for x in model.spec.members if x.modality == m),
            "log_odds": r.log_odds,
            "prediction": r.prediction,
            **({"explanation": r.explanation} if r.explanation is not None else {}),
        }
        for m, r in results.items()
    ]
    timing["total"] = round((time.perf_counter() - started) * 1000, 3)
    return {
        "model": model.loaded.envelope(),
        "placement": model.card.placement,
        "modalities": {
            "used": [m for m in model.modalities if m in results],
            "missing": [m for m in model.modalities if m not in results],
        },
        "predictions": [prediction],
        "explanations": [explanation] if explanation is not None else [],
        "members": member_blocks,
        "timing_ms": timing,
        "intended_use": model.card.intended_use,
    }


def _run(member: FusionMember, query: MultimodalQuery) -> run.MemberResult:
    if member.modality == "tabular":
        return run.run_tabular(member, query.tabular or {}, explain=query.explain)
    if member.modality == "imaging":
        return run.run_image(
            member, query.image or b"", explain=query.explain, max_bytes=query.image_max_bytes
        )
    return run.run_text(member, query.text or "", explain=query.explain)


def _run_parallel(
    members: list[FusionMember], query: MultimodalQuery, deadline: float | None
) -> dict[str, run.MemberResult]:
    """The members at once (ONNX Runtime releases the GIL); the first failing member in card
    order is the answer's error, so the same request always gets the same error."""
    _check_deadline(deadline, members[0].modality)
    pool = ThreadPoolExecutor(max_workers=len(members), thread_name_prefix="member")
    try:
        futures = {m.modality: pool.submit(_run, m, query) for m in members}
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        _, pending = wait(futures.values(), timeout=timeout)
        for m in members:
            future = futures[m.modality]
            if future in pending:
                raise UpstreamTimeout(
                    f"the multi-modal prediction ran out of its time budget in the {m.modality} step; "
                    "retry without explain, or with fewer modalities"
                )
            future.result()  # raises the member's own error (its code, prefixed fields)
        return {m.modality: futures[m.modality].result() for m in members}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _check_deadline(deadline: float | None, step: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise UpstreamTimeout(
            f"the multi-modal prediction ran out of its time budget before the {step} step; "
            "retry without explain, or with fewer modalities"
        )
