"""Wire rules every route shares (issue 18), through the real handlers: text that is not valid
Unicode is a 422 naming the field, a body that is not a JSON object a 400, a body without a
Content-Type a 415, and ``explain`` read by one parser (medserve.wire) from JSON, query and S3
object metadata."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from medserve.errors import InvalidInput
from medserve.services import Services, set_services
from medserve.serving.registry import BundledModels, Registry
from medserve.triggers.s3 import S3Upload
from medserve.wire import encode_json, flag_from, invalid_unicode_fields, json_text_is_encodable, parse_flag

from tests import helpers
from tests.helpers import REPO, http_event
from tests.imaging_samples import PHANTOM

SURROGATE = "\ud800"


@pytest.fixture(scope="module")
def apps():
    stack = helpers.stack()
    return {name: stack.module(name) for name in ("TabularFunction", "TextFunction", "ImagingFunction")}


@pytest.fixture
def text_models():
    # The text model lives in models/ (served from S3 in production), as in test_text_api.py;
    # the bundled tabular and imaging models are there too.
    set_services(Services(registry=Registry(bundled=BundledModels(REPO / "models"))))


def send(apps, function: str, path: str, body: str | None, **event) -> tuple[int, dict]:
    request = http_event("POST", path, body, **event)
    response = apps[function].lambda_handler(request, helpers.lambda_context(function))
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture(scope="module")
def record():
    event = json.loads((REPO / "events" / "tabular_predict.json").read_text())
    return json.loads(event["body"])["records"][0]


def json_routes(record) -> list[tuple[str, str, dict]]:
    """(function, path, a valid body) for every JSON-body route."""
    return [
        ("TabularFunction", "/v1/tabular/predict", {"records": [record]}),
        ("TextFunction", "/v1/text/predict", {"text": "chest pain on exertion"}),
        ("TextFunction", "/v1/text/deidentify", {"text": "chest pain on exertion"}),
        ("ImagingFunction", "/v1/imaging/predict", {"image_base64": "iVBORw0KGgo="}),
        ("ImagingFunction", "/v1/uploads", {"modality": "imaging", "filename": "a.png", "content_type": "image/png"}),
    ]  # fmt: skip


def escaped(body: dict) -> str:
    """JSON with ``\\ud800`` escapes, as a hostile client writes it (json.dumps escapes surrogates)."""
    return json.dumps(body)


@pytest.mark.parametrize(
    ("function", "path", "field", "body"),
    [
        ("TabularFunction", "/v1/tabular/predict", "model", {"model": SURROGATE, "records": [{"a": 1}]}),
        ("TabularFunction", "/v1/tabular/predict", "records[0]", {"records": [{SURROGATE: 1}]}),
        ("TextFunction", "/v1/text/predict", "model", {"model": SURROGATE, "text": "chest pain"}),
        ("TextFunction", "/v1/text/predict", "text", {"text": "chest " + SURROGATE + " pain"}),
        ("TextFunction", "/v1/text/deidentify", "text", {"text": "Dr. Smith \udfff"}),
        ("ImagingFunction", "/v1/imaging/predict", "model", {"model": SURROGATE, "image_base64": "AAAA"}),
        (
            "ImagingFunction",
            "/v1/uploads",
            "filename",
            {"modality": "imaging", "filename": SURROGATE, "content_type": "image/png"},
        ),
    ],
)
def test_lone_surrogates_are_422_naming_the_field(apps, text_models, function, path, field, body):
    """Before: a 500 for `model` (botocore's key encoding) and `text` (the tokenizer); de-identify
    answered 200 with the surrogate in redacted_text."""
    status, answer = send(apps, function, path, escaped(body))
    assert status == 422, answer
    assert answer["error"]["code"] == "INVALID_INPUT"
    assert {"field": field, "issue": "not valid Unicode (a lone UTF-16 surrogate)"} in answer["error"][
        "details"
    ]
    assert SURROGATE not in json.dumps(answer, ensure_ascii=False)  # the value is never echoed


@pytest.mark.parametrize(
    ("path", "route", "event"),
    [
        (f"/v1/models/{SURROGATE}", "/v1/models/{name}", {"path_parameters": {"name": SURROGATE}}),
        (f"/v1/jobs/{SURROGATE}", "/v1/jobs/{id}", {"path_parameters": {"id": SURROGATE}}),
        ("/v1/health", "/v1/health", {"query": {"x": SURROGATE}}),
    ],
)
def test_lone_surrogates_in_the_url_are_422(apps, path, route, event):
    request = http_event("GET", path, route=route, **event)
    response = apps["ImagingFunction"].lambda_handler(request, helpers.lambda_context("ImagingFunction"))
    assert response["statusCode"] == 422, response["body"]
    assert json.loads(response["body"])["error"]["details"][0]["field"] in {"path", "query.x"}


def test_a_top_level_array_is_400_on_every_json_route(apps, text_models, record):
    """Before: powertools validated the first element and dropped the rest (200)."""
    for function, path, body in json_routes(record):
        status, answer = send(apps, function, path, json.dumps([body, body]))
        assert (status, answer["error"]["code"]) == (400, "MALFORMED_REQUEST"), (path, answer)
        for other in ("1", '"text"', "null", "[]"):
            status, answer = send(apps, function, path, other)
            assert (status, answer["error"]["code"]) == (400, "MALFORMED_REQUEST"), (path, other, answer)


def test_no_content_type_is_415_on_every_body_route(apps, text_models, record):
    """The one rule (medserve.api.schemas.media_type): a body must say what it is."""
    for function, path, body in json_routes(record):
        request = http_event("POST", path, json.dumps(body))
        del request["headers"]["content-type"]
        response = apps[function].lambda_handler(request, helpers.lambda_context(function))
        answer = json.loads(response["body"])
        assert (response["statusCode"], answer["error"]["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE"), path
    # And the valid body with its content type is answered (the check is the only difference).
    sample = json.loads((REPO / "events" / "text_predict.json").read_text())["body"]  # a real note
    status, answer = send(apps, "TextFunction", "/v1/text/predict", sample)
    assert status == 200, answer


@pytest.mark.parametrize("value", ["true", "TRUE", " false ", True, False])
def test_flag_spellings(value):
    assert parse_flag(value, "explain") is (value is True or str(value).strip().lower() == "true")


@pytest.mark.parametrize("value", ["yes", "1", "0", "on", "", "t", 1, None, [], "truee"])
def test_other_flag_spellings_are_refused_naming_the_field(value):
    with pytest.raises(InvalidInput) as refused:
        parse_flag(value, "query.explain")
    assert refused.value.details == [{"field": "query.explain", "issue": "must be true or false"}]
    assert flag_from({}, "explain") is False and flag_from({"explain": "true"}, "explain") is True


@pytest.mark.parametrize(("explain", "status"), [("true", 200), ("False", 200), ("yes", 422), ("1", 422)])
def test_explain_in_the_query_uses_the_one_parser(apps, explain, status):
    """Before: ?explain=yes (powertools' lax bool) was an explanation, JSON "yes" a 422."""
    request = http_event(
        "POST",
        "/v1/imaging/predict",
        PHANTOM.read_bytes(),
        headers={"content-type": "image/png"},
        binary=True,
        query={"explain": explain},
    )
    response = apps["ImagingFunction"].lambda_handler(request, helpers.lambda_context("ImagingFunction"))
    answer = json.loads(response["body"])
    assert response["statusCode"] == status, answer
    if status == 200:
        assert bool(answer["explanations"]) is (explain.lower() == "true")
    else:
        assert answer["error"]["details"] == [{"field": "query.explain", "issue": "must be true or false"}]


@pytest.mark.parametrize(
    "body", [{"text": "chest pain", "explain": "yes"}, {"text": "chest pain", "explain": 1}]
)
def test_explain_in_json_is_a_json_boolean(apps, text_models, body):
    status, answer = send(apps, "TextFunction", "/v1/text/predict", json.dumps(body))
    assert status == 422 and answer["error"]["details"][0]["field"] == "explain"


def test_explain_in_s3_metadata_uses_the_one_parser():
    from medserve.imaging.batch import score_imaging_upload

    def upload(explain: str) -> S3Upload:
        return S3Upload(
            "b", "uploads/imaging/x.png", None, PHANTOM.read_bytes(), metadata={"explain": explain}
        )

    assert score_imaging_upload(upload("true"))["explanations"]
    assert not score_imaging_upload(upload("false"))["explanations"]
    with pytest.raises(InvalidInput) as refused:
        score_imaging_upload(upload("yes"))  # before: an explanation
    assert refused.value.details == [{"field": "x-amz-meta-explain", "issue": "must be true or false"}]


def test_invalid_unicode_fields_names_paths_not_values():
    document = {"a": [1, {"b": SURROGATE}], SURROGATE: 1, "c": {"d": "ok"}, "e": [SURROGATE] * 20}
    assert invalid_unicode_fields(document) == ["body", "a[1].b", "e[0]", "e[1]", "e[2]"]
    deep: object = SURROGATE
    for _ in range(50_000):  # deeper than the stack: the walk is iterative
        deep = [deep]
    assert invalid_unicode_fields(deep) == ["[0]" * 50_000]


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ('{"a": "plain"}', True),
        ('{"a": "caf\\u00e9 \u00e9"}', True),  # escaped and raw non-ASCII
        ('{"a": "\\ud800"}', False),  # a lone high surrogate, escaped
        ('{"a": "\\uDC00"}', False),  # a lone low surrogate, upper-case escape
        ('{"\\udbff": 1}', False),  # in a key
        ('{"a": "\\ud83d\\ude00"}', False),  # a valid pair: not decided here, the walk clears it
        ('{"a": "' + SURROGATE + '"}', False),  # a surrogate in the text itself
    ],
)
def test_json_text_check_decides_on_the_raw_text(text, clean):
    assert json_text_is_encodable(text) is clean
    if clean:
        assert invalid_unicode_fields(json.loads(text)) == []


@given(
    st.recursive(
        st.text() | st.integers(), lambda c: st.lists(c) | st.dictionaries(st.text(), c), max_leaves=8
    )
)
def test_json_text_check_never_clears_a_document_the_walk_refuses(value):
    # The raw-text shortcut may only skip the walk where the walk would find nothing.
    text = json.dumps(value, ensure_ascii=True)
    if json_text_is_encodable(text):
        assert invalid_unicode_fields(json.loads(text)) == []


@pytest.mark.parametrize(
    "value",
    [
        {"record_id": "a" + SURROGATE + "b"},  # a JSON Lines upload's "\ud800", echoed back
        {"record_id": 10**30},  # beyond 64 bits
        {1: "a non-string key"},
        {"rows": [{"p": 0.25, "label": "caf\u00e9"}]},
    ],
    ids=["lone surrogate", "big int", "int key", "plain"],
)
def test_encode_json_writes_what_it_is_given_as_valid_json(value):
    encoded = encode_json(value)
    encoded.decode("utf-8")  # valid UTF-8 whatever the value held
    expected = json.loads(json.dumps(value))
    assert json.loads(encoded) == expected
