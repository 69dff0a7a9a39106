"""Generated clinical notes with gold PHI spans, for training and measuring the de-identifier.

Templates of note kinds (discharge summaries, clinic and consult notes, ED, operative and telephone
notes, letters) filled with names, places and organisations from faker's locale lists (many
countries: names of every origin, as in real patient populations), and clinical sentences of this
module's own bank. Noise as in real notes: ``Last, First`` and ``LAST,FIRST`` headers, lower-case
signature and dictation lines, transcriptionist initials, partial dates (``5/81``, ``2/19``, a month
alone), ISO ``Record date:`` headers, all-caps unit and hospital names without an institution word,
identifiers with dashes and slashes, lines broken mid-sentence (OCR / copy-paste), whole lines in
capitals or lower case.

Splits (:func:`notes`): ``train``, ``dev`` and ``heldout`` use disjoint seeds, and disjoint name
words too: a name word's CRC32 bucket decides which split may use it (0-6 train, 7 dev, 8-9
held-out), so held-out notes measure names the model never saw.

Annotation (i2b2-2014 conventions, as ``tests/data/deid_corpus.txt``): titles and credentials are
outside names; dates are whole spans (the evaluation leaves the year out); ages over 89 only.

Run ``python training/deid_notes.py --split dev --n 3`` to print notes in the corpus markup.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from faker import Faker

__all__ = ["SPLITS", "GeneratedNote", "name_bucket", "notes", "to_markup"]

SPLITS = ("train", "dev", "heldout")
_SEED_BASE = {"train": 1_000_000, "dev": 2_000_000, "heldout": 3_000_000}
_BUCKETS = {"train": range(0, 7), "dev": range(7, 8), "heldout": range(8, 10)}

# Latin-script locales with person and address providers: names of many origins.
_LOCALES = (
    "en_US",
    "en_US",
    "en_US",
    "en_GB",
    "en_IE",
    "en_IN",
    "en_NG",
    "de_DE",
    "fr_FR",
    "es_ES",
    "es_MX",
    "it_IT",
    "nl_NL",
    "sv_SE",
    "pl_PL",
    "pt_BR",
    "fi_FI",
    "da_DK",
    "no_NO",
    "yo_NG",
    "zu_ZA",
    "id_ID",
    "tr_TR",
    "cs_CZ",
)
_FAKERS: dict[str, Faker] = {}


_WORD_LIKE_SHARE = 0.3  # training people whose surname (and often given name) is an English word
_WORD_LIKE_MIN_FREQUENCY = 200  # as the safe list's default: a word the safe list holds


@functools.lru_cache(maxsize=1)
def _english_frequencies() -> dict[str, int]:
    """pyspellchecker's English word frequencies (the source of the safe list), read once."""
    import spellchecker

    resources = Path(spellchecker.__file__).resolve().parent / "resources" / "en.json.gz"
    return json.loads(gzip.decompress(resources.read_bytes()))


def _is_word_like(value: str) -> bool:
    """Every word of the name is a common English word, on none of the lexicon's name lists."""
    import medserve.text.deid.lexicon as lex

    words = value.lower().replace("-", " ").split()
    frequencies = _english_frequencies()
    return all(
        w.isalpha()
        and frequencies.get(w, 0) >= _WORD_LIKE_MIN_FREQUENCY
        and w not in lex.FIRST_NAMES
        and w not in lex.SURNAMES
        for w in words
    )


def name_bucket(word: str) -> int:
    """Which split may use a name word (stable across processes, unlike ``hash``)."""
    return zlib.crc32(word.lower().encode()) % 10


def _faker(locale: str) -> Faker:
    if locale not in _FAKERS:
        fake = Faker(locale)
        for provider in fake.get_providers():
            # it_IT builds its city list from a set: its order, and so the city a seed draws,
            # changed with the process's string hashing. Sorted, a note depends on its seed only.
            if isinstance(getattr(provider, "cities", None), list):
                provider.cities = sorted(provider.cities)
        _FAKERS[locale] = fake
    return _FAKERS[locale]


@dataclass
class GeneratedNote:
    id: str
    text: str
    spans: list[tuple[str, int, int]]  # (type, begin, end)
    split: str


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    length: int = 0

    def add(self, text: str) -> _Builder:
        self.parts.append(text)
        self.length += len(text)
        return self

    def phi(self, type_: str, value: str) -> _Builder:
        self.spans.append((type_, self.length, self.length + len(value)))
        return self.add(value)

    def seq(self, *items: str | tuple[str, str]) -> _Builder:
        for item in items:
            if isinstance(item, tuple):
                self.phi(*item)
            else:
                self.add(item)
        return self

    def text(self) -> str:
        return "".join(self.parts)


