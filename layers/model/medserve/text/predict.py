"""The one text prediction and the one de-identification: the HTTP routes and the S3 scorer both
call these, so a note gets the same answer whichever door it came in by."""

from __future__ import annotations

from typing import Any

from medserve.services import get_services
from medserve.text import deid as phi
from medserve.text.classifier import TextClassifier

__all__ = ["DEID_METHOD", "deidentify_note", "load_classifier"]

DEID_METHOD = {"name": phi.METHOD, "version": phi.VERSION}


def load_classifier(name: str | None) -> TextClassifier:
    """The text model ``name`` (None: the default text model)."""
    return TextClassifier.load(get_services().registry, name)


def deidentify_note(text: str, mode: phi.Mode) -> dict[str, Any]:
    """The de-identification block of a response: method, mode, entities (offsets into ``text``),
    the redacted text and the count of entities per type."""
    result = phi.deidentify(text, mode)
    counts: dict[str, int] = {}
    for entity in result.entities:
        counts[entity.type] = counts.get(entity.type, 0) + 1
    return {
        "method": DEID_METHOD,
        "mode": mode,
        "entities": [e.as_dict() for e in result.entities],
        "redacted_text": result.redacted_text,
        "counts": counts,
    }
