"""The HTI-1 transparency attributes of each model (``<name>.transparency.json``), written by hand
and merged into its card by the training script, so a rebuilt card keeps them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def with_transparency(card: dict[str, Any], name: str) -> dict[str, Any]:
    """``card`` with its ``transparency`` block right after ``training_data``."""
    block = json.loads((HERE / f"{name}.transparency.json").read_text())
    out: dict[str, Any] = {}
    for key, value in card.items():
        if key != "transparency":
            out[key] = value
        if key == "training_data":
            out["transparency"] = block
    out.setdefault("transparency", block)
    return out
