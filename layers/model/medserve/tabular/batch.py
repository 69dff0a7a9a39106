"""Scoring a CSV or JSON Lines file of tabular records (the S3 path of ``TabularFunction``).

Formats, chosen by the key's suffix: ``.csv`` (a header row naming the card's features) and
``.jsonl``/``.ndjson`` (one JSON object per line). An optional ``record_id`` column/field is
echoed back untouched so callers can join results to their rows; an optional ``subject`` (a JSONL
object ``{reference}``/``{identifier}``, or a CSV reference such as ``Patient/123``) is echoed as a
FHIR reference for ``format: fhir`` results. Object metadata may choose the model
(``x-amz-meta-model``), ask for contributions (``x-amz-meta-explain: true``) and for FHIR NDJSON
beside the JSON result (``x-amz-meta-format: fhir``, see medserve.interop.batch).

A bad row is reported in place (its row number, the fields and what is wrong with them) and the
rest of the file is still scored; only a file that cannot be read at all fails as a whole.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import numpy as np

from medserve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from medserve.interop.subjects import SUBJECT, parse_subject
from medserve.monitoring.capture import capture_tabular, inference_id, object_batch_id
from medserve.observability import Stopwatch
from medserve.services import get_services
from medserve.tabular import predict as tabular
from medserve.tabular.model import scope_issues, validate_record
from medserve.triggers.s3 import S3Upload
from medserve.wire import flag_from

MAX_ROWS = 100_000
RECORD_ID = "record_id"
_CHUNK = 10_000
# JSON Lines end with \n (or \r\n); str.splitlines() would also split at U+2028, U+0085 and other
# characters a JSON string may hold unescaped, cutting one valid record into two broken ones.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # NaN/Infinity: Python's json accepts them, JSON does not


def _csv_value(text: str | None) -> Any:
    if text is None or text.strip() == "":
        return None  # reported as missing
    try:
        return float(text)
    except ValueError:
        return text  # reported as "not a number"


def parse_rows(key: str, body: bytes) -> list[dict[str, Any] | str]:
    """Rows as dicts, or a string saying why that row could not be parsed at all."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput("the file is not UTF-8 text") from e
    lower = key.lower()
    rows: list[dict[str, Any] | str] = []
    if lower.endswith(".csv"):
        # newline="": the csv module then reads \r, \n and \r\n line ends, and quoted line breaks.
        reader = csv.DictReader(io.StringIO(text, newline=""))
        try:
            if not reader.fieldnames:
                raise InvalidInput("the CSV file has no header row")
            for row in reader:
                if None in row:  # more cells than header names
                    rows.append("the row has more cells than the header")
                    continue
                rows.append({k: (v if k == RECORD_ID else _csv_value(v)) for k, v in row.items()})
                if len(rows) > MAX_ROWS:
                    break
        except csv.Error as e:  # e.g. a field over the csv module's limit (128 KiB); not quoted
            raise InvalidInput(f"the CSV file cannot be parsed (at line {reader.line_num})") from e
    elif lower.endswith((".jsonl", ".ndjson")):
        for line in _LINE_BREAK.split(text):
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_constant=_not_json)
            except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
                rows.append("the line is not valid JSON")
                continue
            rows.append(value if isinstance(value, dict) else "the line is not a JSON object")
            if len(rows) > MAX_ROWS:
                break
    else:
        raise UnsupportedMediaType("tabular uploads must be .csv, .jsonl or .ndjson files")
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(f"at most {MAX_ROWS} rows per file")
    if not rows:
        raise InvalidInput("the file holds no rows")
    return rows