class _World:
    """One note's people, places and dates, drawn for one split."""

    def __init__(self, rng: random.Random, split: str) -> None:
        self.rng = rng
        self.split = split
        self.locale = rng.choice(_LOCALES)
        self._seeded: set[str] = set()
        self.fake = self.faker(self.locale)
        self.year = (
            rng.randint(1995, 2035) if rng.random() < 0.6 else rng.randint(2060, 2099)
        )  # i2b2 shifts years

    def faker(self, locale: str) -> Faker:
        """The locale's faker, seeded from this note's seed at its first use in the note: a note
        is the same whatever was generated before it."""
        fake = _faker(locale)
        if locale not in self._seeded:
            fake.seed_instance(self.rng.getrandbits(32))
            self._seeded.add(locale)
        return fake

    # -- names ---------------------------------------------------------------------------------
    def _word(self, draw: Callable[[], str], *, word_like: bool = False) -> str:
        if word_like:  # a name that is an English word too, else an ordinary draw
            for _ in range(60):
                value = draw().strip()
                if self._usable(value) and _is_word_like(value):
                    return value
        for _ in range(40):
            value = draw().strip()
            if self._usable(value):
                return value
        return value

    def _usable(self, value: str) -> bool:
        words = value.replace("-", " ").split()
        return (
            bool(value) and all(name_bucket(w) in _BUCKETS[self.split] for w in words) and value.isprintable()
        )

    def person(self, locale: str | None = None) -> tuple[str, str, str]:
        fake = (
            self.faker(locale)
            if locale
            else (self.fake if self.rng.random() < 0.7 else self.faker(self.rng.choice(_LOCALES)))
        )
        # Training notes only (dev and held-out notes stay as they were): more names that are
        # English words too ("Hope", "Wing"), drawn from faker's lists of the training buckets, so
        # that the model learns them by their place in the note rather than by the word.
        word_like = self.split == "train" and self.rng.random() < _WORD_LIKE_SHARE
        first = self._word(fake.first_name, word_like=word_like and self.rng.random() < 0.6)
        last = self._word(fake.last_name, word_like=word_like)
        middle = self.rng.choice("ABCDEFGHJKLMNPRSTW")
        return first, last, middle

    def name(self, person: tuple[str, str, str], style: str | None = None) -> str:
        first, last, middle = person
        style = style or self.rng.choice(
            [
                "First Last",
                "First Last",
                "First M. Last",
                "F. Last",
                "Last",
                "First",
                "Last, First",
                "LAST, FIRST",
            ]
        )
        return {
            "First Last": f"{first} {last}",
            "First M. Last": f"{first} {middle}. {last}",
            "First M Last": f"{first} {middle} {last}",
            "F. Last": f"{first[0]}. {last}",
            "Last": last,
            "First": first,
            "Last, First": f"{last}, {first}",
            "Last, First M": f"{last}, {first} {middle}",
            "LAST, FIRST": f"{last.upper()}, {first.upper()}",
            "LAST,FIRST": f"{last.upper()},{first.upper()}",
            "Last,First": f"{last},{first}",
            "LAST, FIRST M": f"{last.upper()}, {first.upper()} {middle}",
            "first last": f"{first.lower()} {last.lower()}",
            "last": last.lower(),
            "flast": f"{first[0].lower()}{last.lower()}",
            "f. last": f"{first[0].lower()}. {last.lower()}",
            "FIRST LAST": f"{first.upper()} {last.upper()}",
        }[style]

    def header_name(self, person: tuple[str, str, str]) -> str:
        return self.name(
            person,
            self.rng.choice(
                [
                    "LAST,FIRST",
                    "LAST, FIRST",
                    "Last, First",
                    "Last,First",
                    "Last, First M",
                    "LAST, FIRST M",
                    "First Last",
                    "FIRST LAST",
                ]
            ),
        )

    def clinician(self) -> tuple[str, str, str]:
        return self.person()

    # -- places and organisations ----------------------------------------------------------------
    def city(self) -> str:
        fake = self.fake if self.rng.random() < 0.6 else self.faker("en_US")
        return fake.city()

    def street(self) -> str:
        fake = self.fake if self.rng.random() < 0.5 else self.faker("en_US")
        return fake.street_address()

    def zip(self) -> str:
        return self.faker("en_US").zipcode()

    def facility(self) -> str:
        """A hospital, clinic or unit name; sometimes bare capitals with no institution word."""
        rng = self.rng
        fake = self.faker("en_US")

        def draw() -> str:
            kind = rng.random()
            if kind < 0.35:
                return fake.last_name()
            if kind < 0.6:
                return fake.city()
            if kind < 0.8:
                return f"{rng.choice(_NATURE_A)} {rng.choice(_NATURE_B)}"
            return self.fake.last_name()

        base = self._word(draw)
        style = rng.random()
        if style < 0.3:
            return base.upper()  # "NORTHGATE", "CEDAR HOLLOW"
        if style < 0.45:
            return f"{base.upper()} {rng.choice(_INSTITUTIONS_CAPS)}"
        if style < 0.55:
            return f"{rng.choice(['St.', 'Saint', 'Mount'])} {fake.first_name()} {rng.choice(_INSTITUTIONS)}"
        return f"{base} {rng.choice(_INSTITUTIONS)}"

    def company(self) -> str:
        fake = self.fake if self.rng.random() < 0.5 else self.faker("en_US")
        return fake.company()

    # -- dates and numbers ---------------------------------------------------------------------
    def date(self, style: str | None = None) -> str:
        rng = self.rng
        y = self.year + rng.randint(-3, 0)
        m, d = rng.randint(1, 12), rng.randint(1, 28)
        yy = f"{y % 100:02d}"
        style = style or rng.choice(
            [
                "m/d/yyyy",
                "mm/dd/yyyy",
                "m/d/yy",
                "m/d",
                "m/d",
                "m/yy",
                "m/yyyy",
                "iso",
                "Month d, yyyy",
                "Mon d",
                "Month",
                "Month yyyy",
                "d Month yyyy",
                "dd-Mon-yyyy",
                "mm/dd/yy",
                "m-d-yy",
                "Month dth",
            ]
        )
        month, mon = _MONTHS[m - 1], _MONTHS[m - 1][:3]
        return {
            "m/d/yyyy": f"{m}/{d}/{y}",
            "mm/dd/yyyy": f"{m:02d}/{d:02d}/{y}",
            "m/d/yy": f"{m}/{d}/{yy}",
            "mm/dd/yy": f"{m:02d}/{d:02d}/{yy}",
            "m-d-yy": f"{m}-{d}-{yy}",
            "m/d": f"{m}/{d}",
            "m/yy": f"{m}/{yy}",
            "m/yyyy": f"{m}/{y}",
            "iso": f"{y}-{m:02d}-{d:02d}",
            "Month d, yyyy": f"{month} {d}, {y}",
            "Mon d": f"{mon} {d}",
            "Month": month,
            "Month yyyy": f"{month} {y}",
            "d Month yyyy": f"{d} {month} {y}",
            "dd-Mon-yyyy": f"{d:02d}-{mon}-{y}",
            "Month dth": f"{month} {d}{_suffix(d)}",
        }[style]

    def mrn(self) -> str:
        rng = self.rng
        digits = lambda n: "".join(rng.choice("0123456789") for _ in range(n))  # noqa: E731
        letters = lambda n: "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(n))  # noqa: E731
        return rng.choice(
            [
                lambda: digits(rng.randint(6, 9)),
                lambda: f"{digits(3)}-{digits(2)}-{digits(2)}",
                lambda: f"{digits(3)}-{digits(2)}-{digits(2)}-{digits(1)}",
                lambda: f"{letters(2)}{digits(3)}/{digits(5)}",
                lambda: f"{letters(2)}-{digits(6)}",
                lambda: f"{letters(1)}-{digits(5)}-{digits(2)}",
                lambda: f"{digits(4)}-{digits(4)}",
                lambda: f"{letters(2)}{digits(2)}-{digits(5)}",
                lambda: f"{digits(5)}/{digits(4)}",
                lambda: f"{letters(1)}{digits(7)}",
            ]
        )()

    def phone(self) -> str:
        rng = self.rng
        a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
        return rng.choice(
            [
                f"({a}) {b}-{c:04d}",
                f"{a}-{b}-{c:04d}",
                f"{a}.{b}.{c:04d}",
                f"{b}-{c:04d}",
                f"{rng.randint(10000, 99999)}",
            ]
        )

    def phone_into(self, b: _Builder) -> None:
        """A phone number, or an extension: ``x`` is the label, the digits the identifier."""
        if self.rng.random() < 0.15:
            b.seq(self.rng.choice(["x", "ext. ", "x"]), ("PHONE", f"{self.rng.randint(1000, 9999)}"))
        else:
            b.phi("PHONE", self.phone())

    def age(self) -> str:
        return str(self.rng.randint(90, 104))


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_NATURE_A = (
    "Cedar",
    "Maple",
    "Oak",
    "Pine",
    "Willow",
    "Birch",
    "Stone",
    "River",
    "Lake",
    "Elm",
    "Ash",
    "Fox",
    "Harbor",
    "Spring",
    "Meadow",
    "Silver",
    "Green",
    "North",
    "West",
    "Glen",
)
_NATURE_B = (
    "Hollow",
    "Ridge",
    "Brook",
    "Valley",
    "Crest",
    "Field",
    "Hill",
    "Wood",
    "Gate",
    "View",
    "Point",
    "Haven",
    "Creek",
    "Park",
    "Grove",
    "Bend",
    "Heights",
    "Shore",
    "Falls",
    "Run",
)
_INSTITUTIONS = (
    "Hospital",
    "Medical Center",
    "General Hospital",
    "Clinic",
    "Health Center",
    "Rehabilitation Center",
    "Nursing Home",
    "Family Practice",
    "Pharmacy",
    "Cancer Center",
    "Memorial Hospital",
    "Home Care",
    "Health",
    "Dialysis Unit",
    "Surgical Associates",
    "Pediatrics",
)
_INSTITUTIONS_CAPS = (
    "HOSPITAL",
    "MEDICAL CENTER",
    "GENERAL",
    "CLINIC",
    "HEALTH CENTER",
    "REHAB UNIT",
    "MEMORIAL",
    "HEALTH",
)
_CREDENTIALS = ("MD", "M.D.", "MD", "DO", "NP", "RN", "PA-C", "MD PhD", "FNP", "PharmD", "LICSW", "PT")
_TITLES = ("Dr.", "Dr", "Mr.", "Mrs.", "Ms.", "Ms", "Mr", "Miss")
_RELATIONS = (
    "wife",
    "husband",
    "daughter",
    "son",
    "sister",
    "brother",
    "mother",
    "father",
    "niece",
    "nephew",
    "partner",
    "friend",
    "neighbor",
    "granddaughter",
    "caregiver",
)


