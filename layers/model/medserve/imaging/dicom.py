"""DICOM Part 10 files -> one grey image, through pydicom, and nothing identifying out.

Contract of :func:`decode_dicom` (called by :func:`medserve.imaging.decode.decode` for files whose bytes
128-131 are ``DICM``):

* refuses, before decoding any pixel: a file without pixel data (structured reports, presentation
  states, ...) with 422; one whose transfer syntax this deployment cannot decode with 415 naming
  the syntax; one whose ``Rows x Columns`` exceeds ``max_pixels`` with 413;
* decodes **one frame**. Multi-frame objects (cine, enhanced CT/MR, NM, dose grids) are
  classified on their **middle frame** (``frames // 2``): for a volume or a loop that is the frame
  most likely to show the anatomy the series is centred on. The response's ``dicom`` block says
  which frame was used and how many there are; callers wanting another frame send it alone;
* grey pipeline for ``MONOCHROME1``/``MONOCHROME2``: stored values -> modality LUT or rescale
  (``apply_modality_lut``) -> VOI LUT, else the first window (``apply_voi_lut(prefer_lut=True)``)
  -> ``MONOCHROME1`` inverted (higher = brighter, as for ``MONOCHROME2``). Enhanced multi-frame
  objects keep rescale and window in functional groups: the chosen frame's (per-frame over
  shared) values are used. ``RGB`` and ``YBR_*`` (converted to RGB by pydicom) and
  ``PALETTE COLOR`` (through its colour LUT) are reduced to luma like PNG/JPEG colour;
* returns, besides the pixels, only non-identifying technical attributes (:data:`DICOM_BLOCK`):
  modality, rows, columns, photometric interpretation, frames and the frame used. Patient, study,
  institution and device attributes are never read into a response or a log. pydicom's own
  warnings and log lines (which can quote element values) are silenced while decoding.

Decodable here: uncompressed (implicit/explicit VR, little/big endian, deflated), RLE Lossless
(pydicom), JPEG Baseline/Extended and JPEG 2000 (Pillow's libjpeg and OpenJPEG). JPEG Lossless,
JPEG-LS and HTJ2K need pylibjpeg plugins this layer does not carry (the JPEG ones are GPL): 415.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

from medserve.errors import InvalidInput, MedserveError, UnsupportedMediaType
from medserve.imaging.pixels import check_pixels, configured_pillow
from medserve.imaging.types import LUMA, DecodedImage

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["DICOM_BLOCK", "configure_pydicom", "decode_dicom"]

# The only attributes a response's ``dicom`` block carries: technical, never identifying.
DICOM_BLOCK = ("modality", "rows", "columns", "photometric_interpretation", "frames", "frame_index")

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# The defined terms of Modality (PS3.3 C.7.3.1.1.1, retired ones included): only these are echoed.
# A code-string pattern alone would let "DOE JANE" through.
_MODALITIES = frozenset(
    """AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EEG EMG EOG EPS ES FID GM HC HD IO IOL
    IVOCT IVUS KER KO LEN LS MG MR M3D NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN POS PR PT
    PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR
    SR SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL XC CD CF CP CS DD DF DM DS EC FA FS LP MA MS OPR
    ST VF""".split()
)
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
# The defined terms (PS3.3 C.7.6.3.1.2, retired ones included): only these are ever echoed.
_PHOTOMETRIC = frozenset(
    {
        *_MONOCHROME,
        *("PALETTE COLOR", "RGB", "HSV", "ARGB", "CMYK", "XYB"),
        *("YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420", "YBR_ICT", "YBR_RCT"),
    }
)
# Attributes the LUT functions read, copied for an enhanced multi-frame object's chosen frame.
_LUT_ATTRIBUTES = (
    "PhotometricInterpretation",
    "BitsAllocated",
    "BitsStored",
    "PixelRepresentation",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
)
_FUNCTIONAL_GROUPS = (
    ("PixelValueTransformationSequence", ("RescaleSlope", "RescaleIntercept", "RescaleType")),
    ("FrameVOILUTSequence", ("WindowCenter", "WindowWidth", "VOILUTFunction")),
)

_pydicom_ready = False


def configure_pydicom() -> None:
    """Once per container: no value-quoting validation warnings, no pydicom log lines."""
    global _pydicom_ready
    if _pydicom_ready:
        return
    from pydicom import config

    # pydicom's validation messages quote element values (names, UIDs): never produce them.
    config.settings.reading_validation_mode = config.IGNORE
    logging.getLogger("pydicom").setLevel(logging.CRITICAL)
    _pydicom_ready = True


def decode_dicom(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode the middle frame of a DICOM Part 10 file to grey (see the module docstring)."""
    configure_pydicom()
    configured_pillow()  # pydicom decodes JPEG and JPEG 2000 through Pillow: its bomb guard must be set first
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warnings may quote element values
        try:
            ds = dcmread(io.BytesIO(data))
        except InvalidDicomError as e:
            raise InvalidInput("the file is not a DICOM Part 10 file") from e
        except Exception as e:  # untrusted bytes: any parser failure is the input's fault
            raise InvalidInput("the DICOM file is truncated or corrupt and cannot be parsed") from e
        try:
            return _decode_dataset(ds, max_pixels)
        except MedserveError:
            raise
        except Exception as e:
            # dcmread defers most elements: a corrupt one (a value representation pydicom does not
            # know, a multi-valued UID, ...) fails only when read, wherever that is.
            raise InvalidInput("the DICOM file is truncated or corrupt and cannot be parsed") from e


