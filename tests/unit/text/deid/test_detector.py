"""De-identification (medserve.text.deid): each identifier type, offsets, modes, surrogates, and the
annotated evaluation corpus (tests/data/deid_corpus.txt)."""

import datetime as dt
import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from medserve.text import deid as phi

from devtools.deid_eval import evaluate, load_corpus, parse_markup
from tests.helpers import REPO

CORPUS = REPO / "tests" / "data" / "deid_corpus.txt"


def found(text: str) -> dict[str, list[str]]:
    """type -> detected values, for readable assertions."""
    out: dict[str, list[str]] = {}
    for e in phi.detect(text):
        out.setdefault(e.type, []).append(text[e.begin : e.end])
    return out


def assert_marked(marked: str) -> None:
    """Every {{TYPE|value}} of ``marked`` is detected with exactly that type and those offsets."""
    text, gold = parse_markup(marked)
    entities = {(e.type, e.begin, e.end) for e in phi.detect(text)}
    for g in gold:
        assert (g.type, g.begin, g.end) in entities, (g, text[g.begin : g.end], sorted(entities))


# ------------------------------------------------------------------------------- one type at a time


@pytest.mark.parametrize(
    "marked",
    [
        "Seen by Dr. {{NAME|Anita Desai}} today.",
        "Mrs. {{NAME|O'Brien}} and Mr. {{NAME|McAllister}} were present.",
        "Attending: {{NAME|Robert J. Feldman}}, MD",
        "Patient: {{NAME|GUTIERREZ, LUIS}}   MRN {{MRN|M4471823}}",
        "{{NAME|Marcus Lee}}, RN",
        "Her daughter {{NAME|Lily}} visited.",
        "her daughter-in-law {{NAME|Philippa}} visits",
        "Caller: {{NAME|Linda Marsh}} (daughter)",
        "Care team:\n- {{NAME|Keisha Brown}}, social work\n- {{NAME|Alan Whitfield}}, MD",
        "{{NAME|Yevgenia Sorokina}} presents for a changing mole.",
        "Minutes recorded by {{NAME|Harriet Vogel}}.",
        "Wife {{NAME|Sinéad}} at bedside; {{NAME|José Peña}} to follow.",
        '{{NAME|Rocco DeLuca}} (goes by "{{NAME|Rocky}}") is here.',
        "Plan discussed.\n—{{NAME|JRT}}",
    ],
)
def test_names(marked):
    assert_marked(marked)


def test_names_found_once_are_found_everywhere():
    text = "Patient: Zelda Quimby\nQuimby reports chest pain. QUIMBY denies fever."
    assert found(text)["NAME"] == ["Zelda Quimby", "Quimby", "QUIMBY"]


def test_clinical_eponyms_and_abbreviations_are_not_names():
    text = "Parkinson's disease, Graves disease and Barrett esophagus. Recommend PT and OT. CBC, BMP normal."
    assert "NAME" not in found(text)


@pytest.mark.parametrize(
    "marked",
    [
        "DOB: {{DATE|04/17/1952}}",
        "seen {{DATE|3/4/24}} and {{DATE|2024-03-14}}",
        "on {{DATE|March 21, 2024}} at 10:30",
        "admitted {{DATE|14-Feb-2024}}",
        "since {{DATE|2nd March 2024}}",
        "labs due {{DATE|20240314}}",
        "visit {{DATE|11.03.2024}}",
        "started in {{DATE|June 2019}}",
        "TTE on {{DATE|3/4}} showed",
        "message left {{DATE|2/14}} at 0610",
        "note written for {{DATE|10/22}}-{{DATE|10/23}}",
        "her birthday is {{DATE|Christmas Eve}}",
        "stopped attending in {{DATE|October}}",
        "by Friday the {{DATE|16th}}",
    ],
)
def test_dates(marked):
    assert_marked(marked)


def test_years_times_fractions_and_scores_are_not_dates():
    text = "In 2019 at 10:30 she took 1/2 tablet; pain 3/10, strength 5/5, MMSE 19/30, BP 132/76."
    assert "DATE" not in found(text)


