"""Build a treatment recommender by matrix factorisation (alternating least squares, numpy).

    python training/recommend_als.py --out DIR                       # the bundled demo model
    python training/recommend_als.py --out DIR --interactions my.csv  # your patient_id,item,value CSV
        [--feedback implicit|explicit] [--items items.csv] [--conflicts conflicts.csv]
        [--name NAME] [--version V]

Learns patient factors U and item factors V minimising, over the observed cells,
``sum (r_ui - b_i - u^T v_i)^2 + lambda (|U|^2 + |V|^2)`` for explicit ratings (with a per-item
baseline b_i and, through a constant factor column, a per-patient offset), or Hu, Koren & Volinsky's
weighted loss ``sum_all c_ui (p_ui - u^T v_i)^2 + lambda (...)``, ``c_ui = 1 + alpha r_ui``, for
implicit interactions. Fixed seed. Splits by patient: 70% train, 10% validation, 20% test; the
training patients' interactions are split again 80/20 (the held-out split by interaction). The
validation patients choose (rank, lambda[, alpha]): each has 30% of their items hidden, the rest
folded in exactly as the server folds a new patient in (``medserve.recommend.model.fold_in``), and
the hidden items ranked. The test patients (same protocol) and the held-out interactions of the
training patients are used only for the card's metrics, against a popularity ranking and an
item-kNN (cosine) ranking; explicit models also report RMSE. Rankings exclude the history and its
card conflicts, as the server does.

Cold start: a ridge map from standardised patient features (when the data has them) to the
learned factors; the card enables it only if it beats popularity on the validation patients.

The model directory holds ``model.onnx`` (scoring and top-k: MatMul, Where, TopK; the item matrix
an initializer), ``factors.npz`` (the same factors, for the fold-in and explanations) and
``card.json``: ready for ``medserve models publish``.

The bundled model (no ``--interactions``) trains on a *generated* cohort (``generate_cohort``):
latent phenotypes decide which treatments help, some pairs are contraindicated and never
co-prescribed, popularity is skewed and what is observed depends on what helped (missing not at
random). Demonstration only, not for clinical use. The build also runs a real-data check on the
ACTG 175 trial table shipped in ``lifelines`` (see ``actg175_check``) and records it in the card.

SageMaker Training: docs/recommend.md shows the job (this script is the entry point; the
interactions come in the ``train`` channel, the model directory goes to ``SM_MODEL_DIR``).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import itertools
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from medserve.recommend.model import Factors, fold_in

# Helpers beside this file; importable whether run as a script or as training.<module>.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cards import HERE as TRANSPARENCY_DIR
from cards import with_transparency
from onnx import TensorProto, helper, numpy_helper

NAME = "treatment-recommender-demo"
VERSION = "1.0.0"
SEED = 20261201
K_METRICS = (5, 10)
ITERATIONS = 15
OPSET = 17
IR_VERSION = 8  # onnxruntime >= 1.10 reads it; newer onnx would write an IR some runtimes refuse
HIDE_FRACTION = 0.3  # of a validation/test patient's items, hidden and ranked
RELEVANT_RATING = 4.0  # explicit: a hidden item is relevant when its rating is at least this
DEMO_NOTICE = "Demonstration only, not for clinical use."

# --------------------------------------------------------------------------------------------
# The generated cohort (demonstration data with clinical structure)
# --------------------------------------------------------------------------------------------
PHENOTYPES = ["htn", "t2d", "hf", "af", "copd", "asthma", "dep", "oa", "ckd"]
# id, label, category, popularity (log-odds offset), effect per phenotype (+ helps, - harms)
CATALOGUE: list[tuple[str, str, str, float, dict[str, float]]] = [
    (
        "lisinopril",
        "ACE inhibitor (lisinopril)",
        "cardiovascular",
        0.8,
        {"htn": 1.0, "hf": 1.0, "ckd": 0.6, "t2d": 0.3},
    ),
    ("losartan", "ARB (losartan)", "cardiovascular", 0.3, {"htn": 1.0, "hf": 0.7, "ckd": 0.6}),
    ("amlodipine", "Calcium-channel blocker (amlodipine)", "cardiovascular", 0.9, {"htn": 1.0, "hf": -0.3}),
    (
        "hydrochlorothiazide",
        "Thiazide diuretic (hydrochlorothiazide)",
        "cardiovascular",
        0.2,
        {"htn": 0.9, "ckd": -0.4},
    ),
    (
        "bisoprolol",
        "Beta-blocker (bisoprolol)",
        "cardiovascular",
        0.5,
        {"hf": 1.1, "af": 1.0, "htn": 0.4, "asthma": -1.5},
    ),
    ("furosemide", "Loop diuretic (furosemide)", "cardiovascular", 0.0, {"hf": 1.0, "ckd": 0.3}),
    (
        "spironolactone",
        "Mineralocorticoid antagonist (spironolactone)",
        "cardiovascular",
        -0.6,
        {"hf": 0.9, "ckd": -0.8},
    ),
    ("sacubitril_valsartan", "ARNI (sacubitril/valsartan)", "cardiovascular", -1.4, {"hf": 1.3}),
    ("atorvastatin", "Statin (atorvastatin)", "cardiovascular", 1.5, {"htn": 0.4, "t2d": 0.5, "ckd": 0.3}),
    ("apixaban", "DOAC (apixaban)", "anticoagulant", 0.2, {"af": 1.3}),
    ("warfarin", "Vitamin K antagonist (warfarin)", "anticoagulant", -0.3, {"af": 1.0}),
    (
        "verapamil",
        "Rate-limiting CCB (verapamil)",
        "cardiovascular",
        -0.8,
        {"af": 0.7, "htn": 0.4, "hf": -1.2},
    ),
    ("metformin", "Metformin", "diabetes", 1.0, {"t2d": 1.2, "ckd": -1.0}),
    (
        "empagliflozin",
        "SGLT2 inhibitor (empagliflozin)",
        "diabetes",
        -0.2,
        {"t2d": 0.9, "hf": 0.9, "ckd": 0.8},
    ),
    ("semaglutide", "GLP-1 receptor agonist (semaglutide)", "diabetes", -1.2, {"t2d": 1.1}),
    ("sitagliptin", "DPP-4 inhibitor (sitagliptin)", "diabetes", -0.4, {"t2d": 0.6}),
    ("gliclazide", "Sulfonylurea (gliclazide)", "diabetes", -0.1, {"t2d": 0.6, "ckd": -0.5}),
    ("insulin_glargine", "Basal insulin (glargine)", "diabetes", -0.7, {"t2d": 0.8}),
    ("tiotropium", "LAMA (tiotropium)", "respiratory", -0.2, {"copd": 1.2}),
    (
        "fluticasone_salmeterol",
        "ICS/LABA (fluticasone/salmeterol)",
        "respiratory",
        0.0,
        {"asthma": 1.1, "copd": 0.8},
    ),
    ("salbutamol", "SABA reliever (salbutamol)", "respiratory", 1.1, {"asthma": 0.8, "copd": 0.6}),
    ("pulmonary_rehab", "Pulmonary rehabilitation", "service", -1.5, {"copd": 0.9}),
    ("sertraline", "SSRI (sertraline)", "mental health", 0.6, {"dep": 1.0}),
    ("venlafaxine", "SNRI (venlafaxine)", "mental health", -0.5, {"dep": 0.9, "oa": 0.2}),
    ("cbt", "Cognitive behavioural therapy", "service", -0.9, {"dep": 0.9}),
    ("duloxetine", "Duloxetine", "mental health", -0.9, {"oa": 0.6, "dep": 0.7}),
    ("tramadol", "Tramadol", "analgesic", -0.2, {"oa": 0.7, "dep": -0.3}),
    ("ibuprofen", "NSAID (ibuprofen)", "analgesic", 0.7, {"oa": 0.8, "ckd": -1.2, "hf": -0.8}),
    ("paracetamol", "Paracetamol", "analgesic", 1.4, {"oa": 0.5}),
    ("physiotherapy", "Physiotherapy / exercise programme", "service", -0.3, {"oa": 0.9, "copd": 0.3}),
]
# Illustrative contraindicated combinations (not an interaction database).
CONFLICTS: list[tuple[str, str, str]] = [
    ("lisinopril", "losartan", "dual renin-angiotensin blockade (hyperkalaemia, acute kidney injury)"),
    ("lisinopril", "sacubitril_valsartan", "ACE inhibitor with a neprilysin inhibitor (angioedema)"),
    ("losartan", "sacubitril_valsartan", "two angiotensin receptor blockers"),
    ("apixaban", "warfarin", "two anticoagulants (bleeding)"),
    ("warfarin", "ibuprofen", "anticoagulant with an NSAID (bleeding)"),
    ("apixaban", "ibuprofen", "anticoagulant with an NSAID (bleeding)"),
    ("bisoprolol", "verapamil", "beta-blocker with a rate-limiting calcium-channel blocker (heart block)"),
    ("sertraline", "tramadol", "serotonergic combination (serotonin syndrome)"),
    ("venlafaxine", "tramadol", "serotonergic combination (serotonin syndrome)"),
    ("duloxetine", "tramadol", "serotonergic combination (serotonin syndrome)"),
    ("sertraline", "venlafaxine", "two serotonergic antidepressants (serotonin syndrome)"),
    ("sertraline", "duloxetine", "two serotonergic antidepressants (serotonin syndrome)"),
    ("venlafaxine", "duloxetine", "two serotonergic antidepressants (serotonin syndrome)"),
    ("sitagliptin", "semaglutide", "DPP-4 inhibitor with a GLP-1 agonist (duplicate incretin therapy)"),
]
# name, unit, description, valid_range: the patient features cold start maps to factors.
FEATURES: list[tuple[str, str, str, tuple[float, float]]] = [
    ("age", "years", "age at the index visit", (18.0, 110.0)),
    ("female", "1", "1 if female, else 0", (0.0, 1.0)),
    ("bmi", "kg/m^2", "body-mass index", (12.0, 70.0)),
    ("sbp", "mmHg", "systolic blood pressure", (70.0, 260.0)),
    ("hba1c", "mmol/mol", "glycated haemoglobin", (20.0, 160.0)),
    ("egfr", "mL/min/1.73m^2", "estimated glomerular filtration rate", (5.0, 150.0)),
    ("lvef", "%", "left-ventricular ejection fraction", (10.0, 80.0)),
    ("heart_rate", "bpm", "resting heart rate", (30.0, 200.0)),
    ("fev1_pct", "% predicted", "forced expiratory volume in 1 s", (15.0, 140.0)),
    ("phq9", "points", "PHQ-9 depression score", (0.0, 27.0)),
    ("pain_nrs", "points", "pain numeric rating scale", (0.0, 10.0)),
]


@dataclass
class Data:
    """Interactions as a dense patient x item matrix (NaN = not observed), optional features."""

    values: np.ndarray  # (n_patients, n_items)
    items: list[dict]  # {"id", "label", "category"}
    conflicts: list[dict]  # {"items": [a, b], "reason"}
    features: np.ndarray | None = None  # (n_patients, n_features)
    feature_specs: list[dict] | None = None
    feedback: str = "implicit"
    source: dict | None = None


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def generate_cohort(n_patients: int = 4000, seed: int = SEED, feedback: str = "implicit") -> Data:
    """A synthetic cohort with clinical structure (see the module docstring). Implicit values are
    repeat prescriptions (courses, 1-12: patients stay on what helps); explicit values a 1-5
    clinician-rated response."""
    rng = np.random.default_rng(seed)
    n_items = len(CATALOGUE)
    k = {p: i for i, p in enumerate(PHENOTYPES)}
    age = rng.uniform(25, 90, n_patients)
    female = (rng.random(n_patients) < 0.52).astype(float)
    g = rng.normal(size=n_patients)  # cardiometabolic liability, shared by several phenotypes
    a = (age - 55) / 10
    z = np.zeros((n_patients, len(PHENOTYPES)))
    z[:, k["htn"]] = rng.random(n_patients) < _sigmoid(-0.6 + 1.2 * g + 0.5 * a)
    z[:, k["t2d"]] = rng.random(n_patients) < _sigmoid(-1.4 + 1.2 * g + 0.2 * a)
    z[:, k["ckd"]] = rng.random(n_patients) < _sigmoid(-2.4 + 0.8 * g + 0.5 * a + 0.8 * z[:, k["t2d"]])
    z[:, k["hf"]] = rng.random(n_patients) < _sigmoid(-2.8 + 0.8 * g + 0.6 * a)
    z[:, k["af"]] = rng.random(n_patients) < _sigmoid(-2.8 + 0.7 * a + 1.0 * z[:, k["hf"]])
    z[:, k["copd"]] = rng.random(n_patients) < _sigmoid(-2.2 + 0.5 * a)
    z[:, k["asthma"]] = rng.random(n_patients) < _sigmoid(-1.9 - 0.2 * a)
    z[:, k["dep"]] = rng.random(n_patients) < _sigmoid(-1.4 + 0.3 * female)
    z[:, k["oa"]] = rng.random(n_patients) < _sigmoid(-1.4 + 0.6 * a)
    severity = z * rng.uniform(0.5, 1.5, z.shape)

    noise = rng.normal(size=(n_patients, len(FEATURES)))
    s = {p: severity[:, k[p]] for p in PHENOTYPES}
    feats = np.column_stack(
        [
            age,
            female,
            27 + 3.5 * g + 2.5 * noise[:, 2],
            125 + 22 * s["htn"] + 10 * noise[:, 3],
            38 + 28 * s["t2d"] + 5 * noise[:, 4],
            100 - 0.6 * (age - 40) - 38 * s["ckd"] - 8 * s["hf"] + 8 * noise[:, 5],
            60 - 25 * s["hf"] + 5 * noise[:, 6],
            72 + 22 * s["af"] + 8 * noise[:, 7],
            96 - 35 * s["copd"] - 16 * s["asthma"] + 8 * noise[:, 8],
            3 + 12 * s["dep"] + 3 * noise[:, 9],
            1.5 + 5 * s["oa"] + 1.5 * noise[:, 10],
        ]
    )
    lows = np.array([f[3][0] for f in FEATURES])
    highs = np.array([f[3][1] for f in FEATURES])
    feats = np.clip(feats, lows, highs)
    feats[:, 1] = female

    effects = np.zeros((n_items, len(PHENOTYPES)))
    for i, (_, _, _, _, eff) in enumerate(CATALOGUE):
        for p, w in eff.items():
            effects[i, k[p]] = w
    popularity = np.array([c[3] for c in CATALOGUE])
    # Which treatments help: the patient's phenotypes (with severity) times each item's effects,
    # plus an idiosyncratic response per patient and item (what personalisation can't see).
    benefit = severity @ effects.T + 0.35 * rng.normal(size=(n_patients, n_items))
    indication = (severity[:, None, :] * np.clip(effects, 0, None)[None, :, :]).max(axis=2)
    # Missing not at random: prescribed when indicated and (as judged) helpful, skewed by popularity.
    exposure = _sigmoid(-3.3 + popularity[None, :] + 2.6 * indication + 0.9 * benefit)
    given = rng.random((n_patients, n_items)) < exposure
    ids = [c[0] for c in CATALOGUE]
    pair = {(ids.index(a), ids.index(b)) for a, b, _ in CONFLICTS}
    pair |= {(b, a) for a, b in pair}
    for u in range(n_patients):  # contraindicated pairs are never co-prescribed: first one wins
        held: list[int] = []
        for i in rng.permutation(n_items):
            if given[u, i]:
                if any((i, j) in pair for j in held):
                    given[u, i] = False
                else:
                    held.append(i)
    values = np.full((n_patients, n_items), np.nan)
    if feedback == "implicit":
        courses = 1 + rng.poisson(5.0 * _sigmoid(2.0 * benefit - 0.5))
        values[given] = np.minimum(courses, 12)[given]
    else:
        rating = np.clip(np.rint(3.0 + 1.1 * benefit - 0.6 + 0.5 * rng.normal(size=benefit.shape)), 1, 5)
        values[given] = rating[given]
    feature_specs = [
        {"name": n, "type": "float", "unit": u, "description": d, "valid_range": list(r)}
        for n, u, d, r in FEATURES
    ]
    return Data(
        values=values,
        items=[{"id": c[0], "label": c[1], "category": c[2]} for c in CATALOGUE],
        conflicts=[{"items": [a, b], "reason": r} for a, b, r in CONFLICTS],
        features=feats,
        feature_specs=feature_specs,
        feedback=feedback,
        source={
            "name": "generated demonstration cohort",
            "generator": "training/recommend_als.py generate_cohort",
            "seed": seed,
            "n_patients": n_patients,
            "structure": (
                "9 latent phenotypes (hypertension, type 2 diabetes, heart failure, atrial fibrillation, "
                "COPD, asthma, depression, osteoarthritis, CKD) with shared cardiometabolic liability; "
                "each treatment helps or harms per phenotype; per-patient idiosyncratic response; "
                "contraindicated pairs never co-prescribed; popularity-skewed, benefit-dependent "
                "(missing-not-at-random) exposure"
            ),
        },
    )


def load_interactions(path: Path, feedback: str, items_csv: Path | None, conflicts_csv: Path | None) -> Data:
    """A caller's ``patient_id,item,value`` CSV (a header row; value may be empty = 1)."""
    patients: dict[str, int] = {}
    item_index: dict[str, int] = {}
    cells: dict[tuple[int, int], float] = {}
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"patient_id", "item"} - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(
                f"{path}: the header must name patient_id,item[,value] (missing {sorted(missing)})"
            )
        for row in reader:
            u = patients.setdefault(row["patient_id"], len(patients))
            i = item_index.setdefault(row["item"].strip(), len(item_index))
            value = float(row.get("value") or 1.0)
            # Repeated rows: implicit values add up (more courses); explicit keep the last rating.
            cells[(u, i)] = cells.get((u, i), 0.0) + value if feedback == "implicit" else value
    values = np.full((len(patients), len(item_index)), np.nan)
    for (u, i), v in cells.items():
        values[u, i] = v
    labels = {}
    if items_csv:
        with items_csv.open(newline="", encoding="utf-8-sig") as f:
            labels = {r["id"]: r for r in csv.DictReader(f)}
    items = [
        {
            "id": i,
            "label": labels.get(i, {}).get("label") or i,
            "category": labels.get(i, {}).get("category", ""),
        }
        for i in item_index
    ]
    conflicts = []
    if conflicts_csv:
        with conflicts_csv.open(newline="", encoding="utf-8-sig") as f:
            conflicts = [
                {"items": [r["item_a"], r["item_b"]], "reason": r["reason"]} for r in csv.DictReader(f)
            ]
    return Data(
        values=values,
        items=items,
        conflicts=conflicts,
        feedback=feedback,
        source={
            "name": path.name,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "n_patients": len(patients),
        },
    )


