"""The committed OpenAPI document of the whole HTTP API, as ``GET /v1/openapi.json`` serves it.

Each function's resolver knows only its own routes, while the document must describe all of them,
so it is never assembled inside a serving process: ``python -m devtools.openapi`` (``make
openapi``) builds it from every router into ``openapi.json`` beside this module, the layer ships
that file, and a test fails when it no longer matches the routes.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

DOCUMENT = Path(__file__).resolve().parent / "openapi.json"


@cache
def served_document() -> str:
    """The committed document, as ``GET /v1/openapi.json`` answers it."""
    return DOCUMENT.read_text()
