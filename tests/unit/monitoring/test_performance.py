"""AUC, ECE and confusion in numpy, against scikit-learn and the training scripts' ECE."""

from __future__ import annotations

import numpy as np
import pytest
from medserve.monitoring.performance import binary_report, expected_calibration_error, roc_auc
from sklearn.metrics import confusion_matrix, roc_auc_score

from training.evaluation import expected_calibration_error as training_ece

RNG = np.random.default_rng(7)


def test_auc_is_sklearns_with_ties():
    y = RNG.integers(0, 2, size=300)
    p = np.round(np.clip(y * 0.3 + RNG.normal(0.4, 0.25, size=300), 0, 1), 1)  # rounded: many ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert roc_auc([1, 1], [0.2, 0.9]) is None


def test_ece_is_the_cards():
    y = RNG.integers(0, 2, size=500)
    p = np.clip(y * 0.5 + RNG.uniform(0, 0.5, size=500), 0, 1)
    assert expected_calibration_error(y, p) == pytest.approx(training_ece(y, p), abs=1e-12)


def test_confusion_at_the_threshold():
    y = RNG.integers(0, 2, size=200)
    p = RNG.uniform(size=200)
    report = binary_report(y, p, 0.28)
    tn, fp, fn, tp = confusion_matrix(y, p >= 0.28).ravel()
    assert report["confusion"] == {"tp": tp, "fp": fp, "fn": fn, "tn": tn}
    assert report["sensitivity"] == round(tp / (tp + fn), 4)