def row_entries(key: str, body: bytes) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each row of an uploaded file with the start of its result entry (its number, and its
    ``record_id`` moved from the row into the entry); the row is None when it could not be parsed,
    and its entry then already carries the ``MALFORMED_ROW`` error. Shared by every JSONL/CSV scorer."""
    for n, row in enumerate(parse_rows(key, body), start=1):
        entry: dict[str, Any] = {"row": n}
        if isinstance(row, str):
            entry["error"] = {"code": "MALFORMED_ROW", "message": row, "details": []}
            yield entry, None
            continue
        if RECORD_ID in row:
            entry[RECORD_ID] = row.pop(RECORD_ID)
        yield entry, row


def _pop_subject(row: dict[str, Any], entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Move a row's optional ``subject`` (a JSONL object, or a CSV reference such as
    ``Patient/123``) into its result entry, where ``format: fhir`` reads it; the issues if invalid."""
    if SUBJECT not in row:
        return []
    value = row.pop(SUBJECT)
    if value is None:  # an empty CSV cell
        return []
    if isinstance(value, str):
        value = {"reference": value.strip()}
    try:
        subject = parse_subject(value, SUBJECT)
    except InvalidInput as e:
        return list(e.details)
    if subject is not None:
        entry[SUBJECT] = subject.as_reference()
    return []


def score_tabular_file(upload: S3Upload) -> dict[str, Any]:
    clock = Stopwatch()
    model = tabular.load(upload.metadata.get("model") or None)
    explain = flag_from(upload.metadata, "explain", "x-amz-meta-explain")

    results: list[dict[str, Any]] = []
    valid_rows: list[list[float]] = []
    valid_at: list[int] = []
    warnings: list[list[str]] = []
    for entry, row in row_entries(upload.key, upload.body):
        if row is not None:
            subject_issues = _pop_subject(row, entry)
            values, issues, warns = validate_record(model.card, row)
            issues = [*subject_issues, *issues]
            if issues:
                entry["error"] = {
                    "code": "INVALID_INPUT",
                    "message": f"{len(issues)} invalid field(s)",
                    "details": [i if isinstance(i, dict) else i.as_detail() for i in issues],
                }
            else:
                valid_at.append(len(results))
                valid_rows.append(values)
                warnings.append(warns)
        results.append(entry)

    batch = object_batch_id(upload.bucket, upload.key, upload.version_id)
    captured: list[dict[str, Any]] = []  # the predictions answered, and their rows
    captured_rows: list[list[float]] = []
    if valid_rows:
        x = np.asarray(valid_rows, dtype=np.float64)
        for start in range(0, len(x), _CHUNK):
            chunk = x[start : start + _CHUNK]
            scored = tabular.score(model, chunk, warnings[start : start + _CHUNK], explain=explain)
            out_of_scope = scope_issues(model.card, chunk, [p["ood"] for p in scored.predictions])
            explanations = scored.explanations or [None] * len(chunk)
            for offset, (pred, expl) in enumerate(zip(scored.predictions, explanations, strict=True)):
                entry = results[valid_at[start + offset]]
                if out_of_scope[offset]:
                    entry["error"] = {
                        "code": "OUT_OF_SCOPE",
                        "message": "the row is outside the model's intended use",
                        "details": [i.as_detail() for i in out_of_scope[offset]],
                    }
                    continue
                pred.pop("index")
                # For POST /v1/monitoring/ground-truth: "<batch id>:<row>".
                entry["inference_id"] = inference_id(batch, entry["row"])
                entry["prediction"] = pred
                captured.append(pred)
                captured_rows.append(valid_rows[start + offset])
                if expl is not None:
                    expl.pop("index")
                    entry["explanation"] = expl

    failed = sum(1 for r in results if "error" in r)
    timing = clock.timing_ms()
    services = get_services()
    capture_tabular(
        services.capture(),
        services.registry,
        model.card,
        route="s3:uploads/tabular/",
        status=200,
        latency_ms=timing["total"],
        request_id=batch,
        rows=captured_rows,
        predictions=captured,
        ids=[p_id for p_id in (r.get("inference_id") for r in results) if p_id],
    )
    return {
        "model": model.loaded.envelope(),
        "placement": model.card.placement,
        "summary": {"rows": len(results), "succeeded": len(results) - failed, "failed": failed},
        "results": results,
        "timing_ms": timing,
        "intended_use": model.card.intended_use,
    }
