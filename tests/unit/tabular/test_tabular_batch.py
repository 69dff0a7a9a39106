"""The S3 scorer's bulk path (plain CSV through np.loadtxt, JSON Lines through records_matrix, the
vectorised checks) against the per-row path it replaces: on files mixing good rows with every kind
of bad one, each row's entry must be exactly the one the per-row path gives."""

import csv
import io
import json
import math

import numpy as np
import pytest
from medserve.monitoring.capture import inference_id, object_batch_id
from medserve.serving.registry import Registry
from medserve.tabular.batch import RECORD_ID, _csv_value, _pop_subject, score_tabular_file
from medserve.tabular.model import (
    TabularModel,
    check_matrix,
    records_matrix,
    scope_issues,
    validate_record,
)
from medserve.triggers.s3 import S3Upload


@pytest.fixture(scope="module")
def model() -> TabularModel:
    return TabularModel(Registry().load("breast-cancer-risk", modality="tabular"))


def per_row(model: TabularModel, key: str, body: bytes) -> list[dict]:
    """The scorer as it was before the bulk path: csv.DictReader / json.loads, one validate_record
    per row, the valid rows scored in one batch."""
    text = body.decode("utf-8-sig")
    if key.endswith(".csv"):
        rows = [
            "the row has more cells than the header"
            if None in row
            else {k: (v if k == RECORD_ID else _csv_value(v)) for k, v in row.items()}
            for row in csv.DictReader(io.StringIO(text, newline=""))
        ]
    else:
        rows = [json.loads(line) for line in text.split("\n") if line.strip()]
    results, valid, at, warnings = [], [], [], []
    for n, row in enumerate(rows, start=1):
        entry = {"row": n}
        results.append(entry)
        if isinstance(row, str):
            entry["error"] = {"code": "MALFORMED_ROW", "message": row, "details": []}
            continue
        if RECORD_ID in row:
            entry[RECORD_ID] = row.pop(RECORD_ID)
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
            valid.append(values)
            at.append(n - 1)
            warnings.append(warns)
    if not valid:
        return results
    x = np.asarray(valid, dtype=np.float64)
    predictions = model.predict(x, warnings)
    refused = scope_issues(model.card, x, [p["ood"] for p in predictions])
    batch = object_batch_id("b", key, None)
    for i, prediction, issues in zip(at, predictions, refused, strict=True):
        entry = results[i]
        if issues:
            details = [issue.as_detail() for issue in issues]
            message = "the row is outside the model's intended use"
            entry["error"] = {"code": "OUT_OF_SCOPE", "message": message, "details": details}
            continue
        prediction.pop("index")
        entry["inference_id"] = inference_id(batch, entry["row"])
        entry["prediction"] = prediction
    return results


def scored(key: str, body: bytes) -> dict:
    return score_tabular_file(S3Upload("b", key, None, body))


def mixed_csv(card, record, *, quoted: bool = False, line_end: str = "\n") -> bytes:
    names = card.feature_names
    header = [RECORD_ID, *names, "subject"]
    hi = card.inputs.features[0].training_range[1]

    def line(rid: str, changes: dict | None = None, subject: str = "Patient/1", extra: list | None = None):
        values = {name: repr(record[name]) for name in names} | (changes or {})
        cells = [rid, *(values[name] for name in names), subject, *(extra or [])]
        if quoted:
            cells[0] = f'"{rid}, quoted"'
        return ",".join(cells)

    lines = [
        ",".join(header),
        line("good"),
        line("warns", {"mean_radius": repr(hi * 1.2)}),
        line("far", {"mean_texture": repr(record["mean_texture"] * 3)}),  # out of distribution
        line("missing", {"mean_texture": ""}),
        line("blank cell", {"mean_texture": "  "}),
        "",  # blank lines are skipped, not numbered
        line("out of range", {"mean_area": "-1"}, subject=""),
        line("not a number", {"worst_area": "abc", "mean_area": "1e9"}),
        line("nan", {"mean_radius": "nan", "mean_texture": "-inf"}),
        line("underscore", {"mean_area": "1_000"}),  # float() takes it, np.loadtxt does not
        line("padded", {"mean_area": " 1000.5 "}),
        line("extra cell", extra=["surplus"]),
        ",".join(["short", repr(record[names[0]])]),
        line("bad subject", subject="Observation/"),
        line("numeric subject", subject="123"),
        "   ",  # a line of spaces is a row of one cell for the csv module
        line("good again", subject=""),
    ]
    return (line_end.join(lines) + line_end).encode()


