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

Throughput (docs/performance.md, bench/tabular_batch.py): the rows are read and checked in bulk
(a plain CSV's feature columns by ``np.loadtxt``; every row's values through the vectorised
``check_matrix``), and only the rows those refuse go through ``validate_record``, which names each
issue: every entry is the one the per-row path gives (tests/unit/tabular/test_tabular_batch.py).
"""

from __future__ import annotations

import csv
import gc
import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np

from medserve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from medserve.interop.subjects import SUBJECT, parse_subject
from medserve.monitoring.capture import capture_tabular, inference_id, object_batch_id
from medserve.observability import Stopwatch
from medserve.services import get_services
from medserve.serving.cards import ModelCard
from medserve.tabular import predict as tabular
from medserve.tabular.model import check_matrix, records_matrix, scope_issues, validate_record
from medserve.triggers.s3 import S3Upload
from medserve.wire import flag_from

MAX_ROWS = 100_000
RECORD_ID = "record_id"
_CHUNK = 10_000  # rows scored at once
_BLOCK = 2_000  # lines parsed at once: a bad cell costs its block a slower read
# JSON Lines end with \n (or \r\n); str.splitlines() would also split at U+2028, U+0085 and other
# characters a JSON string may hold unescaped, cutting one valid record into two broken ones.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")  # NaN/Infinity: Python's json accepts them, JSON does not


# One decoder for every line (json.loads with an option builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_not_json)


def _csv_value(text: str | None) -> Any:
    if text is None or text.strip() == "":
        return None  # reported as missing
    try:
        return float(text)
    except ValueError:
        return text  # reported as "not a number"


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput("the file is not UTF-8 text") from e


def _csv_table(text: str) -> tuple[list[str], list[list[str]]]:
    """The header and the non-blank rows of a CSV file, each as its cells (csv.DictReader's reading:
    blank lines skipped, and a parse error quotes the line of the last row read before it)."""
    # newline="": the csv module then reads \r, \n and \r\n line ends, and quoted line breaks.
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 0
    rows: list[list[str]] = []
    try:
        header = next(reader, None)
        if not header:
            raise InvalidInput("the CSV file has no header row")
        line = reader.line_num
        after_row = True
        for cells in reader:
            if after_row:  # DictReader counts a run of blank lines as the line that starts it
                line = reader.line_num
            after_row = bool(cells)
            if cells:
                rows.append(cells)
                if len(rows) > MAX_ROWS:
                    break
    except csv.Error as e:  # e.g. a field over the csv module's limit (128 KiB); not quoted
        raise InvalidInput(f"the CSV file cannot be parsed (at line {line})") from e
    return header, rows


def _csv_record(header: list[str], cells: list[str]) -> dict[str, Any] | str:
    """One CSV row as csv.DictReader makes it (absent cells None), values as :func:`_csv_value`
    reads them, or why it cannot be read at all."""
    if len(cells) > len(header):
        return "the row has more cells than the header"
    record: dict[str, Any] = dict(zip(header, cells, strict=False))
    for name in header[len(cells) :]:
        record[name] = None  # reported as missing
    return {k: (v if k == RECORD_ID else _csv_value(v)) for k, v in record.items()}


def _jsonl_rows(text: str) -> list[dict[str, Any] | str]:
    rows: list[dict[str, Any] | str] = []
    # Without a \r the line breaks are the \n: str.split finds them several times faster.
    lines = _LINE_BREAK.split(text) if "\r" in text else text.split("\n")
    for line in lines:
        if not line.strip():
            continue
        try:
            value = _DECODER.decode(line)
        except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
            rows.append("the line is not valid JSON")
            continue
        rows.append(value if isinstance(value, dict) else "the line is not a JSON object")
        if len(rows) > MAX_ROWS:
            break
    return rows


def _is_csv(key: str) -> bool:
    lower = key.lower()
    if lower.endswith(".csv"):
        return True
    if lower.endswith((".jsonl", ".ndjson")):
        return False
    raise UnsupportedMediaType("tabular uploads must be .csv, .jsonl or .ndjson files")


def _counted(rows: list[Any]) -> list[Any]:
    if len(rows) > MAX_ROWS:
        raise PayloadTooLarge(f"at most {MAX_ROWS} rows per file")
    if not rows:
        raise InvalidInput("the file holds no rows")
    return rows


def parse_rows(key: str, body: bytes) -> list[dict[str, Any] | str]:
    """Rows as dicts, or a string saying why that row could not be parsed at all."""
    text = _text(body)
    if _is_csv(key):
        header, cells = _csv_table(text)
        return _counted([_csv_record(header, row) for row in cells])
    return _counted(_jsonl_rows(text))


def row_entries(key: str, body: bytes) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each row of an uploaded file with the start of its result entry (its number, and its
    ``record_id`` moved from the row into the entry); the row is None when it could not be parsed,
    and its entry then already carries the ``MALFORMED_ROW`` error. Shared by every JSONL/CSV scorer."""
    return _entries(parse_rows(key, body))


