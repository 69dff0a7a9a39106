"""Schemathesis against the local API: every operation of the published OpenAPI document, hostile input.

The document the layer ships (``medserve/api/openapi.json``, what ``GET /v1/openapi.json``
answers) drives generation: schema-valid and schema-violating requests for every operation, sent
to ``medserve serve`` running in-process (every HttpApi route of ``template.yaml``, the embedded
moto S3 behind it, loopback only). Every response must be a non-5xx the document describes: its
status code, content type and body schema (the error envelope for every 4xx); a method the
document does not list must get 405; schema-violating input must be refused.

Deterministic: a fixed seed, derandomized Hypothesis, no example database. Bounded: at most
``MAX_EXAMPLES`` generated cases per operation (fuzzing phase) plus the schema's explicit examples
and the coverage phase's boundary cases.
"""

from __future__ import annotations

import base64
import json

import pytest
import schemathesis
import yaml
from medserve.security.auth import ALL_SCOPES

from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO

DOCUMENT = REPO / "layers" / "model" / "medserve" / "api" / "openapi.json"
MAX_EXAMPLES = 25

# Every built-in check stays on (schemathesis' default), with the expected statuses of two of them
# widened by what the contract says and the document cannot express (schemathesis' defaults first):
_NEGATIVE_REJECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
_POSITIVE_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 20260501,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        "checks": {
            # Too-long input (over a published maxLength) is refused with 413, as the contract says.
            # (5xx stays in both lists as in schemathesis' defaults: not_a_server_error fails it.)
            "negative_data_rejection": {"expected-statuses": [*_NEGATIVE_REJECTED, "413"]},
        },
        "operations": [
            {
                # Records are checked against the card of the model the request names (features,
                # valid ranges, max_records): a schema-valid body can still be a 422 (or 413).
                "include-path": "/v1/tabular/predict",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*_POSITIVE_ACCEPTED, "413", "422"]}
                },
            },
            {
                # Schema-valid bytes are not a decodable PNG/JPEG/DICOM but by chance (422), or are
                # a file of another format (schemathesis sends GIF and WebP samples: 415), and an
                # s3_uri must name an existing object of this deployment's uploads bucket (422).
                "include-path": "/v1/imaging/predict",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*_POSITIVE_ACCEPTED, "415", "422"]}
                },
            },
            {
                # A schema-valid note can be outside the text model's intended use: fewer words
                # than its card's gate accepts, or another language (422 OUT_OF_SCOPE).
                "include-path": "/v1/text/predict",
                "checks": {"positive_data_acceptance": {"expected-statuses": [*_POSITIVE_ACCEPTED, "422"]}},
            },
            {
                # A history names card items (422 for any other string, naming it), k has a
                # card-specific maximum (422 beyond) and max_history a 413.
                "include-path": "/v1/recommend/treatment",
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": [*_POSITIVE_ACCEPTED, "413", "422"]}
                },
            },
            {
                # Each part is checked by its own modality's rules (a record against the tabular
                # card, bytes decodable as an image only by chance, a note inside the text gate),
                # an image_s3_uri must name an existing upload, and no part at all is a 422.
                "include-path": "/v1/multimodal/predict",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*_POSITIVE_ACCEPTED, "413", "415", "422"]
                    }
                },
            },
            {
                # Schema-valid bytes are a DICOM Part 10 file (422) or a multipart body with a
                # boundary (400) only by chance; and schemathesis sends a multipart/related sample
                # without its Content-Type (it builds multipart bodies as form data itself): 415.
                "include-path": "/v1/imaging/deidentify",
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": [*_POSITIVE_ACCEPTED, "400", "415", "422"]
                    }
                },
            },
        ],
    }
)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)
# DICOM bodies are bytes like any binary upload (without this, schemathesis skips the media type).
schemathesis.serializer.alias("application/dicom", "application/octet-stream")
# multipart/related of DICOM parts (POST /v1/imaging/deidentify): bytes too; without a boundary
# parameter in the generated Content-Type, the route answers 400.
schemathesis.serializer.alias("multipart/related", "application/octet-stream")


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def auth_headers(api):
    issue = getattr(api, "issue_token", None)  # added by the auth work
    return {"Authorization": f"Bearer {issue(ALL_SCOPES)}"} if issue else {}