def _suffix(d: int) -> str:
    return "th" if 10 <= d % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")


# Clinical sentences with no PHI: the words a de-identifier must leave alone (capitalised
# eponyms, drugs, units, abbreviations, headings), and slots {n} for numbers.
_CLINICAL = (
    "Patient denies chest pain, shortness of breath or palpitations.",
    "Lungs clear to auscultation bilaterally. Heart regular rate and rhythm, no murmurs.",
    "Abdomen soft, nontender, nondistended. Bowel sounds present.",
    "Started on metoprolol tartrate {n} mg twice daily and lisinopril {n} mg daily.",
    "Continue atorvastatin {n} mg at bedtime. Aspirin 81 mg daily.",
    "Hemoglobin A1c {n}.{n}% , up from last check. Increase metformin to 1000 mg twice daily.",
    "CT chest with contrast showed no pulmonary embolism.",
    "MRI of the lumbar spine: L4-L5 disc herniation with mild foraminal narrowing.",
    "Parkinson disease, on carbidopa-levodopa, with mild tremor.",
    "History of Crohn disease, last flare two years ago, on adalimumab.",
    "Foley catheter removed on hospital day {n}; voiding without difficulty.",
    "Bell palsy on the left, improving with prednisone.",
    "Hashimoto thyroiditis on levothyroxine {n} mcg daily. TSH normal.",
    "Alzheimer dementia, moderate, lives in assisted living with supervision.",
    "EKG: normal sinus rhythm, rate {n}, no ST changes.",
    "Vitals: T 37.{n}, HR {n}, BP 1{n}/7{n}, RR 16, SpO2 9{n}% on room air.",
    "Wound clean, dry and intact. Staples removed.",
    "Physical therapy recommends a walker and home PT.",
    "Social work consulted for discharge planning.",
    "Pain controlled with acetaminophen and oxycodone {n} mg as needed.",
    "Blood cultures x2 negative at 48 hours.",
    "Urinalysis positive for leukocyte esterase and nitrites; started ceftriaxone.",
    "Creatinine {n}.{n}, at baseline. Potassium {n}.{n}.",
    "Echo: EF 5{n}%, mild mitral regurgitation, no pericardial effusion.",
    "Continue home medications. Follow up with primary care in one week.",
    "Tolerating a regular diet. Ambulating independently.",
    "Allergies: penicillin (hives), sulfa.",
    "No known drug allergies.",
    "Denies tobacco, alcohol or illicit drug use.",
    "Former smoker, {n} pack-years, quit {n} years ago.",
    "Glasgow Coma Scale 15. Pupils equal, round and reactive to light.",
    "Cranial nerves II through XII intact. Strength 5/5 throughout.",
    "Chest X-ray: no focal consolidation, effusion or pneumothorax.",
    "Type 2 diabetes mellitus, hypertension, hyperlipidemia, obesity.",
    "COPD with chronic hypoxic respiratory failure on {n} L home oxygen.",
    "Atrial fibrillation, rate controlled, on apixaban {n} mg twice daily.",
    "Heparin drip discontinued; transitioned to warfarin with INR goal 2-3.",
    "Influenza and pneumococcal vaccines up to date.",
    "Reviewed labs, imaging and medications with the patient.",
    "Plan discussed with the patient, who agrees.",
    "Return precautions reviewed: fever, worsening pain, bleeding.",
    "Gram stain with gram-positive cocci in clusters.",
    "Whipple procedure {n} years ago for pancreatic adenocarcinoma.",
    "Nissen fundoplication in the past for GERD.",
    "Apgar scores 8 and 9. Birth weight {n} g.",
    "Mini-Mental State Examination 2{n}/30.",
    "Holter monitor showed paroxysms of SVT.",
    "Glucose {n}{n}, sodium 13{n}, chloride 10{n}, bicarbonate 2{n}.",
    "Hepatitis B surface antigen negative. HIV negative.",
    "Depression screen PHQ-9 score {n}.",
    "Colonoscopy with two tubular adenomas removed.",
    "Mammogram BI-RADS 2, benign.",
    "Gabapentin {n}00 mg at night for neuropathic pain.",
    "Insulin glargine {n} units at bedtime with lispro sliding scale.",
    "Levofloxacin {n}00 mg daily for 7 days.",
    "Furosemide 40 mg IV twice daily with good diuresis.",
    "Lasix held for hypotension. Weight down {n} kg.",
    "Seen and examined with the team on rounds.",
    "Full code. Health care proxy on file.",
    "DNR/DNI per discussion with the patient and family.",
    "Hospice information provided.",
    "Troponin negative x3. Stress test scheduled as outpatient.",
    "Knee X-ray: tricompartmental osteoarthritis.",
    "Tylenol and ice for the sprain; crutches provided.",
    "The patient was prepped and draped in the usual sterile fashion.",
    "Estimated blood loss {n}0 mL. No complications.",
    "Specimens sent to pathology.",
    "Sponge and needle counts were correct.",
    "Graves disease, status post radioactive iodine.",
    "Cushing syndrome was ruled out with a dexamethasone suppression test.",
    "Babinski sign negative bilaterally. Romberg negative.",
    "Murphy sign positive. Right upper quadrant ultrasound with gallstones.",
    "Apley and McMurray tests negative.",
    "Hodgkin lymphoma in remission after ABVD.",
    "Down syndrome, lives with family, attends a day program.",
    "Tourette syndrome, stable on current therapy.",
    "Dressing changed. Pressure injury stage 2 on sacrum.",
    "PICC line placed in the right basilic vein.",
    "Dialysis Monday, Wednesday and Friday via left arm fistula.",
    "Medication reconciliation completed.",
    "Took 1/2 tablet of lorazepam last night. Pain {n}/10 today.",
    "Strength {n}/5 in the left leg, 5/5 elsewhere. Reflexes 2+ and symmetric.",
    "BP 1{n}{n}/{n}{n}, HR {n}{n}. Ratio 1/{n}. Ejection fraction {n}0-{n}5%.",
    "MMSE 2{n}/30, MoCA {n}{n}/30. PHQ-9 {n}, GAD-7 {n}.",
    "G{n}P{n}, {n}{n}w{n}d by early ultrasound. GBS negative.",
    "Quit smoking in 20{n}{n}. CABG in 19{n}{n}. Cholecystectomy 20{n}{n}.",
    "Diagnosed in 20{n}{n}; on insulin since 20{n}{n}.",
    "NSCLC stage IIIA, s/p chemoradiation. HRCT with ground glass. DLCO {n}{n}%.",
    "CHF, CKD 3, DM2, HTN, HLD, OSA on CPAP, GERD, BPH.",
    "NPO after midnight. IVF D5 1/2 NS at {n}00 mL/h. Heparin SQ TID.",
    "CBC: WBC {n}.{n}, Hgb 1{n}.{n}, Plt {n}{n}0. BMP unremarkable. LFTs normal.",
    "TTE: LVEF {n}5%, RVSP {n}{n} mmHg. TEE negative for vegetation.",
    "Transferred to the MICU for BiPAP; back to the floor on hospital day {n}.",
    "Seen in the ED, then admitted to the SICU. Trauma team and ortho consulted.",
    "Ortho, GI and ID following. PT/OT recommend rehab.",
    "{n}{n}F with HFpEF and AF presenting with dyspnea. {n}{n}M with COPD.",
    "Tylenol 650 mg q6h prn, Zofran 4 mg q8h prn, Colace 100 mg BID.",
    "Code status: full. HCP: daughter. MOLST on file.",
    "A1c {n}.{n}% (goal < 7). LDL {n}{n}. TSH {n}.{n}. Vitamin D {n}{n}.",
    "Dose 1 of 3. Week {n} of 12. Cycle {n} day {n}. Visit {n}/{n} of PT.",
    "Meds: ASA 81, Lipitor 40, Toprol XL 50, Norvasc 5, Plavix 75, Eliquis 5 BID.",
    "Hep A/B immune. Tdap 20{n}{n}. Shingrix x2. COVID vaccine x{n}.",
    "Follow-up in {n} weeks. Labs in {n} months. Repeat imaging in 6-{n} weeks.",
    "Lives alone, independent in ADLs and IADLs, walks with a cane.",
    "Per nursing, slept well overnight. Per pharmacy, no interactions.",
    "Discussed with the attending, the fellow and the resident on call.",
    "Sent to pathology. Frozen section benign. Final read pending.",
    "Gleason 3+4. PSA {n}.{n}. Bone scan negative.",
    "Wells score {n}. CHA2DS2-VASc {n}. HAS-BLED {n}. NYHA class II.",
    "ECG: ST depression in V4-V6, Q waves in II, III and aVF. NSTEMI ruled in.",
    "STEMI alert activated; cath showed 90% LAD and 70% RCA stenosis, DES x2.",
    "CXR with RLL infiltrate. CT A/P: no SBO. KUB unremarkable.",
    "HFrEF, NYHA III, on GDMT: Entresto, Jardiance, Coreg and Aldactone.",
    "Patient is NPO; GI to perform EGD and ERCP. MRCP with CBD stone.",
    "ABG 7.3{n}/4{n}/6{n}. Lactate {n}.{n}. Procalcitonin 0.{n}.",
    "AKI on CKD, FENa 0.{n}%. Renal US without hydronephrosis.",
    "SBP 1{n}0s, MAP > 65 on norepinephrine. ICU team aware.",
    "NIHSS {n}. tPA not given, outside window. MRI DWI with L MCA infarct.",
)
_HEADINGS = (
    "HISTORY OF PRESENT ILLNESS",
    "HPI",
    "PAST MEDICAL HISTORY",
    "MEDICATIONS",
    "ALLERGIES",
    "SOCIAL HISTORY",
    "FAMILY HISTORY",
    "PHYSICAL EXAMINATION",
    "REVIEW OF SYSTEMS",
    "ASSESSMENT AND PLAN",
    "HOSPITAL COURSE",
    "IMPRESSION",
    "PLAN",
    "LABS",
    "DISPOSITION",
    "Assessment",
    "Plan",
    "Exam",
    "A/P",
    "S",
    "O",
)
_KINDS = (
    "DISCHARGE SUMMARY",
    "CLINIC NOTE",
    "PROGRESS NOTE",
    "CONSULTATION",
    "EMERGENCY DEPARTMENT NOTE",
    "OPERATIVE REPORT",
    "HISTORY AND PHYSICAL",
    "TELEPHONE ENCOUNTER",
    "Cardiology Clinic",
    "Internal Medicine Follow-up",
    "Pulmonary Consult",
    "Oncology Visit",
    "Renal Clinic",
    "Endocrinology",
    "Primary Care Note",
    "Geriatrics Home Visit",
    "Neurology Clinic",
    "Urgent Care",
)


