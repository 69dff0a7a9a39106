"""training/deid_tokens.py end to end on a few generated notes: a card that validates, artifacts
that match it, and an ONNX graph that serves through the layer's own TokenModel."""

import hashlib
import subprocess
import sys

from medserve.serving.cards import load_card
from medserve.serving.runtime import create_session
from medserve.text.deid.features import featurise
from medserve.text.deid.model import TokenModel

from tests.helpers import REPO


def test_a_small_build_gives_a_servable_model(tmp_path):
    sizes = ["--train", "12", "--dev", "6", "--heldout", "6"]
    subprocess.run(
        [sys.executable, str(REPO / "training" / "deid_tokens.py"), "--out", str(tmp_path), *sizes],
        check=True,
        capture_output=True,
        timeout=300,
    )
    card = load_card(tmp_path)
    assert card.task == "token-classification" and "demonstration only" in card.intended_use.lower()
    for spec in card.artifacts():
        assert hashlib.sha256((tmp_path / spec.file).read_bytes()).hexdigest() == spec.sha256
    assert 0.0 < card.metrics["heldout"]["token_recall"] <= 1.0
    model = TokenModel(card, create_session(tmp_path / card.artifact.file, threads=1))
    text = "Patient: Quillfeather, Anselm   MRN 4471-9920\nSeen 3/14 by Dr. Marrowby."
    probabilities = model.probabilities(featurise(text)[1])
    assert probabilities.shape[1] == len(card.outputs.labels)
