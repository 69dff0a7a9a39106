"""Medical images in, model-ready tensors out: PNG, JPEG and DICOM decoded and normalised alike.

Contract:

* :func:`decode` takes a file's bytes. The decoder is chosen by the file's signature (PNG, JPEG,
  DICOM Part 10 with its ``DICM`` preamble), not by the media type a caller declared. Limits are
  enforced *before* pixels are decoded: more than ``max_bytes`` bytes, or a header announcing more
  than ``max_pixels`` pixels (width x height), is a 413; Pillow's own decompression-bomb guard is
  set to the same pixel ceiling as a second line of defence. A recognised but unsupported format
  (GIF, TIFF, BMP, WebP, ...) or DICOM transfer syntax is a 415; an empty body a 400; bytes that
  are no image, or a truncated/corrupt one, a 422. Messages say why; they never quote the input.
* :class:`DecodedImage` ``.pixels`` is a float64 ``(rows, columns)`` grey image in the source's own
  units (PNG/JPEG code values; DICOM values after the modality LUT and the VOI LUT/window), with
  higher = brighter (DICOM ``MONOCHROME1`` is inverted). Colour is reduced to luma
  (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B); transparency is composited onto black, as a
  radiology viewer shows it. Every mode (1, L, P, LA, RGB, RGBA, CMYK, I;16, I, F) ends here, so
  the same picture stored in any of them is normalised the same way.
* :func:`normalise` maps each image's grey values so that two percentiles (the card's
  ``window_percentiles``) become 0 and 1, clipped: the scale-free step that makes 8-bit, 16-bit and
  Hounsfield-unit images comparable. :func:`to_model_input` then letterboxes the image to the
  model's aspect ratio (centred, padded with 0) and resamples it bilinearly (antialiased) to the
  model's ``height x width``. Training (``training/imaging_phantoms.py``) calls the same two
  functions, so the model sees exactly what serving produces.

Pillow and pydicom are imported on first use: pydicom alone costs ~0.25 s of cold start, and the
health and model-card routes of the same function need neither.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import TYPE_CHECKING, Literal

import numpy as np

from medserve.errors import InvalidInput, MalformedRequest, PayloadTooLarge, UnsupportedMediaType
from medserve.imaging.pixels import check_pixels, check_size, configured_pillow
from medserve.imaging.types import LUMA, MAX_INLINE_BYTES, MAX_PIXELS, DecodedImage, ModelInput

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["decode", "normalise", "sniff", "to_model_input"]

_PERCENTILE_SAMPLE = 1 << 20  # percentiles of larger images are taken on a regular subsample

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "png"),
    (b"\xff\xd8\xff", 0, "jpeg"),
    (b"DICM", 128, "dicom"),
    # Recognised so that the answer can say "not supported" (415) rather than "not an image" (422).
    (b"GIF87a", 0, "GIF"),
    (b"GIF89a", 0, "GIF"),
    (b"II*\x00", 0, "TIFF"),
    (b"MM\x00*", 0, "TIFF"),
    (b"BM", 0, "BMP"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "JPEG 2000"),
    (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
    (b"%PDF", 0, "PDF"),
)


def sniff(data: bytes) -> str | None:
    """``"png"``, ``"jpeg"``, ``"dicom"``, the name of a recognised unsupported format, or None."""
    for signature, offset, name in _SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return None


def decode(
    data: bytes,
    *,
    max_bytes: int = MAX_INLINE_BYTES,
    max_pixels: int = MAX_PIXELS,
    reduce_to: int | None = None,
) -> DecodedImage:
    """Decode a PNG, JPEG or DICOM file into a grey float image (see the module docstring).

    ``reduce_to`` lets a large JPEG be decoded at a reduced scale (1/2, 1/4, 1/8 in the DCT) as
    long as both sides stay at least that many pixels: the model never sees more detail anyway.
    """
    if not data:
        raise MalformedRequest("the image is empty")
    check_size(len(data), max_bytes)
    max_pixels = min(max_pixels, MAX_PIXELS)
    kind = sniff(data)
    if kind in ("png", "jpeg"):
        return _decode_pillow(data, kind, max_pixels, reduce_to)  # type: ignore[arg-type]
    if kind == "dicom":
        from medserve.imaging.dicom import decode_dicom

        return decode_dicom(data, max_pixels=max_pixels)
    if kind is not None:
        raise UnsupportedMediaType(f"{kind} files are not supported: send PNG, JPEG or DICOM")
    raise InvalidInput(
        "the image is not a PNG, JPEG or DICOM Part 10 file (no PNG/JPEG signature, no 'DICM' preamble)"
    )


# ------------------------------------------------------------------------------------ Pillow


def _decode_pillow(
    data: bytes, kind: Literal["png", "jpeg"], max_pixels: int, reduce_to: int | None
) -> DecodedImage:
    image_module = configured_pillow()
    label = kind.upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", image_module.DecompressionBombWarning)
            image = image_module.open(io.BytesIO(data), formats=[label])  # reads the header only
            width, height = image.size
            mode = image.mode  # as stored: draft() below may change it
            check_pixels(width, height, max_pixels)
            if kind == "jpeg" and reduce_to:
                # JPEG decodes at 1/2, 1/4 or 1/8 scale for a fraction of the cost; draft() keeps
                # both sides >= reduce_to. "L" takes the luma (Y) plane: the same grey as below.
                image.draft("L" if image.mode in ("L", "RGB", "YCbCr") else None, (reduce_to, reduce_to))
            image.load()
            pixels = _grey(image)
    except PayloadTooLarge:
        raise
    except (image_module.DecompressionBombError, image_module.DecompressionBombWarning) as e:
        raise PayloadTooLarge(f"the {label} image decodes to more than {max_pixels} pixels") from e
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError) as e:
        # Pillow reports truncation and corruption through all of these; its messages are not
        # passed on (they can quote bytes of the file).
        raise InvalidInput(f"the {label} image is truncated or corrupt and cannot be decoded") from e
    return DecodedImage(pixels=pixels, format=kind, width=width, height=height, mode=mode)


def _grey(image: PILImage) -> np.ndarray:
    """Any Pillow mode -> float64 (rows, columns) grey values in the image's own code units."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return np.asarray(image, dtype=np.float64)
    if mode in ("1", "L"):
        return np.asarray(image.convert("L") if mode == "1" else image, dtype=np.float64)
    if mode in ("LA", "La", "PA"):
        la = np.asarray(image.convert("LA"), dtype=np.float64)
        return la[..., 0] * (la[..., 1] / 255.0)
    alpha = mode in ("RGBA", "RGBa") or (mode == "P" and "transparency" in image.info)
    rgb = np.asarray(image.convert("RGBA" if alpha else "RGB"), dtype=np.float64)
    grey = rgb[..., :3] @ LUMA
    if alpha:
        grey *= rgb[..., 3] / 255.0
    return grey


