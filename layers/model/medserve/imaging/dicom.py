"""DICOM Part 10 files -> one grey image, through pydicom, and nothing identifying out.

Contract of :func:`decode_dicom` (called by :func:`medserve.imaging.decode.decode` for files whose bytes
128-131 are ``DICM``):

* refuses, before decoding any pixel: a file without pixel data (structured reports, presentation
  states, ...) with 422; one whose transfer syntax this deployment cannot decode with 415 naming
  the syntax; one whose ``Rows x Columns`` exceeds ``max_pixels`` with 413; one whose pixel
  attributes contradict each other or the pixel data with 422 (:func:`_check_pixel_attributes`:
  Bits Allocated/Stored/High Bit, Samples per Pixel, and for native transfer syntaxes Rows x
  Columns x Frames x Samples x bytes against the Pixel Data length; pydicom would otherwise
  reinterpret or truncate the bytes and the model would score garbage);
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

__all__ = ["BODY_PARTS", "DICOM_BLOCK", "MODALITIES", "PHOTOMETRIC", "configure_pydicom", "decode_dicom"]

# The only attributes a response's ``dicom`` block carries: technical, never identifying.
DICOM_BLOCK = ("modality", "rows", "columns", "photometric_interpretation", "frames", "frame_index")

_PIXEL_TAGS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
# The defined terms of Modality (PS3.3 C.7.3.1.1.1, retired ones included): only these are echoed.
# A code-string pattern alone would let "DOE JANE" through.
MODALITIES = frozenset(
    """AR ASMT AU BDUS BI BMD CR CT CTPROTOCOL DG DOC DX ECG EEG EMG EOG EPS ES FID GM HC HD IO IOL
    IVOCT IVUS KER KO LEN LS MG MR M3D NM OAM OCT OP OPM OPT OPTBSV OPTENF OPV OSS OT PLAN POS PR PT
    PX REG RESP RF RG RTDOSE RTIMAGE RTINTENT RTPLAN RTRAD RTRECORD RTSEGANN RTSTRUCT RWV SEG SM SMR
    SR SRF STAIN TEXTUREMAP TG US VA XA XAPROTOCOL XC CD CF CP CS DD DF DM DS EC FA FS LP MA MS OPR
    ST VF""".split()
)
# BodyPartExamined defined terms (PS3.16 Annex L, the "Body Part Examined" column): only these are
# compared with a card's gate or named in a refusal; anything else is "not a defined term".
BODY_PARTS = frozenset(
    """ABDOMEN ABDOMENPELVIS ACJOINT ADRENAL AORTA ANKLE ANUS APPENDIX ARM AXILLA BACK BILEDUCT BLADDER
    BRAIN BREAST BRONCHUS BUTTOCK CALCANEUS CAROTID CEREBELLUM CERVIX CHEEK CHEST CHESTABDOMEN
    CHESTABDPELVIS CIRCLEOFWILLIS CLAVICLE COCCYX COLON CORNEA CORONARYARTERY CSPINE CTSPINE DUODENUM
    EAR ELBOW ESOPHAGUS EXTREMITY EYE EYELID FACE FEMUR FINGER FOOT GALLBLADDER HAND HEAD HEADNECK
    HEART HIP HUMERUS IAC ILEUM ILIUM JAW JEJUNUM KIDNEY KNEE LARYNX LEG LIVER LSPINE LSSPINE LUNG
    MAXILLA MEDIASTINUM MOUTH NECK NECKCHEST NECKCHESTABDOMEN NECKCHESTABDPELV NOSE ORBIT OVARY
    PANCREAS PAROTID PATELLA PELVIS PENIS PHARYNX PROSTATE RADIUS RECTUM RIB SCALP SCAPULA SCLERA
    SCROTUM SHOULDER SKULL SPINE SPLEEN SSPINE STERNUM STOMACH SUBMANDIBULAR TESTIS THIGH THUMB THYMUS
    THYROID TIBIA TLSPINE TOE TONGUE TRACHEA TSPINE ULNA URETER URETHRA UTERUS VAGINA VULVA WHOLEBODY
    WRIST ZYGOMA""".split()
)
_MONOCHROME = ("MONOCHROME1", "MONOCHROME2")
# The defined terms (PS3.3 C.7.6.3.1.2, retired ones included): only these are ever echoed.
PHOTOMETRIC = frozenset(
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
    _check_pixel_attributes(ds, rows, columns, frames)

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
        "photometric_interpretation": photometric if photometric in PHOTOMETRIC else None,
        "frames": frames,
        "frame_index": frame,
    }
    header = {
        "modality": info["modality"],
        "modality_present": bool(str(ds.get("Modality") or "").strip()),
        "body_part": _body_part(ds.get("BodyPartExamined")),
        "body_part_present": bool(str(ds.get("BodyPartExamined") or "").strip()),
        "photometric_interpretation": info["photometric_interpretation"],
        "pixel_spacing_mm": _pixel_spacing(ds),
    }
    notes = [f"multi-frame object: frame {frame} of {frames} (0-based, the middle one) was used"]
    return DecodedImage(
        pixels=grey,
        format="dicom",
        width=columns,
        height=rows,
        mode=info["photometric_interpretation"] or "unknown",
        dicom=info,
        header=header,
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


_FLOAT_BITS = {"FloatPixelData": 32, "DoubleFloatPixelData": 64}


def _check_pixel_attributes(ds: Dataset, rows: int, columns: int, frames: int) -> None:
    """422 unless the pixel module describes the pixel data it comes with (PS3.3 C.7.6.3, PS3.5
    8.1.1): Bits Allocated 1 or a multiple of 8 (the exact width for float pixel data), 1 <= Bits
    Stored <= Bits Allocated, High Bit < Bits Allocated, Samples per Pixel 1 or 3, Pixel
    Representation 0 or 1; and, for a native (not encapsulated) transfer syntax, exactly
    Rows x Columns x Frames x Samples x Bits Allocated / 8 bytes of pixel data (then zero padding
    shorter than a frame). Messages name attributes, never their values."""

    def number(keyword: str, default: int | None = None) -> int:
        value = ds.get(keyword)
        if value is None or value == "":
            if default is None:
                raise InvalidInput(f"the DICOM file has no {keyword}, which its pixel data needs")
            return default
        try:
            return int(value)
        except (TypeError, ValueError) as e:
            raise InvalidInput(f"the DICOM file's {keyword} is not a number") from e

    pixel_tag = next(tag for tag in _PIXEL_TAGS if tag in ds)
    allocated = number("BitsAllocated")
    expected_bits = _FLOAT_BITS.get(pixel_tag)
    if expected_bits is not None and allocated != expected_bits:
        raise InvalidInput(f"the DICOM file's BitsAllocated does not match its {pixel_tag}")
    if not (allocated == 1 or (allocated % 8 == 0 and 8 <= allocated <= 64)):
        raise InvalidInput("the DICOM file's BitsAllocated is not 1 or a multiple of 8 (up to 64)")
    if expected_bits is None:  # integer pixel data: stored bits inside the allocated ones
        stored = number("BitsStored")
        if not 1 <= stored <= allocated:
            raise InvalidInput("the DICOM file's BitsStored is not between 1 and BitsAllocated")
        if not 0 <= number("HighBit", stored - 1) < allocated:
            raise InvalidInput("the DICOM file's HighBit lies outside BitsAllocated")
        if number("PixelRepresentation", 0) not in (0, 1):
            raise InvalidInput("the DICOM file's PixelRepresentation is not 0 or 1")
    samples = number("SamplesPerPixel", 1)
    if samples not in (1, 3):
        raise InvalidInput("the DICOM file's SamplesPerPixel is not 1 or 3")

    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        return  # compressed frames: their decoder checks them against these attributes
    photometric = str(ds.get("PhotometricInterpretation") or "").strip().upper()
    if photometric == "YBR_FULL_422" and samples == 3:
        values = rows * columns * frames * 2  # two samples per pixel on average (PS3.3 C.7.6.3.1.2)
    else:
        values = rows * columns * frames * samples
    expected = (values * allocated + 7) // 8
    data = ds[pixel_tag].value or b""
    excess = len(data) - expected
    # Zero bytes after the last frame, less than a frame of them, are padding (the even-length pad
    # byte, or writers that pad further, like pydicom's MR_small_padded.dcm); anything else means
    # the attributes describe other pixels (8 bits allocated over 16-bit data is twice the length).
    # The pad byte itself may not read as zero: big endian OW swaps it with the last value byte.
    padding = excess == 0 or (excess == 1 and len(data) % 2 == 0)
    padding = padding or (0 < excess < expected // frames and not any(data[expected:]))
    if not padding:
        raise InvalidInput(
            f"the DICOM file's {pixel_tag} length does not match Rows x Columns x NumberOfFrames x "
            "SamplesPerPixel x BitsAllocated: the attributes do not describe these pixels",
            [{"field": pixel_tag, "issue": "length disagrees with the image attributes"}],
        )


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
        f"DICOM photometric interpretation '{photometric if photometric in PHOTOMETRIC else 'unknown'}' "
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


def _body_part(value: Any) -> str | None:
    """BodyPartExamined if it is one of DICOM's defined terms (PS3.16 Annex L), else None."""
    text = str(value or "").strip().upper()
    return text if text in BODY_PARTS else None


def _pixel_spacing(ds: Dataset) -> tuple[float, float] | None:
    """(row, column) spacing in mm: PixelSpacing, else ImagerPixelSpacing (projection radiography
    states the detector's), else None. A malformed value counts as not stated."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            if value is not None and len(value) == 2:
                row, column = float(value[0]), float(value[1])
                if row > 0 and column > 0:
                    return row, column
        except (TypeError, ValueError):
            continue
    return None


def _modality(value: Any) -> str | None:
    """The Modality if it is one of DICOM's defined terms, else None (then it is not echoed)."""
    text = str(value or "").strip().upper()
    return text if text in MODALITIES else None
