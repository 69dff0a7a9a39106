"""Build the bundled imaging model ``cxr-nodule-phantom``: a small CNN on synthetic chest radiographs.

DEMONSTRATION ONLY, NOT FOR CLINICAL USE. No patient image is involved: the script draws chest
radiograph-like phantoms (thorax, lungs with diaphragm domes, mediastinum, heart shadow, ribs,
clavicles, blur, exposure and gradient variation, noise), half of them with one or two pulmonary
nodules of varied size (2-7 px radius at 128 px), contrast and position inside the visible lung.

Reproducible: fixed seeds (separate streams per split, so the held-out set does not depend on the
training set's size), two fixed torch threads, deterministic algorithms. The images go through
the same normalisation the service applies (``medserve.imaging.decode.normalise`` and
``to_model_input``), so the model sees exactly what serving produces.

Model: four convolution blocks to a 16 x 16 map of cell logits ("is a nodule centred here?"),
trained with the image label *and* the generator's nodule positions (dense supervision finds the
nodules in the first epoch; image-level labels alone plateau for several epochs). The image
logit is the maximum cell logit; temperature scaling fitted on the validation split calibrates
it, and the ONNX graph outputs ``probabilities`` = softmax([-z/2, z/2] / T), shape (n, 2), for
input ``image`` of shape (n, 1, 128, 128), float32 in [0, 1] (dynamic batch, opset 17). The
decision threshold is chosen on the validation split for sensitivity >= 0.95; the metrics in the
card come from the held-out test split, scored by ONNX Runtime on the exported file.

~1-2 minutes on 2 CPU cores. Run: ``python training/imaging_phantoms.py --out <dir>``
(``medserve models build`` does this); ``--samples events/data`` writes the sample images used by
events/, tests and bench/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
from medserve.imaging.decode import normalise, to_model_input
from medserve.imaging.types import MAX_PIXELS
from sklearn.metrics import brier_score_loss, roc_auc_score
from torch import nn

# Shared metrics beside this file; importable whether run as a script or as training.<module>.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cards import with_transparency
from evaluation import bootstrap_auc_ci, expected_calibration_error

NAME = "cxr-nodule-phantom"
VERSION = "1.0.0"
SEED = 20261122
SIZE = 128  # model input, pixels per side
CELL = 8  # pixels per cell of the supervision map (SIZE // CELL = 16 cells per side)
N_TRAIN, N_VAL, N_TEST = 4000, 1000, 2000
EPOCHS, BATCH, LR = 8, 64, 3e-3
THREADS = 2  # fixed: float reductions, hence the bytes of the model, depend on the thread count
TARGET_SENSITIVITY = 0.95
WINDOW = (0.5, 99.5)
GRID = 8  # occlusion map: 8 x 8 cells of 16 px -> 65 evaluations per explained image
LABELS = ["no_nodule", "nodule"]
NODULE_RADIUS_PX = (2.0, 7.0)  # at 128 px
NODULE_CONTRAST = (0.06, 0.30)  # peak grey-level rise over the lung (lung ~0.18, soft tissue ~0.55)
EMBEDDING = "embedding"  # second ONNX output: the penultimate embedding the OOD score reads
# OOD: Mahalanobis distance of the embedding to the training split's; threshold = this percentile
# of the validation split's distances; false-alarm rate measured on the held-out test split.
OOD_PERCENTILE = 97.5
OOD_FILE = "ood.json"
# What the card accepts (intended_use_gate.imaging): DICOM defined terms of PS3.3 / PS3.16.
GATE = {
    "modalities": ["CR", "DX"],  # computed and digital radiography: what a chest film is
    "body_parts": ["CHEST"],
    # Many CR/DX files omit BodyPartExamined (optional, type 2/3): absent is accepted, any other
    # stated body part is refused; the OOD score covers what the headers cannot say.
    "body_part_required": False,
    "photometric_interpretations": ["MONOCHROME1", "MONOCHROME2"],
    # Chest detectors sample at ~0.1-0.2 mm; film digitisers and downsampled exports up to ~1 mm.
    "pixel_spacing_mm": [0.05, 1.0],
    "min_side_px": 128,  # the model's input side: smaller images are upsampled guesses
    "max_side_px": 8192,
    "plain_images": True,  # PNG/JPEG: the phantoms' own domain (events/data), judged by the OOD score
}


# ------------------------------------------------------------------------------------ phantoms


def _blur_matrix(size: int, sigma: float) -> np.ndarray:
    x = np.arange(size)
    k = np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * sigma**2))
    return k / k.sum(axis=1, keepdims=True)


def phantom(
    rng: np.random.Generator, nodule: bool, size: int = SIZE
) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """One chest radiograph-like image, float64 (size, size) in [0, 1], and its nodules as
    (row, column, radius) in pixels. Geometry is in units of the image side, so any size works."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) / size
    cx, cy = 0.5 + rng.normal(0, 0.015), 0.52 + rng.normal(0, 0.015)
    img = np.full((size, size), 0.04)
    # Thorax (superellipse: squarer shoulders than an ellipse), brighter towards its edges.
    a = 0.44 + rng.normal(0, 0.015)
    body = np.abs((x - cx) / a) ** 3 + np.abs((y - cy) / 0.55) ** 3 < 1
    edge = np.clip(np.abs(x - cx) / a, 0, 1)
    img = np.where(body, 0.55 + rng.normal(0, 0.03) + 0.12 * edge**4, img)
    # Lungs: rounded apices, diaphragm domes below.
    lungs = np.zeros((size, size), dtype=bool)
    for side in (-1, 1):
        lx, ly = cx + side * (0.19 + rng.normal(0, 0.008)), cy - 0.02 + rng.normal(0, 0.01)
        ax, ay = 0.13 + rng.normal(0, 0.008), 0.3 + rng.normal(0, 0.012)
        u, v = (x - lx) / ax, (y - ly) / ay
        apex = (u**2 + v**2 < 1) & (v < 0)
        base = (np.abs(u) < 1) & (v >= 0) & (v < 0.75 - 0.35 * (u * side) ** 2 + 0.25 * (u * side))
        lungs |= apex | base
    img = np.where(lungs, 0.18 + rng.normal(0, 0.02) + 0.06 * (y - cy), img)
    # Posterior ribs: arcs descending laterally, seen over the lungs.
    ribs = np.zeros((size, size))
    spacing, phase = 0.075 + rng.normal(0, 0.003), rng.uniform(0, 0.075)
    for k in range(9):
        curve = cy - 0.36 + phase + k * spacing + 0.10 * (np.abs(x - cx) / 0.35) ** 1.6
        ribs += np.exp(-((y - curve) ** 2) / (2 * 0.009**2))
    img = img + (0.06 + rng.normal(0, 0.01)) * ribs * lungs
    # Clavicles.
    for side in (-1, 1):
        line = cy - 0.36 + 0.05 * (np.abs(x - cx) - 0.05)
        span = (np.abs(x - cx) > 0.04) & (np.abs(x - cx) < 0.3) & (np.sign(x - cx) == side)
        img = img + 0.08 * np.exp(-((y - line) ** 2) / (2 * 0.01**2)) * span
    # Mediastinum, and the heart shadow on the image's right (the patient's left).
    mediastinum = (np.abs(x - cx) < 0.07 + 0.02 * (y - cy)) & (y > cy - 0.42) & body
    img = np.where(mediastinum, np.maximum(img, 0.55 + rng.normal(0, 0.02)), img)
    hx, hy = cx + 0.06 + rng.normal(0, 0.01), cy + 0.13 + rng.normal(0, 0.01)
    hw, hh = 0.14 + rng.normal(0, 0.01), 0.12 + rng.normal(0, 0.008)
    heart = ((x - hx) / hw) ** 2 + ((y - hy) / hh) ** 2 < 1
    img = np.where(heart & body, np.maximum(img, 0.58 + rng.normal(0, 0.02)), img)

    nodules: list[tuple[float, float, float]] = []
    if nodule:
        rows, cols = np.nonzero(lungs & ~heart & ~mediastinum)
        for _ in range(1 if rng.random() < 0.8 else 2):
            i = rng.integers(len(rows))
            radius = rng.uniform(*NODULE_RADIUS_PX) * size / SIZE
            contrast = rng.uniform(*NODULE_CONTRAST)
            d2 = (y - rows[i] / size) ** 2 + (x - cols[i] / size) ** 2
            img = img + contrast * np.exp(-d2 / (2 * (radius / size / 1.5) ** 2))
            nodules.append((float(rows[i]), float(cols[i]), float(radius)))
    # Unsharpness, exposure, a heel-effect gradient, quantum noise.
    k = _blur_matrix(size, rng.uniform(0.6, 1.3) * size / SIZE)
    img = k @ img @ k.T
    img = img * rng.uniform(0.8, 1.2) + rng.uniform(-0.05, 0.05)
    img = img + (x - 0.5) * rng.normal(0, 0.06) + (y - 0.5) * rng.normal(0, 0.04)
    img = img + rng.normal(0, rng.uniform(0.008, 0.035), img.shape)
    return np.clip(img, 0.0, 1.0), nodules