def _clinical(rng: random.Random) -> str:
    sentence = rng.choice(_CLINICAL)
    while "{n}" in sentence:
        sentence = sentence.replace("{n}", str(rng.randint(1, 9)), 1)
    return sentence


def _sentences(b: _Builder, w: _World, n: int) -> None:
    for _ in range(n):
        b.add(_clinical(w.rng) + " ")


def _initials(rng: random.Random) -> str:
    """A transcriptionist's initials ("mz"), never a credential ("np", "pa")."""
    while True:
        value = "".join(rng.choice("abcdefghjklmnprstwz") for _ in range(2))
        if value not in ("np", "pa", "rn", "md", "do", "pt", "ot", "ms", "dr", "mr"):
            return value


def _credential(rng: random.Random) -> str:
    return rng.choice(_CREDENTIALS)


# -- note sections ------------------------------------------------------------------------------


def _header(b: _Builder, w: _World, patient: tuple[str, str, str]) -> None:
    rng = w.rng
    if rng.random() < 0.6:
        b.seq("Record date: ", ("DATE", w.date("iso")), "\n\n")
    if rng.random() < 0.5:
        b.seq(("FACILITY", w.facility()), "\n")
    b.add(rng.choice(_KINDS) + "\n\n")
    label = rng.choice(
        ["Patient: ", "PATIENT: ", "Patient Name: ", "NAME: ", "RE: ", "Pt: ", "", "Name: ", "PATIENT NAME: "]
    )
    b.seq(label, ("NAME", w.header_name(patient)))
    sep = rng.choice(["\n", "   ", "    ", "\t"])
    for _ in range(rng.randint(1, 4)):
        kind = rng.random()
        b.add(sep)
        if kind < 0.35:
            b.seq(
                rng.choice(["MRN: ", "MR# ", "MRN ", "Medical Record #: ", "#", "Unit No: ", "ID: "]),
                ("MRN", w.mrn()),
            )
        elif kind < 0.55:
            b.seq(
                rng.choice(["DOB: ", "DOB ", "Date of birth: ", "D.O.B. "]),
                ("DATE", w.date(rng.choice(["mm/dd/yyyy", "m/d/yyyy", "iso", "Month d, yyyy"]))),
            )
        elif kind < 0.7:
            b.seq(
                rng.choice(["Admission Date: ", "Admit: ", "Date of service: ", "DOS: ", "Visit date: "]),
                ("DATE", w.date(rng.choice(["mm/dd/yyyy", "m/d/yy", "m/d/yyyy", "iso"]))),
            )
        elif kind < 0.8:
            b.seq(rng.choice(["Acct: ", "ACCT #: ", "Account: "]), ("ACCOUNT", w.mrn()))
        elif kind < 0.9:
            doc = w.clinician()
            b.seq(
                rng.choice(["Attending: ", "PCP: ", "ATTENDING: ", "Referring: ", "Surgeon: "]),
                (
                    "NAME",
                    w.name(
                        doc,
                        rng.choice(["First Last", "LAST, FIRST", "Last, First", "F. Last", "First M. Last"]),
                    ),
                ),
            )
            if rng.random() < 0.5:
                b.add(", " + _credential(rng))
        else:
            b.seq("Age: ", ("AGE", w.age()) if rng.random() < 0.3 else str(rng.randint(18, 89)))
    b.add("\n\n")