@pytest.mark.parametrize(
    "variant",
    [{}, {"quoted": True}, {"line_end": "\r\n"}, {"line_end": "\r"}],
    ids=["plain", "quoted (csv module)", "crlf", "lone cr (csv module)"],
)
def test_csv_entries_equal_the_per_row_path(model, card, record, variant):
    body = mixed_csv(card, record, **variant)
    result = scored("uploads/tabular/mixed.csv", body)
    expected = per_row(model, "uploads/tabular/mixed.csv", body)
    assert result["results"] == expected
    failed = sum("error" in e for e in expected)
    assert result["summary"] == {"rows": len(expected), "succeeded": len(expected) - failed, "failed": failed}
    by_id = {(e.get("record_id") or "").removesuffix(", quoted"): e for e in result["results"]}
    codes = {rid: e.get("error", {}).get("code") for rid, e in by_id.items()}
    assert codes["good"] is codes["warns"] is codes["far"] is codes["padded"] is codes["underscore"] is None
    assert codes["missing"] == codes["not a number"] == codes["bad subject"] == "INVALID_INPUT"
    assert codes[""] == "MALFORMED_ROW"  # the extra cell's row: no record_id
    assert by_id["far"]["prediction"]["ood"]["in_distribution"] is False
    assert by_id["warns"]["prediction"]["warnings"] == [
        "mean_radius is outside the training range: the model extrapolates"
    ]


def test_every_block_of_a_large_file_keeps_its_rows_in_place(model, card, record):
    """Bad rows in several np.loadtxt blocks (2,000 lines each), the others read in bulk."""
    names = card.feature_names
    lines = [",".join([RECORD_ID, *names])]
    for i in range(4_500):
        values = [repr(record[name] * (1 + (i % 7) / 100)) for name in names]
        if i % 1_000 == 17:
            values[i % 30] = "n/a"
        lines.append(",".join([f"r{i}", *values]))
    body = ("\n".join(lines) + "\n").encode()
    result = scored("uploads/tabular/large.csv", body)
    assert result["results"] == per_row(model, "uploads/tabular/large.csv", body)
    assert [e["row"] for e in result["results"] if "error" in e] == [18, 1018, 2018, 3018, 4018]


def test_a_header_with_an_unexpected_column_reports_it_on_every_row(model, card, record):
    names = card.feature_names
    header = ",".join([*names, "age"])
    good = ",".join([*(repr(record[n]) for n in names), "61"])
    body = f"{header}\n{good}\n{good}\n".encode()
    result = scored("uploads/tabular/age.csv", body)
    assert result["results"] == per_row(model, "uploads/tabular/age.csv", body)
    assert result["results"][0]["error"]["details"] == [{"field": "age", "issue": "unexpected feature"}]


def test_jsonl_entries_equal_the_per_row_path(model, card, record):
    rows = [
        {"record_id": "good", **record, "subject": {"reference": "Patient/1"}},
        {"record_id": "int", **record, "mean_area": 1000},
        {"record_id": "missing", **{k: v for k, v in record.items() if k != "mean_texture"}},
        {"record_id": "none", **record, "mean_texture": None},
        {"record_id": "string", **record, "mean_texture": "12.5"},
        {"record_id": "bool", **record, "mean_texture": True},
        {"record_id": "huge", **record, "mean_texture": 10**400},
        {"record_id": "range", **record, "mean_area": -5},
        {"record_id": "unexpected", **record, "age": 61},
        {"record_id": "swapped", **{k: v for k, v in record.items() if k != "mean_texture"}, "age": 61},
        {"record_id": "bad subject", **record, "subject": {"reference": 5}},
        {"record_id": "last", **record},
    ]
    body = "\n".join(json.dumps(r) for r in rows).encode()
    result = scored("uploads/tabular/mixed.jsonl", body)
    assert result["results"] == per_row(model, "uploads/tabular/mixed.jsonl", body)
    ok = [e["record_id"] for e in result["results"] if "prediction" in e]
    assert ok == ["good", "int", "last"]


def test_vectorised_checks_agree_with_validate_record(card, record):
    """records_matrix + check_matrix (the HTTP path's and the S3 path's one vectorised validation)
    pass exactly the records validate_record finds no issue with, with the same values."""
    rng = np.random.default_rng(7)
    names = card.feature_names
    bad_values = [None, "1.0", True, math.nan, math.inf, -1.0, 1e12, 10**400, 3, [1.0]]
    records = []
    for i in range(400):
        r = {name: float(record[name]) * float(rng.uniform(0.5, 1.5)) for name in names}
        if i % 3 == 0:
            r[names[int(rng.integers(30))]] = bad_values[int(rng.integers(len(bad_values)))]
        if i % 17 == 0:
            r["age"] = 61
        if i % 19 == 0:
            del r[names[int(rng.integers(30))]]
        records.append(r)
    x, read = records_matrix(card, records)
    ok, warnings = check_matrix(card, x)
    ok &= read
    for i, r in enumerate(records):
        values, issues, warns = validate_record(card, r)
        assert bool(ok[i]) == (not issues), (i, issues)
        if not issues:
            assert x[i].tolist() == values and warnings[i] == warns
