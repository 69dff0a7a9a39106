"""De-identifying a note put in S3 (the S3 path of ``TextFunction``).

A ``.txt`` object under ``uploads/text/`` (UTF-8, at most :data:`MAX_S3_CHARACTERS` characters)
gives ``results/text/<key>.json``: the entities (offsets into the note) and the redacted text.
Object metadata chooses the mode (``x-amz-meta-mode``: ``tag``, ``mask`` or ``surrogate``) and
asks for the specialty as well (``x-amz-meta-predict: true``, optionally ``x-amz-meta-model``).
A note outside the text model's intended use (its card's gate, or an OOD policy of refuse)
keeps its de-identification and gets ``prediction_error`` (OUT_OF_SCOPE) instead of ``prediction``.
Anything else (another suffix, not UTF-8, too long, an unknown mode) gives ``<key>.error.json``.
"""

from __future__ import annotations

from typing import Any

from medserve.errors import InvalidInput, OutOfScope, PayloadTooLarge, UnsupportedMediaType
from medserve.observability import Stopwatch
from medserve.text import deid as phi
from medserve.text.predict import deidentify_note, load_classifier
from medserve.triggers.s3 import S3Upload
from medserve.wire import flag_from

# One invocation has 120 s: the rules take ~5 ms per 1,000 characters, the encoder ~0.1 s per 1,000.
MAX_S3_CHARACTERS = 200_000


def score_text_file(upload: S3Upload) -> dict[str, Any]:
    clock = Stopwatch()
    if not upload.key.lower().endswith(".txt"):
        raise UnsupportedMediaType("text uploads must be UTF-8 .txt files, one note per file")
    try:
        text = upload.body.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InvalidInput("the file is not UTF-8 text") from e
    if len(text) > MAX_S3_CHARACTERS:
        raise PayloadTooLarge(f"a note in S3 is limited to {MAX_S3_CHARACTERS} characters")
    mode = upload.metadata.get("mode", "tag").lower()
    if mode not in phi.MODES:
        raise InvalidInput(
            "unknown de-identification mode",
            [{"field": "x-amz-meta-mode", "issue": "not tag, mask or surrogate"}],
        )
    body: dict[str, Any] = {"characters": len(text), **deidentify_note(text, mode)}  # type: ignore[arg-type]
    if flag_from(upload.metadata, "predict", "x-amz-meta-predict") and text.strip():
        model = load_classifier(upload.metadata.get("model") or None)
        body["model"] = model.loaded.envelope()
        try:
            body["prediction"], _, _ = model.predict(text, max_characters=MAX_S3_CHARACTERS)
        except OutOfScope as e:  # the de-identification stands; only the specialty is refused
            body["prediction_error"] = e.as_error()
        body["intended_use"] = model.card.intended_use
    body["timing_ms"] = clock.timing_ms()
    return body
