"""De-identification measured: (b) generated held-out notes (never trained or tuned on) against the
issue-12 targets, each signal on its own, the token-level i2b2-2014 scoring, the bundled model's
card and the safe-list pass. (a), the project corpus, is in test_detector.py; (c), the external
corpus, is measured by ``medserve eval deid --set external`` and reported in docs/text.md, never
asserted here (a test on it would invite tuning to it)."""

import hashlib

import numpy as np
import pytest
from medserve.text import deid as phi
from medserve.text.deid import features as F
from medserve.text.deid.model import token_model
from medserve.text.deid.safelist import safelist_candidates

from devtools.deid_eval import Gold, Note, detector_of, evaluate, generated_notes, parse_markup

GENERATED = 60  # held-out generated notes: a few seconds


@pytest.fixture(scope="module")
def heldout():
    return generated_notes(GENERATED)


@pytest.fixture(scope="module")
def reports(heldout):
    return {
        signal: evaluate(heldout, detector_of(signal)) for signal in ("rules", "model", "safelist", "all")
    }


def test_generated_heldout_notes_meet_the_targets(reports):
    report = reports["all"]
    overall, types = report.overall.as_dict(), report.per_type
    assert overall["token_recall"] >= 0.95, report.table()
    assert types["NAME"].as_dict()["token_recall"] >= 0.95, report.table()
    assert types["DATE"].as_dict()["token_recall"] >= 0.95, report.table()
    assert overall["char_precision"] >= 0.75, report.table()
    # Issue 12 asks for none: no name or number of a held-out note left verbatim (lower-case given
    # names that are English words too, before a surname on no word list, leaked before).
    assert report.leaked == [], report.leaked


def test_each_signal_is_measured_and_the_union_beats_each(reports):
    recall = {s: r.overall.as_dict()["token_recall"] for s, r in reports.items()}
    assert recall["all"] >= max(recall["rules"], recall["model"], recall["safelist"])
    # the safe list finds names only, at a precision worth its cost
    safelist = reports["safelist"].per_type
    assert set(safelist) >= {"NAME"} and safelist["NAME"].as_dict()["token_precision"] >= 0.8
    assert safelist["DATE"].predicted_tokens == 0


def test_heldout_notes_use_name_words_training_never_saw(heldout):
    from training import deid_notes

    train = list(deid_notes.notes("train", 30))
    train_words = {n.text[b:e].lower() for n in train for t, b, e in n.spans if t == "NAME"}
    held_words = {n.text[g.begin : g.end].lower() for n in heldout for g in n.gold if g.type == "NAME"}
    assert len(held_words & train_words) <= len(held_words) // 20
    words = [w for v in held_words for w in v.replace(",", " ").replace("-", " ").split() if len(w) > 2]
    in_heldout = [deid_notes.name_bucket(w) in deid_notes._BUCKETS["heldout"] for w in words]
    assert sum(in_heldout) >= 0.95 * len(words)  # the rest: draws that ran out of tries


def test_i2b2_scoring_leaves_the_year_out_and_counts_tokens():
    text, gold = parse_markup("Seen {{DATE|March 3, 2024}} by Dr. {{NAME|Ann Lee}}.")
    note = Note("n", text, [Gold(g.type, g.begin, g.end) for g in gold])

    def only(*values):
        spans = [(text.index(v), text.index(v) + len(v)) for v in values]
        return lambda _: [phi.Entity("NAME", b, e, 1.0) for b, e in spans]

    # the year left visible: full recall (every date element but the year is PHI)
    report = evaluate([note], only("March 3", "Ann Lee"))
    assert report.overall.as_dict()["token_recall"] == 1.0 and report.leaked == []
    # a surname left: one token of four missed, and the name counts as leaked
    report = evaluate([note], only("March 3, 2024", "Ann"))
    assert report.overall.as_dict()["token_recall"] == 0.75 and len(report.leaked) == 1
    # "Dr." redacted too: precision pays for it
    report = evaluate([note], only("March 3", "Dr. Ann Lee"))
    assert report.overall.as_dict()["char_precision"] < 1.0


def test_the_bundled_model_matches_its_card_and_is_demonstration_only():
    model = token_model()
    card = model.card
    assert card.task == "token-classification" and card.outputs.labels[0] == "O"
    assert "demonstration only" in card.intended_use.lower()
    for spec in card.artifacts():
        assert hashlib.sha256((F.MODEL_DIR / spec.file).read_bytes()).hexdigest() == spec.sha256
    assert card.metrics["heldout"]["token_recall"] >= 0.95
    tokens, ids = F.featurise("Dictated by: okafor, MD on 3/14/22")
    assert ids.shape == (len(tokens), F.SLOTS) and ids.dtype == np.int64
    p = model.probabilities(ids)
    assert p.shape == (len(tokens), len(card.outputs.labels))
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)