# --------------------------------------------------------------------------------------------
# ALS
# --------------------------------------------------------------------------------------------
@dataclass
class Fit:
    factors: Factors
    users: np.ndarray  # (n_train, d) the training patients' factors (with the offset column)
    rank: int
    lam: float
    alpha: float


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.solve(a, b[..., None])[..., 0]


def _user_step(
    x: np.ndarray, values: np.ndarray, bias: np.ndarray, feedback: str, lam: float, alpha: float
) -> np.ndarray:
    """Every row's factors given the item factors ``x`` (the fold-in of ``fold_in``, batched)."""
    observed = ~np.isnan(values)
    v = np.where(observed, values, 0.0)
    eye = lam * np.eye(x.shape[1])
    out = np.empty((len(values), x.shape[1]))
    for start in range(0, len(values), 2048):
        m, val = observed[start : start + 2048].astype(float), v[start : start + 2048]
        if feedback == "explicit":
            a = np.einsum("ui,ij,ik->ujk", m, x, x) + eye
            b = (m * (val - bias[None, :])) @ x
        else:
            c1 = alpha * val * m  # c - 1 on observed cells, 0 elsewhere
            a = x.T @ x + np.einsum("ui,ij,ik->ujk", c1, x, x) + eye
            b = ((1.0 + alpha * val) * m) @ x
        out[start : start + 2048] = _solve(a, b)
    return out