def _body(b: _Builder, w: _World, patient: tuple[str, str, str]) -> None:
    rng = w.rng
    title = rng.choice(["Mr.", "Mrs.", "Ms.", "Ms", "Mr", ""])
    for _ in range(rng.randint(2, 5)):
        heading = rng.choice(_HEADINGS)
        b.add(heading + rng.choice([": ", ":\n", "\n"]))
        for _ in range(rng.randint(1, 3)):
            _phi_sentence(b, w, patient, title)
            _sentences(b, w, rng.randint(0, 3))
        b.add("\n\n" if rng.random() < 0.7 else "\n")


def _phi_sentence(b: _Builder, w: _World, patient: tuple[str, str, str], title: str) -> None:
    rng = w.rng
    kind = rng.randrange(22)
    pname = w.name(patient, rng.choice(["Last", "Last", "First Last", "First"]))
    if kind == 0:
        age = ("AGE", w.age()) if rng.random() < 0.2 else str(rng.randint(20, 89))
        b.seq(
            f"{title} " if title else "",
            ("NAME", pname),
            " is a ",
            age,
            rng.choice([" year old ", " y/o ", "yo ", " year-old "]),
            rng.choice(["man", "woman", "M", "F", "patient"]),
            " who presented on ",
            ("DATE", w.date()),
            ". ",
        )
    elif kind == 1:
        rel = w.person(w.locale)
        b.seq(
            f"Her {rng.choice(_RELATIONS)} ",
            ("NAME", w.name(rel, rng.choice(["First", "First Last", "First"]))),
            rng.choice(
                [
                    " is at the bedside. ",
                    " visited today. ",
                    " helps with medications. ",
                    " can be reached at ",
                ]
            ),
        )
        if b.parts[-1].endswith("at "):
            w.phone_into(b)
            b.add(". ")
    elif kind == 2:
        b.seq(
            rng.choice(
                [
                    "Seen in ",
                    "Last visit ",
                    "Labs from ",
                    "Echo on ",
                    "MRI ",
                    "CT ",
                    "Colonoscopy in ",
                    "Stress test ",
                ]
            ),
            ("DATE", w.date()),
            rng.choice([" was unremarkable. ", " showed improvement. ", ": no acute findings. ", ". "]),
        )
    elif kind == 3:
        b.seq(
            rng.choice(
                [
                    "Transferred from ",
                    "Seen at ",
                    "Follow up at ",
                    "Referral to ",
                    "Previously treated at ",
                    "Outside records from ",
                ]
            ),
            ("FACILITY", w.facility()),
            rng.choice([". ", " for evaluation. ", " last year. "]),
        )
    elif kind == 4:
        b.seq(
            rng.choice(
                [
                    "Discussed with Dr. ",
                    "Per Dr. ",
                    "Seen with Dr. ",
                    "Ortho (Dr. ",
                    "Case reviewed with Dr. ",
                ]
            ),
            ("NAME", w.name(w.clinician(), rng.choice(["Last", "Last", "First Last", "F. Last"]))),
        )
        b.add(")." if b.parts[-2].endswith("(Dr. ") else ". ")
        b.add(" ")
    elif kind == 5:
        b.seq(
            rng.choice(["Lives in ", "Lives with family in ", "Moved from ", "Works in "]),
            ("CITY", w.city()),
            ". ",
        )
    elif kind == 6:
        b.seq(
            rng.choice(["Works at ", "Employed by ", "Retired from ", "Works nights at "]),
            ("FACILITY", w.company()),
            ". ",
        )
    elif kind == 7:
        b.seq(
            "Return visit ",
            ("DATE", w.date(rng.choice(["m/d", "Month", "Mon d", "Month dth", "m/d/yy"]))),
            ". ",
        )
    elif kind == 8:
        b.seq(
            rng.choice(["Symptoms since ", "Stable since ", "Worse since ", "Off work since "]),
            ("DATE", w.date(rng.choice(["Month", "m/yy", "Month yyyy", "m/d"]))),
            ". ",
        )
    elif kind == 9:
        b.seq(
            rng.choice(["Pathology accession ", "Specimen # ", "Requisition ", "Order #", "Job #: "]),
            ("ID", w.mrn()),
            ". ",
        )
    elif kind == 10:
        b.add(rng.choice(["Call back ", "Contact: ", "Phone ", "pager "]))
        w.phone_into(b)
        b.add(". ")
    elif kind == 11:
        state = w.faker("en_US").state_abbr() if rng.random() < 0.6 else w.faker("en_US").state()
        # States are not identifiers under Safe Harbor: in the text, never in a span.
        b.seq(
            rng.choice(["Address: ", "Lives at ", "Home: "]),
            ("ADDRESS", w.street()),
            ", ",
            ("CITY", w.city()),
        )
        b.seq(rng.choice([", ", " "]), state, " ", ("ZIP", w.zip()), ". ")
    elif kind == 12:
        b.seq(
            f"{title} " if title else "",
            ("NAME", pname),
            rng.choice(
                [
                    " tolerated the procedure well. ",
                    " reports feeling better. ",
                    " was counseled. ",
                    " agrees with the plan. ",
                ]
            ),
        )
    elif kind == 13:
        b.seq("Will see ", ("NAME", w.name(patient, "First")), " back in ", ("DATE", w.date("Month")), ". ")
    elif kind == 14:
        b.seq(
            rng.choice(["Thank you for referring ", "I saw ", "We saw "]),
            f"{title} " if title else "",
            ("NAME", w.name(patient, rng.choice(["Last", "First Last"]))),
            " in clinic today. ",
        )
    elif kind == 16:
        b.seq(
            ("NAME", w.name(patient, rng.choice(["Last", "First Last"]))),
            rng.choice(["'s ", " "]),
            rng.choice(["symptoms improved. ", "wife called. ", "labs were reviewed. ", "was seen by PT. "]),
        )
    elif kind == 17:
        rel = w.person(w.locale)
        b.seq(
            rng.choice(["Spoke with ", "Called ", "Updated ", "Left a message for "]),
            ("NAME", w.name(rel, rng.choice(["First Last", "First", "F. Last"]))),
            f" ({rng.choice(_RELATIONS)}) ",
        )
        if rng.random() < 0.5:
            b.add("at ")
            w.phone_into(b)
        b.add(". ")
    elif kind == 18:
        b.seq(
            "Seen with ",
            ("NAME", w.name(w.clinician(), rng.choice(["First Last", "first last", "Last"]))),
            ", " + _credential(rng),
            ", who agrees. ",
        )
    elif kind == 19:
        b.seq(
            rng.choice(["Admitted to ", "Sent to ", "Transferred to "]),
            ("FACILITY", w.facility()),
            " on ",
            ("DATE", w.date()),
            ". ",
        )
    elif kind == 20:
        b.seq(
            rng.choice(["Next appointment ", "Surgery scheduled ", "Seen last "]),
            ("DATE", w.date(rng.choice(["Month dth", "Mon d", "m/d", "Month d, yyyy"]))),
            rng.choice([" at 9:30. ", ". ", " with PT. "]),
        )
    else:
        _sentences(b, w, 1)


