"""Build the bundled tabular model ``breast-cancer-risk`` from scikit-learn's WDBC dataset.

Reproducible: a fixed seed, a stratified 75/25 split, the held-out 25% used only for the metrics
written into the card. The ONNX graph holds the whole pipeline (standardisation + logistic
regression), takes float64 features in the card's order and outputs class probabilities.

Why logistic regression: on WDBC it matches far larger models (held-out ROC-AUC ≈ 0.99), its
probabilities are calibrated by construction (it minimises log-loss; Brier score and expected
calibration error are reported), and its log-odds are additive in the standardised features, so
the served Shapley contributions are exact for it.

Run: ``python training/tabular_wdbc.py --out <dir>`` (``medserve models build`` does this).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import skl2onnx
import sklearn
from skl2onnx import to_onnx
from sklearn.covariance import LedoitWolf
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

# Shared metrics beside this file; importable whether run as a script or as training.<module>.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cards import with_transparency
from evaluation import bootstrap_auc_ci, expected_calibration_error
from monitoring_baseline import tabular_baseline

NAME = "breast-cancer-risk"
VERSION = "1.0.0"
SEED = 20261122
TEST_SIZE = 0.25
TARGET_SENSITIVITY = 0.97  # screening use: missing a malignancy costs more than a false alarm
LABELS = ["benign", "malignant"]
# OOD: the threshold is this percentile of out-of-fold training distances; a feature further than
# RANGE_MARGIN x (its training range's width) outside that range is out of distribution too.
OOD_PERCENTILE = 97.5
RANGE_MARGIN = 0.25
OOD_FILE = "ood.json"

# WDBC features are computed from a digitised image of a fine-needle aspirate; lengths are in the
# image's pixel units (the dataset does not calibrate them to micrometres).
_UNITS = {
    "radius": ("px", "mean distance from the nucleus centre to points on its perimeter"),
    "texture": ("grey levels", "standard deviation of grey-scale values"),
    "perimeter": ("px", "nucleus perimeter"),
    "area": ("px^2", "nucleus area"),
    "smoothness": ("1", "local variation in radius lengths"),
    "compactness": ("1", "perimeter^2 / area - 1.0"),
    "concavity": ("1", "severity of concave portions of the contour"),
    "concave points": ("1", "number of concave portions of the contour (normalised)"),
    "symmetry": ("1", "nucleus symmetry"),
    "fractal dimension": ("1", "'coastline approximation' - 1"),
}
_STAT = {
    "mean": "mean over nuclei",
    "error": "standard error over nuclei",
    "worst": "mean of the three largest values",
}


def feature_name(raw: str) -> str:
    """'mean radius' -> 'mean_radius'; 'radius error' -> 'radius_error'."""
    return re.sub(r"[^a-z0-9]+", "_", raw.lower()).strip("_")


def feature_specs(raw_names: list[str], x_train: np.ndarray) -> list[dict]:
    specs = []
    for i, raw in enumerate(raw_names):
        stat = "error" if raw.endswith(" error") else raw.split(" ", 1)[0]
        base = raw.removesuffix(" error") if stat == "error" else raw.split(" ", 1)[1]
        unit, what = _UNITS[base]
        lo, hi = float(x_train[:, i].min()), float(x_train[:, i].max())
        specs.append(
            {
                "name": feature_name(raw),
                "type": "float",
                "unit": unit,
                "description": f"{what} ({_STAT[stat]})",
                # Refuse only what no nucleus measurement can be: negatives, or far beyond
                # anything seen. Values between the training maximum and this bound are served
                # with a warning, since the model is extrapolating there.
                "valid_range": [0.0, float(np.float64(round(hi * 2.0, 6)))],
                "training_range": [round(lo, 6), round(hi, 6)],
                "baseline": round(float(x_train[:, i].mean()), 6),
            }
        )
    return specs


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Highest threshold (on out-of-fold training predictions) keeping sensitivity >= target."""
    for t in np.round(np.arange(0.95, 0.0, -0.01), 2):
        if recall_score(y, p >= t) >= TARGET_SENSITIVITY:
            return float(t)
    return 0.05


def split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """x_train, x_test, y_train, y_test: the fixed stratified split (the test part is held out)."""
    data = load_breast_cancer()
    x = data.data.astype(np.float64)
    y = (data.target == 0).astype(int)  # sklearn codes malignant as 0; our positive class is malignant
    return tuple(train_test_split(x, y, test_size=TEST_SIZE, stratify=y, random_state=SEED))  # type: ignore[return-value]


def _mahalanobis_fit(z: np.ndarray) -> LedoitWolf:
    # Ledoit-Wolf shrinkage: 30 strongly collinear features (radius, perimeter, area) make the plain
    # sample covariance nearly singular; the shrunk one has a stable inverse.
    return LedoitWolf().fit(z)