@pytest.mark.parametrize(
    "marked",
    [
        "a {{AGE|94}}-year-old woman",
        "Pt is a {{AGE|97}} y.o. female",
        "{{NAME|Earl Dubois}}, {{AGE|91}}, sitting",
        "{{NAME|Winifred Osei}} is {{AGE|101}} years old",
        "aged {{AGE|93}}",
    ],
)
def test_ages_over_89(marked):
    assert_marked(marked)


def test_ages_up_to_89_are_kept():
    assert "AGE" not in found("An 89-year-old man and a 45 yo woman; 82M with CAP.")


@pytest.mark.parametrize(
    "marked",
    [
        "phone {{PHONE|(617) 555-0148}} or {{PHONE|617-555-0199}} or {{PHONE|508.555.2231}}",
        "callback {{PHONE|+1 413 555 0187}}",
        "pager {{PHONE|4-7821}}, x{{PHONE|48812}}",
        "Tel {{PHONE|615-555-0102}} | Fax {{FAX|615-555-0103}}",
        "fax records to {{FAX|617-555-0177}}",
        "Results to {{FAX|(212) 555-0188}} (fax).",
    ],
)
def test_phone_and_fax(marked):
    assert_marked(marked)


@pytest.mark.parametrize(
    "marked",
    [
        "write to {{EMAIL|pnatarajan@cedargrovehealth.org}}",
        "join {{URL|https://telehealth.example.com/room/84421}} now",
        "from IP {{IP|73.158.24.201}} and {{IP|2001:db8:85a3::8a2e:370:7334}}",
        "SSN: {{SSN|123-45-6789}}; last four of SSN {{SSN|6612}}",
        "MRN: {{MRN|00482913}}, Med Rec No.: {{MRN|0091-223-41}}",
        "Member ID: {{HEALTH_PLAN|XEH448201937}}   Group #: {{HEALTH_PLAN|0084421}}",
        "Medicare MBI: {{HEALTH_PLAN|1EG4-TE5-MK73}}",
        "Acct #: {{ACCOUNT|7720019384}}; Claim #: {{ACCOUNT|CLM-2024-0098812}}",
        "NPI {{LICENSE|1487654321}}, DEA {{LICENSE|BW4438120}}, license {{LICENSE|MD-0047711}}",
        "VIN {{VEHICLE|2HGFB2F59FH512734}}, plate {{VEHICLE|KLM 4471}}",
        "pump serial {{DEVICE|TS-1184402}}; S/N {{DEVICE|RNB204871H}}",
        "Accession #: {{ID|RAD-20240311-0457}}; handle @{{ID|ethan_rmz99}}",
    ],
)
def test_contact_details_and_numbers(marked):
    assert_marked(marked)


@pytest.mark.parametrize(
    "marked",
    [
        "lives at {{ADDRESS|1450 Linden Avenue, Apt 3C}}, {{CITY|Evanston}}, IL {{ZIP|60201}}",
        "{{ADDRESS|2217 N. Halsted St.}} in {{CITY|Chicago}}",
        "mail to {{ADDRESS|PO Box 882}}, {{CITY|Harlan}}, KY {{ZIP|40831}}",
        "Address: {{ADDRESS|88 Beacon Street}}, {{CITY|Somerville}}, MA {{ZIP|02143-1720}}",
        "She moved to {{CITY|Sacramento}} in 2015.",
        "lives in {{CITY|Kettering}} with her son",
    ],
)
def test_places(marked):
    assert_marked(marked)


@pytest.mark.parametrize(
    "marked",
    [
        "presented to {{FACILITY|Riverside General Hospital}} ED",
        "lives at {{FACILITY|Cedar Grove Assisted Living}}",
        "implanted at {{FACILITY|St. Vincent's Hospital}}",
        "under my care at {{FACILITY|Crestview Rheumatology}}",
        "colonoscopy at {{FACILITY|MGH}}",
        "works as a truck driver for {{FACILITY|Sierra Freight}}",
    ],
)
def test_facilities(marked):
    assert_marked(marked)


def test_department_names_are_not_facilities():
    assert "FACILITY" not in found("Seen in the Cardiology Clinic and the Emergency Department.")


