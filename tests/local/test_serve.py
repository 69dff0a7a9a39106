"""devtools.local.server + embedded: the local HTTP API and S3 triggers, against the fake stack."""

from __future__ import annotations

import base64
import http.client
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlsplit

import boto3
import pytest

from devtools.local.server import MAX_BODY_BYTES, LocalApi, Route, RouteTable
from devtools.local.template import Template
from tests.local.conftest import make_stack


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    """One server (and embedded AWS) for the module, on free ports of 127.0.0.1."""
    template = Template.load(make_stack(tmp_path_factory.mktemp("stack")))
    with LocalApi(template, "127.0.0.1", 0) as running:
        yield running


def request(
    api: LocalApi,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str], bytes, http.client.HTTPResponse]:
    """One request; ``headers`` may repeat a name. Returns status, headers, body, raw response."""
    address = urlsplit(api.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers or []:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data, response


def echoed_event(data: bytes) -> dict[str, Any]:
    return json.loads(data)["event"]


# ------------------------------------------------------------------------------ event shape


def test_get_becomes_a_payload_2_event(api: LocalApi) -> None:
    # WHEN a GET with a path parameter, a repeated query parameter, repeated headers and cookies
    status, headers, data, _ = request(
        api,
        "GET",
        "/v1/items/a%20b?x=1&x=2&y=&secret=s3cr3t",
        headers=[("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "t/1")],
    )
    assert status == 200
    event = echoed_event(data)
    # THEN the event is what API Gateway HTTP API (payload 2.0) sends
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /v1/items/{id}"
    assert event["rawPath"] == "/v1/items/a b"  # HTTP API decodes the path
    assert event["rawQueryString"] == "x=1&x=2&y=&secret=s3cr3t"
    assert event["queryStringParameters"] == {"x": "1,2", "y": "", "secret": "s3cr3t"}
    assert event["pathParameters"] == {"id": "a b"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert event["isBase64Encoded"] is False and "body" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/v1/items/a b",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "t/1",
    }
    assert context["routeKey"] == "GET /v1/items/{id}"
    assert context["stage"] == "$default"
    assert context["apiId"] == "local" and context["accountId"] == "123456789012"
    assert context["domainName"] == "127.0.0.1"
    assert isinstance(context["timeEpoch"], int) and context["time"].endswith("+0000")
    # the request id is API Gateway-shaped and echoed in apigw-requestid
    assert context["requestId"] == headers["apigw-requestid"] and context["requestId"].endswith("=")


def test_literal_routes_beat_templated_ones_and_greedy_paths(api: LocalApi) -> None:
    _, _, data, _ = request(api, "GET", "/v1/items/special")
    assert echoed_event(data)["routeKey"] == "GET /v1/items/special"
    _, _, data, _ = request(api, "GET", "/v1/files/a/b/c.txt")
    event = echoed_event(data)
    assert event["routeKey"] == "GET /v1/files/{path+}"
    assert event["pathParameters"] == {"path": "a/b/c.txt"}


def test_json_body_is_text(api: LocalApi) -> None:
    body = json.dumps({"records": [{"age": 61}]}).encode()
    _, _, data, _ = request(
        api, "POST", "/v1/echo/predict", body, [("Content-Type", "application/json; charset=utf-8")]
    )
    event = echoed_event(data)
    assert event["routeKey"] == "POST /v1/echo/predict"
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False


def test_binary_body_is_base64(api: LocalApi) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\xff binary"
    _, _, data, _ = request(api, "POST", "/v1/echo/predict", png, [("Content-Type", "image/png")])
    event = echoed_event(data)
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == png


def test_chunked_body_is_read(api: LocalApi) -> None:
    address = urlsplit(api.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.request(
        "POST",
        "/v1/echo/predict",
        body=iter([b'{"a":', b" 1}"]),
        headers={"Content-Type": "application/json"},
        encode_chunked=True,
    )
    event = echoed_event(connection.getresponse().read())
    connection.close()
    assert event["body"] == '{"a": 1}'


# -------------------------------------------------------------------------------- responses


def test_handler_response_is_translated(api: LocalApi) -> None:
    status, headers, data, response = request(api, "GET", "/v1/binary")
    assert status == 201
    assert data == b"\x89PNG\r\n\x1a\n"  # isBase64Encoded: decoded for the client
    assert headers["content-type"] == "image/png" and headers["x-extra"] == "1"
    assert response.headers.get_all("Set-Cookie") == ["a=1; Path=/", "b=2"]
    assert headers["apigw-requestid"]


def test_unknown_route_is_404_envelope(api: LocalApi) -> None:
    status, headers, data, _ = request(api, "GET", "/v1/nothing-here")
    assert status == 404
    body = json.loads(data)
    assert body["error"]["code"] == "ROUTE_NOT_FOUND"
    assert body["request_id"] == headers["apigw-requestid"]


def test_wrong_method_is_405_envelope(api: LocalApi) -> None:
    status, headers, data, _ = request(api, "DELETE", "/v1/items/x")
    assert status == 405
    assert json.loads(data)["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert headers["allow"] == "GET"


def test_body_over_10_mb_is_413_envelope(api: LocalApi) -> None:
    # GIVEN a request declaring one byte more than HTTP API accepts (the body is never sent)
    address = urlsplit(api.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    connection.putrequest("POST", "/v1/echo/predict")
    connection.putheader("Content-Type", "application/octet-stream")
    connection.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    connection.endheaders()
    # THEN the gateway answers 413 without reading it
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == 413
    assert body["error"]["code"] == "PAYLOAD_TOO_LARGE"


def test_handler_exception_is_api_gateways_500(api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, data, _ = request(api, "POST", "/v1/explode", b"{}", [("Content-Type", "application/json")])
    assert status == 500
    assert json.loads(data) == {"message": "Internal Server Error"}
    assert "ValueError: boom" in capsys.readouterr().err


def test_request_log_line_has_no_query_or_body(api: LocalApi, capsys: pytest.CaptureFixture[str]) -> None:
    request(
        api,
        "POST",
        "/v1/echo/predict?mrn=12345",
        b'{"name": "Jane Doe"}',
        [("Content-Type", "application/json")],
    )
    err = capsys.readouterr().err
    assert "POST /v1/echo/predict 200" in err
    assert "12345" not in err and "Jane Doe" not in err


def test_each_function_serves_its_own_routes(api: LocalApi) -> None:
    status, _, data, _ = request(api, "GET", "/v1/other")
    assert (status, data) == (200, b"other:medserve_fn_OtherFunction")  # a non-JSON body passes as is


# ------------------------------------------------------------------------------ S3 triggers


def _wait_for_lines(path: Path, count: int, seconds: float = 10.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= count:
                return [json.loads(line) for line in lines]
        time.sleep(0.05)
    raise AssertionError(f"no S3 event delivered within {seconds} s")


def test_upload_under_the_prefix_invokes_the_function_with_an_s3_event(api: LocalApi) -> None:
    assert api.aws is not None
    bucket = api.aws.buckets["DataBucket"]
    out = Path(api.invoker.spec("EchoFunction").environment["OUT_DIR"]) / "s3-events.jsonl"
    s3 = boto3.client(
        "s3",
        endpoint_url=api.aws.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # GIVEN objects outside the filter (wrong prefix, wrong suffix), then one inside it
    s3.put_object(Bucket=bucket, Key="elsewhere/a.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key="uploads/echo/a.txt", Body=b"x")
    key = "uploads/echo/my scan+1.csv"
    put = s3.put_object(Bucket=bucket, Key=key, Body=b"age,sex\n61,F\n")
    # THEN exactly one real-shaped S3 event arrives (moto filters at PUT time, in order)
    events = _wait_for_lines(out, 1)
    assert len(events) == 1
    (record,) = events[0]["Records"]
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "us-east-1"
    assert record["s3"]["bucket"]["name"] == bucket == "medserve-local-databucket"
    assert record["s3"]["object"]["key"] == quote_plus(key)  # URL-encoded, exactly like AWS
    assert record["s3"]["object"]["size"] == len(b"age,sex\n61,F\n")
    assert record["s3"]["object"]["versionId"] == put["VersionId"]  # the bucket is versioned
    assert record["s3"]["object"]["sequencer"]
    assert record["s3"]["configurationId"] == "EchoFunction-0"


def test_banner_has_urls_buckets_and_commands(api: LocalApi) -> None:
    assert api.aws is not None
    banner = api.banner()
    assert api.url in banner and api.aws.endpoint_url in banner
    assert "medserve-local-databucket" in banner
    # the sample body of events/echo_predict.json, ready to paste
    curl = f"curl -s -X POST {api.url}/v1/echo/predict -H 'content-type: application/json'"
    assert curl + """ -d '{"records":[1,2]}'""" in banner
    assert "s3://medserve-local-databucket/uploads/echo/" in banner


# --------------------------------------------------------------------------------- routing


def test_route_table_matching() -> None:
    table = RouteTable(
        [
            Route.create("GET", "/v1/models/{name}", "A"),
            Route.create("GET", "/v1/models", "A"),
            Route.create("ANY", "$default", "B"),
        ]
    )
    match = table.match("GET", "/v1/models/x")
    assert match is not None and match.path_parameters == {"name": "x"}
    fallback = table.match("POST", "/v1/models/x")
    assert fallback is not None and fallback.route.route_key == "$default"
    assert table.match("GET", "/v1/models/x/y").route.function_id == "B"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ medserve serve


def test_cli_serve_prints_the_banner_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    # GIVEN `medserve serve` on a free port
    template = make_stack(tmp_path)
    command = [sys.executable, "-m", "devtools.cli", "serve", "--port", "0", "--template", str(template)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # WHEN it is ready (first banner line) and gets a request
        first_line = process.stdout.readline()  # type: ignore[union-attr]
        url = first_line.split(": ", 1)[1].strip()
        with urllib.request.urlopen(f"{url}/v1/other", timeout=30) as response:
            assert response.read() == b"other:medserve_fn_OtherFunction"
        # THEN SIGTERM stops it cleanly
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "stopped" in process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


# ------------------------------------------------------- issue 18: behaves like the services


def test_a_slow_request_holds_no_other(api: LocalApi) -> None:
    """Each function has a pool of worker processes (execution environments): a request held in
    one leaves the other routes, and the function's second worker, answering."""
    import threading

    flag = Path(api.invoker.spec("EchoFunction").environment["OUT_DIR"]) / "release-slow"
    flag.unlink(missing_ok=True)
    finished: list[str] = []
    slow = threading.Thread(target=lambda: finished.append(str(request(api, "GET", "/v1/items/slow")[0])))
    slow.start()
    try:
        # The slow request is running, held until the flag exists: these must answer meanwhile.
        assert request(api, "GET", "/v1/other")[0] == 200
        assert request(api, "GET", "/v1/items/fast")[0] == 200  # the same function: its other worker
        assert finished == []  # (ordering, not timing: the slow one cannot have finished)
    finally:
        flag.write_text("go")
        slow.join(timeout=60)
    assert finished == ["200"]


def raw_exchange(api: LocalApi, data: bytes, *, wait: float = 30) -> bytes:
    """Bytes sent as they are on a fresh connection; everything the server answers until it closes."""
    import socket

    address = urlsplit(api.url)
    with socket.create_connection((address.hostname, address.port), timeout=wait) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def split_response(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, json.loads(body)


@pytest.mark.parametrize(
    ("data", "status", "message"),
    [
        (b"GARBAGE\r\n\r\n", 400, "Bad Request"),
        (b"GET /v1/other HTTP/7.0\r\n\r\n", 400, "Bad Request"),
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
        (b"GET /v1/items/" + b"a" * 11_000 + b" HTTP/1.1\r\n\r\n", 414, "Request-URI Too Long"),
        (
            b"GET /v1/other HTTP/1.1\r\nX-Big: " + b"a" * 11_000 + b"\r\n\r\n",
            431,
            "Request Header Fields Too Large",
        ),
        (
            b"GET /v1/other HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",
            431,
            "Request Header Fields Too Large",
        ),
    ],
    ids=[
        "bad request line",
        "bad version",
        "URL over 64 KiB",
        "URL over 10 KiB",
        "header over 10 KiB",
        "200 headers",
    ],
)
def test_requests_the_gateway_refuses_get_its_json_never_html(api: LocalApi, data, status, message) -> None:
    code, headers, body = split_response(raw_exchange(api, data))
    assert (code, body) == (status, {"message": message})
    assert headers["content-type"] == "application/json" and headers["connection"] == "close"


def test_unknown_methods_are_routed_like_any_other(api: LocalApi) -> None:
    status, headers, data, _ = request(api, "BREW", "/v1/items/x")
    assert (status, json.loads(data)["error"]["code"], headers["allow"]) == (405, "METHOD_NOT_ALLOWED", "GET")
    status, _, data, _ = request(api, "BREW", "/v1/nothing/mrn-12345")
    body = json.loads(data)
    assert (status, body["error"]["code"]) == (404, "ROUTE_NOT_FOUND")
    assert "12345" not in body["error"]["message"]  # the path is never quoted back


@pytest.mark.parametrize(
    "framing",
    [
        b"Content-Length: abc\r\n\r\n",
        b"Content-Length: -5\r\n\r\n",
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"Content-Length: 10\r\n\r\nshort",  # the client then closes its side: the body ends early
    ],
    ids=["not a number", "negative", "bad chunk size", "body shorter than its length"],
)
def test_framing_errors_are_malformed_request(api: LocalApi, framing: bytes) -> None:
    import socket

    address = urlsplit(api.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/echo/predict HTTP/1.1\r\nHost: x\r\n" + framing)
        sock.shutdown(socket.SHUT_WR)
        raw = b"".join(iter(lambda: sock.recv(65536), b""))
    status, _, body = split_response(raw)
    assert (status, body["error"]["code"]) == (400, "MALFORMED_REQUEST")


def test_slow_and_incomplete_requests_are_dropped(tmp_path: Path) -> None:
    """A client that stops sending is not held forever: an unfinished body gets 408 and the
    connection is closed; unfinished headers, a closed connection."""
    template = Template.load(make_stack(tmp_path))
    with LocalApi(template, "127.0.0.1", 0, embedded_aws=False, read_timeout=0.3) as quick:
        status, _, body = split_response(
            raw_exchange(quick, b"POST /v1/echo/predict HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
        )
        assert (status, body) == (408, {"message": "Request Timeout"})
        assert raw_exchange(quick, b"GET /v1/other HTTP/1.1\r\nHost: x\r\n") == b""


def test_response_is_one_write(api: LocalApi) -> None:
    """Head and body leave in one send: on a keep-alive connection the whole answer is readable
    in the first recv after the request (headers and body written apart stalled ~40 ms each)."""
    import socket

    address = urlsplit(api.url)
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        for _ in range(3):
            sock.sendall(b"GET /v1/other HTTP/1.1\r\nHost: x\r\n\r\n")
            first = sock.recv(65536)
            assert first.endswith(b"other:medserve_fn_OtherFunction"), first


def test_two_quick_writes_to_one_key_are_two_events_with_their_versions(api: LocalApi) -> None:
    """The event carries the version the PUT created (before: a HeadObject at delivery time, so
    both events named the second version and the first was never scored)."""
    assert api.aws is not None
    out = Path(api.invoker.spec("EchoFunction").environment["OUT_DIR"]) / "s3-events.jsonl"
    before = len(out.read_text().splitlines()) if out.exists() else 0
    s3 = api.aws.client("s3")
    bucket, key = api.aws.buckets["DataBucket"], "uploads/echo/twice.csv"
    versions = [
        s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"] for body in (b"a\n1\n", b"a\n2\n")
    ]
    events = _wait_for_lines(out, before + 2)[before:]
    seen = [
        r["s3"]["object"]["versionId"]
        for e in events
        for r in e["Records"]
        if "twice" in r["s3"]["object"]["key"]
    ]
    assert sorted(seen) == sorted(versions) and versions[0] != versions[1]


def test_a_failing_s3_invoke_is_retried_then_dead_lettered(api: LocalApi, tmp_path: Path) -> None:
    """Lambda's asynchronous invoke: retried (EventInvokeConfig, default 2), then the on-failure
    record; locally a file `medserve dead-letters` lists (before: a traceback on stderr only)."""
    assert api.aws is not None
    api.aws.retry_delay = 0.05
    api.aws.dead_letter_dir = tmp_path / ".medserve" / "dead-letters"
    s3 = api.aws.client("s3")
    s3.put_object(Bucket=api.aws.buckets["DataBucket"], Key="uploads/echo/explode 123-45-6789.csv", Body=b"x")
    deadline = time.monotonic() + 30
    while not list(api.aws.dead_letter_dir.glob("EchoFunction/*.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    [path] = api.aws.dead_letter_dir.glob("EchoFunction/*.json")
    record = json.loads(path.read_text())
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # 1 + the 2 retries
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    assert record["requestPayload"]["Records"][0]["eventName"] == "ObjectCreated:Put"
    (tmp_path / "template.yaml").write_text("")
    listed = subprocess.run(
        [sys.executable, "-m", "devtools.cli", "dead-letters", "--template", str(tmp_path / "template.yaml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert "EchoFunction" in listed and record["requestContext"]["requestId"] in listed
    assert "RuntimeError after 3 attempts" in listed and "123-45-6789" not in listed  # keys hashed


def test_log_lines_carry_the_route_template_and_request_id_never_the_path(
    api: LocalApi, capsys: pytest.CaptureFixture[str]
) -> None:
    status, headers, _, _ = request(api, "GET", "/v1/items/MRN-83512077")
    request(api, "GET", "/v1/nowhere/MRN-83512077")
    err = capsys.readouterr().err
    assert status == 200
    assert "GET /v1/items/{id} 200" in err and headers["apigw-requestid"] in err
    assert "GET - 404" in err
    assert "83512077" not in err