def ood_statistics(x_train: np.ndarray, y_train: np.ndarray) -> tuple[dict, float]:
    """The statistics file (standardisation, mean, precision) and the threshold: the
    OOD_PERCENTILE-th percentile of 5-fold out-of-fold distances on the training split (each row
    scored by a fit that did not see it, as a new case would be)."""
    center, scale = x_train.mean(axis=0), x_train.std(axis=0)
    z = (x_train - center) / scale
    oof = np.empty(len(z))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for fit_rows, score_rows in folds.split(z, y_train):
        oof[score_rows] = np.sqrt(_mahalanobis_fit(z[fit_rows]).mahalanobis(z[score_rows]))
    fit = _mahalanobis_fit(z)
    statistics = {
        "method": "mahalanobis",
        "space": "standardised features ((x - center) / scale), Ledoit-Wolf shrunk covariance",
        "features": [feature_name(n) for n in load_breast_cancer().feature_names],
        "center": [round(float(v), 10) for v in center],
        "scale": [round(float(v), 10) for v in scale],
        "mean": [round(float(v), 10) for v in fit.location_],
        "precision": [[round(float(v), 10) for v in row] for row in fit.precision_],
        "shrinkage": round(float(fit.shrinkage_), 6),
    }
    return statistics, round(float(np.percentile(oof, OOD_PERCENTILE)), 4)


def ood_flags(statistics: dict, threshold: float, x: np.ndarray, x_train: np.ndarray) -> np.ndarray:
    """True where a row is out of distribution: distance above the threshold, or a feature beyond
    its training range widened by RANGE_MARGIN (the rule medserve.tabular.model applies)."""
    center, scale = np.asarray(statistics["center"]), np.asarray(statistics["scale"])
    d = (x - center) / scale - np.asarray(statistics["mean"])
    distance = np.sqrt(np.einsum("ij,jk,ik->i", d, np.asarray(statistics["precision"]), d))
    lo, hi = x_train.min(axis=0), x_train.max(axis=0)
    lo, hi = np.round(lo, 6), np.round(hi, 6)  # as the card states them
    margin = RANGE_MARGIN * (hi - lo)
    outside = ((x < lo - margin) | (x > hi + margin)).any(axis=1)
    return (distance > threshold) | outside


