"""Checks made before any pixel is decoded, and Pillow configured once: shared by the PNG/JPEG
decoder (``decode``) and the DICOM one (``dicom``)."""

from __future__ import annotations

import logging
from typing import Any

from medserve.errors import PayloadTooLarge
from medserve.imaging.types import MAX_PIXELS

__all__ = ["check_pixels", "check_size", "configured_pillow"]


def check_size(n_bytes: int, max_bytes: int, *, hint: str = "") -> None:
    """413 when ``n_bytes`` exceeds ``max_bytes``; called before anything is decoded."""
    if n_bytes > max_bytes:
        raise PayloadTooLarge(
            f"the image is {n_bytes} bytes; at most {max_bytes} bytes are accepted here" + hint
        )


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """413 when a header announces more pixels than ``max_pixels`` (a decompression bomb or a huge scan)."""
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"the image header announces {width} x {height} pixels; at most {max_pixels} pixels "
            "(width x height) are decoded"
        )


_pillow_ready = False


def configured_pillow() -> Any:
    """Pillow's Image module, configured once: decompression-bomb ceiling and quiet loggers."""
    global _pillow_ready
    from PIL import Image

    if not _pillow_ready:
        # Deliberately the same ceiling as our own header check: Pillow warns above it and raises
        # at twice it; decode() turns the warning into an error too, so both paths answer 413.
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        # PIL's DEBUG lines name chunks and plugins only, but keep a debugging function quiet.
        logging.getLogger("PIL").setLevel(logging.INFO)
        _pillow_ready = True
    return Image
