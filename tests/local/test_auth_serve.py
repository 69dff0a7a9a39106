"""Access control and the audit trail through `medserve serve` (issue 7's acceptance): tokens
verified as the HttpApi's JWT authorizer would, 401/403 in the error envelope, one audit record
per request in the embedded audit bucket."""

import json
import urllib.error
import urllib.request

import jwt
import pytest

from devtools.local.auth import LocalIssuer
from devtools.local.server import LocalApi
from devtools.local.template import Template
from tests.helpers import REPO, bearer

TEXT_BODY = json.dumps({"text": "Chest pain radiating to the left arm, troponin elevated."})


@pytest.fixture(scope="module")
def api():
    server = LocalApi(Template.load(REPO / "template.yaml"), port=0).start()
    yield server
    server.stop()


def send(api, method, path, body=None, headers=None):
    req = urllib.request.Request(
        api.url + path,
        data=body.encode() if body else None,
        method=method,
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read())


def audit_records(api) -> list[dict]:
    s3, bucket = api.aws.client("s3"), api.aws.buckets["AuditBucket"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return [json.loads(s3.get_object(Bucket=bucket, Key=k)["Body"].read()) for k in keys]


def test_no_token_is_401(api):
    status, headers, body = send(api, "POST", "/v1/text/deidentify", TEXT_BODY)
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED" and body["request_id"]
    assert headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-jwt",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        # Same claims, signed by another key (another issuer's, or a forger's).
        "Bearer " + LocalIssuer().issue(["medserve/text"]),
        # Right key, wrong algorithm: an unsigned token must never pass.
        "Bearer " + jwt.encode({"sub": "x", "scope": "medserve/text"}, key=None, algorithm="none"),
    ],
)
def test_invalid_tokens_are_401(api, authorization):
    status, _, body = send(api, "POST", "/v1/text/deidentify", TEXT_BODY, {"authorization": authorization})
    assert (status, body["error"]["code"]) == (401, "UNAUTHORIZED")


def test_expired_token_is_401(api):
    status, _, body = send(
        api, "POST", "/v1/text/deidentify", TEXT_BODY, bearer(api, ("medserve/text",), ttl_seconds=-120)
    )
    assert (status, body["error"]["message"]) == (401, "the token has expired")


def test_token_without_the_routes_scope_is_403(api):
    status, headers, body = send(
        api, "POST", "/v1/text/deidentify", TEXT_BODY, bearer(api, ("medserve/tabular",))
    )
    assert (status, body["error"]["code"]) == (403, "FORBIDDEN")
    assert "insufficient_scope" in headers["WWW-Authenticate"]


def test_the_right_scope_is_200_and_each_request_leaves_one_audit_record(api):
    before = audit_records(api)
    headers = bearer(api, ("medserve/text",), subject="ward-7")
    status, _, served = send(api, "POST", "/v1/text/deidentify", TEXT_BODY, headers)
    assert status == 200 and served["entities"] is not None
    status, _, forbidden = send(
        api, "POST", "/v1/text/deidentify", TEXT_BODY, bearer(api, ("medserve/imaging",))
    )
    assert status == 403
    status, _, unauthorized = send(api, "POST", "/v1/text/deidentify", TEXT_BODY)
    assert status == 401
    new = [r for r in audit_records(api) if r not in before]
    by_request = {r["request_id"]: r for r in new}
    assert len(new) == len(by_request) == 3  # one record per request, no more
    record = by_request[served["request_id"]]
    assert record["kind"] == "prediction" and record["principal"]["subject"] == "ward-7"
    assert record["action"] == "POST /v1/text/deidentify" and record["outcome"]["status"] == 200
    # The refusals never reached TextFunction: the gateway's access log took them to the trail.
    refused = by_request[forbidden["request_id"]]
    assert refused["kind"] == "gateway-refusal" and refused["outcome"] == {
        "status": 403,
        "error_code": "FORBIDDEN",
    }
    assert refused["principal"]["client_id"] == "medserve-local-client"  # the token verified
    refused = by_request[unauthorized["request_id"]]
    assert refused["outcome"] == {"status": 401, "error_code": "UNAUTHORIZED"}
    assert refused["principal"]["subject"] == "anonymous" and refused["action"] == "POST /v1/text/deidentify"
    assert "troponin" not in json.dumps(new)


def test_health_stays_open(api):
    status, _, body = send(api, "GET", "/v1/health")
    assert status == 200 and body["status"] == "ok"


def test_a_model_route_accepts_any_medserve_scope(api):
    status, _, body = send(api, "GET", "/v1/models", headers=bearer(api, ("medserve/admin",)))
    assert status == 200 and body["models"]
    status, _, _ = send(api, "GET", "/v1/models", headers=bearer(api, ("openid",)))
    assert status == 403


def test_the_banner_prints_a_working_token(api):
    banner = api.banner()
    token = banner.split("export TOKEN=", 1)[1].split()[0]
    assert "authorization: Bearer $TOKEN" in banner
    status, _, _ = send(api, "GET", "/v1/models", headers={"authorization": f"Bearer {token}"})
    assert status == 200


def test_no_auth_is_loud_and_open():
    with LocalApi(Template.load(REPO / "template.yaml"), port=0, auth=False) as open_api:
        assert "authentication is OFF" in open_api.banner()
        status, _, _ = send(open_api, "POST", "/v1/text/deidentify", TEXT_BODY)
        assert status == 200
        [record] = audit_records(open_api)
        assert record["principal"]["subject"] == "anonymous"