# ----------------------------------------------------------------------------------- the contract


NOTE = (
    "Patient: Margaret A. Thornton   MRN: 00482913   DOB: 04/17/1952\n"
    "Mrs. Thornton was admitted on 03/02/2024 and discharged on 03/09/2024 to 12 Oak Street,\n"
    "Boston, MA 02118. Her husband Harold (617-555-0148) will drive her home. Dr. Feldman follows.\n"
)


def test_offsets_are_character_offsets_into_the_input():
    text = "Ünïcödé prefix — Mr. José Peña, MRN 00482913 ✓"
    for e in phi.detect(text):
        assert 0 <= e.begin < e.end <= len(text)
    values = {text[e.begin : e.end] for e in phi.detect(text)}
    assert {"José Peña", "00482913"} <= values


def test_entities_are_sorted_and_never_overlap():
    entities = phi.detect(NOTE)
    assert entities == sorted(entities, key=lambda e: e.begin)
    for a, b in itertools.pairwise(entities):
        assert a.end <= b.begin
    assert all(e.type in phi.TYPES and 0.0 < e.score <= 1.0 for e in entities)


def test_tag_mode():
    out = phi.deidentify(NOTE, "tag").redacted_text
    assert out.startswith("Patient: [NAME]   MRN: [MRN]   DOB: [DATE]\nMrs. [NAME] was admitted on [DATE]")
    assert "[ADDRESS],\n[CITY], MA [ZIP]" in out and "Dr. [NAME] follows" in out


def test_mask_mode_keeps_every_offset():
    result = phi.deidentify(NOTE, "mask")
    assert len(result.redacted_text) == len(NOTE)
    for e in result.entities:
        assert set(result.redacted_text[e.begin : e.end]) <= {"*", "\n"}
    masked = {i for e in result.entities for i in range(e.begin, e.end)}
    assert all(result.redacted_text[i] == NOTE[i] for i in range(len(NOTE)) if i not in masked)


def test_surrogates_are_consistent_realistic_and_new():
    result = phi.deidentify(NOTE, "surrogate", seed=11)
    out = result.redacted_text
    for original in ("Margaret", "Thornton", "00482913", "04/17/1952", "Harold", "617-555-0148", "02118"):
        assert original not in out
    # the same surname gets the same fake everywhere ("Margaret A. Thornton" ... "Mrs. Thornton")
    full = re.search(r"Patient: (\w+) ([A-Z])\. (\w+)", out)
    assert full and f"Mrs. {full.group(3)} was admitted" in out
    assert re.search(r"MRN: \d{8}   DOB: \d{2}/\d{2}/\d{4}", out)
    assert re.search(r"\(\d{3}-\d{3}-\d{4}\)", out)
    # same seed, same surrogates; another seed, other ones
    assert phi.deidentify(NOTE, "surrogate", seed=11).redacted_text == out
    assert phi.deidentify(NOTE, "surrogate", seed=12).redacted_text != out


def test_date_shift_keeps_intervals():
    text = "Admitted 03/02/2024, surgery on March 4, 2024, discharged 2024-03-09; follow-up 3/21."
    out = phi.deidentify(text, "surrogate", seed=3).redacted_text
    dates = re.search(
        r"Admitted (\d\d)/(\d\d)/(\d{4}), surgery on (\w+) (\d+), (\d{4}), discharged (\d{4})-(\d\d)-(\d\d);"
        r" follow-up (\d+)/(\d+)\.",
        out,
    )
    assert dates, out
    g = dates.groups()
    admitted = dt.date(int(g[2]), int(g[0]), int(g[1]))
    surgery = dt.datetime.strptime(f"{g[3]} {g[4]} {g[5]}", "%B %d %Y").date()
    discharged = dt.date(int(g[6]), int(g[7]), int(g[8]))
    assert admitted != dt.date(2024, 3, 2)
    assert (surgery - admitted).days == 2 and (discharged - admitted).days == 7
    # the month/day without a year moved by the same number of days
    follow_up = dt.date(
        admitted.year if admitted.month <= int(g[9]) else admitted.year + 1, int(g[9]), int(g[10])
    )
    assert (follow_up - admitted).days == 19


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("03/02/2024", 10, "03/12/2024"),
        ("3/2/24", -3, "2/28/24"),
        ("2024-12-30", 5, "2025-01-04"),
        ("March 21, 2024", 11, "April 1, 2024"),
        ("Mar 3, 1961", 1, "Mar 4, 1961"),
        ("14-Feb-2024", 1, "15-Feb-2024"),
        ("2nd March 2024", 1, "3rd March 2024"),
        ("June 2019", 30, "July 2019"),
        ("MARCH 1", -1, "FEBRUARY 28"),
        ("12/31", 1, "1/1"),
        ("Christmas Eve", 1, "December 25"),
        ("11.03.2024", 1, "11.04.2024"),
        ("17/08/2016", 1, "18/08/2016"),
    ],
)
def test_shift_date_formats(value, days, expected):
    assert phi.shift_date(value, days, random.Random(0)) == expected