def _entries(rows: list[dict[str, Any] | str]) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    for n, row in enumerate(rows, start=1):
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


@dataclass
class _Rows:
    """A file read for scoring: the result entry of every row, in file order, and for each row that
    could be parsed (its entry: ``at``) the card's values in one matrix (``read``: whether they
    could be read as ``validate_record`` reads them; NaN where not), the issues of its ``subject``,
    and a way to get it as a dict (``record_id`` and ``subject`` moved to the entry) for
    ``validate_record``, which is asked only about the rows the vectorised checks refuse."""

    entries: list[dict[str, Any]]
    at: list[int]
    x: np.ndarray
    read: np.ndarray
    subject_issues: list[list[dict[str, Any]]]
    record: Callable[[int], dict[str, Any]]


def _read(card: ModelCard, key: str, body: bytes) -> _Rows:
    text = _text(body)
    if _is_csv(key):
        plain = _plain_csv(card, text)
        if plain is not None:
            return plain
        header, cells = _csv_table(text)
        return _dict_rows(card, _counted([_csv_record(header, row) for row in cells]))
    return _dict_rows(card, _counted(_jsonl_rows(text)))


def _dict_rows(card: ModelCard, rows: list[dict[str, Any] | str]) -> _Rows:
    entries: list[dict[str, Any]] = []
    at: list[int] = []
    records: list[dict[str, Any]] = []
    subject_issues: list[list[dict[str, Any]]] = []
    for entry, row in _entries(rows):
        entries.append(entry)
        if row is not None:
            subject_issues.append(_pop_subject(row, entry))
            at.append(len(entries) - 1)
            records.append(row)
    x, read = records_matrix(card, records)
    return _Rows(entries, at, x, read, subject_issues, records.__getitem__)


