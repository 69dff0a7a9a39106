"""The types every imaging step shares: accepted formats and limits, the decoded image and the
model-ready input. Types only (no decoding), so the steps that use them cannot form cycles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "LUMA",
    "MAX_INLINE_BYTES",
    "MAX_PIXELS",
    "MAX_UPLOAD_BYTES",
    "MEDIA_TYPES",
    "DecodedImage",
    "ImageFormat",
    "ModelInput",
]

ImageFormat = Literal["png", "jpeg", "dicom"]

# Media types a raw request body may declare (and that POST /v1/uploads accepts).
MEDIA_TYPES: dict[str, ImageFormat] = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "application/dicom": "dicom",
}
# Through the API: Lambda's 6 MB synchronous payload holds ~4.5 MB of raw bytes once API Gateway
# has base64-encoded them. Larger inputs go through POST /v1/uploads and the S3 trigger.
MAX_INLINE_BYTES = 4_718_592  # 4.5 MiB
# Through S3 (the same ceiling batch.py puts on any upload).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
# Decoded pixels (width x height, one frame). 40 MP covers the largest radiographs and mammograms
# (~30 MP); as float64 that is 320 MB, within the function's 1,769 MB with the copies made below.
MAX_PIXELS = 40_000_000

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601, as Pillow's convert("L") and JPEG's Y


@dataclass(frozen=True)
class DecodedImage:
    """One decoded image (for a multi-frame DICOM: the frame chosen), before normalisation."""

    pixels: np.ndarray  # float64 (rows, columns), higher = brighter
    format: ImageFormat
    width: int  # columns of the stored image (before any reduced-resolution JPEG decode)
    height: int  # rows of the stored image
    mode: str  # Pillow mode ("L", "I;16", "RGBA", ...) or DICOM photometric interpretation
    dicom: dict[str, Any] | None = None  # non-identifying technical attributes only (see dicom.py)
    # What the intended-use gate reads (imaging/scope.py), never put in a response as such: DICOM
    # terms only when they are defined terms (else None, with *_present saying whether one was stated).
    header: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The ``input`` block of a response: what was decoded, never what it shows."""
        return {"format": self.format, "width": self.width, "height": self.height, "mode": self.mode}


@dataclass(frozen=True)
class ModelInput:
    """A normalised, letterboxed image at the model's geometry."""

    tensor: np.ndarray  # float32 (height, width) in [0, 1]
    box: tuple[int, int, int, int]  # where the image lies in the tensor: x0, y0, x1, y1 (exclusive)
    uniform: bool = False  # the image had a single grey value: nothing to see
