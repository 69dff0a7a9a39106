"""Build the demonstration fusion head ``multimodal-fusion-demo`` (record + radiograph + note).

No linked image + note + record cohort ships in an installable package, so one is generated:
each patient has one latent condition c ~ Bernoulli(0.5) that shifts all three modalities, each
through its own noisy channel (so that no single modality is enough):

* record: a WDBC row (sklearn's ``load_breast_cancer``) drawn from the malignant rows with
  probability 0.78 when c = 1 and 0.22 when c = 0, else from the benign rows. Fusion training
  patients draw from the tabular model's training split, held-out patients from its held-out
  split (rows the tabular model never saw);
* radiograph: a phantom (training/imaging_phantoms.phantom) with a nodule with probability
  0.78 / 0.22, encoded as PNG and decoded by the serving code like an upload;
* note: a templated referral whose findings are drawn from an oncology-type phrase pool with
  probability 0.75 / 0.25 per sentence, else from other specialties' pools.

Each member runs through medserve's own serving code (medserve.multimodal.members), and the head
(logistic regression over ``[z_tab, z_img, z_txt, missing_tab, missing_img, missing_txt]``) is
fitted on the training patients, each repeated with modalities dropped at random so that the
missing terms are learned. Card metrics (held-out patients): ROC-AUC of every subset of
modalities through the head, of each member alone, and the ablation table.

Demonstration only, not for clinical use.

    python training/multimodal_fusion.py --out models/multimodal-fusion-demo
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cards import with_transparency
from evaluation import bootstrap_auc_ci, expected_calibration_error
from imaging_phantoms import phantom
from tabular_wdbc import split

REPO = Path(__file__).resolve().parents[1]
NAME = "multimodal-fusion-demo"
VERSION = "1.0.0"
SEED = 20261201
N_TRAIN, N_TEST = 700, 400
P_RECORD, P_IMAGE, P_NOTE = 0.78, 0.78, 0.75  # chance each channel shows the condition when present
MODALITIES = ["tabular", "imaging", "text"]
MEMBER_DIRS = {
    "tabular": REPO / "layers/model/medserve/bundled/breast-cancer-risk",
    "imaging": REPO / "layers/model/medserve/bundled/cxr-nodule-phantom",
    "text": REPO / "models/note-specialty",
}
TARGET = {"tabular": "malignant", "imaging": "nodule", "text": "oncology"}
DROP_COPIES = 4  # each training patient: full + DROP_COPIES copies with a random subset dropped
DISCLAIMER = "Demonstration only, not for clinical use."

ONCOLOGY = [
    "a firm irregular mass noted on examination",
    "unintentional weight loss of several kilograms over three months",
    "night sweats and fatigue",
    "palpable axillary lymphadenopathy",
    "suspicious lesion on prior imaging, biopsy recommended",
    "family history of breast cancer in two first-degree relatives",
    "referred for oncology review and staging",
]
OTHER = [
    "intermittent palpitations on exertion",
    "heartburn after meals, worse lying down",
    "morning joint stiffness in both hands",
    "recurrent tension-type headaches",
    "elevated fasting glucose on routine labs",
    "mild ankle swelling in the evenings",
    "chronic cough in a former smoker",
]
OPENERS = [
    "{age}-year-old woman seen in clinic.",
    "Referral for a {age}-year-old female.",
    "Follow-up visit, age {age}.",
]


def note(rng: np.random.Generator, shows: bool) -> str:
    sentences = [OPENERS[rng.integers(len(OPENERS))].format(age=int(rng.integers(35, 80)))]
    for _ in range(3):
        pool = ONCOLOGY if rng.random() < (P_NOTE if shows else 1 - P_NOTE) else OTHER
        sentences.append(pool[rng.integers(len(pool))].capitalize() + ".")
    return " ".join(sentences)


def png(img: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.round(img * 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def cohort(rng: np.random.Generator, n: int, x: np.ndarray, y: np.ndarray, names: list[str]) -> list[dict]:
    malignant, benign = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    patients = []
    for _ in range(n):
        c = int(rng.random() < 0.5)
        row_pool = malignant if rng.random() < (P_RECORD if c else 1 - P_RECORD) else benign
        row = x[row_pool[rng.integers(len(row_pool))]]
        image, _ = phantom(rng, bool(rng.random() < (P_IMAGE if c else 1 - P_IMAGE)))
        patients.append(
            {
                "condition": c,
                "tabular": {name: float(v) for name, v in zip(names, row, strict=True)},
                "image": png(image),
                "text": note(rng, bool(c)),
            }
        )
    return patients


def member_log_odds(patients: list[dict], registry_dir: Path) -> np.ndarray:
    """(n, 3) member log-odds, each member run through medserve's serving code."""
    from medserve.multimodal import members as run
    from medserve.services import Services, set_services
    from medserve.serving.cards import FusionMember, load_card
    from medserve.serving.registry import BundledModels, Registry

    set_services(Services(registry=Registry(bundled=BundledModels(registry_dir), alias_ttl=0)))
    try:
        pinned = {m: member_spec(m, load_card(d)) for m, d in MEMBER_DIRS.items()}
        spec = {m: FusionMember(**v) for m, v in pinned.items()}
        z = np.zeros((len(patients), 3))
        for i, p in enumerate(patients):
            z[i, 0] = run.run_tabular(spec["tabular"], p["tabular"], explain=False).log_odds
            z[i, 1] = run.run_image(spec["imaging"], p["image"], explain=False).log_odds
            z[i, 2] = run.run_text(spec["text"], p["text"], explain=False).log_odds
    finally:
        set_services(None)
    return z