def als(values: np.ndarray, feedback: str, rank: int, lam: float, alpha: float, seed: int = SEED) -> Fit:
    rng = np.random.default_rng(seed)
    n_users, n_items = values.shape
    observed = ~np.isnan(values)
    v = np.where(observed, values, 0.0)
    explicit = feedback == "explicit"
    mu = float(v[observed].mean()) if explicit else 0.0
    d = rank + 1 if explicit else rank  # explicit: a constant column carries the patient's offset
    x = rng.normal(scale=0.1, size=(n_items, d))
    item_bias = np.full(n_items, mu)
    if explicit:
        x[:, -1] = 1.0
    eye = lam * np.eye(d)
    users = np.zeros((n_users, d))
    for _ in range(ITERATIONS):
        users = _user_step(x, values, item_bias, feedback, lam, alpha)
        if explicit:
            # Item step: [v_i, b_i] against [u (without offset), 1], targets r - mu - offset_u.
            y = np.column_stack([users[:, :-1], np.ones(n_users)])
            m = observed.T.astype(float)
            target = v.T - mu - users[None, :, -1]
            a = np.einsum("iu,uj,uk->ijk", m, y, y) + eye
            b = (m * target) @ y
            sol = _solve(a, b)
            x = np.column_stack([sol[:, :-1], np.ones(n_items)])
            item_bias = mu + sol[:, -1]
        else:
            c1 = (alpha * v * observed).T
            a = users.T @ users + np.einsum("iu,uj,uk->ijk", c1, users, users) + eye
            b = ((1.0 + alpha * v.T) * observed.T) @ users
            x = _solve(a, b)
    users = _user_step(x, values, item_bias, feedback, lam, alpha)
    counts = observed.sum(axis=0)
    factors = Factors(
        item_factors=x,
        item_bias=item_bias if explicit else np.zeros(n_items),
        popularity=np.log1p(counts.astype(float)),
        feedback=feedback,
        lam=lam,
        alpha=alpha,
    )
    return Fit(factors, users, rank, lam, alpha)