def test_limit_and_modes_are_part_of_the_contract():
    assert phi.MAX_CHARACTERS == 20_000
    assert phi.MODES == ("tag", "mask", "surrogate")
    with pytest.raises(ValueError):
        phi.redact("x", [], "shred")  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300))
def test_any_text_gives_valid_non_overlapping_entities(text):
    entities = phi.detect(text)
    previous_end = 0
    for e in entities:
        assert previous_end <= e.begin < e.end <= len(text)
        previous_end = e.end
    assert len(phi.redact(text, entities, "mask")) == len(text)


# ------------------------------------------------------------------------------ evaluation corpus


@pytest.fixture(scope="module")
def corpus():
    return load_corpus(CORPUS)


def test_corpus_is_varied(corpus):
    types = {g.type for note in corpus for g in note.gold}
    assert types == set(phi.TYPES)
    assert len(corpus) >= 40 and sum(len(n.gold) for n in corpus) >= 400
    assert {n.split for n in corpus} == {"dev", "heldout"}


def test_recall_on_the_evaluation_corpus(corpus):
    # (a) the project's corpus, under i2b2-2014 token conventions (see devtools.deid_eval)
    report = evaluate(corpus)
    overall = report.overall.as_dict()
    assert overall["token_recall"] >= 0.95, report.table()
    assert overall["entity_recall"] >= 0.95, report.table()
    heldout = evaluate([n for n in corpus if n.split == "heldout"]).overall.as_dict()
    assert heldout["token_recall"] >= 0.95
    assert overall["char_precision"] >= 0.85, report.table()  # recall first, but not by tagging everything
    assert report.leaked == []


@pytest.mark.parametrize("mode", ["tag", "mask"])
def test_redacted_corpus_contains_none_of_the_gold_identifiers(corpus, mode):
    leaks = []
    for note in corpus:
        redacted = phi.deidentify(note.text, mode).redacted_text
        for g in note.gold:
            value = note.value(g)
            if re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", redacted):
                leaks.append((note.id, g.type, value))
    assert leaks == []


def test_surrogate_corpus_keeps_no_name_or_number(corpus):
    leaks = []
    for note in corpus:
        redacted = phi.deidentify(note.text, "surrogate", seed=1).redacted_text
        for g in note.gold:
            value = note.value(g)
            if g.type in (
                "NAME",
                "MRN",
                "SSN",
                "EMAIL",
                "PHONE",
                "HEALTH_PLAN",
                "ACCOUNT",
                "DEVICE",
                "VEHICLE",
            ):
                if len(value) > 2 and re.search(r"(?<!\w)" + re.escape(value) + r"(?!\w)", redacted):
                    leaks.append((note.id, g.type, value))
    assert leaks == []


def test_eval_command_prints_per_type_recall_and_precision(capsys):
    from devtools.cli import main

    assert main(["eval", "deid", "--set", "project", "--split", "heldout", "--min-recall", "0.95"]) == 0
    out = capsys.readouterr().out
    assert "OVERALL" in out and "NAME" in out and "t-rec" in out and "c-prec" in out and "leaked" in out
    assert main(["eval", "deid", "--set", "project", "--signal", "rules", "--min-recall", "1.01"]) == 1