def member_spec(modality: str, card) -> dict:
    return {
        "modality": modality,
        "name": card.name,
        "version": card.version,
        "sha256": card.artifact.sha256,
        "target_label": TARGET[modality],
    }


def design(z: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``[z * present, 1 - present]``: absent log-odds are 0 and flagged, never silently filled."""
    return np.hstack([z * present, 1.0 - present]).astype(np.float64)


def augment(z: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    masks = [np.ones_like(z)]
    for _ in range(DROP_COPIES):
        m = (rng.random(z.shape) < 0.6).astype(float)
        empty = m.sum(axis=1) == 0
        m[empty, rng.integers(0, 3, empty.sum())] = 1.0  # at least one modality per row
        masks.append(m)
    x = np.vstack([design(z, m) for m in masks])
    return x, np.tile(y, len(masks))


def export(coef: np.ndarray, intercept: float) -> bytes:
    w = numpy_helper.from_array(coef.astype(np.float32).reshape(-1, 1), "w")
    b = numpy_helper.from_array(np.array([intercept], dtype=np.float32), "b")
    one = numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one")
    nodes = [
        helper.make_node("MatMul", ["features", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logit"]),
        helper.make_node("Sigmoid", ["logit"], ["p1"]),
        helper.make_node("Sub", ["one", "p1"], ["p0"]),
        helper.make_node("Concat", ["p0", "p1"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        NAME,
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 6])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info("logit", TensorProto.FLOAT, [None, 1]),
        ],
        [w, b, one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="medserve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def subset_name(subset: tuple[str, ...]) -> str:
    return "+".join(subset)


def build(out: Path) -> dict:
    from medserve.serving.cards import load_card

    rng = np.random.default_rng(SEED)
    from sklearn.datasets import load_breast_cancer

    names = [n.replace(" ", "_") for n in load_breast_cancer().feature_names]
    card_names = load_card(MEMBER_DIRS["tabular"]).feature_names
    assert names == list(card_names), "WDBC feature names no longer match the tabular card"
    x_train, x_test, y_train, y_test = split()
    train = cohort(rng, N_TRAIN, x_train, y_train, names)
    test = cohort(rng, N_TEST, x_test, y_test, names)
    with tempfile.TemporaryDirectory() as tmp:
        registry_dir = Path(tmp)
        for directory in MEMBER_DIRS.values():
            (registry_dir / directory.name).symlink_to(directory)
        z_train = member_log_odds(train, registry_dir)
        z_test = member_log_odds(test, registry_dir)
    y_tr = np.array([p["condition"] for p in train])
    y_te = np.array([p["condition"] for p in test])
    xa, ya = augment(z_train, y_tr, rng)
    head = LogisticRegression(C=10.0, max_iter=2000).fit(xa, ya)
    coef, intercept = head.coef_[0], float(head.intercept_[0])

    def fused(present_set: tuple[str, ...]) -> np.ndarray:
        m = np.tile([[1.0 if mod in present_set else 0.0 for mod in MODALITIES]], (len(z_test), 1))
        return head.predict_proba(design(z_test, m))[:, 1]

    subsets = [s for r in (1, 2, 3) for s in itertools.combinations(MODALITIES, r)]
    auc = {subset_name(s): round(float(roc_auc_score(y_te, fused(s))), 4) for s in subsets}
    member_auc = {m: round(float(roc_auc_score(y_te, z_test[:, j])), 4) for j, m in enumerate(MODALITIES)}
    p_full = fused(tuple(MODALITIES))
    best_single = max(auc[m] for m in MODALITIES)
    ablation = [
        {
            "removed": m,
            "remaining": subset_name(tuple(x for x in MODALITIES if x != m)),
            "roc_auc": auc[subset_name(tuple(x for x in MODALITIES if x != m))],
            "drop_vs_fused": round(
                auc[subset_name(tuple(MODALITIES))]
                - auc[subset_name(tuple(x for x in MODALITIES if x != m))],
                4,
            ),
        }
        for m in MODALITIES
    ]
    model_bytes = export(coef, intercept)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(model_bytes)
    example_patient = test[0]
    members = [member_spec(m, load_card(MEMBER_DIRS[m])) for m in MODALITIES]
    import base64

    example = {
        "tabular": example_patient["tabular"],
        "image_base64": base64.b64encode(example_patient["image"]).decode("ascii"),
        "text": example_patient["text"],
        "explain": True,
    }
    card = {
        "name": NAME,
        "version": VERSION,
        "modality": "multimodal",
        "task": "binary-classification",
        "description": (
            "Late fusion of three medserve models (breast-cancer-risk on the record, cxr-nodule-phantom on "
            "the radiograph, note-specialty's oncology probability on the note): a logistic regression over "
            "their log-odds with learned missing-modality terms. " + DISCLAIMER
        ),
        "intended_use": (
            DISCLAIMER + " Shows how medserve fuses a record, a radiograph and a note into one calibrated "
            "answer with per-modality contributions. Trained on a generated cohort: it predicts a "
            "synthetic latent condition, nothing real."
        ),
        "limitations": [
            "Generated linked cohort: the latent condition, its noisy channels and the note templates are "
            "medserve's own; no real patient links a record, a radiograph and a note here.",
            "Member log-odds are clipped to +-13.8; the head is linear in them (no interactions).",
            "A member change (name, version or sha256) invalidates the head: the function refuses to run it.",
            DISCLAIMER,
        ],
        "placement": "lambda",
        "artifact": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(model_bytes).hexdigest(),
            "bytes": len(model_bytes),
        },
        "inputs": {
            "tensor": "features",
            "dtype": "float32",
            "description": "[z_tabular, z_imaging, z_text, missing_tabular, missing_imaging, missing_text]",
        },
        "outputs": {
            "labels": ["condition_absent", "condition_present"],
            "probability_tensor": "probabilities",
            "positive_label": "condition_present",
            "decision_threshold": 0.5,
        },
        "multimodal": {"members": members, "example": example},
        "explanation": {
            "method": "shapley-exact",
            "space": "log-odds",
            "baseline": "the head with every modality missing",
        },
        "head": {
            "weights": {
                **{f"z_{m}": round(float(coef[j]), 6) for j, m in enumerate(MODALITIES)},
                **{f"missing_{m}": round(float(coef[3 + j]), 6) for j, m in enumerate(MODALITIES)},
            },
            "intercept": round(intercept, 6),
        },
        "metrics": {
            "dataset": f"generated linked cohort, held-out patients (n={N_TEST}; WDBC rows from the tabular "
            "model's held-out split)",
            "roc_auc_fused_by_modalities": auc,
            "roc_auc_member_alone": member_auc,
            "roc_auc_fused_ci95": bootstrap_auc_ci(y_te, p_full, SEED),
            "fused_minus_best_single": round(auc[subset_name(tuple(MODALITIES))] - best_single, 4),
            "ablation": ablation,
            "brier_fused": round(float(brier_score_loss(y_te, p_full)), 4),
            "ece_fused": round(float(expected_calibration_error(y_te, p_full)), 4),
        },
        "training_data": {
            "description": f"generated linked cohort: {N_TRAIN} training patients (each also {DROP_COPIES} "
            "times with modalities dropped at random), channel probabilities record "
            f"{P_RECORD}, image {P_IMAGE}, note {P_NOTE}",
            "seed": SEED,
        },
        "built_with": {
            "script": "training/multimodal_fusion.py",
            "numpy": np.__version__,
            "onnx": onnx.__version__,
        },
    }
    card = with_transparency(card, NAME)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    # Monitoring baseline: the fused outputs on the training patients, all modalities given.
    from medserve.monitoring.baseline import write_baseline
    from monitoring_baseline import output_features

    p_train = head.predict_proba(design(z_train, np.ones_like(z_train)))[:, 1]
    labels = card["outputs"]["labels"]
    predictions = [{"probability": float(p), "label": labels[int(p >= 0.5)]} for p in p_train]
    write_baseline(out, output_features(predictions), len(predictions))
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    card = build(args.out)
    print(json.dumps(card["metrics"], indent=2))


if __name__ == "__main__":
    main()
