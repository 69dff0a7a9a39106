"""Scoring a JSON Lines file of multi-modal requests (the S3 path of ``MultimodalFunction``).

Each line is one request as ``POST /v1/multimodal/predict`` takes it (without ``model``), with
images by ``image_s3_uri`` (objects uploaded under ``uploads/imaging/``; inline ``image_base64``
works too), plus an optional ``record_id`` echoed back. Object metadata may choose the model
(``x-amz-meta-model``). A bad line is reported in place (row, code, fields) and the rest of the
file is still answered.
"""

from __future__ import annotations

from typing import Any

from medserve.errors import InvalidInput, MedserveError, UnsupportedMediaType
from medserve.imaging.sources import image_from_base64, image_from_s3
from medserve.imaging.types import MAX_INLINE_BYTES, MAX_UPLOAD_BYTES
from medserve.multimodal.members import prefixed
from medserve.multimodal.predict import MultimodalQuery, load, predict
from medserve.observability import Stopwatch
from medserve.tabular.batch import row_entries
from medserve.triggers.s3 import S3Upload, rows_document

_FIELDS = {"tabular", "image_base64", "image_s3_uri", "text", "explain"}


def _query(row: dict[str, Any]) -> MultimodalQuery:
    unexpected = sorted(str(k)[:64] for k in row if k not in _FIELDS)
    if unexpected:
        raise InvalidInput(
            "unexpected fields", [{"field": k, "issue": "unexpected field"} for k in unexpected]
        )
    explain = row.get("explain", False)
    if not isinstance(explain, bool):
        raise InvalidInput("explain must be true or false", [{"field": "explain", "issue": "not a boolean"}])
    tabular, text = row.get("tabular"), row.get("text")
    if tabular is not None and not isinstance(tabular, dict):
        raise InvalidInput("tabular must be an object", [{"field": "tabular", "issue": "not an object"}])
    image, max_bytes = None, MAX_INLINE_BYTES
    with prefixed("image"):
        if "image_base64" in row and "image_s3_uri" in row:
            raise InvalidInput("give at most one image", [{"field": "", "issue": "both image fields"}])
        if isinstance(row.get("image_base64"), str):
            image = image_from_base64(row["image_base64"])
        elif isinstance(row.get("image_s3_uri"), str):
            image, max_bytes = image_from_s3(row["image_s3_uri"]), MAX_UPLOAD_BYTES
        elif row.get("image_base64") is not None or row.get("image_s3_uri") is not None:
            raise InvalidInput(
                "the image reference must be a string", [{"field": "", "issue": "not a string"}]
            )
    return MultimodalQuery(
        tabular=tabular, image=image, text=text, explain=explain, image_max_bytes=max_bytes
    )


def score_multimodal_file(upload: S3Upload) -> dict[str, Any]:
    clock = Stopwatch()
    if not upload.key.lower().endswith((".jsonl", ".ndjson")):
        raise UnsupportedMediaType(
            "multimodal uploads must be .jsonl or .ndjson files (one request per line)"
        )
    model = load(upload.metadata.get("model"))
    results: list[dict[str, Any]] = []
    for entry, row in row_entries(upload.key, upload.body):
        if row is not None:
            try:
                body = predict(model, _query(row))
                entry |= {
                    "modalities": body["modalities"],
                    "prediction": body["predictions"][0],
                    "explanations": body["explanations"],
                }
            except MedserveError as e:  # this line only
                entry["error"] = e.as_error()
        results.append(entry)
    return rows_document(model.loaded, results, clock.timing_ms())