# --------------------------------------------------------------------------------------------
# Splits, rankings, metrics
# --------------------------------------------------------------------------------------------
@dataclass
class Split:
    train: np.ndarray  # patient indices
    val: np.ndarray
    test: np.ndarray


def split_patients(n: int, seed: int) -> Split:
    order = np.random.default_rng(seed).permutation(n)
    a, b = int(0.7 * n), int(0.8 * n)
    return Split(np.sort(order[:a]), np.sort(order[a:b]), np.sort(order[b:]))


def hide(values: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(shown, hidden): per row with >= 2 items, ``fraction`` of them (at least 1) hidden."""
    rng = np.random.default_rng(seed)
    shown, hidden = values.copy(), np.full_like(values, np.nan)
    for u in range(len(values)):
        items = np.flatnonzero(~np.isnan(values[u]))
        if len(items) < 2:
            continue
        n_hide = max(1, round(fraction * len(items)))
        chosen = rng.choice(items, size=n_hide, replace=False)
        hidden[u, chosen] = values[u, chosen]
        shown[u, chosen] = np.nan
    return shown, hidden


def conflict_matrix(data: Data) -> np.ndarray:
    ids = [i["id"] for i in data.items]
    c = np.zeros((len(ids), len(ids)), dtype=bool)
    for conflict in data.conflicts:
        a, b = (ids.index(x) for x in conflict["items"])
        c[a, b] = c[b, a] = True
    return c


def serving_mask(shown: np.ndarray, conflicts: np.ndarray) -> np.ndarray:
    """What the server never recommends: the history and its conflicts."""
    history = ~np.isnan(shown)
    return history | ((history.astype(int) @ conflicts.astype(int)) > 0)


def fold_in_scores(f: Factors, shown: np.ndarray) -> np.ndarray:
    """Scores of every item for each row's history, through the server's own ``fold_in``."""
    out = np.empty(shown.shape)
    for u in range(len(shown)):
        items = np.flatnonzero(~np.isnan(shown[u]))
        if len(items) == 0:
            out[u] = f.popularity
            continue
        fold = fold_in(f, items, shown[u, items])
        out[u] = f.item_bias + f.item_factors @ fold.user
    return out


def relevant(hidden: np.ndarray, feedback: str) -> np.ndarray:
    seen = ~np.isnan(hidden)
    return seen & (np.nan_to_num(hidden) >= RELEVANT_RATING) if feedback == "explicit" else seen


def ranking_metrics(scores: np.ndarray, mask: np.ndarray, rel: np.ndarray, ks=K_METRICS) -> dict:
    """Mean recall@k (hits / min(k, |relevant|)) and NDCG@k (binary gains) over rows with a
    relevant hidden item; masked items are never ranked."""
    s = np.where(mask, -np.inf, scores)
    order = np.argsort(-s, axis=1, kind="stable")
    rows = np.flatnonzero(rel.any(axis=1))
    out: dict = {"patients": len(rows)}
    for k in ks:
        top = order[rows, :k]
        hits = np.take_along_axis(rel[rows], top, axis=1)
        n_rel = rel[rows].sum(axis=1)
        ideal = np.minimum(n_rel, k)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (hits * discounts).sum(axis=1)
        idcg = np.array([discounts[:m].sum() for m in ideal])
        out[f"recall@{k}"] = round(float((hits.sum(axis=1) / ideal).mean()), 4)
        out[f"ndcg@{k}"] = round(float((dcg / idcg).mean()), 4)
    return out


def knn_scores(train: np.ndarray, shown: np.ndarray, feedback: str) -> np.ndarray:
    """Item-kNN: cosine similarity of item columns in the training matrix (binary), scores the
    sum of similarities to the history (explicit: weighted by the centred rating)."""
    b = (~np.isnan(train)).astype(float)
    norms = np.linalg.norm(b, axis=0) + 1e-12
    sim = (b.T @ b) / np.outer(norms, norms)
    np.fill_diagonal(sim, 0.0)
    if feedback == "explicit":
        mu = np.nanmean(train)
        w = np.nan_to_num(shown - mu)
    else:
        w = (~np.isnan(shown)).astype(float)
    return w @ sim


def rmse(f: Factors, shown: np.ndarray, hidden: np.ndarray) -> float:
    pred = fold_in_scores(f, shown)
    m = ~np.isnan(hidden)
    return round(float(np.sqrt(np.mean((pred[m] - hidden[m]) ** 2))), 4)


def evaluate(name: str, scores: np.ndarray, mask: np.ndarray, rel: np.ndarray) -> dict:
    return {"method": name, **ranking_metrics(scores, mask, rel)}


# --------------------------------------------------------------------------------------------
# Cold start
# --------------------------------------------------------------------------------------------
def feature_map(x: np.ndarray, users: np.ndarray, ridge: float = 1.0):
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / scale
    intercept = users.mean(axis=0)
    w = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ (users - intercept))
    return mean, scale, w, intercept


# --------------------------------------------------------------------------------------------
# ONNX
# --------------------------------------------------------------------------------------------
def build_onnx(f: Factors, name: str, version: str) -> onnx.ModelProto:
    """``scores = user @ item_matrix``; masked -> -inf; TopK(k). float64 throughout, so the
    served scores and the numpy explanations agree to rounding."""
    d2, n = f.dim + 2, len(f.item_bias)
    matrix = numpy_helper.from_array(f.matrix().astype(np.float64), "item_matrix")
    neg_inf = numpy_helper.from_array(np.array(-np.inf, dtype=np.float64), "neg_inf")
    nodes = [
        helper.make_node("MatMul", ["user", "item_matrix"], ["scores"], name="score"),
        helper.make_node("Where", ["mask", "neg_inf", "scores"], ["masked"], name="mask_items"),
        helper.make_node(
            "TopK", ["masked", "k"], ["top_scores", "top_items"], axis=-1, largest=1, sorted=1, name="top_k"
        ),
    ]
    graph = helper.make_graph(
        nodes,
        f"{name}-{version}",
        inputs=[
            helper.make_tensor_value_info("user", TensorProto.DOUBLE, ["n", d2]),
            helper.make_tensor_value_info("mask", TensorProto.BOOL, ["n", n]),
            helper.make_tensor_value_info("k", TensorProto.INT64, [1]),
        ],
        outputs=[
            helper.make_tensor_value_info("scores", TensorProto.DOUBLE, ["n", n]),
            helper.make_tensor_value_info("top_scores", TensorProto.DOUBLE, ["n", "k_out"]),
            helper.make_tensor_value_info("top_items", TensorProto.INT64, ["n", "k_out"]),
        ],
        initializer=[matrix, neg_inf],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="medserve-training"
    )
    model.ir_version = IR_VERSION
    model.producer_version = version
    model.doc_string = f"{name} {version}: built by training/recommend_als.py"
    onnx.checker.check_model(model)
    return model


# --------------------------------------------------------------------------------------------
# ACTG 175: does personalisation beat the best single regimen on real trial data?
# --------------------------------------------------------------------------------------------
ACTG_ARMS = ["zidovudine", "zidovudine + didanosine", "zidovudine + zalcitabine", "didanosine"]


def actg175_check(seed: int = SEED, folds: int = 5, boot: int = 2000) -> dict:
    """Factorise (covariate stratum x regimen) mean CD4 change at week 20 in ACTG 175 and compare,
    by 5-fold cross-fitting, the regimen it recommends per stratum with the single best regimen.

    ACTG 175 randomised each patient to one of 4 regimens (about 1/4 each), so a policy's value on
    held-out patients is estimated by inverse-propensity weighting (propensity = the regimen's
    share in the trial): the outcome of the patients whose randomised regimen is the one the policy
    picks. Strata: antiretroviral history (str2) x symptomatic x baseline CD4 tertile x age band.
    """
    # The table's path without importing lifelines (its import pulls in matplotlib and scipy).
    spec = importlib.util.find_spec("lifelines")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the ACTG 175 check needs lifelines (the train extra): pip install -e '.[train]'")
    table = Path(spec.submodule_search_locations[0]) / "datasets" / "ACTG175.csv"
    with table.open(newline="") as f:
        rows = list(csv.DictReader(f))
    df = {
        k: np.array([float(r[k]) for r in rows]) for k in ("cd40", "cd420", "arms", "str2", "symptom", "age")
    }
    y = df["cd420"] - df["cd40"]
    arm = df["arms"].astype(int)
    n = len(rows)
    propensity = np.bincount(arm, minlength=4) / len(arm)
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(n) % folds
    matched_best, matched_pers, matched_cell = np.zeros(n), np.zeros(n), np.zeros(n)
    chosen_ranks = []
    for fold in range(folds):
        tr, te = fold_of != fold, fold_of == fold
        cd4_cuts = np.quantile(df["cd40"][tr], [1 / 3, 2 / 3])
        strata = (
            df["str2"].astype(int) * 18
            + df["symptom"].astype(int) * 9
            + np.digitize(df["cd40"], cd4_cuts) * 3
            + np.digitize(df["age"], [30, 40])
        )
        n_strata = 36
        cell = np.full((n_strata, 4), np.nan)
        for s, a in itertools.product(range(n_strata), range(4)):
            sel = tr & (strata == s) & (arm == a)
            if sel.sum() >= 3:
                cell[s, a] = y[sel].mean()
        best = int(np.argmax([y[tr & (arm == a)].mean() for a in range(4)]))
        # Rank and lambda by inner leave-cells-out error on the training cells.
        grid = [(r, lam) for r in (1, 2) for lam in (1.0, 10.0, 100.0, 1000.0)]
        inner = rng.random(cell.shape) < 0.2
        errs = []
        for r, lam in grid:
            fit = als(np.where(inner, np.nan, cell), "explicit", r, lam, 0.0, seed)
            pred = fit.factors.item_bias[None, :] + fit.users @ fit.factors.item_factors.T
            m = inner & ~np.isnan(cell)
            errs.append(float(np.mean((pred[m] - cell[m]) ** 2)))
        r, lam = grid[int(np.argmin(errs))]
        chosen_ranks.append({"rank": r, "lambda": lam})
        fit = als(cell, "explicit", r, lam, 0.0, seed)
        pred = fit.factors.item_bias[None, :] + fit.users @ fit.factors.item_factors.T
        pers = np.argmax(pred, axis=1)
        cell_pick = np.array([best if np.isnan(row).all() else int(np.nanargmax(row)) for row in cell])
        for picks, store in (
            (np.full(n_strata, best), matched_best),
            (pers, matched_pers),
            (cell_pick, matched_cell),
        ):
            policy = picks[strata[te]]
            store[te] = (arm[te] == policy) / propensity[arm[te]] * y[te]

    def value_ci(w: np.ndarray) -> tuple[float, list[float]]:
        idx = rng.integers(0, len(w), (boot, len(w)))
        sample = w[idx].mean(axis=1)
        return round(float(w.mean()), 2), [round(float(v), 2) for v in np.percentile(sample, [2.5, 97.5])]

    best_v, best_ci = value_ci(matched_best)
    pers_v, pers_ci = value_ci(matched_pers)
    cell_v, cell_ci = value_ci(matched_cell)
    diff_v, diff_ci = value_ci(matched_pers - matched_best)
    beats = diff_ci[0] > 0
    overall_best = int(np.argmax([y[arm == a].mean() for a in range(4)]))
    return {
        "data": "ACTG 175 (lifelines/datasets/ACTG175.csv): 2,139 HIV patients randomised to 4 regimens",
        "outcome": "CD4 count change from baseline to week 20 (cells/mm^3), higher is better",
        "method": (
            "5-fold cross-fitting; strata = antiretroviral history x symptomatic x baseline-CD4 tertile x "
            "age band (36); explicit ALS with biases on the stratum x regimen mean-outcome matrix "
            "(rank and lambda by inner held-out cells); policy value on held-out patients by "
            "inverse-propensity weighting; 95% bootstrap intervals"
        ),
        "best_single_regimen": ACTG_ARMS[overall_best],
        "value_best_single": {"mean": best_v, "ci95": best_ci},
        "value_factorised_per_stratum": {"mean": pers_v, "ci95": pers_ci},
        "value_raw_stratum_means": {"mean": cell_v, "ci95": cell_ci},
        "difference_factorised_minus_best": {"mean": diff_v, "ci95": diff_ci},
        "chosen_hyperparameters_per_fold": chosen_ranks,
        "finding": (
            "personalisation beats the best single regimen"
            if beats
            else "personalisation does NOT beat the best single regimen (the difference's 95% interval "
            "includes 0 "
            "or lies below it)"
        ),
    }


# --------------------------------------------------------------------------------------------
# The build
# --------------------------------------------------------------------------------------------
def grid_for(feedback: str) -> list[tuple[int, float, float]]:
    ranks, lams = (4, 8, 16), (1.0, 10.0, 30.0, 100.0)
    alphas = (0.1, 0.5, 2.0) if feedback == "implicit" else (0.0,)
    return list(itertools.product(ranks, lams, alphas))


def build(
    out: Path,
    data: Data,
    *,
    name: str = NAME,
    version: str = VERSION,
    demo: bool = True,
    real_check: dict | None = None,
    grid: list[tuple[int, float, float]] | None = None,
    seed: int = SEED,
) -> dict:
    feedback = data.feedback
    split = split_patients(len(data.values), seed)
    conflicts = conflict_matrix(data)
    train_all = data.values[split.train]
    # Held-out by interaction: 20% of each training patient's items never reach the fit.
    train_fit, train_held = hide(train_all, 0.2, seed + 1)
    val_shown, val_hidden = hide(data.values[split.val], HIDE_FRACTION, seed + 2)
    test_shown, test_hidden = hide(data.values[split.test], HIDE_FRACTION, seed + 3)

    search = []
    for rank, lam, alpha in grid or grid_for(feedback):
        fit = als(train_fit, feedback, rank, lam, alpha, seed)
        row = {"rank": rank, "lambda": lam, **({"alpha": alpha} if feedback == "implicit" else {})}
        row.update(
            ranking_metrics(
                fold_in_scores(fit.factors, val_shown),
                serving_mask(val_shown, conflicts),
                relevant(val_hidden, feedback),
                (5,),
            )
        )
        if feedback == "explicit":
            row["rmse"] = rmse(fit.factors, val_shown, val_hidden)
        search.append(row)
    key = (lambda r: r["rmse"]) if feedback == "explicit" else (lambda r: -r["ndcg@5"])
    chosen = min(search, key=key)
    fit = als(train_fit, feedback, chosen["rank"], chosen["lambda"], chosen.get("alpha", 0.0), seed)
    f = fit.factors

    # Held-out metrics: test patients (fold-in) and training patients' held-out interactions.
    popularity = np.log1p((~np.isnan(train_fit)).sum(axis=0).astype(float))
    metrics: dict = {}
    for split_name, shown, hidden, warm in (
        ("held_out_patients", test_shown, test_hidden, None),
        ("held_out_interactions", train_fit, train_held, fit.users),
    ):
        mask = serving_mask(shown, conflicts)
        rel = relevant(hidden, feedback)
        als_scores = (
            fold_in_scores(f, shown) if warm is None else f.item_bias[None, :] + warm @ f.item_factors.T
        )
        block = {
            "als": evaluate("als", als_scores, mask, rel),
            "popularity": evaluate("popularity", np.broadcast_to(popularity, shown.shape), mask, rel),
            "item_knn": evaluate("item-knn (cosine)", knn_scores(train_fit, shown, feedback), mask, rel),
        }
        if feedback == "explicit":
            m = ~np.isnan(hidden)
            block["rmse"] = {
                "als": round(float(np.sqrt(np.mean((als_scores[m] - hidden[m]) ** 2))), 4),
                "item_baseline": round(
                    float(np.sqrt(np.mean((np.broadcast_to(f.item_bias, shown.shape)[m] - hidden[m]) ** 2))),
                    4,
                ),
            }
        metrics[split_name] = block

    # Subgroups of the held-out patients (sex, age band), model and popularity side by side.
    if data.features is not None:
        names = [s["name"] for s in data.feature_specs or []]
        test_x = data.features[split.test]
        groups = {
            "female": test_x[:, names.index("female")] >= 0.5,
            "male": test_x[:, names.index("female")] < 0.5,
            "age_under_65": test_x[:, names.index("age")] < 65,
            "age_65_and_over": test_x[:, names.index("age")] >= 65,
        }
        mask, rel = serving_mask(test_shown, conflicts), relevant(test_hidden, feedback)
        scores = fold_in_scores(f, test_shown)
        pop = np.broadcast_to(popularity, test_shown.shape)
        metrics["held_out_patients_by_group"] = {
            group: {
                "als": ranking_metrics(scores[sel], mask[sel], rel[sel], (5,)),
                "popularity": ranking_metrics(pop[sel], mask[sel], rel[sel], (5,)),
            }
            for group, sel in groups.items()
        }

    # Cold start: features -> factors, kept only if it beats popularity on validation patients.
    cold = {"enabled": False}
    extra_arrays = {}
    if data.features is not None:
        mean, scale, w, intercept = feature_map(data.features[split.train], fit.users)
        f_cold = Factors(f.item_factors, f.item_bias, f.popularity, feedback, f.lam, f.alpha)

        def from_features(rows: np.ndarray) -> np.ndarray:
            return (
                f.item_bias[None, :]
                + (((data.features[rows] - mean) / scale) @ w + intercept) @ f.item_factors.T
            )

        # No history: nothing is masked, and every item the patient has is relevant.
        val_all, test_all = data.values[split.val], data.values[split.test]
        no_mask_val, no_mask_test = np.zeros(val_all.shape, bool), np.zeros(test_all.shape, bool)
        val_cold = ranking_metrics(from_features(split.val), no_mask_val, relevant(val_all, feedback))
        val_pop = ranking_metrics(
            np.broadcast_to(popularity, val_all.shape), no_mask_val, relevant(val_all, feedback)
        )
        test_cold = ranking_metrics(from_features(split.test), no_mask_test, relevant(test_all, feedback))
        test_pop = ranking_metrics(
            np.broadcast_to(popularity, test_all.shape), no_mask_test, relevant(test_all, feedback)
        )
        enabled = val_cold["ndcg@5"] > val_pop["ndcg@5"]
        cold = {
            "enabled": bool(enabled),
            "rule": "enabled only if the feature map beats popularity (NDCG@5) on the validation patients",
            "validation": {"features": val_cold, "popularity": val_pop},
            "held_out_patients": {"features": test_cold, "popularity": test_pop},
        }
        if enabled:
            extra_arrays = {
                "feature_mean": mean,
                "feature_scale": scale,
                "feature_map": w,
                "feature_intercept": intercept,
            }
        del f_cold
    metrics["cold_start"] = cold

    out.mkdir(parents=True, exist_ok=True)
    # np.savez writes zip entries with a fixed timestamp: the same arrays give the same bytes.
    factors_path = out / "factors.npz"
    np.savez(
        factors_path,
        item_factors=f.item_factors,
        item_bias=f.item_bias,
        popularity=f.popularity,
        **extra_arrays,
    )
    model = build_onnx(f, name, version)
    model_bytes = model.SerializeToString()
    (out / "model.onnx").write_bytes(model_bytes)
    factors_bytes = factors_path.read_bytes()

    n_items = len(data.items)
    max_k = min(20, n_items)
    feature_specs = []
    if data.features is not None:
        x = data.features[split.train]
        for j, spec in enumerate(data.feature_specs or []):
            feature_specs.append(
                {
                    **spec,
                    "training_range": [round(float(x[:, j].min()), 4), round(float(x[:, j].max()), 4)],
                    "baseline": round(float(x[:, j].mean()), 4),
                }
            )
    observed = ~np.isnan(data.values)
    value_hi = (
        float(np.nanmax(data.values))
        if feedback == "explicit"
        else max(1000.0, float(np.nanmax(data.values)))
    )
    value_lo = float(np.nanmin(data.values)) if feedback == "explicit" else 0.0
    notice = f"{DEMO_NOTICE} " if demo else ""
    card = {
        "name": name,
        "version": version,
        "modality": "recommend",
        "task": "treatment-recommendation",
        "description": (
            f"{notice}Ranks treatments and services for a patient from the ones already in their history, "
            f"by {'explicit-rating' if feedback == 'explicit' else 'implicit-feedback'} matrix factorisation "
            "(alternating least squares); a new patient is folded in without retraining."
        ),
        "intended_use": (
            (
                "Demonstration only, not for clinical use: shows medserve's recommendation pipeline "
                "(fold-in, contraindication exclusions, exact explanations) on a generated cohort. "
                "It has never seen a real patient."
            )
            if demo
            else "Ranking items for patients from the interactions it was trained on (see training_data)."
        ),
        "limitations": [
            *(
                [
                    "Trained on generated data: its items, effects and conflicts are illustrative, not "
                    "pharmacology; the conflict list is not an interaction database.",
                    "Learns what was prescribed and continued (confounded by indication), not causal "
                    "benefit; the ACTG 175 check in metrics shows how little personalisation gained on "
                    "real trial data.",
                ]
                if demo
                else []
            ),
            "Only items in the card can be recommended or named in a history.",
            "Only item-item conflicts listed in the card are enforced; drug-condition "
            "contraindications are not.",
        ],
        "placement": "lambda",
        "artifact": {
            "file": "model.onnx",
            "sha256": hashlib.sha256(model_bytes).hexdigest(),
            "bytes": len(model_bytes),
            "opset": OPSET,
        },
        "extra_artifacts": [
            {
                "file": "factors.npz",
                "sha256": hashlib.sha256(factors_bytes).hexdigest(),
                "bytes": len(factors_bytes),
            }
        ],
        "inputs": {
            "tensor": "user",
            "dtype": "float64",
            "features": feature_specs,
            "max_records": 200,
            "description": "patient features (inputs.features) are used only for cold start (no history)",
        },
        "outputs": {"labels": [i["id"] for i in data.items], "probability_tensor": "scores"},
        "recommend": {
            "feedback": feedback,
            "items": data.items,
            "conflicts": data.conflicts,
            "default_k": 5,
            "max_k": max_k,
            "max_history": 200,
            "max_exclude": 200,
            "value_range": [value_lo, value_hi],
            "default_value": 1.0 if feedback == "implicit" else None,
            "value_meaning": (
                "courses (repeat prescriptions) of the item; confidence c = 1 + alpha * value"
                if feedback == "implicit"
                else "the patient's rated response to the item"
            ),
            "regularization": chosen["lambda"],
            "confidence_alpha": chosen.get("alpha", 0.0),
            "factors_file": "factors.npz",
            "cold_start": "features" if cold["enabled"] else "popularity",
            "baseline": (
                "0: the score of an item for a patient whose history carries no information "
                "(implicit feedback)"
                if feedback == "implicit"
                else "the item's baseline rating (global mean + item bias): the score before any history"
            ),
            "score": (
                "basis history or features: "
                + (
                    "predicted preference (about 1 = an item the patient would continue; not a probability)"
                    if feedback == "implicit"
                    else "predicted rating on the value scale"
                )
                + "; basis popularity: log(1 + training patients who had the item)"
            ),
        },
        "metrics": {
            "split": (
                f"patients 70/10/20 train/validation/test (seed {seed}); test patients: "
                f"{int(HIDE_FRACTION * 100)}% of "
                "their items hidden, the rest folded in as the server does; training patients: 20% of their "
                "interactions held out of the fit"
            ),
            "recall_definition": "hits in the top k / min(k, number of relevant held-out items)",
            "relevant": "every hidden item"
            if feedback == "implicit"
            else f"hidden items rated >= {RELEVANT_RATING}",
            "exclusions": "rankings never include the history or its card conflicts (as served)",
            **metrics,
            "hyperparameter_search": {
                "on": "validation patients (fold-in), NDCG@5"
                if feedback == "implicit"
                else "validation patients (fold-in), RMSE",
                "grid": search,
                "chosen": chosen,
            },
            **({"real_data_check_actg175": real_check} if real_check else {}),
        },
        "training_data": {
            **(data.source or {}),
            "feedback": feedback,
            "n_items": n_items,
            "n_interactions": int(observed.sum()),
            "density": round(float(observed.mean()), 4),
            "n_train_patients": len(split.train),
            "n_validation_patients": len(split.val),
            "n_test_patients": len(split.test),
            "seed": seed,
        },
        "built_with": {
            "script": "training/recommend_als.py",
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "iterations": ITERATIONS,
        },
    }
    if (TRANSPARENCY_DIR / f"{name}.transparency.json").is_file():
        card = with_transparency(card, name)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    from monitoring_baseline import recommend_baseline  # beside this script (its directory is on sys.path)

    recommend_baseline(out, data, seed)  # statistics.json + constraints.json beside the card
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # SageMaker Training passes hyper-parameters as --name value and the dirs in the environment.
    parser.add_argument(
        "--out", type=Path, default=Path(os.environ["SM_MODEL_DIR"]) if "SM_MODEL_DIR" in os.environ else None
    )
    parser.add_argument(
        "--interactions", type=Path, help="patient_id,item,value CSV (default: the demo cohort)"
    )
    parser.add_argument("--feedback", choices=["implicit", "explicit"], default="implicit")
    parser.add_argument("--items", type=Path, help="id,label[,category] CSV of display names")
    parser.add_argument("--conflicts", type=Path, help="item_a,item_b,reason CSV of contraindicated pairs")
    parser.add_argument("--name", default=None)
    parser.add_argument("--version", default=VERSION)
    parser.add_argument("--no-real-data-check", action="store_true", help="skip the ACTG 175 check")
    args = parser.parse_args()
    if args.out is None:
        parser.error("--out is required (or SM_MODEL_DIR in a SageMaker Training job)")
    if args.interactions is None and "SM_CHANNEL_TRAIN" in os.environ:
        channel = Path(os.environ["SM_CHANNEL_TRAIN"])
        args.interactions = next(iter(sorted(channel.glob("*.csv"))), None)
    if args.interactions:
        data = load_interactions(args.interactions, args.feedback, args.items, args.conflicts)
        card = build(
            args.out, data, name=args.name or "treatment-recommender", version=args.version, demo=False
        )
    else:
        check = None if args.no_real_data_check else actg175_check()
        data = generate_cohort(feedback=args.feedback)
        card = build(
            args.out, data, name=args.name or NAME, version=args.version, demo=True, real_check=check
        )
    summary = {k: v for k, v in card["metrics"].items() if k not in ("hyperparameter_search",)}
    print(json.dumps({"model": card["name"], "version": card["version"], "metrics": summary}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
