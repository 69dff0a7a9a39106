"""Hostile requests by class against the local stack: how many 5xx, how many answers that are not
JSON (an HTML error page), how many 2xx that should have been refused.

    python bench/hostile.py                      # starts `medserve serve` from this checkout
    python bench/hostile.py --repo /other/checkout --json out.json

Classes (issue 18): lone surrogates in every string field, top-level arrays, no Content-Type,
``explain`` spelled yes/1, deep nesting, wrong types, huge numbers, a DICOM whose BitsAllocated
disagrees with its pixel data, identifiers in URL paths, and the HTTP framing a gateway sees
(oversize URL and headers, unknown methods, bad request lines and body framing). Loopback only.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import socket
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("medserve_bench_load", HERE / "load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()  # ensure_ascii: a lone surrogate travels as \ud800


def dicom_with_wrong_bits() -> bytes:
    from pydicom import dcmread
    from pydicom.data import get_testdata_file

    ds = dcmread(get_testdata_file("CT_small.dcm", download=False))
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7  # 16-bit pixels read as twice as many bytes
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def cases(record: dict[str, Any]) -> list[tuple[str, str, str, bytes, dict[str, str]]]:
    """(class, method, path, body, headers) for every hostile request."""
    s = "\ud800"
    json_h = {"content-type": "application/json"}
    routes = {
        "/v1/tabular/predict": {"records": [record]},
        "/v1/text/predict": {"text": "chest pain on exertion"},
        "/v1/text/deidentify": {"text": "seen by Dr. Smith"},
        "/v1/imaging/predict": {"image_base64": "AAAA"},
        "/v1/uploads": {"modality": "imaging", "filename": "a.png", "content_type": "image/png"},
    }
    out: list[tuple[str, str, str, bytes, dict[str, str]]] = []
    for path, good in routes.items():
        for field in [*good, "model"]:
            out.append(("surrogate", "POST", path, _json({**good, field: f"a{s}b"}), json_h))
        out.append(("surrogate key", "POST", path, _json({**good, s: 1}), json_h))
        out.append(("top-level array", "POST", path, _json([good, good]), json_h))
        out.append(("top-level array", "POST", path, _json([]), json_h))
        out.append(("no content-type", "POST", path, _json(good), {}))
        out.append(("deep nesting", "POST", path, b"[" * 100_000 + b"]" * 100_000, json_h))
        out.append(
            ("deep nesting", "POST", path, _json({**good, "x": json.loads("[" * 500 + "]" * 500)}), json_h)
        )
        for field in good:
            for wrong in (1, [1], {"a": 1}, None, True, 10**400):
                body = (
                    json.dumps({**good, field: wrong})
                    if wrong != 10**400
                    else json.dumps(good).replace(json.dumps(good[field]), "1" + "0" * 400, 1)
                )
                out.append(("wrong type / huge number", "POST", path, body.encode(), json_h))
        if path != "/v1/text/deidentify":
            out.append(("explain yes", "POST", path, _json({**good, "explain": "yes"}), json_h))
    png = (HERE.parent / "events" / "data" / "imaging_phantom_nodule.png").read_bytes()
    for value in ("yes", "1", "on"):
        out.append(
            (
                "explain yes",
                "POST",
                f"/v1/imaging/predict?explain={value}",
                png,
                {"content-type": "image/png"},
            )
        )
    out.append(
        (
            "dicom bits",
            "POST",
            "/v1/imaging/predict",
            dicom_with_wrong_bits(),
            {"content-type": "application/dicom"},
        )
    )
    out.append(("surrogate", "GET", "/v1/models/%ED%A0%80", b"", {}))
    out.append(("surrogate", "GET", "/v1/jobs/%ED%A0%80", b"", {}))
    out.append(("surrogate", "GET", "/v1/health?x=%ED%A0%80", b"", {}))
    return out


def raw_cases() -> list[tuple[str, bytes]]:
    return [
        ("oversize URL", b"GET /v1/models/" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("oversize URL", b"GET /v1/models/" + b"a" * 11_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("oversize headers", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n"),
        ("oversize headers", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 11_000 + b"\r\n\r\n"),
        ("unknown method", b"BREW /v1/health HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("unknown method", b"PROPFIND /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("bad request line", b"GARBAGE\r\n\r\n"),
        ("bad request line", b"GET /v1/health HTTP/9.9\r\n\r\n"),
        ("framing", b"POST /v1/text/predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"),
        ("framing", b"POST /v1/text/predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ]


def exchange(host: str, port: int, data: bytes) -> tuple[int, bytes, dict[str, str]]:
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(data)
        with_body = b""
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        while chunk := sock.recv(65536):
            with_body += chunk
    if not with_body:
        return 0, b"", {}
    head, _, body = with_body.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    words = lines[0].split() if lines else []
    # No status line at all: Python's HTTP/0.9-style answer to a bad request line (an HTML page).
    status = int(words[1]) if len(words) > 1 and words[0].startswith("HTTP/") and words[1].isdigit() else -1
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in lines[1:])}
    return status, body, headers


def classify(status: int, body: bytes, headers: dict[str, str], expect_refusal: bool = True) -> str:
    if status == 0:
        return "no answer"
    if status < 0:
        return "not JSON"
    if status >= 500:
        return "5xx"
    if "json" not in headers.get("content-type", ""):
        return "not JSON"
    try:
        parsed = json.loads(body)
    except ValueError:
        return "not JSON"
    if 200 <= status < 300:
        return "2xx (accepted)" if expect_refusal else "2xx"
    if not (isinstance(parsed, dict) and ("error" in parsed or "message" in parsed)):
        return "4xx without envelope"
    return "4xx envelope"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repo", default=str(HERE.parent), help="checkout whose `medserve serve` is attacked"
    )
    parser.add_argument("--json", help="write the counts as JSON to this file")
    args = parser.parse_args(argv)
    load = _load()
    load.REPO = Path(args.repo).resolve()
    record = json.loads(json.loads((HERE.parent / "events" / "tabular_predict.json").read_text())["body"])[
        "records"
    ][0]
    server = load.LocalServer([])
    counts: dict[str, Counter] = defaultdict(Counter)
    try:
        parts = urlsplit(server.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        auth = f"Authorization: Bearer {server.token}\r\n".encode()
        for kind, method, path, body, headers in cases(record):
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode() + auth
            head += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
            head += f"Content-Length: {len(body)}\r\n\r\n".encode() if body or method == "POST" else b"\r\n"
            status, answer, answer_headers = exchange(host, port, head + body)
            counts[kind][classify(status, answer, answer_headers)] += 1
        for kind, data in raw_cases():
            status, answer, answer_headers = exchange(host, port, data)
            counts[kind][classify(status, answer, answer_headers)] += 1
    finally:
        server.stop()
    total = Counter()
    for kind in sorted(counts):
        print(f"{kind:<26} {dict(counts[kind])}")
        total.update(counts[kind])
    print(f"{'all':<26} {dict(total)}  ({sum(total.values())} requests)")
    if args.json:
        Path(args.json).write_text(json.dumps({k: dict(v) for k, v in counts.items()}, indent=1) + "\n")
    return 0 if total["5xx"] == 0 and total["not JSON"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
