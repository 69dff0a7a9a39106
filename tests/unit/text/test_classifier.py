"""The note-specialty model (medserve.text.classifier): card, prediction, hierarchical-occlusion explanations,
long notes, and a reproducible head (training/text_specialty.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from medserve.errors import InvalidInput, PayloadTooLarge
from medserve.serving.cards import load_card
from medserve.serving.registry import BundledModels, Registry
from medserve.serving.runtime import sha256_file
from medserve.text.classifier import TextClassifier

from tests.helpers import REPO

MODEL_DIR = REPO / "models" / "note-specialty"
SPECIALTIES = {
    "cardiology",
    "pulmonology",
    "endocrinology",
    "neurology",
    "oncology",
    "gastroenterology",
    "nephrology",
    "rheumatology",
}
HEART = (
    "Referral: 71-year-old man with progressive exertional dyspnea, orthopnea and bilateral leg edema. "
    "BNP 2400. Echocardiogram shows an ejection fraction of 25% with severe mitral regurgitation."
)


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    # The model directory as a bundle: the same loading path as S3, without S3.
    return TextClassifier.load(Registry(bundled=BundledModels(REPO / "models")), "note-specialty")


def test_card_describes_the_model_and_every_file_matches_its_sha256():
    card = load_card(MODEL_DIR)
    assert (card.name, card.modality, card.task, card.placement) == (
        "note-specialty",
        "text",
        "multiclass-classification",
        "lambda",
    )
    assert set(card.outputs.labels) == SPECIALTIES
    assert [a.file for a in card.artifacts()] == ["model.onnx", "tokenizer.json", "head.onnx", "ood.json"]
    for artifact in card.artifacts():
        assert sha256_file(MODEL_DIR / artifact.file) == artifact.sha256
        assert (MODEL_DIR / artifact.file).stat().st_size == artifact.bytes
    assert card.artifact.bytes > 10_000_000  # the encoder: far from a bag of words
    m = card.metrics
    assert m["n_test"] >= 50 and m["accuracy"] >= 0.9 and m["macro_f1"] >= 0.9
    assert m["accuracy"] >= m["baseline_zero_shot_accuracy"]
    assert 0 <= m["ece"] <= 0.15
    assert (
        card.encoder["license"] == "Apache-2.0" and card.encoder["fidelity"]["int8_vs_fp32_min_cosine"] > 0.97
    )
    assert "not a diagnosis" in card.intended_use.lower() or "not a diagnosis" in " ".join(card.limitations)
    assert card.explanation.max_evaluations == 64 and card.explanation.token_budget_ratio == 4.0


def test_prediction_is_a_specialty_with_probabilities_summing_to_one(model):
    prediction, explanation, timing = model.predict(HEART)
    assert prediction["label"] == "cardiology"
    assert set(prediction["probabilities"]) == SPECIALTIES
    assert abs(sum(prediction["probabilities"].values()) - 1.0) < 1e-9
    assert prediction["probability"] == max(prediction["probabilities"].values())
    assert prediction["chunks"] == 1 and prediction["tokens"] > 20
    assert explanation is None and timing["inference"] > 0


@pytest.mark.parametrize(
    ("note", "label"),
    [
        ("New onset seizures; MRI brain shows a left temporal lesion; EEG with sharp waves.", "neurology"),
        ("COPD exacerbation, FEV1 35% predicted, on 2 L home oxygen, wheezing.", "pulmonology"),
        ("HbA1c 10.2% on metformin, start basal insulin; TSH normal.", "endocrinology"),
        ("Creatinine up from 1.1 to 3.4, hyperkalemia 6.1, discuss dialysis access.", "nephrology"),
        ("Bloody diarrhea and urgency; colonoscopy shows ulcerative colitis.", "gastroenterology"),
        ("Metastatic breast carcinoma, start chemotherapy cycle 1; PET shows liver lesions.", "oncology"),
        (
            "Symmetric small-joint synovitis, morning stiffness 2 h, rheumatoid factor positive.",
            "rheumatology",
        ),
    ],
)
def test_clear_notes_go_to_their_specialty(model, note, label):
    assert model.predict(note)[0]["label"] == label


def _log_odds(model, texts, label):
    top = model.labels.index(label)
    embeddings = np.concatenate([model.encoder.embed_documents([t]) for t in texts])
    p = model.probabilities(embeddings)[:, top]
    return np.log(p) - np.log1p(-p)


def test_explanations_attribute_sentences_then_words_within_the_budget(model):
    prediction, explanation, _ = model.predict(HEART, explain=True)
    assert explanation["method"] == "hierarchical-occlusion" and explanation["label"] == prediction["label"]
    assert explanation["unit"] == "sentence+word"
    assert 0 < explanation["evaluations"] <= explanation["max_evaluations"] == 64
    budget = explanation["budget"]
    assert (
        budget["token_budget_ratio"] == 4.0
        and 0 < budget["evaluated_tokens"] <= budget["max_evaluated_tokens"]
    )
    levels = [a["level"] for a in explanation["attributions"]]
    assert levels.count("sentence") == explanation["sentences"] >= 2
    assert levels.count("word") + levels.count("phrase") == explanation["words"] > 0
    for a in explanation["attributions"]:
        assert HEART[a["begin"] : a["end"]] == a["text"]  # offsets into the note
        assert a["direction"] == ("supports" if a["weight"] > 0 else "opposes")
    for levels_of in ({"sentence"}, {"word", "phrase"}):
        weights = [abs(a["weight"]) for a in explanation["attributions"] if a["level"] in levels_of]
        assert weights == sorted(weights, reverse=True)
    top = {
        word.lower()
        for a in explanation["attributions"]
        if a["level"] in {"word", "phrase"} and a["weight"] > 0
        for word in a["text"].split()
    }
    assert top & {"echocardiogram", "ejection", "mitral", "regurgitation", "orthopnea", "bnp", "edema"}
    # the same note, the same explanation
    assert model.predict(HEART, explain=True)[1] == explanation


def test_explanation_weights_are_the_model_outputs_they_claim(model):
    """Faithfulness, exactly: a sentence's weight is L(sentence alone) - L(empty note), a word's is
    L(its sentence) - L(its sentence without it); recomputed here through the public encoder, one
    text per run as the explainer runs them."""
    _, explanation, _ = model.predict(HEART, explain=True)
    label = explanation["label"]
    sentences = [a for a in explanation["attributions"] if a["level"] == "sentence"]
    alone = _log_odds(model, [a["text"] for a in sentences], label)
    for a, value in zip(sentences, alone, strict=True):
        assert a["weight"] == pytest.approx(value - explanation["empty_note"]["log_odds"], abs=1e-3)
    word = next(a for a in explanation["attributions"] if a["level"] == "word")  # one word: exact text
    sentence = next(s for s in sentences if s["begin"] <= word["begin"] and word["end"] <= s["end"])
    without = HEART[sentence["begin"] : word["begin"]] + HEART[word["end"] : sentence["end"]]
    with_, without_ = _log_odds(model, [sentence["text"], without], label)
    assert word["weight"] == pytest.approx(with_ - without_, abs=1e-3)


def test_deletion_check_removing_what_the_explanation_credits_lowers_the_prediction(model):
    """Faithful to the whole note: without its supporting sentences the label's log-odds drop, and
    they drop more than without as many of its most opposing sentences."""
    note = (REPO / "events" / "data" / "text_note.txt").read_text()[:1000]
    prediction, explanation, _ = model.predict(note, explain=True)
    check = explanation["deletion_check"]
    assert check["removed_sentences"] > 0 and check["drop"] > 0
    assert check["log_odds"] == pytest.approx(explanation["output"]["log_odds"] - check["drop"])
    sentences = sorted(
        (a for a in explanation["attributions"] if a["level"] == "sentence"), key=lambda a: a["weight"]
    )
    k = max(1, len(sentences) // 5)

    def without(spans):
        out, at = [], 0
        for a in sorted(spans, key=lambda a: a["begin"]):
            out.append(note[at : a["begin"]])
            at = a["end"]
        return "".join(out) + note[at:]

    most, least = _log_odds(model, [without(sentences[-k:]), without(sentences[:k])], prediction["label"])
    assert most < least


def test_long_notes_are_read_whole_in_chunks_and_explained_within_the_budget(model):
    note = " ".join([HEART] * 60)  # ~14,000 characters, several encoder windows
    prediction, explanation, _ = model.predict(note, explain=True)
    assert prediction["chunks"] > 5 and prediction["label"] == "cardiology"
    assert explanation["evaluations"] <= 64 and explanation["sentences"] <= 31
    assert explanation["budget"]["evaluated_tokens"] <= explanation["budget"]["max_evaluated_tokens"]
    spans = [(a["begin"], a["end"]) for a in explanation["attributions"]]
    assert all(note[b:e] == a["text"] for (b, e), a in zip(spans, explanation["attributions"], strict=True))
    assert explanation["deletion_check"]["drop"] > 0


def test_chunks_cut_at_word_boundaries(model):
    encoded = model.encoder.encode("pneumonoultramicroscopicsilicovolcanoconiosis " * 200)
    assert all(0 < len(chunk) <= model.encoder.max_tokens - 2 for chunk in encoded.chunks)
    assert sum(len(c) for c in encoded.chunks) == encoded.n_tokens
    chunk_of_word = {}
    for word in encoded.words:
        chunk_of_word.setdefault((word.begin, word.end), set()).add(word.chunk)
    assert all(len(chunks) == 1 for chunks in chunk_of_word.values())


def test_document_embeddings_are_unit_vectors(model):
    x = model.encoder.embed_documents(["chest pain", HEART * 30])
    assert x.shape == (2, 384)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)


def test_limits(model):
    with pytest.raises(PayloadTooLarge):
        model.predict("a" * 20_001)
    with pytest.raises(InvalidInput):
        model.predict(" \n\t ")
    model.predict(("chest pain " * 2000)[:20_000])  # at the limit is fine


def test_head_rebuilds_from_the_committed_encoder(tmp_path):
    """training/text_specialty.py without torch (the encoder reused): same head, same card."""
    out = tmp_path / "note-specialty"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "training" / "text_specialty.py"),
            "--out",
            str(out),
            "--encoder-from",
            str(MODEL_DIR),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    built = json.loads((out / "card.json").read_text())
    committed = json.loads((MODEL_DIR / "card.json").read_text())
    assert built["metrics"] == committed["metrics"]
    assert built["artifact"] == committed["artifact"]
    assert built["ood"] == committed["ood"] and built["intended_use_gate"] == committed["intended_use_gate"]
    if built["built_with"]["onnxruntime"] == committed["built_with"]["onnxruntime"]:
        assert (out / "head.onnx").read_bytes() == (MODEL_DIR / "head.onnx").read_bytes()
