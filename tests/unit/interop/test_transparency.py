"""HTI-1 transparency attributes: in every card, kept by the training scripts, in the FHIR model card."""

import base64
import json

import pytest
from medserve.errors import InvalidModelCard
from medserve.interop import fhir
from medserve.serving.cards import load_card, parse_card

from tests.helpers import REPO
from tests.unit.interop.fhir_check import validate

CARDS = {
    "breast-cancer-risk": REPO / "layers" / "model" / "medserve" / "bundled" / "breast-cancer-risk",
    "cxr-nodule-phantom": REPO / "layers" / "model" / "medserve" / "bundled" / "cxr-nodule-phantom",
    "note-specialty": REPO / "models" / "note-specialty",
    "multimodal-fusion-demo": REPO / "models" / "multimodal-fusion-demo",
    "treatment-recommender-demo": REPO
    / "layers"
    / "model"
    / "medserve"
    / "bundled"
    / "treatment-recommender-demo",
}


@pytest.mark.parametrize("name", sorted(CARDS))
def test_every_card_states_the_attributes(name):
    card = load_card(CARDS[name])
    t = card.transparency
    assert t is not None
    # The training script writes the same block into a rebuilt card.
    source = json.loads((REPO / "training" / "cards" / f"{name}.transparency.json").read_text())
    assert t.model_dump(mode="json") == source
    assert t.out_of_scope_uses and t.known_risks and t.training_data.demographics
    assert all(m in card.metrics for m in t.validation.metrics)


def test_wdbc_says_it_has_no_fairness_analysis():
    t = load_card(CARDS["breast-cancer-risk"]).transparency
    assert t is not None and t.fairness.assessed is False
    assert "no demographic" in t.fairness.analysis.lower() and "not recorded" in t.training_data.demographics


def test_a_card_naming_an_unknown_metric_is_invalid():
    raw = json.loads((CARDS["breast-cancer-risk"] / "card.json").read_text())
    raw["transparency"]["validation"]["metrics"].append("made_up_auc")
    with pytest.raises(InvalidModelCard):
        parse_card(json.dumps(raw), source="test")


@pytest.mark.parametrize("name", sorted(CARDS))
def test_document_reference_carries_them(name):
    card = load_card(CARDS[name])
    doc = fhir.BundleBuilder("req-1", card, card.ref()).model_card()
    validate(doc)
    (markdown,) = [
        c["attachment"]["data"] for c in doc["content"] if c["attachment"]["contentType"] == "text/markdown"
    ]
    text = base64.b64decode(markdown).decode()
    assert text == doc["description"]
    for heading in (
        "Intended use",
        "Intended patients",
        "Out-of-scope use",
        "Training data",
        "Validation",
        "Fairness",
        "Update and maintenance",
        "Known risks",
    ):
        assert f"## {heading}\n" in text, heading
    t = card.transparency
    assert t is not None and t.fairness.analysis in text and t.known_risks[0] in text
    for metric in t.validation.metrics:
        assert f"- {metric}: " in text