def dataset(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` phantoms, half with nodules: images (n, 1, SIZE, SIZE) float32 as served, labels (n,),
    and cell targets (n, SIZE // CELL, SIZE // CELL) marking the cells holding a nodule centre."""
    labels = np.arange(n) % 2
    rng.shuffle(labels)
    images = np.empty((n, 1, SIZE, SIZE), dtype=np.float32)
    cells = np.zeros((n, SIZE // CELL, SIZE // CELL), dtype=np.float32)
    for j, label in enumerate(labels):
        img, nodules = phantom(rng, bool(label))
        # Stored as a 16-bit PNG would be, then exactly the service's normalisation.
        stored = np.round(img * 65535.0)
        grey, uniform = normalise(stored, WINDOW)
        images[j, 0] = to_model_input(grey, SIZE, SIZE, uniform=uniform).tensor
        for row, col, _ in nodules:
            cells[j, int(row) // CELL, int(col) // CELL] = 1.0
    return images, labels, cells


# --------------------------------------------------------------------------------------- model


class NoduleNet(nn.Module):
    """(n, 1, 128, 128) -> (n, 16, 16) cell logits; the image logit is their maximum."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
            return [
                nn.Conv2d(c_in, c_out, k, stride=stride, padding=k // 2),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]

        self.features = nn.Sequential(
            *block(1, 8, k=5, stride=2),  # 64 x 64
            *block(8, 16),
            nn.MaxPool2d(2),  # 32 x 32
            *block(16, 32),
            nn.MaxPool2d(2),  # 16 x 16
            *block(32, 32),
        )
        self.cell = nn.Conv2d(32, 1, 1)

    def cells(self, x: torch.Tensor) -> torch.Tensor:
        return self.cell(self.features(x))[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cells(x).amax(dim=(1, 2))


class Served(nn.Module):
    """What the ONNX file holds: calibrated class probabilities (n, 2) = [no_nodule, nodule], and
    the penultimate embedding (n, 64): per channel of the last feature map (32 x 16 x 16), its
    mean and its maximum over the map (what the OOD score is computed on)."""

    def __init__(self, net: NoduleNet, temperature: float) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("inv_t", torch.tensor(1.0 / temperature))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.net.features(image)
        z = self.net.cell(features)[:, 0].amax(dim=(1, 2)) * self.inv_t
        embedding = torch.cat([features.mean(dim=(2, 3)), features.amax(dim=(2, 3))], dim=1)
        return torch.softmax(torch.stack([-z / 2, z / 2], dim=1), dim=1), embedding


def train(x: np.ndarray, y: np.ndarray, cells: np.ndarray) -> NoduleNet:
    torch.manual_seed(SEED)
    net = NoduleNet()
    xt, yt, ct = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32)), torch.from_numpy(cells)
    steps_per_epoch = len(xt) // BATCH
    optimiser = torch.optim.AdamW(net.parameters(), lr=LR, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, LR, total_steps=EPOCHS * steps_per_epoch)
    # Nodule cells are ~1 in 400: weight them so the dense loss does not learn "never".
    pos_weight = torch.tensor(20.0)
    order = torch.Generator().manual_seed(SEED)
    for epoch in range(EPOCHS):
        net.train()
        started, total = time.perf_counter(), 0.0
        permutation = torch.randperm(len(xt), generator=order)
        for step in range(steps_per_epoch):
            idx = permutation[step * BATCH : (step + 1) * BATCH]
            cell_logits = net.cells(xt[idx])
            image_logits = cell_logits.amax(dim=(1, 2))
            loss = nn.functional.binary_cross_entropy_with_logits(
                image_logits, yt[idx]
            ) + nn.functional.binary_cross_entropy_with_logits(cell_logits, ct[idx], pos_weight=pos_weight)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach())
        print(
            f"epoch {epoch + 1}/{EPOCHS}: loss {total / steps_per_epoch:.4f} "
            f"({time.perf_counter() - started:.1f} s)",
            file=sys.stderr,
        )
    return net.eval()


def logits(net: NoduleNet, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([net(torch.from_numpy(x[i : i + 256])).numpy() for i in range(0, len(x), 256)])


def fit_temperature(z: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the validation log-loss of sigmoid(z / T) (a deterministic grid)."""
    grid = np.exp(np.linspace(np.log(0.2), np.log(10.0), 400))
    p = 1.0 / (1.0 + np.exp(-np.clip(z[None, :] / grid[:, None], -50, 50)))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    nll = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(axis=1)
    return round(float(grid[int(np.argmin(nll))]), 4)


def choose_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """Highest threshold (on the validation split) keeping sensitivity >= the target."""
    for t in np.round(np.arange(0.95, 0.0, -0.01), 2):
        if (p[y == 1] >= t).mean() >= TARGET_SENSITIVITY:
            return float(t)
    return 0.05


def export(net: NoduleNet, temperature: float, path: Path) -> bytes:
    served = Served(net, temperature).eval()
    example = torch.zeros(1, 1, SIZE, SIZE)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(
            served,
            (example,),
            str(raw),
            input_names=["image"],
            output_names=["probabilities", EMBEDDING],
            dynamic_axes={"image": {0: "batch"}, "probabilities": {0: "batch"}, EMBEDDING: {0: "batch"}},
            opset_version=17,
            dynamo=False,  # the TorchScript exporter: no onnxscript dependency, stable output
        )
        model = onnx.load(str(raw))
    model.doc_string = f"{NAME} {VERSION}: built by training/imaging_phantoms.py (demonstration only)"
    model.producer_name = "medserve-training"
    model.producer_version = VERSION
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    path.write_bytes(data)
    return data


def splits() -> list[np.random.Generator]:
    """Independent random streams for the train, validation and test splits."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(SEED).spawn(3)]


def held_out_split() -> tuple[np.ndarray, np.ndarray]:
    """The held-out test images and labels, regenerated exactly (no training needed)."""
    x, y, _ = dataset(splits()[2], N_TEST)
    return x, y


def held_out_metrics(model: bytes | str, x_test: np.ndarray, y_test: np.ndarray, threshold: float) -> dict:
    """Metrics of an ONNX artifact on the held-out split, run by ONNX Runtime as the service runs it."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    p_test = np.concatenate(
        [
            session.run(["probabilities"], {"image": x_test[i : i + 256]})[0][:, 1]
            for i in range(0, len(x_test), 256)
        ]
    ).astype(np.float64)
    pred = p_test >= threshold
    tp, tn = int((pred & (y_test == 1)).sum()), int((~pred & (y_test == 0)).sum())
    fp, fn = int((pred & (y_test == 0)).sum()), int((~pred & (y_test == 1)).sum())
    return {
        "split": f"held-out test split of {N_TEST} phantoms (seed stream 3 of {SEED}), never used in fitting",
        "n_test": len(y_test),
        "prevalence": round(float(y_test.mean()), 4),
        "decision_threshold": threshold,
        "accuracy": round((tp + tn) / len(y_test), 4),
        "sensitivity": round(tp / (tp + fn), 4),
        "specificity": round(tn / (tn + fp), 4),
        "precision": round(tp / max(tp + fp, 1), 4),
        "f1": round(2 * tp / max(2 * tp + fp + fn, 1), 4),
        "roc_auc": round(float(roc_auc_score(y_test, p_test)), 4),
        "roc_auc_95ci_bootstrap": bootstrap_auc_ci(y_test, p_test, SEED),
        "brier": round(float(brier_score_loss(y_test, p_test)), 4),
        "expected_calibration_error": round(expected_calibration_error(y_test, p_test), 4),
        "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
    }


def embeddings(model: bytes | str, x: np.ndarray) -> np.ndarray:
    """(n, 64) embeddings of images, run by ONNX Runtime from the exported file as served."""
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return np.concatenate(
        [session.run([EMBEDDING], {"image": x[i : i + 256]})[0] for i in range(0, len(x), 256)]
    ).astype(np.float64)


def mahalanobis(statistics: dict, e: np.ndarray) -> np.ndarray:
    d = e - np.asarray(statistics["mean"])
    return np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", d, np.asarray(statistics["precision"]), d), 0.0))


def ood_statistics(e_train: np.ndarray, e_val: np.ndarray) -> tuple[dict, float]:
    """Mean and (Ledoit-Wolf shrunk) precision of the training embeddings; the threshold is the
    OOD_PERCENTILE-th percentile of the validation split's distances."""
    from sklearn.covariance import LedoitWolf

    fit = LedoitWolf().fit(e_train)
    statistics = {
        "method": "mahalanobis",
        "space": f"penultimate embedding (ONNX output '{EMBEDDING}': per-channel mean and max of the last "
        "32 x 16 x 16 feature map), Ledoit-Wolf shrunk covariance of the training split",
        "mean": [round(float(v), 8) for v in fit.location_],
        "precision": [[round(float(v), 8) for v in row] for row in fit.precision_],
        "shrinkage": round(float(fit.shrinkage_), 6),
    }
    return statistics, round(float(np.percentile(mahalanobis(statistics, e_val), OOD_PERCENTILE)), 4)


def build(out: Path) -> dict:
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    train_stream, val_stream, _ = splits()
    started = time.perf_counter()
    x_train, y_train, c_train = dataset(train_stream, N_TRAIN)
    x_val, y_val, _ = dataset(val_stream, N_VAL)
    x_test, y_test = held_out_split()
    print(f"phantoms: {time.perf_counter() - started:.1f} s", file=sys.stderr)

    net = train(x_train, y_train, c_train)
    temperature = fit_temperature(logits(net, x_val), y_val)
    p_val = 1.0 / (1.0 + np.exp(-logits(net, x_val) / temperature))
    threshold = choose_threshold(y_val, p_val)

    out.mkdir(parents=True, exist_ok=True)
    model_bytes = export(net, temperature, out / "model.onnx")
    metrics = held_out_metrics(model_bytes, x_test, y_test, threshold)
    statistics, ood_threshold = ood_statistics(
        embeddings(model_bytes, x_train), embeddings(model_bytes, x_val)
    )
    ood_bytes = (json.dumps(statistics, indent=1) + "\n").encode()
    (out / OOD_FILE).write_bytes(ood_bytes)
    false_alarms = int((mahalanobis(statistics, embeddings(model_bytes, x_test)) > ood_threshold).sum())
    card = {
        "name": NAME,
        "version": VERSION,
        "modality": "imaging",
        "task": "binary-classification",
        "description": (
            "Probability that a frontal chest radiograph shows a pulmonary nodule. A small CNN "
            f"({sum(p.numel() for p in net.parameters())} parameters) trained on synthetic chest "
            "radiograph-like phantoms, with a temperature-calibrated score and occlusion maps."
        ),
        "intended_use": (
            "Demonstration only, not for clinical use: shows how medserve serves an imaging model "
            "(DICOM/PNG/JPEG in, calibrated score and saliency map out). Trained on synthetic phantoms, "
            "never on patient images; its output says nothing about a real patient."
        ),
        "limitations": [
            "Demonstration only, not for clinical use; not a medical device.",
            "Trained and tested on synthetic phantoms only: performance on real radiographs is unknown "
            "and must be assumed to be poor.",
            "Expects a frontal chest view. DICOM files other than CR/DX chest images are refused "
            "(OUT_OF_SCOPE); a PNG/JPEG of anything else is answered, with the OOD score saying whether "
            "it resembles the training phantoms (ood.in_distribution).",
            "Multi-frame DICOM objects are classified on their middle frame only.",
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
            "tensor": "image",
            "dtype": "float32",
            "max_records": 1,
            "image": {
                "height": SIZE,
                "width": SIZE,
                "channels": 1,
                "layout": "NCHW",
                "resize": "letterbox-bilinear",
                "window_percentiles": list(WINDOW),
                "max_pixels": MAX_PIXELS,
            },
        },
        "outputs": {
            "labels": LABELS,
            "probability_tensor": "probabilities",
            "positive_label": "nodule",
            "decision_threshold": threshold,
            "threshold_rule": f"highest threshold whose validation sensitivity is >= {TARGET_SENSITIVITY}",
            "fhir_code": {
                "text": "Pulmonary nodule on a frontal chest radiograph (AI estimate, demonstration only)"
            },
        },
        "preprocessing": {
            "where": "medserve.imaging.decode (the training script calls the same functions)",
            "steps": [
                "decode PNG/JPEG (any mode) or DICOM (modality LUT, VOI LUT/window, MONOCHROME1 inverted, "
                "middle frame of a multi-frame object)",
                "colour to luma (0.299 R + 0.587 G + 0.114 B); transparency composited onto black",
                f"grey values scaled so the {WINDOW[0]} and {WINDOW[1]} percentiles map to 0 and 1, clipped",
                f"letterboxed (centred, padded with 0) and resized bilinearly to {SIZE} x {SIZE}",
            ],
            "calibration": {
                "method": "temperature scaling on the validation split",
                "temperature": temperature,
            },
        },
        "explanation": {
            "method": "occlusion",
            "space": "probability",
            "baseline": "each grid cell replaced by its own mean grey value",
            "grid": GRID,
            "max_evaluations": GRID * GRID + 1,
        },
        "metrics": metrics,
        "intended_use_gate": {"imaging": GATE},
        "ood": {
            "method": "mahalanobis",
            "threshold": ood_threshold,
            "percentile": OOD_PERCENTILE,
            "false_alarm_rate": round(false_alarms / N_TEST, 4),
            "policy": "flag",
            "statistics": OOD_FILE,
            "space": statistics["space"],
            "embedding_output": EMBEDDING,
            "calibration": {
                "statistics_from": f"the training split (n={N_TRAIN})",
                "threshold_from": f"{OOD_PERCENTILE}th percentile of the validation split's distances "
                f"(n={N_VAL})",
                "false_alarm_rate_on": f"the held-out test split (n={N_TEST}, seed stream 3 of {SEED})",
                "false_alarms": false_alarms,
                "n_held_out": N_TEST,
            },
        },
        "training_data": {
            "name": "synthetic chest radiograph phantoms (training/imaging_phantoms.py)",
            "n_train": N_TRAIN,
            "n_validation": N_VAL,
            "n_test": N_TEST,
            "positive_fraction": 0.5,
            "nodules_per_positive": "1 (80%) or 2 (20%)",
            "nodule_radius_px_at_128": list(NODULE_RADIUS_PX),
            "nodule_peak_contrast": list(NODULE_CONTRAST),
            "seed": SEED,
            "supervision": "image label + nodule-centre cells (16 x 16) from the generator",
            "epochs": EPOCHS,
        },
        "built_with": {
            "script": "training/imaging_phantoms.py",
            "torch": torch.__version__,
            "numpy": np.__version__,
            "onnx": onnx.__version__,
            "torch_threads": THREADS,
            "machine": platform.machine(),
            # oneDNN picks kernels by instruction set; another one may change the weights' last bits.
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
    }
    card = with_transparency(card, NAME)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    print(f"built in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    from monitoring_baseline import imaging_baseline

    imaging_baseline(out)  # statistics.json + constraints.json beside the card (from the ONNX file)
    return card


def write_samples(directory: Path) -> None:
    """Sample inputs for events/ and bench/: phantoms (with and without a nodule) as PNG."""
    from PIL import Image

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)
    for name, nodule, size in (
        ("nodule", True, SIZE),
        ("without_nodule", False, SIZE),
        ("nodule_512", True, 512),
    ):
        img, _ = phantom(rng, nodule, size)
        Image.fromarray(np.round(img * 255).astype(np.uint8)).save(
            directory / f"imaging_phantom_{name}.png", optimize=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="build the model into this directory")
    parser.add_argument("--samples", type=Path, default=None, help="write the sample PNGs here")
    args = parser.parse_args()
    if args.out is None and args.samples is None:
        parser.error("give --out and/or --samples")
    if args.samples is not None:
        write_samples(args.samples)
    if args.out is not None:
        card = build(args.out)
        summary = {"model": card["name"], "version": card["version"], "metrics": card["metrics"]}
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
