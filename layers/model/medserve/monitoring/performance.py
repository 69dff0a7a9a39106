"""Model quality from ground truth, in numpy: ROC-AUC, expected calibration error, confusion.

Checked against scikit-learn in tests/unit/monitoring/test_performance.py (the ECE is the one
the training scripts report in the cards: training/evaluation.py, 10 equal-width bins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["binary_report", "expected_calibration_error", "roc_auc"]


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def roc_auc(y: Sequence[int], p: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney U / (n+ n-)); None without both classes."""
    labels, scores = np.asarray(y, dtype=bool), np.asarray(p, dtype=np.float64)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return None
    ranks = _average_ranks(scores)
    u = ranks[labels].sum() - positives * (positives + 1) / 2.0
    return float(u / (positives * negatives))


def expected_calibration_error(y: Sequence[int], p: Sequence[float], bins: int = 10) -> float:
    """Mean |observed rate - mean predicted probability| over equal-width bins, weighted by the
    share of cases in each bin."""
    labels, scores = np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(labels[mask].mean() - scores[mask].mean())
    return float(ece)


def binary_report(y: Sequence[int], p: Sequence[float], threshold: float) -> dict[str, Any]:
    """AUC, ECE and the confusion matrix at ``threshold`` (predicted positive: p >= threshold)."""
    labels, scores = np.asarray(y, dtype=bool), np.asarray(p, dtype=np.float64)
    predicted = scores >= threshold
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    tn = int((~predicted & ~labels).sum())
    auc = roc_auc(labels, scores)
    return {
        "n": len(labels),
        "positives": int(labels.sum()),
        "roc_auc": None if auc is None else round(auc, 4),
        "expected_calibration_error": round(expected_calibration_error(labels, scores), 4),
        "decision_threshold": threshold,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "sensitivity": round(tp / (tp + fn), 4) if tp + fn else None,
        "specificity": round(tn / (tn + fp), 4) if tn + fp else None,
        "accuracy": round((tp + tn) / len(labels), 4) if len(labels) else None,
    }