def _signature(b: _Builder, w: _World) -> None:
    rng = w.rng
    doc = w.clinician()
    kind = rng.randrange(8)
    if kind == 0:
        b.seq(
            rng.choice(["Dictated by: ", "Dictated by ", "DICTATED BY: "]),
            ("NAME", w.name(doc, rng.choice(["first last", "last", "First Last", "LAST, FIRST"]))),
        )
        if rng.random() < 0.6:
            b.add(", " + _credential(rng))
        b.add("\n")
        b.seq(
            "DD: ",
            ("DATE", w.date(rng.choice(["mm/dd/yy", "m/d/yy", "mm/dd/yyyy"]))),
            "  DT: ",
            ("DATE", w.date(rng.choice(["mm/dd/yy", "m/d/yy"]))),
            "\n",
        )
    elif kind == 1:
        b.seq(
            (
                "NAME",
                w.name(doc, rng.choice(["First Last", "First M. Last", "F. Last", "first last", "last"])),
            ),
            ", " + _credential(rng),
            "\n",
        )
    elif kind == 2:
        b.seq(
            ("NAME", w.name(doc, rng.choice(["last", "flast", "First Last"]))),
            "/",
            ("NAME", _initials(rng)),
            "\n",
        )
    elif kind == 3:
        b.seq(
            "Electronically signed by ",
            ("NAME", w.name(doc, rng.choice(["First Last", "First M. Last", "LAST, FIRST"]))),
            ", " + _credential(rng),
            " on ",
            ("DATE", w.date(rng.choice(["mm/dd/yyyy", "m/d/yy"]))),
            f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}\n",
        )
    elif kind == 4:
        b.seq(
            "-- ",
            ("NAME", w.name(doc, rng.choice(["flast", "f. last", "first last", "F. Last"]))),
            ", " + rng.choice(["RN", "NP", "PA-C", "MD"]),
            " ",
            ("DATE", w.date("m/d/yy")),
            "\n",
        )
    elif kind == 5:
        b.seq(
            "Sincerely,\n\n",
            ("NAME", w.name(doc, rng.choice(["First Last", "First M. Last"]))),
            ", " + _credential(rng),
            "\n",
        )
        if rng.random() < 0.5:
            b.seq("cc: ", ("NAME", w.name(w.clinician(), "First Last")), ", MD\n")
    elif kind == 6:
        other = w.clinician()
        b.seq(
            ("NAME", w.name(doc, rng.choice(["last", "First Last", "F. Last"]))),
            ", " + rng.choice(["np", "NP", "PA", "RN"]),
            " / ",
            ("NAME", w.name(other, rng.choice(["First Last", "F. Last"]))),
            ", MD\n",
        )
    elif kind == 7:
        b.seq(
            rng.choice(["Signed: ", "/s/ ", "Attending: ", "Resident: ", "Author: "]),
            ("NAME", w.name(doc, rng.choice(["First Last", "LAST, FIRST", "first last", "F. Last"]))),
        )
        b.add((", " + _credential(rng)) if rng.random() < 0.6 else "")
        b.add("\n")
    elif kind == 8:
        b.seq(
            ("NAME", w.name(doc, rng.choice(["last", "Last"]))),
            ":",
            ("NAME", _initials(rng)),
            "\n",
        )
    else:
        b.seq(("NAME", w.name(doc, rng.choice(["last", "first last", "Last"]))), "\n")


