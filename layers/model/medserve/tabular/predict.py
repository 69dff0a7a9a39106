"""The one tabular prediction: the HTTP route and the S3 scorer both call :func:`load` and
:func:`score`, so a record is scored the same way whichever door it came in by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from medserve.observability import Stopwatch
from medserve.services import get_services
from medserve.tabular.model import TabularModel

__all__ = ["Scored", "load", "score"]


@dataclass(frozen=True)
class Scored:
    """Predictions and (when asked) explanations of a matrix of validated records, index-aligned."""

    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]]


def load(name: str | None) -> TabularModel:
    """The tabular model ``name`` (None: the default tabular model), session ready."""
    return TabularModel(get_services().registry.load(name, modality="tabular"))


def score(
    model: TabularModel,
    matrix: np.ndarray,
    warnings: list[list[str]] | None,
    *,
    explain: bool,
    clock: Stopwatch | None = None,
) -> Scored:
    """Score validated records; laps ``inference`` and ``explain`` on ``clock`` when given."""
    predictions = model.predict(matrix, warnings)
    if clock is not None:
        clock.lap("inference")
    explanations = model.explain(matrix) if explain else []
    if clock is not None:
        clock.lap("explain")
    return Scored(predictions, explanations)
