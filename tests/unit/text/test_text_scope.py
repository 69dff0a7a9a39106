"""Intended-use gating (language, length) and OOD scores of the note-specialty model: the held-out
false-alarm rate recomputed through the serving code, English text that is no clinical note
(written by others: the Zen of Python, a package's MIT licence) flagged out of distribution, and
notes in other languages refused with 422 OUT_OF_SCOPE without quoting them."""

import codecs
import contextlib
import io
import json
from importlib import metadata

import numpy as np
import pytest
from medserve.errors import OutOfScope
from medserve.serving.registry import BundledModels, Registry
from medserve.text.classifier import TextClassifier
from medserve.text.scope import language_profile, scope_reasons

from tests.helpers import REPO
from training import text_specialty

MODEL_DIR = REPO / "models" / "note-specialty"
NOTES = [
    json.loads(line)
    for line in (REPO / "training" / "data" / "specialty_notes.jsonl").read_text().splitlines()
    if line.strip()
]
FRENCH = (
    "Le patient présente une douleur thoracique depuis deux jours, avec essoufflement à l'effort et des "
    "antécédents d'hypertension artérielle traitée."
)
GERMAN = (
    "Der Patient klagt seit zwei Tagen über Brustschmerzen mit Atemnot bei Belastung und einer bekannten "
    "arteriellen Hypertonie."
)
RUSSIAN = "Пациент жалуется на боль в груди в течение двух дней, одышка при нагрузке."


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    return TextClassifier.load(Registry(bundled=BundledModels(REPO / "models")), "note-specialty")


def zen_of_python() -> str:
    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def mit_licence() -> str:
    """The first MIT licence text among the installed distributions' files."""
    for dist in metadata.distributions():
        for file in dist.files or []:
            if "LICENSE" in file.name.upper():
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    text = file.read_text() or ""
                    if "Permission is hereby granted" in text:
                        return text
    pytest.fail("no MIT licence text among the installed distributions")


def test_card_states_the_gate_and_the_ood_calibration():
    card = json.loads((MODEL_DIR / "card.json").read_text())
    ood, gate = card["ood"], card["intended_use_gate"]["text"]
    assert ood["method"] == "max-cosine-centroid" and ood["policy"] == "flag"
    assert ood["false_alarm_rate"] <= 0.05 and ood["calibration"]["n_held_out"] == 58
    assert gate["languages"] == ["en"]
    assert gate["training_notes"]["most_foreign_function_words"] < gate["foreign_function_words_min"]


def test_held_out_false_alarm_rate_recomputed_by_the_serving_code(model):
    """The held-out notes (the training script's split; never used for the centroids or the
    threshold) through TextClassifier.predict: the card's rate, and at most 5%."""
    from sklearn.model_selection import train_test_split

    labels = sorted({n["label"] for n in NOTES})
    y = np.array([labels.index(n["label"]) for n in NOTES])
    _, test = train_test_split(
        np.arange(len(NOTES)),
        test_size=text_specialty.TEST_SIZE,
        stratify=y,
        random_state=text_specialty.SEED,
    )
    flags = [not model.predict(NOTES[i]["text"])[0]["ood"]["in_distribution"] for i in test]
    assert np.mean(flags) == pytest.approx(model.card.ood.false_alarm_rate, abs=1e-4)
    assert np.mean(flags) <= 0.05


def test_every_training_note_passes_the_gate(model):
    gate = model.card.intended_use_gate.text
    assert [n["text"][:40] for n in NOTES if scope_reasons(gate, n["text"])] == []


@pytest.mark.parametrize("source", [zen_of_python, mit_licence], ids=["zen-of-python", "mit-licence"])
def test_english_that_is_no_clinical_note_is_flagged(model, source):
    prediction, _, _ = model.predict(source())
    ood = prediction["ood"]
    assert ood["in_distribution"] is False and ood["score"] > ood["threshold"]


def test_a_clinical_note_written_elsewhere_is_in_distribution(model):
    prediction, _, _ = model.predict((REPO / "events" / "data" / "text_note.txt").read_text())
    assert prediction["ood"]["in_distribution"] is True


@pytest.mark.parametrize(("text", "issue"), [(FRENCH, "'fr'"), (GERMAN, "'de'"), (RUSSIAN, "Latin")])
def test_other_languages_are_out_of_scope(model, text, issue):
    with pytest.raises(OutOfScope) as caught:
        model.predict(text)
    assert issue in caught.value.message and caught.value.status == 422
    assert "patient" not in caught.value.message.lower() and "douleur" not in json.dumps(caught.value.details)


def test_terse_english_passes_and_one_word_does_not(model):
    assert language_profile("CP, SOB x2d. Hx HTN, DM2. Troponin neg.").function_words["en"] == 0
    model.predict(
        "CP, SOB x2d. Hx HTN, DM2. Troponin neg."
    )  # no function words of any language: English passes
    model.predict("chest pain")  # a chief complaint
    with pytest.raises(OutOfScope) as caught:
        model.predict("pain")
    assert "1 word(s)" in caught.value.message