# ----------------------------------------------------------------------------- normalisation


def normalise(pixels: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> tuple[np.ndarray, bool]:
    """Scale grey values so the two percentiles map to 0 and 1, clipped.

    Returns the float32 image in [0, 1] and whether the image was uniform (then all zeros).
    Robust to a few extreme pixels (burnt-in text, metal) that plain min-max scaling is not.
    """
    if not np.isfinite(pixels).all():
        raise InvalidInput("the image holds non-finite pixel values")
    sample = pixels
    if pixels.size > _PERCENTILE_SAMPLE:
        step = math.ceil(math.sqrt(pixels.size / _PERCENTILE_SAMPLE))
        sample = pixels[::step, ::step]
    lo, hi = np.percentile(sample, percentiles)
    if not hi > lo:
        return np.zeros(pixels.shape, dtype=np.float32), True
    scaled = (pixels - lo) / (hi - lo)
    return np.clip(scaled, 0.0, 1.0, out=scaled).astype(np.float32), False


def to_model_input(grey01: np.ndarray, height: int, width: int, *, uniform: bool = False) -> ModelInput:
    """Letterbox ``grey01`` (float32 in [0, 1]) into ``height x width``: resize keeping the aspect
    ratio (bilinear, antialiased when shrinking), centre, pad with 0."""
    rows, cols = grey01.shape
    scale = min(height / rows, width / cols)
    new_h = min(height, max(1, round(rows * scale)))
    new_w = min(width, max(1, round(cols * scale)))
    if (new_h, new_w) == (rows, cols):
        resized = grey01.astype(np.float32, copy=False)
    else:
        image_module = configured_pillow()
        resized = np.asarray(
            image_module.fromarray(grey01.astype(np.float32, copy=False)).resize(
                (new_w, new_h), image_module.Resampling.BILINEAR
            ),
            dtype=np.float32,
        )
    y0, x0 = (height - new_h) // 2, (width - new_w) // 2
    if (new_h, new_w) == (height, width):
        canvas = np.array(resized, dtype=np.float32)  # a writable copy (Pillow's arrays are read-only)
    else:
        canvas = np.zeros((height, width), dtype=np.float32)
        canvas[y0 : y0 + new_h, x0 : x0 + new_w] = resized
    np.clip(canvas, 0.0, 1.0, out=canvas)  # bilinear weights are convex, but keep it exact
    return ModelInput(tensor=canvas, box=(x0, y0, x0 + new_w, y0 + new_h), uniform=uniform)