def build(out: Path) -> dict:
    data = load_breast_cancer()
    x_train, x_test, y_train, y_test = split()
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    search = GridSearchCV(
        Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=10_000))]),
        {"clf__C": [0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]},
        scoring="neg_log_loss",
        cv=cv,
    )
    search.fit(x_train, y_train)
    model = search.best_estimator_
    oof = cross_val_predict(model, x_train, y_train, cv=cv, method="predict_proba")[:, 1]
    threshold = choose_threshold(y_train, oof)

    p_test = model.predict_proba(x_test)[:, 1]
    pred = p_test >= threshold
    metrics = {
        "split": f"held-out stratified {int(TEST_SIZE * 100)}% (seed {SEED}), never used in fitting",
        "n_test": len(y_test),
        "decision_threshold": threshold,
        "accuracy": round(float(accuracy_score(y_test, pred)), 4),
        "precision": round(float(precision_score(y_test, pred)), 4),
        "recall": round(float(recall_score(y_test, pred)), 4),
        "specificity": round(float(recall_score(1 - y_test, ~pred)), 4),
        "f1": round(float(f1_score(y_test, pred)), 4),
        "roc_auc": round(float(roc_auc_score(y_test, p_test)), 4),
        "roc_auc_95ci_bootstrap": bootstrap_auc_ci(y_test, p_test, SEED),
        "brier": round(float(brier_score_loss(y_test, p_test)), 4),
        "expected_calibration_error": round(expected_calibration_error(y_test, p_test), 4),
    }

    onx = to_onnx(
        model,
        x_train[:1],
        target_opset={"": 17, "ai.onnx.ml": 3},
        options={id(model.named_steps["clf"]): {"zipmap": False}},
        final_types=None,
    )
    # skl2onnx lists opsets in set order, which follows Python's per-process hash seed: sort them,
    # or the same model serialises to different bytes (and sha256) from one run to the next.
    opsets = sorted(onx.opset_import, key=lambda o: o.domain)
    del onx.opset_import[:]
    onx.opset_import.extend(opsets)
    onx.doc_string = f"{NAME} {VERSION}: built by training/tabular_wdbc.py"
    onx.producer_name = "medserve-training"
    onx.producer_version = VERSION
    out.mkdir(parents=True, exist_ok=True)
    model_bytes = onx.SerializeToString()
    (out / "model.onnx").write_bytes(model_bytes)
    onnx.checker.check_model(onx)

    statistics, ood_threshold = ood_statistics(x_train, y_train)
    ood_bytes = (json.dumps(statistics, indent=1) + "\n").encode()
    (out / OOD_FILE).write_bytes(ood_bytes)
    false_alarms = ood_flags(statistics, ood_threshold, x_test, x_train)

    input_name = onx.graph.input[0].name
    prob_name = next(o.name for o in onx.graph.output if o.name != "label")
    scaler = model.named_steps["scale"]
    clf = model.named_steps["clf"]
    card = {
        "name": NAME,
        "version": VERSION,
        "modality": "tabular",
        "task": "binary-classification",
        "description": (
            "Probability that a breast mass is malignant, from 30 nuclear features measured on a "
            "digitised fine-needle aspirate (FNA) image. Logistic regression on standardised features."
        ),
        "intended_use": (
            "Decision support for clinicians and researchers reviewing breast FNA cytology measurements: "
            "a second opinion on malignancy risk with the features that drove it. Not a diagnosis; "
            "not validated for clinical use outside the WDBC population. Demonstration of the medserve "
            "tabular pipeline."
        ),
        "limitations": [
            "Trained on 426 cases from one institution (University of Wisconsin, 1990s); performance on "
            "other populations, scanners or segmentation software is unknown.",
            "Features must be computed the way WDBC computed them (Xcyt-style nuclear segmentation).",
            "Values beyond the training range are served with a warning: the model extrapolates there.",
        ],
        "placement": "lambda",
        "artifact": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(model_bytes).hexdigest(),
            "bytes": len(model_bytes),
            "opset": 17,
        },
        "extra_artifacts": [
            {"file": OOD_FILE, "sha256": hashlib.sha256(ood_bytes).hexdigest(), "bytes": len(ood_bytes)}
        ],
        "inputs": {
            "tensor": input_name,
            "dtype": "float64",
            "max_records": 1000,
            "features": feature_specs(list(data.feature_names), x_train),
        },
        "outputs": {
            "labels": LABELS,
            "probability_tensor": prob_name,
            "positive_label": "malignant",
            "decision_threshold": threshold,
            "threshold_rule": (
                f"highest threshold whose out-of-fold training sensitivity is >= {TARGET_SENSITIVITY}"
            ),
            "fhir_code": {"text": "Risk that the breast mass sampled by FNA is malignant (AI estimate)"},
        },
        "preprocessing": {
            "where": "inside the ONNX graph",
            "standardize": {
                "mean": [round(float(v), 8) for v in scaler.mean_],
                "scale": [round(float(v), 8) for v in scaler.scale_],
            },
            "logistic_regression": {
                "C": float(clf.C),
                "coef": [round(float(v), 8) for v in clf.coef_[0]],
                "intercept": round(float(clf.intercept_[0]), 8),
            },
        },
        "explanation": {
            "method": "shapley-permutation",
            "space": "log-odds",
            "baseline": "the training-set mean record (each feature's 'baseline')",
            "permutations": 8,
            "max_evaluations": 8 * 30 + 1,
        },
        "metrics": metrics,
        "intended_use_gate": {"tabular": {"outside_training_range": "flag"}},
        "ood": {
            "method": "mahalanobis+training-range",
            "threshold": ood_threshold,
            "percentile": OOD_PERCENTILE,
            "false_alarm_rate": round(float(false_alarms.mean()), 4),
            "policy": "flag",
            "statistics": OOD_FILE,
            "space": statistics["space"],
            "training_range_margin": RANGE_MARGIN,
            "calibration": {
                "threshold_from": f"{OOD_PERCENTILE}th percentile of 5-fold out-of-fold distances on the "
                f"training split (n={len(y_train)})",
                "false_alarm_rate_on": f"the held-out test split (n={len(y_test)}): share scored out of "
                "distribution (distance above the threshold, or a feature more than "
                f"{RANGE_MARGIN} x its training range's width outside that range)",
                "false_alarms": int(false_alarms.sum()),
                "n_held_out": len(y_test),
            },
        },
        "training_data": {
            "name": "Wisconsin Diagnostic Breast Cancer (WDBC)",
            "source": "scikit-learn sklearn.datasets.load_breast_cancer (UCI ML repository copy)",
            "n_total": len(y_train) + len(y_test),
            "n_train": len(y_train),
            "n_test": len(y_test),
            "positive_fraction_train": round(float(y_train.mean()), 4),
            "seed": SEED,
            "model_selection": "5-fold stratified CV on the training split, log-loss",
        },
        "built_with": {
            "script": "training/tabular_wdbc.py",
            "scikit-learn": sklearn.__version__,
            "skl2onnx": skl2onnx.__version__,
            "onnx": onnx.__version__,
        },
    }
    card = with_transparency(card, NAME)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    tabular_baseline(out)  # statistics.json + constraints.json beside the card
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--baseline-only",
        action="store_true",
        help="only (re)write statistics.json and constraints.json for the model already in --out",
    )
    args = parser.parse_args()
    if args.baseline_only:
        tabular_baseline(args.out)
        return
    card = build(args.out)
    print(
        json.dumps({"model": card["name"], "version": card["version"], "metrics": card["metrics"]}, indent=2)
    )


if __name__ == "__main__":
    main()
