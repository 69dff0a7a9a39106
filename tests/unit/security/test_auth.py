"""Defence in depth: the functions check the JWT scopes API Gateway passes, whatever the gateway did."""

import json

import pytest
from medserve.security.auth import ALL_SCOPES, OPEN_ROUTES, ROUTE_SCOPES, principal_of, required_scopes

from devtools.local.template import Template
from tests.helpers import REPO, call, http_event, jwt_authorizer

PREDICT = "/v1/tabular/predict"


def test_no_claims_is_401_in_the_error_envelope(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, {"records": [record]}, scopes=None)
    response = tabular_app.lambda_handler(event, lambda_context)
    body = json.loads(response["body"])
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"].startswith("Bearer")
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert body["request_id"] == event["requestContext"]["requestId"]


def test_refused_before_the_body_is_even_parsed(tabular_app, lambda_context):
    # Without a token, a malformed body must not tell the caller anything about the schema.
    status, body = call(tabular_app, http_event("POST", PREDICT, "{not json", scopes=None), lambda_context)
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")


def test_wrong_scope_is_403_and_names_the_scope_needed(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, {"records": [record]}, scopes=("medserve/text",))
    status, body = call(tabular_app, event, lambda_context)
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    assert "medserve/tabular" in json.dumps(body["error"]["details"])


def test_right_scope_is_served(tabular_app, lambda_context, record):
    event = http_event("POST", PREDICT, {"records": [record]}, scopes=("medserve/tabular",))
    status, body = call(tabular_app, event, lambda_context)
    assert status == 200 and body["predictions"]


def test_health_is_open(tabular_app, lambda_context):
    status, body = call(tabular_app, http_event("GET", "/v1/health", scopes=None), lambda_context)
    assert status == 200 and body["status"] == "ok"


def test_an_unknown_route_still_needs_a_token(tabular_app, lambda_context):
    status, _ = call(tabular_app, http_event("GET", "/v1/secret", scopes=None), lambda_context)
    assert status == 401


def test_the_check_can_be_switched_off_explicitly(tabular_app, lambda_context, record, monkeypatch):
    monkeypatch.setenv("MEDSERVE_REQUIRE_AUTH", "false")
    event = http_event("POST", PREDICT, {"records": [record]}, scopes=None)
    status, _ = call(tabular_app, event, lambda_context)
    assert status == 200


@pytest.mark.parametrize(
    "claims, scopes",
    [
        ({"scope": "medserve/tabular openid"}, {"medserve/tabular", "openid"}),
        ({"scp": ["medserve/text"]}, {"medserve/text"}),
        ({"scp": "[medserve/text medserve/imaging]"}, {"medserve/text", "medserve/imaging"}),  # as API GW
    ],
)
def test_scopes_from_every_claim_shape(claims, scopes):
    event = {"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "c1", **claims}}}}}
    principal = principal_of(event)
    assert principal is not None and principal.scopes == scopes


@pytest.mark.parametrize(
    "claims, scopes",
    [
        ({"scope": "medserve/tabular openid"}, {"medserve/tabular", "openid"}),
        ({"scp": ["medserve/text"]}, {"medserve/text"}),
        ({"scp": "[medserve/text medserve/imaging]"}, {"medserve/text", "medserve/imaging"}),
    ],
)
def test_the_local_authorizer_reads_scopes_exactly_as_the_functions(claims, scopes):
    """devtools.local.auth.check_scopes (the emulator's JWT authorizer) accepted `scope` only."""
    from devtools.local.auth import AuthRefusal, check_scopes

    for scope in scopes:
        assert set(check_scopes(claims, [scope])) == scopes
    with pytest.raises(AuthRefusal):
        check_scopes(claims, ["medserve/none-of-these"])


def test_claims_without_a_subject_are_no_principal():
    authorizer = jwt_authorizer(("medserve/tabular",))
    del authorizer["jwt"]["claims"]["sub"]
    assert principal_of({"requestContext": {"authorizer": authorizer}}) is None


def test_the_template_asks_for_exactly_the_scopes_the_functions_check():
    template = Template.load(REPO / "template.yaml")
    seen = {}
    for spec in template.functions().values():
        for (method, path), scopes in spec.route_scopes.items():
            seen[f"{method} {path}"] = None if scopes is None else frozenset(scopes)
    assert {route for route, scopes in seen.items() if scopes is None} == set(OPEN_ROUTES)
    assert {route: scopes for route, scopes in seen.items() if scopes is not None} == ROUTE_SCOPES
    assert all(required_scopes(route) == scopes for route, scopes in seen.items())
    assert set().union(*ROUTE_SCOPES.values()) == set(ALL_SCOPES)