@schema.parametrize()
def test_api_conforms_to_its_document(case, api, auth_headers):
    case.call_and_validate(base_url=api.url, headers=auth_headers)


def test_every_served_route_is_an_operation(api):
    """Nothing skipped silently: every route the local server serves (the template's HttpApi
    events) is an operation of the document, but ``GET /v1/openapi.json``, the document itself."""
    served = {route.route_key for route in api.routes.routes}
    operations = {result.ok().label for result in schema.get_all_operations()}
    assert served - operations == {"GET /v1/openapi.json"}
    assert operations <= served


# ---------------------------------------------------------------------- the sample events, checked

MANIFEST = yaml.safe_load((REPO / "events" / "manifest.yaml").read_text())
API_EVENTS = sorted(
    name for name in MANIFEST if "routeKey" in json.loads((REPO / "events" / name).read_text())
)


def _case_of(event: dict):
    """The schemathesis case that sends what a payload-2.0 ``event`` describes."""
    method, path = event["routeKey"].split(" ", 1)
    media_type = (event.get("headers") or {}).get("content-type")
    body = event.get("body")
    if body is not None:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
        body = json.loads(raw) if media_type == "application/json" else raw
    kwargs = {"media_type": media_type, "body": body} if body is not None else {}
    return schema[path][method].Case(
        path_parameters=event.get("pathParameters"), query=event.get("queryStringParameters"), **kwargs
    )


@pytest.mark.parametrize("name", API_EVENTS)
def test_sample_event_conforms(name, api, auth_headers):
    """What generation rarely reaches (a real record, image or note: 200s) checked against the
    document: every HTTP sample of events/, with the status its manifest entry states."""
    case = _case_of(json.loads((REPO / "events" / name).read_text()))
    response = case.call_and_validate(base_url=api.url, headers=auth_headers)
    assert response.status_code == MANIFEST[name]["status"]


def test_job_view_conforms(api, auth_headers):
    """``GET /v1/jobs/{id}`` of a job that exists (generation only finds unknown ids: 404)."""
    upload = schema["/v1/uploads"]["POST"].Case(
        media_type="application/json",
        body={"modality": "imaging", "filename": "chest pa.png", "content_type": "image/png"},
    )
    ticket = upload.call_and_validate(base_url=api.url, headers=auth_headers)
    assert ticket.status_code == 201
    job = schema["/v1/jobs/{id}"]["GET"].Case(path_parameters={"id": ticket.json()["job_id"]})
    response = job.call_and_validate(base_url=api.url, headers=auth_headers)
    assert response.json()["status"] == "queued"


# ---------------------------------------------------------------------------- auth refusals, checked

SECURED = sorted(
    (result.ok().path, result.ok().method.upper())
    for result in schema.get_all_operations()
    if result.ok().definition.raw.get("security")
)


@pytest.mark.parametrize(("path", "method"), SECURED, ids=[f"{m} {p}" for p, m in SECURED])
def test_auth_refusals_conform(path, method, api):
    """Schemathesis' ignored_auth check covers apiKey/http schemes, not the document's oauth2 one:
    here, every secured operation refuses a missing, a forged and an under-scoped token with the
    401/403 the document describes (the error envelope), before reading the request."""
    issue = getattr(api, "issue_token", None)
    if issue is None:
        pytest.skip("the local server issues no tokens (authentication not wired in yet)")
    operation = schema[path][method]
    required = {
        scope for requirement in operation.definition.raw["security"] for scope in requirement["oauth2"]
    }
    case = operation.Case(
        path_parameters={name: "x" for name in ("id", "name") if "{" + name + "}" in path} or None,
        **({"media_type": "application/json", "body": {}} if method == "POST" else {}),
    )
    tokens = {
        401: [None, "not-a-jwt", issue(ALL_SCOPES)[:-4] + "AAAA"],  # none, garbage, bad signature
        403: [issue([scope for scope in ALL_SCOPES if scope not in required])],
    }
    for status, candidates in tokens.items():
        for token in candidates:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = case.call_and_validate(base_url=api.url, headers=headers)
            assert response.status_code == status, (token and token[:12], response.text)
