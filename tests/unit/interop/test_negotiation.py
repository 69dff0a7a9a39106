"""Accept / _format parsing: q-values, specificity, ties, malformed ranges, 406."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from medserve.errors import NotAcceptable
from medserve.interop.negotiation import (
    DICOM,
    FHIR_JSON,
    JSON,
    choose,
    include_inputs,
    parse_accept,
    requested,
    wants_fhir,
)

OFFERS = (JSON, FHIR_JSON)


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("application/fhir+json", FHIR_JSON),
        ("APPLICATION/FHIR+JSON", FHIR_JSON),
        ("application/json+fhir", FHIR_JSON),  # the DSTU2-era name
        ("application/fhir+json; fhirVersion=4.0", FHIR_JSON),
        ('application/fhir+json; fhirVersion="4.0"', FHIR_JSON),
        ("application/fhir+json;q=0.9, application/json;q=0.8", FHIR_JSON),
        ("application/fhir+json;q=0.5, application/json", JSON),
        ("application/json;q=0.1, */*;q=0.5", FHIR_JSON),  # the specific range decides json's q
        ("application/fhir+json;q=0, */*", JSON),
        ("application/json;q=0, */*", FHIR_JSON),
        ("application/fhir+json, application/json", FHIR_JSON),  # a tie: the caller's first
        ("application/json, application/fhir+json", JSON),
        ("text/html, application/fhir+json;q=0.2", FHIR_JSON),
        ("application/fhir+json; fhirVersion=5.0, application/json;q=0.1", JSON),
        ("application/fhir+json;q=1.5, application/json;q=0.1", JSON),  # bad q: range ignored
        ("garbage, application/fhir+json", FHIR_JSON),  # malformed range ignored
        ("application/fhir+json; charset=utf-8", FHIR_JSON),
    ],
)
def test_choose(accept, chosen):
    assert choose(accept, OFFERS) == chosen


@pytest.mark.parametrize(
    "accept",
    [
        "application/fhir+xml",
        "application/xml, text/xml;q=0.9",
        "application/fhir+json; fhirVersion=5.0",
        "application/json;q=0, application/fhir+json;q=0",
        "image/png",
    ],
)
def test_nothing_acceptable_is_406(accept):
    assert choose(accept, OFFERS) is None
    with pytest.raises(NotAcceptable) as refused:
        requested({"Accept": accept}, {}, OFFERS)
    assert refused.value.status == 406 and refused.value.code == "NOT_ACCEPTABLE"
    assert not wants_fhir({"accept": accept}, {})


def test_quoted_commas_and_semicolons_do_not_split():
    ranges = parse_accept('application/fhir+json; x="a,b;c"; q=0.4, application/json; q=0.3')
    assert [(r.subtype, r.q) for r in ranges] == [("fhir+json", 0.4), ("json", 0.3)]
    assert dict(ranges[0].params) == {"x": "a,b;c"}


def test_format_overrides_accept():
    assert requested({"accept": "application/json"}, {"_format": "fhir"}, OFFERS) == FHIR_JSON
    assert requested({}, {"_format": "application/fhir json"}, OFFERS) == FHIR_JSON  # "+" decoded
    # json is ambiguous (FHIR JSON to FHIR, medserve JSON to us): Accept decides.
    assert requested({"accept": "application/fhir+json"}, {"_format": "json"}, OFFERS) == FHIR_JSON
    assert requested({}, {"_format": "json"}, OFFERS) == JSON
    for value in ("xml", "application/fhir+xml", "turtle"):
        with pytest.raises(NotAcceptable):
            requested({}, {"_format": value}, OFFERS)


def test_dicom_is_offered_only_where_the_route_offers_it():
    assert choose("application/dicom", (JSON, FHIR_JSON, DICOM)) == DICOM
    assert choose("application/dicom", OFFERS) is None
    assert choose("application/dicom, application/json;q=0.5", OFFERS) == JSON


def test_include_inputs():
    assert include_inputs({"_include": "inputs"})
    assert include_inputs({"_include": "RiskAssessment:basis"})
    assert not include_inputs({}) and not include_inputs({"_include": "Patient"})


_PIECES = st.sampled_from(
    [
        "application/fhir+json",
        "application/json",
        "*/*",
        "application/*",
        "text/xml",
        "application/dicom",
        ";q=0",
        ";q=0.5",
        ";q=1",
        ";q=1.5",
        ";q=x",
        "; fhirVersion=4.0",
        '; x="a,b"',
        ",",
        ", ",
        ";",
        "=",
        '"',
        " ",
        "\\",
    ]
)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_any_accept_value_gives_an_offer_or_none(accept):
    chosen = choose(accept, (JSON, FHIR_JSON, DICOM))
    assert chosen in (JSON, FHIR_JSON, DICOM, None)
    # A refused type is never chosen: q=0 on exactly that type (and nothing more specific) wins.
    if chosen is not None:
        assert any(
            r.specificity(chosen) is not None and r.q > 0 for r in parse_accept(accept)
        ) or not parse_accept(accept)
