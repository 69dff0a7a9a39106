"""What each sample event of ``events/manifest.yaml`` must answer: the one checker used by the
local-invoke tests (tests/local/test_events.py) and by ``make test-sam``
(scripts/sam/invoke_events.py), so both tiers judge an answer the same way.

A manifest entry names the ``function`` and one or more of: ``status`` (an HTTP answer: the error
envelope for a 4xx, no ``error`` for a 2xx; a file answer, ``isBase64Encoded``, must be the
``content_type`` it names), ``returns`` (keys of a non-HTTP answer and their exact values),
``has`` (keys a non-HTTP answer must carry), ``result_key`` (an S3 event: the result object written,
judged by its modality's shape).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

__all__ = ["check_response"]

ReadObject = Callable[[str], bytes]


def check_response(spec: dict[str, Any], result: Any, read_object: ReadObject) -> list[str]:
    """Problems with ``result`` (a handler's return value) for the manifest entry ``spec``; empty
    when it answers as the manifest says. ``read_object(key)`` reads the uploads bucket."""
    if not isinstance(result, dict):
        return [f"response is not an object: {result!r:.300}"]
    if "errorType" in result or "errorMessage" in result:
        return [f"the handler raised: {json.dumps(result)[:1500]}"]
    problems: list[str] = []
    if "status" in spec:
        problems += _http(spec, result)
    for key, value in (spec.get("returns") or {}).items():
        if result.get(key) != value:
            problems.append(f"{key} {result.get(key)!r} != {value!r}: {json.dumps(result)[:600]}")
    for key in spec.get("has") or []:
        if key not in result:
            problems.append(f"no {key!r} in the answer: {json.dumps(result)[:600]}")
    if "result_key" in spec:
        problems += _s3_result(spec, result, read_object)
    return problems


def _http(spec: dict[str, Any], result: dict[str, Any]) -> list[str]:
    problems = []
    if result.get("statusCode") != spec["status"]:
        problems.append(
            f"statusCode {result.get('statusCode')} != {spec['status']}: {json.dumps(result)[:600]}"
        )
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    if result.get("isBase64Encoded") and "content_type" in spec:  # a file answered
        if not str(headers.get("content-type", "")).startswith(spec["content_type"]):
            problems.append(f"content type {headers.get('content-type')!r} != {spec['content_type']!r}")
        data = base64.b64decode(result.get("body") or "")
        if spec["content_type"] == "application/dicom" and data[128:132] != b"DICM":
            problems.append("the answer is not a DICOM Part 10 file")
        return problems
    try:
        body = json.loads(result.get("body") or "")
    except ValueError:
        return [*problems, f"body is not JSON: {str(result.get('body'))[:300]}"]
    if 200 <= spec["status"] < 300:
        if isinstance(body, dict) and "error" in body:
            problems.append(f"a {spec['status']} body with an error: {json.dumps(body)[:600]}")
    else:
        error = body.get("error") if isinstance(body, dict) else None
        if not (isinstance(error, dict) and error.get("code") and body.get("request_id")):
            problems.append(f"not the error envelope (error.code, request_id): {json.dumps(body)[:600]}")
    return problems


def _s3_result(spec: dict[str, Any], result: dict[str, Any], read_object: ReadObject) -> list[str]:
    problems = []
    outcomes = result.get("outcomes") or []
    if not outcomes or any(o.get("status") != "succeeded" for o in outcomes):
        problems.append(f"S3 records not all succeeded: {json.dumps(result)[:600]}")
    try:
        written = json.loads(read_object(spec["result_key"]))
    except Exception as exc:  # the object is missing or not JSON: say which
        return [*problems, f"result object {spec['result_key']!r} not readable: {exc}"]
    function, key = spec["function"], spec["result_key"]
    if "error" in written:
        ok = False
    elif function == "TabularFunction":  # a file of rows
        ok = written.get("summary", {}).get("rows", 0) > 0
    elif function in ("RecommendFunction", "MultimodalFunction"):  # a file of patients, one result a line
        summary = written.get("summary", {})
        ok = summary.get("rows", 0) == len(written.get("results", [])) > 0 and summary.get("succeeded", 0) > 0
    elif function == "TextFunction":  # one note: its identifiers and the redacted text
        ok = bool(written.get("entities")) and bool(written.get("redacted_text"))
    elif key.startswith("results/imaging-deid/"):  # the file's report; the de-identified file beside it
        ok = written.get("burned_in_risk", {}).get("pixels_cleaned") is False and bool(
            read_object(written.get("result_file", {}).get("key", ""))
        )
    else:  # one input, one prediction (imaging)
        ok = len(written.get("predictions", [])) == 1
    if not ok:
        problems.append(f"unexpected result object: {json.dumps(written)[:600]}")
    return problems
