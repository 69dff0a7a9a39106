"""Scoring a JSON Lines file of patients (the S3 path of ``RecommendFunction``).

Each line is one query, as ``POST /v1/recommend/treatment`` takes it (without ``model``), plus an
optional ``record_id`` echoed back untouched so callers can join results to their rows. Object
metadata may choose the model (``x-amz-meta-model``). A bad line is reported in place (its row
number, the fields and what is wrong) and the rest of the file is still answered; only a file that
cannot be read at all fails as a whole.
"""

from __future__ import annotations

from typing import Any

from medserve.errors import MedserveError, UnsupportedMediaType
from medserve.observability import Stopwatch
from medserve.recommend.model import RecommendModel
from medserve.recommend.predict import Plan, plan, recommend_many
from medserve.recommend.types import parse_query
from medserve.services import get_services
from medserve.tabular.batch import row_entries
from medserve.triggers.s3 import S3Upload, rows_document

_CHUNK = 5_000  # patients per ONNX run


def score_recommend_file(upload: S3Upload) -> dict[str, Any]:
    clock = Stopwatch()
    if not upload.key.lower().endswith((".jsonl", ".ndjson")):
        raise UnsupportedMediaType("recommend uploads must be .jsonl or .ndjson files (one patient per line)")
    model = RecommendModel.load(get_services().registry, upload.metadata.get("model") or None)
    spec = model.spec

    results: list[dict[str, Any]] = []
    plans: list[Plan] = []
    planned_at: list[int] = []
    for entry, row in row_entries(upload.key, upload.body):
        if row is not None:
            try:
                query = parse_query(row, max_history=spec.max_history, max_exclude=spec.max_exclude)
                plans.append(plan(model, query))
                planned_at.append(len(results))
            except MedserveError as e:  # InvalidInput, PayloadTooLarge: this line only
                entry["error"] = e.as_error()
        results.append(entry)

    for start in range(0, len(plans), _CHUNK):
        answers = recommend_many(model, plans[start : start + _CHUNK])
        for offset, answer in enumerate(answers):
            results[planned_at[start + offset]]["recommendation"] = answer.as_dict()

    return rows_document(model.loaded, results, clock.timing_ms())
