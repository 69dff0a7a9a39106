"""The one multi-modal prediction: the HTTP route and the S3 scorer both call :func:`predict`.

Each part present runs through its member (medserve.multimodal.members: the modality's own
validation, decoding and session), then the fusion head combines the members' log-odds. Absent
parts are listed in ``modalities.missing`` and handled by the head's missing terms.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from medserve.errors import InvalidInput, UpstreamTimeout
from medserve.imaging.types import MAX_INLINE_BYTES
from medserve.multimodal import members as run
from medserve.multimodal.fusion import FusionModel, combine_ood
from medserve.services import get_services

__all__ = ["MultimodalQuery", "load", "predict"]


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
    results: dict[str, run.MemberResult] = {}
    timing: dict[str, float] = {}
    for member in model.spec.members:
        if member.modality not in given:
            continue
        _check_deadline(deadline, member.modality)
        if member.modality == "tabular":
            result = run.run_tabular(member, query.tabular or {}, explain=query.explain)
        elif member.modality == "imaging":
            result = run.run_image(
                member, query.image or b"", explain=query.explain, max_bytes=query.image_max_bytes
            )
        else:
            result = run.run_text(member, query.text or "", explain=query.explain)
        results[member.modality] = result
        timing[member.modality] = round(result.ms, 3)
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


def _check_deadline(deadline: float | None, step: str) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise UpstreamTimeout(
            f"the multi-modal prediction ran out of its time budget before the {step} step; "
            "retry without explain, or with fewer modalities"
        )