def _note(rng: random.Random, split: str, index: int) -> GeneratedNote:
    w = _World(rng, split)
    patient = w.person()
    b = _Builder()
    _header(b, w, patient)
    _body(b, w, patient)
    _signature(b, w)
    text, spans = _noise(b.text(), b.spans, rng)
    return GeneratedNote(f"gen-{split}-{index}", text, spans, split)


def _noise(
    text: str, spans: list[tuple[str, int, int]], rng: random.Random
) -> tuple[str, list[tuple[str, int, int]]]:
    """Lines in capitals or lower case; spaces turned into line breaks (OCR, copy-paste)."""
    chars = list(text)
    lines: list[tuple[int, int]] = []
    start = 0
    for i, ch in enumerate(text + "\n"):
        if ch == "\n":
            lines.append((start, i))
            start = i + 1
    for a, z in lines:
        r = rng.random()
        if r < 0.04:
            chars[a:z] = list(text[a:z].upper())
        elif r < 0.08:
            chars[a:z] = list(text[a:z].lower())
    if rng.random() < 0.3:
        for i, ch in enumerate(chars):
            if ch == " " and rng.random() < 0.03:
                chars[i] = "\n"
    return "".join(chars), spans


def notes(split: str, n: int, start: int = 0) -> Iterator[GeneratedNote]:
    """``n`` notes of ``split``; the same (split, index) always gives the same note."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}")
    for index in range(start, start + n):
        rng = random.Random(_SEED_BASE[split] + index)
        yield _note(rng, split, index)


def to_markup(note: GeneratedNote) -> str:
    out, position = [], 0
    for type_, begin, end in sorted(note.spans, key=lambda s: s[1]):
        out.append(note.text[position:begin])
        out.append(f"{{{{{type_}|{note.text[begin:end]}}}}}")
        position = end
    out.append(note.text[position:])
    return f"### note: {note.id} {note.split}\n" + "".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="dev", choices=SPLITS)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--start", type=int, default=0)
    args = parser.parse_args()
    for note in notes(args.split, args.n, args.start):
        print(to_markup(note))


if __name__ == "__main__":
    main()
