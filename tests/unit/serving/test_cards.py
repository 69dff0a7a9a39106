import json

import pytest
from medserve.errors import InvalidModelCard
from medserve.serving.cards import parse_card
from medserve.serving.registry import BUNDLED_DIR, BundledModels
from medserve.serving.runtime import sha256_file


def test_bundled_card_is_complete(card):
    assert card.modality == "tabular" and card.placement == "lambda"
    assert card.artifact.sha256 == sha256_file(BUNDLED_DIR / card.name / "model.onnx")
    assert len(card.inputs.features) == 30
    assert all(f.unit and f.valid_range and f.training_range for f in card.inputs.features)
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc", "brier"):
        assert 0.0 <= card.metrics[metric] <= 1.0
    assert card.metrics["roc_auc"] >= 0.98
    assert card.training_data["n_test"] == card.metrics["n_test"]


def test_invalid_cards_are_refused_with_the_fields_named():
    raw = json.loads((BUNDLED_DIR / "breast-cancer-risk" / "card.json").read_text())
    raw["artifact"]["sha256"] = "not-a-hash"
    raw["outputs"]["positive_label"] = "unknown"
    with pytest.raises(InvalidModelCard) as caught:
        parse_card(json.dumps(raw), source="test")
    fields = {d["field"] for d in caught.value.details}
    assert "artifact.sha256" in fields and "outputs" in fields
    with pytest.raises(InvalidModelCard):
        parse_card("{not json", source="test")


def test_bundle_lists_by_name(tmp_path):
    # Every model directory of the bundle, by name (other modalities bundle theirs too).
    on_disk = sorted(p.name for p in BUNDLED_DIR.iterdir() if (p / "card.json").is_file())
    assert BundledModels().names() == on_disk and "breast-cancer-risk" in on_disk
    assert BundledModels(tmp_path).names() == []