def _plain_csv(card: ModelCard, text: str) -> _Rows | None:
    """A plain CSV file (nothing quoted, one line a row, a header naming each of the card's
    features once, and at most ``record_id`` and ``subject`` besides) read in bulk: lines split at
    commas (what the csv module does when nothing is quoted) and the feature columns of blocks of
    full lines parsed by ``np.loadtxt``. None for any other file: :func:`_csv_table` reads it.

    ``np.loadtxt`` parses a float with CPython's own ``PyOS_string_to_double`` after stripping
    whitespace, as ``float()`` does, and refuses what ``float()`` may still take (underscores,
    non-ASCII digits, empty cells): a block it refuses is read line by line with ``float()``, and
    a line that fails that too goes the per-row way (:func:`_csv_record`, ``validate_record``).
    """
    if '"' in text or "\x00" in text:
        return None
    text = text.replace("\r\n", "\n")
    if "\r" in text:  # a lone \r ends a line for the csv module, not for str.split
        return None
    lines = text.split("\n")
    header = lines[0].split(",")
    names = card.feature_names
    columns = {name: i for i, name in enumerate(header)}
    if (
        not lines[0]
        or len(columns) != len(header)
        or not set(names) <= columns.keys()
        or not columns.keys() <= {*names, RECORD_ID, SUBJECT}
        or max(map(len, lines)) > csv.field_size_limit()  # the csv module refuses such a field
    ):
        return None
    lines = [line for line in lines[1:] if line]  # the csv module skips blank lines
    if not lines or len(lines) > MAX_ROWS:
        return None  # _csv_table and _counted say what is wrong
    rid, sid = columns.get(RECORD_ID), columns.get(SUBJECT)
    # The usual line has one cell per header name: found by counting commas; its record_id and
    # subject cells cut out in C loops (map, itemgetter; str.find for a first column).
    commas = np.fromiter(map(str.count, lines, repeat(",")), dtype=np.int64, count=len(lines))
    full_at = np.flatnonzero(commas == len(header) - 1).tolist()
    full_lines = list(map(lines.__getitem__, full_at))
    entries: list[dict[str, Any]] = [{"row": n} for n in range(1, len(lines) + 1)]
    subject_issues: list[list[dict[str, Any]]] = [[]] * len(lines)  # shared, never mutated

    def column(j: int) -> list[str]:
        if j == 0:
            return [line[: line.find(",")] for line in full_lines]
        return list(map(itemgetter(j), map(str.split, full_lines, repeat(","), repeat(j + 1))))

    if rid is not None:
        for entry, value in zip(map(entries.__getitem__, full_at), column(rid), strict=True):
            entry[RECORD_ID] = value
    if sid is not None:
        for i, value in zip(full_at, column(sid), strict=True):
            subject_issues[i] = _pop_subject({SUBJECT: _csv_value(value)}, entries[i])
    others: dict[int, dict[str, Any]] = {}  # the other lines, as dicts (by line)
    malformed = []
    for i in np.flatnonzero(commas != len(header) - 1).tolist():
        record = _csv_record(header, lines[i].split(","))
        if isinstance(record, str):
            entries[i]["error"] = {"code": "MALFORMED_ROW", "message": record, "details": []}
            malformed.append(i)
            continue
        if RECORD_ID in record:
            entries[i][RECORD_ID] = record.pop(RECORD_ID)
        subject_issues[i] = _pop_subject(record, entries[i])
        others[i] = record

    x = np.full((len(lines), len(names)), np.nan)
    read = np.zeros(len(lines), dtype=bool)
    usecols = [columns[name] for name in names]
    get = itemgetter(*usecols)
    for start in range(0, len(full_at), _BLOCK):
        block = full_at[start : start + _BLOCK]
        chunk = full_lines[start : start + _BLOCK]
        try:
            values = np.loadtxt(chunk, delimiter=",", usecols=usecols, comments=None, ndmin=2)
            if len(values) != len(block):
                raise ValueError("np.loadtxt skipped a line")
            x[block] = values
            read[block] = True
        except ValueError:
            for i, line in zip(block, chunk, strict=True):
                try:
                    cells = get(line.split(","))
                    x[i] = [float(v) for v in (cells if isinstance(cells, tuple) else (cells,))]
                    read[i] = True
                except ValueError:
                    pass

    at = list(range(len(lines)))
    if malformed:  # only the rows that could be parsed are validated and scored
        keep = np.ones(len(lines), dtype=bool)
        keep[malformed] = False
        at = np.flatnonzero(keep).tolist()
        x, read = x[keep], read[keep]
        subject_issues = [subject_issues[i] for i in at]

    def record(k: int) -> dict[str, Any]:
        i = at[k]
        if i in others:
            return others[i]
        row = _csv_record(header, lines[i].split(","))
        assert isinstance(row, dict)  # a full line
        row.pop(RECORD_ID, None)
        row.pop(SUBJECT, None)
        return row

    return _Rows(entries, at, x, read, subject_issues, record)


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Hold CPython's cycle collector while a file's results are built: they are ~5 small
    containers a row and none of them cyclic (reference counting frees them all), yet each full
    collection walks the whole growing heap again (on 100,000 rows ~1.5 of ~4 s). It runs again
    as soon as the file is scored, also when scoring raised."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def score_tabular_file(upload: S3Upload) -> dict[str, Any]:
    with _no_cycle_collection():
        return _score_file(upload)