def _decode_dataset(ds: Dataset, max_pixels: int) -> DecodedImage:
    if not any(tag in ds for tag in _PIXEL_TAGS):
        raise InvalidInput(
            "the DICOM file holds no pixel data (e.g. a structured report or a presentation state)"
        )
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
        frames = int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError) as e:
        raise InvalidInput("the DICOM file's Rows, Columns or Number of Frames are not numbers") from e
    if rows <= 0 or columns <= 0 or frames <= 0:
        raise InvalidInput("the DICOM file does not state a valid image size (Rows, Columns)")
    check_pixels(columns, rows, max_pixels)
    syntax = _check_transfer_syntax(ds)

    frame = frames // 2
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    try:
        from pydicom.pixels import pixel_array

        stored = pixel_array(ds, index=frame)  # YBR_* arrives as RGB (pydicom's as_rgb default)
    except Exception as e:  # a decoder failing on untrusted bytes is the input's fault
        raise InvalidInput(
            f"the DICOM pixel data ({syntax}) cannot be decoded: it is truncated or corrupt, or uses a "
            "variant of its encoding the installed decoders do not read"
        ) from e
    try:
        grey = _to_grey(stored, ds, photometric, frame)
    except (UnsupportedMediaType, InvalidInput):
        raise
    except Exception as e:  # malformed LUT/window attributes
        raise InvalidInput("the DICOM file's LUT or window attributes cannot be applied") from e

    info = {
        "modality": _modality(ds.get("Modality")),
        "rows": rows,
        "columns": columns,
        "photometric_interpretation": photometric if photometric in _PHOTOMETRIC else None,
        "frames": frames,
        "frame_index": frame,
    }
    notes = [f"multi-frame object: frame {frame} of {frames} (0-based, the middle one) was used"]
    return DecodedImage(
        pixels=grey,
        format="dicom",
        width=columns,
        height=rows,
        mode=info["photometric_interpretation"] or "unknown",
        dicom=info,
        warnings=notes if frames > 1 else [],
    )


def _check_transfer_syntax(ds: Dataset) -> str:
    """415 unless a decoder for the file's transfer syntax is installed; returns the syntax's name."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGExtended12Bit

    uid = getattr(ds, "file_meta", None) and ds.file_meta.get("TransferSyntaxUID")
    if not uid:
        raise InvalidInput("the DICOM file does not name its transfer syntax")
    # The UID is the file's: quoted only when it is a transfer syntax pydicom knows (else it could
    # be anything the sender wrote there).
    name = uid.name if uid.is_transfer_syntax else "an unknown transfer syntax"
    shown = f"{name} ({uid})" if uid.is_transfer_syntax else name
    try:
        decoder = get_decoder(uid)
    except NotImplementedError as e:
        raise UnsupportedMediaType(f"DICOM {shown} is not supported: no decoder exists for it") from e
    if not decoder.is_available:
        raise UnsupportedMediaType(
            f"DICOM {shown} cannot be decoded by this deployment (its decoder plugin is not "
            "installed); send it uncompressed, RLE, JPEG baseline or JPEG 2000"
        )
    if uid == JPEGExtended12Bit and int(ds.get("BitsStored") or 8) > 8:
        # Pillow's libjpeg reads 8-bit samples only; the 12-bit decoder (pylibjpeg-libjpeg) is GPL.
        raise UnsupportedMediaType(
            f"DICOM {name} with 12-bit samples cannot be decoded by this deployment; "
            "send it uncompressed, RLE or JPEG 2000"
        )
    return str(name)


def _to_grey(stored: np.ndarray, ds: Dataset, photometric: str, frame: int) -> np.ndarray:
    from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi_lut

    if photometric in _MONOCHROME:
        if stored.ndim != 2:
            raise InvalidInput("a MONOCHROME DICOM frame must have one sample per pixel")
        source = _lut_source(ds, frame)
        values = apply_modality_lut(stored, source)
        values = apply_voi_lut(values, source, prefer_lut=True)
        grey = np.asarray(values, dtype=np.float64)
        # Invert so that higher = brighter, as in MONOCHROME2; normalisation is scale-free.
        return -grey if photometric == "MONOCHROME1" else grey
    if photometric == "PALETTE COLOR":
        return np.asarray(apply_color_lut(stored, ds), dtype=np.float64)[..., :3] @ LUMA
    if stored.ndim == 3 and stored.shape[-1] == 3:  # RGB, YBR_* (already converted to RGB)
        return stored.astype(np.float64) @ LUMA
    raise UnsupportedMediaType(
        f"DICOM photometric interpretation '{photometric if photometric in _PHOTOMETRIC else 'unknown'}' "
        "is not supported"
    )


def _lut_source(ds: Dataset, frame: int) -> Dataset:
    """The dataset the LUT functions read: the file itself or, for an enhanced multi-frame object
    (rescale and window in functional groups), a small dataset with the chosen frame's values."""
    if "PerFrameFunctionalGroupsSequence" not in ds and "SharedFunctionalGroupsSequence" not in ds:
        return ds
    from pydicom.dataset import Dataset

    view = Dataset()
    for keyword in _LUT_ATTRIBUTES:
        if keyword in ds:
            setattr(view, keyword, ds[keyword].value)
    groups = []
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame and frame < len(per_frame):
        groups.append(per_frame[frame])  # applied last: a frame's own values win over shared ones
    for group in groups:
        for sequence, keywords in _FUNCTIONAL_GROUPS:
            items = group.get(sequence)
            if items:
                for keyword in keywords:
                    if keyword in items[0]:
                        setattr(view, keyword, items[0][keyword].value)
    if hasattr(ds, "file_meta"):
        view.file_meta = ds.file_meta  # the byte order of OW LUT data
    return view


def _modality(value: Any) -> str | None:
    """The Modality if it is one of DICOM's defined terms, else None (then it is not echoed)."""
    text = str(value or "").strip().upper()
    return text if text in _MODALITIES else None
