"""Monitoring baselines (``statistics.json`` + ``constraints.json``, SageMaker Model Monitor's
schema) for the shipped models, written beside each card by its training script, or afterwards:

    python training/monitoring_baseline.py breast-cancer-risk layers/model/medserve/bundled/breast-cancer-risk
    python training/monitoring_baseline.py cxr-nodule-phantom layers/model/medserve/bundled/cxr-nodule-phantom
    python training/monitoring_baseline.py note-specialty models/note-specialty

The outputs (``prediction.probability``, ``prediction.label`` and, when the model scores it,
``prediction.ood_score``) are those of the served artifact in the directory, run through
medserve's own prediction code on the model's reference data, so the baseline describes exactly
what production answers. The artifacts are only read (their sha256 in the cards stays valid).

A multi-class model's baseline also keeps its probability vectors on the reference data (the
drift job's MMD reference, ``medserve.reference`` in ``statistics.json``).

Reference data per model: WDBC's training split (features and outputs); the phantom generator's
validation stream, encoded as PNG like an upload (imaging: outputs only, capture keeps no pixel);
the note corpus' training split (text: outputs only, capture keeps no text); the recommender's
validation histories as its build shows them (outputs only: the top item and its score).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from medserve.monitoring.baseline import numerical_feature, string_feature, write_baseline
from medserve.services import Services, set_services
from medserve.serving.registry import BundledModels, Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))

N_IMAGES = 400  # phantoms scored for the imaging baseline (seconds on 2 cores)


def _registry(directory: Path) -> Registry:
    """A registry serving the models beside ``directory`` (``<parent>/<name>/card.json``)."""
    return Registry(bundled=BundledModels(directory.resolve().parent), alias_ttl=0)


def output_features(predictions: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``prediction.*`` features of ``statistics.json`` from served predictions."""
    predictions = list(predictions)
    features = [
        numerical_feature("prediction.probability", [float(p["probability"]) for p in predictions]),
        string_feature("prediction.label", [str(p["label"]) for p in predictions]),
    ]
    scores = [p.get("ood", {}).get("score") for p in predictions if isinstance(p.get("ood"), Mapping)]
    if scores and len(scores) == len(predictions):
        features.append(numerical_feature("prediction.ood_score", [float(s) for s in scores]))
    return features


def probability_reference(predictions: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    """A multi-class model's probability vectors (labels sorted, as capture keeps them): the
    reference sample the drift job compares captured vectors with by MMD. None for two classes."""
    predictions = list(predictions)
    labels = sorted(predictions[0]["probabilities"]) if predictions else []
    if len(labels) <= 2:
        return None
    rows = [[round(float(p["probabilities"][label]), 6) for label in labels] for p in predictions]
    return {"prediction.probabilities": {"labels": labels, "rows": rows}}


def _top_probability(prediction: dict[str, Any]) -> dict[str, Any]:
    if "probability" not in prediction:
        prediction["probability"] = prediction["probabilities"][prediction["label"]]
    return prediction


def tabular_baseline(directory: Path) -> None:
    from medserve.tabular.model import TabularModel
    from tabular_wdbc import split

    registry = _registry(directory)
    card = json.loads((directory / "card.json").read_text())
    model = TabularModel(registry.load(card["name"], modality="tabular"))
    x_train, _, _, _ = split()
    predictions = model.predict(x_train)
    features = [numerical_feature(f["name"], x_train[:, i]) for i, f in enumerate(card["inputs"]["features"])]
    write_baseline(directory, features + output_features(predictions), len(x_train))


def imaging_baseline(directory: Path) -> None:
    from imaging_phantoms import SEED, SIZE, phantom
    from medserve.imaging.model import predict_image
    from PIL import Image

    card = json.loads((directory / "card.json").read_text())
    set_services(Services(registry=_registry(directory)))
    try:
        rng = np.random.default_rng(np.random.SeedSequence(SEED).spawn(3)[1])  # the validation stream
        predictions = []
        for j in range(N_IMAGES):
            img, _ = phantom(rng, bool(j % 2), SIZE)
            png = io.BytesIO()
            Image.fromarray(np.round(img * 255).astype(np.uint8)).save(png, format="PNG")
            body = predict_image(png.getvalue(), model=card["name"])
            predictions.append(_top_probability(dict(body["predictions"][0])))
    finally:
        set_services(None)
    write_baseline(directory, output_features(predictions), len(predictions))


def text_baseline(directory: Path) -> None:
    from medserve.text.classifier import TextClassifier
    from sklearn.model_selection import train_test_split
    from text_specialty import DATA, SEED, TEST_SIZE

    rows = [
        json.loads(line) for line in (DATA / "specialty_notes.jsonl").read_text().splitlines() if line.strip()
    ]
    labels = sorted(json.loads((DATA / "specialty_labels.json").read_text()))
    y = np.array([labels.index(r["label"]) for r in rows])
    train, _ = train_test_split(np.arange(len(rows)), test_size=TEST_SIZE, stratify=y, random_state=SEED)
    card = json.loads((directory / "card.json").read_text())
    classifier = TextClassifier.load(_registry(directory), card["name"])
    predictions = [_top_probability(classifier.predict(rows[i]["text"])[0]) for i in sorted(train)]
    write_baseline(
        directory,
        output_features(predictions),
        len(predictions),
        reference=probability_reference(predictions),
    )


def recommend_baseline(directory: Path, data: Any = None, seed: int | None = None) -> None:
    """``data``/``seed``: the build's cohort and seed (default: the demo cohort it is built from)."""
    from medserve.recommend.model import RecommendModel
    from medserve.recommend.predict import recommend
    from medserve.recommend.types import HistoryEntry, Query
    from recommend_als import HIDE_FRACTION, SEED, generate_cohort, hide, split_patients

    card = json.loads((directory / "card.json").read_text())
    model = RecommendModel.load(_registry(directory), card["name"])
    data = generate_cohort() if data is None else data
    seed = SEED if seed is None else seed
    # The build's validation split, histories as shown to it (recommend_als.build's hide()).
    split = split_patients(len(data.values), seed)
    shown, _ = hide(data.values[split.val], HIDE_FRACTION, seed + 2)
    ids = [item["id"] for item in data.items]
    predictions = []
    for row in shown:
        history = tuple(HistoryEntry(ids[j], float(row[j])) for j in np.flatnonzero(~np.isnan(row)))
        result = recommend(model, Query(history=history))
        if result.recommendations:
            top = result.recommendations[0]
            predictions.append({"label": top.item, "score": top.score})
    features = [
        numerical_feature("prediction.score", [p["score"] for p in predictions]),
        string_feature("prediction.label", [p["label"] for p in predictions]),
    ]
    write_baseline(directory, features, len(predictions))


BUILDERS = {
    "breast-cancer-risk": tabular_baseline,
    "cxr-nodule-phantom": imaging_baseline,
    "note-specialty": text_baseline,
    "treatment-recommender-demo": recommend_baseline,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(BUILDERS))
    parser.add_argument("directory", type=Path, help="the model directory (card.json, artifacts)")
    args = parser.parse_args()
    BUILDERS[args.model](args.directory)
    print(f"wrote {args.directory / 'statistics.json'} and {args.directory / 'constraints.json'}")


if __name__ == "__main__":
    main()