def _score_file(upload: S3Upload) -> dict[str, Any]:
    clock = Stopwatch()
    model = tabular.load(upload.metadata.get("model") or None)
    explain = flag_from(upload.metadata, "explain", "x-amz-meta-explain")
    card = model.card

    rows = _read(card, upload.key, upload.body)
    results = rows.entries
    x = rows.x
    ok, warnings = check_matrix(card, x)
    ok &= rows.read
    subject_refused = np.fromiter(map(bool, rows.subject_issues), dtype=bool, count=len(rows.at))
    # The per-row way, only for the rows the vectorised checks refuse: it names each issue.
    for k in np.flatnonzero(~ok | subject_refused):
        issues = rows.subject_issues[k]
        if not ok[k]:
            values, record_issues, warns = validate_record(card, rows.record(k))
            issues = [*issues, *record_issues]
            x[k], warnings[k] = values, warns
        ok[k] = not issues
        if issues:
            results[rows.at[k]]["error"] = {
                "code": "INVALID_INPUT",
                "message": f"{len(issues)} invalid field(s)",
                "details": [i if isinstance(i, dict) else i.as_detail() for i in issues],
            }

    valid = np.flatnonzero(ok)
    valid_x = x[valid]
    valid_at = [rows.at[k] for k in valid]
    batch = object_batch_id(upload.bucket, upload.key, upload.version_id)
    captured: list[dict[str, Any]] = []  # the predictions answered, and their rows
    captured_rows: list[int] = []
    captured_ids: list[str] = []
    for start in range(0, len(valid_x), _CHUNK):
        chunk = valid_x[start : start + _CHUNK]
        chunk_warnings = [warnings[k] for k in valid[start : start + _CHUNK]]
        scored = tabular.score(model, chunk, chunk_warnings, explain=explain)
        out_of_scope = scope_issues(card, chunk, [p["ood"] for p in scored.predictions])
        explanations = scored.explanations or [None] * len(chunk)
        entries = map(results.__getitem__, valid_at[start : start + _CHUNK])
        for offset, (entry, pred, expl, refused) in enumerate(
            zip(entries, scored.predictions, explanations, out_of_scope, strict=True)
        ):
            if refused:
                entry["error"] = {
                    "code": "OUT_OF_SCOPE",
                    "message": "the row is outside the model's intended use",
                    "details": [i.as_detail() for i in refused],
                }
                continue
            del pred["index"]
            # For POST /v1/monitoring/ground-truth: "<batch id>:<row>".
            entry["inference_id"] = answered = inference_id(batch, entry["row"])
            entry["prediction"] = pred
            captured.append(pred)
            captured_rows.append(start + offset)
            captured_ids.append(answered)
            if expl is not None:
                del expl["index"]
                entry["explanation"] = expl

    failed = len(results) - len(captured)
    timing = clock.timing_ms()
    services = get_services()
    capture_tabular(
        services.capture(),
        services.registry,
        card,
        route="s3:uploads/tabular/",
        status=200,
        latency_ms=timing["total"],
        request_id=batch,
        rows=valid_x[captured_rows],
        predictions=captured,
        ids=captured_ids,
    )
    return {
        "model": model.loaded.envelope(),
        "placement": card.placement,
        "summary": {"rows": len(results), "succeeded": len(results) - failed, "failed": failed},
        "results": results,
        "timing_ms": timing,
        "intended_use": card.intended_use,
    }