def test_signals_are_selectable_and_checked():
    text = "Dictated by: zorbanek, MD"
    assert phi.detect(text, ("rules",)) is not None
    with pytest.raises(ValueError, match="unknown signals"):
        phi.detect(text, ("rules", "magic"))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Dictated by: zorbanek", "zorbanek"),
        ("QUELLMAYR,DORIT   MRN 0012", "QUELLMAYR,DORIT"),
        ("Thanks,\nIbrahimov Zaurbek, MD", "Ibrahimov Zaurbek"),
        ("Seen with Dr. Okwuosa today.", "Okwuosa"),
    ],
)
def test_the_safe_list_takes_unknown_words_in_name_positions(text, name):
    found = [text[c.begin : c.end] for c in safelist_candidates(text)]
    assert name in found


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Plan discussed. Mr. Floor was counseled.", "Floor"),  # a clinical word, after a title
        ("allergies: discussed with dr. r. stone.  the plan", "r. stone"),  # lower case, after "dr."
        ("Seen with lorna hale, M.D., who agrees.", "lorna hale"),  # lower case, before ", M.D."
        ("Seen with imke wing, RN, who agrees.", "imke wing"),  # between a name and the credential
        ("Her brother George Wing visited today.", "George Wing"),  # after a listed given name
        ("ATTENDING: J. van Berg   MR# 12345", "J. van Berg"),  # after a particle
        ("Plan as above.\n\nwalsh/rd\n", "rd"),  # a typist's initials that spell a credential
    ],
)
def test_the_safe_list_takes_english_words_where_only_a_name_can_stand(text, name):
    found = [text[c.begin : c.end] for c in safelist_candidates(text)]
    assert name in found, found


def test_the_safe_list_keeps_the_words_around_a_name():
    for text in (
        "Patient returned to the ward, RN aware.",
        "Tina / triage RN",
        "and case manager Trish McAllister, RN (pager 4-7821).",
        "Dr. Hill follows closely; mild mr noted on echo.",
    ):
        found = [text[c.begin : c.end] for c in safelist_candidates(text)]
        assert not {"ward", "triage", "manager", "follows", "noted"} & {
            w for f in found for w in f.split()
        }, found


def test_the_safe_list_leaves_known_words_and_other_positions_alone():
    text = "Patient: General appearance well. Tiotropium and albuterol continued; plan per cardiology."
    found = [text[c.begin : c.end] for c in safelist_candidates(text)]
    assert found == []


def test_a_generated_note_depends_on_its_seed_only():
    from training import deid_notes

    alone = next(deid_notes.notes("heldout", 1, start=7))
    list(deid_notes.notes("train", 3))  # other notes drawn in between change nothing
    again = next(deid_notes.notes("heldout", 1, start=7))
    assert (alone.text, alone.spans) == (again.text, again.spans)
    assert all(0 <= b < e <= len(alone.text) for _, b, e in alone.spans)


@pytest.mark.parametrize(
    ("text", "name"),
    [
        (
            "Plan: continue lisinopril. Seen with mercy quorvath, NP, who agrees. Follow up in clinic.",
            "mercy quorvath",
        ),
        (
            "Labs reviewed. Seen with honor brezhovsky, PA-C, who agrees. Return in two weeks.",
            "honor brezhovsky",
        ),
        ("assessment: stable. seen with chance pellinkova, rn, who agrees.", "chance pellinkova"),
    ],
)
def test_a_lower_case_given_name_that_is_a_word_goes_with_its_surname(text, name):
    # The model calls both words names; the filter of English words at a name's edge must not
    # drop the first when a lower-case surname on no word list follows it ("mercy" leaked before).
    redacted = phi.deidentify(text).redacted_text
    assert not any(word in redacted.split() for word in name.split()), redacted


def test_a_name_found_once_is_found_in_lower_case_lines_too():
    text = "PATIENT: WRIGHT, IRENE   MRN 0012345\n\nassessment: wright tolerated the procedure.\n"
    found = [text[e.begin : e.end] for e in phi.detect(text, ("rules",))]
    assert "wright" in found, found


def test_a_clinical_word_that_is_the_patients_name_is_found_capitalised_only():
    text = "Patient: Ward, Irene   MRN 0012345\n\nHOSPITAL COURSE: Ward was seen by PT. Back to the ward.\n"
    spans = {(e.begin, e.end) for e in phi.detect(text) if e.type == "NAME"}
    second = text.index("Ward was")
    assert (second, second + 4) in spans
    last = text.rindex("ward")
    assert not any(b <= last < e for b, e in spans)


def test_generated_notes_do_not_depend_on_the_process_string_hashing():
    import os
    import subprocess
    import sys

    from tests.helpers import REPO

    code = (
        "import hashlib\nfrom training import deid_notes as dn\n"
        "print(hashlib.sha256(''.join(n.text for n in dn.notes('heldout', 60)).encode()).hexdigest())"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={**os.environ, "PYTHONHASHSEED": seed},
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1  # faker's it_IT cities came from a set: (b) changed from run to run


def test_the_presidio_set_is_built_from_that_package_s_templates():
    # (d) is measured, never asserted (no tuning to it): here only that it is what it says it is.
    from devtools.deid_eval import presidio_data, presidio_notes

    raw = presidio_data()
    if raw is None:
        pytest.skip("presidio-evaluator is not installed (pip install --no-deps presidio-evaluator)")
    notes = presidio_notes()
    assert len(notes) >= 200 and sum(len(n.gold) for n in notes) >= 400
    assert len({n.id for n in notes}) == len(notes)
    for note in notes:
        assert "{{" not in note.text and "\\n" not in note.text
        for g in note.gold:
            value = note.value(g)
            assert g.type in phi.TYPES and value and value == value.strip()
