"""Imaging test inputs: the DICOM files shipped in the pydicom wheel, the phantom PNGs of events/data,
the same picture in every Pillow mode, crafted DICOM objects and a bad-input corpus."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from tests.helpers import REPO

# The acceptance set: inside the pydicom wheel, read without network (never get_testdata_files()).
PYDICOM_FILES = ("CT_small.dcm", "MR_small.dcm", "JPEG2000.dcm", "MR_small_RLE.dcm", "SC_rgb_jpeg_dcmtk.dcm")
PHANTOM = REPO / "events" / "data" / "imaging_phantom_nodule.png"
PHANTOM_WITHOUT_NODULE = REPO / "events" / "data" / "imaging_phantom_without_nodule.png"
# Identifiers planted in DICOM headers by the privacy tests, and the ones the pydicom files carry.
IDENTIFIERS = {
    "PatientName": "DOE^JANE^MARKERNAME",
    "PatientID": "PID-7731-MARKER",
    "PatientBirthDate": "19420817",
    "OtherPatientIDs": "OTHER-4242-MARKER",
    "InstitutionName": "MARKER GENERAL HOSPITAL",
    "ReferringPhysicianName": "HOUSE^GREGORY^MARKER",
    "AccessionNumber": "ACC99887766",
    "StudyInstanceUID": "1.2.826.0.1.3680043.99.12345.67890",
    "StudyDescription": "MARKER CHEST STUDY",
}
SHIPPED_IDENTIFIERS = ("CompressedSamples", "1CT1", "4MR1", "JFK IMAGING", "TOSHIBA")


# De-identification (tests/unit/imaging/test_deid*.py): identifiers plant() puts where real files
# carry them, as they appear in a file's bytes.
STUDY_UID = "1.2.826.0.1.3680043.99.12345.67890"
# Identifiers planted by plant(): the values a leak would show, as they appear in the file's bytes.
PLANTED = {
    "PatientName": "DOE^JANE^MARKERNAME",
    "PatientID": "PID-7731-MARKER",
    "PatientBirthDate": "19420817",
    "PatientSex": "F",  # one letter: checked on the attribute, not in the bytes
    "PatientAge": "081Y",
    "PatientAddress": "12 MARKER LANE, SPRINGFIELD",
    "PatientTelephoneNumbers": "555-0199-MARKER",
    "OtherPatientIDs": "OTHER-4242-MARKER",
    "AccessionNumber": "ACC99887766",
    "InstitutionName": "MARKER GENERAL HOSPITAL",
    "InstitutionAddress": "1 MARKER PLAZA",
    "InstitutionalDepartmentName": "MARKER RADIOLOGY",
    "ReferringPhysicianName": "HOUSE^GREGORY^MARKER",
    "PerformingPhysicianName": "CUDDY^LISA^MARKER",
    "NameOfPhysiciansReadingStudy": "WILSON^JAMES^MARKER",
    "OperatorsName": "CHASE^ROBERT^MARKER",
    "StationName": "MARKERSTN01",
    "DeviceSerialNumber": "SN-MARKER-0042",
    "StudyID": "STUDYMARK77",
    "StudyDescription": "MARKER CHEST STUDY",
    "ImageComments": "seen by dr markerson",
    "StudyInstanceUID": STUDY_UID,
    "StudyDate": "19870615",
}
PRIVATE_NAME = "PRIVATE^NAME^MARKER"
PRIVATE_CREATOR = "MARKER PRIVATE CREATOR"
NESTED_NAME = "NESTED^OBSERVER^MARKER"
REQUEST_PHYSICIAN = "REQUESTER^RITA^MARKER"


def plant(name: str, **extra: object) -> Dataset:
    """A pydicom test file with the identifiers of PLANTED, a private element holding a name, a
    person name inside a sequence and a request attributes sequence."""
    ds = dcmread(io.BytesIO(pydicom_file(name)))
    for keyword, value in {**PLANTED, **extra}.items():
        setattr(ds, keyword, value)
    ds.private_block(0x0011, PRIVATE_CREATOR, create=True).add_new(0x01, "PN", PRIVATE_NAME)
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-D3000", "SRT", "Chest"
    item.PersonName = NESTED_NAME  # (0040,A123), D in the profile
    item.ObservationDateTime = "19870615093000.25+0100"
    ds.AnatomicRegionSequence = Sequence([item])
    request = Dataset()
    request.RequestedProcedureID = "REQ-MARKER-1"
    request.RequestingPhysician = REQUEST_PHYSICIAN
    ds.RequestAttributesSequence = Sequence([request])
    return ds


def pydicom_file(name: str) -> bytes:
    path = get_testdata_file(name, download=False)
    assert path is not None, f"{name} is not in the pydicom wheel"
    return Path(path).read_bytes()


def phantom_grey() -> Image.Image:
    return Image.open(PHANTOM).convert("L")


def encode(image: Image.Image, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def phantom_in_modes() -> dict[str, bytes]:
    """The same picture as PNG in modes that must normalise identically (lossless, opaque)."""
    grey = phantom_grey()
    values = np.asarray(grey)
    rgba = grey.convert("RGBA")
    la = grey.convert("LA")
    return {
        "L": encode(grey),
        "RGB": encode(grey.convert("RGB")),
        "RGBA": encode(rgba),
        "LA": encode(la),
        "I;16": encode(Image.fromarray(values.astype(np.uint16) * 257)),  # 16-bit PNG
        "P": encode(grey.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)),
    }


def dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_dicom(frames: np.ndarray, **attributes: object) -> bytes:
    """An uncompressed MONOCHROME2 Secondary Capture file from uint16 frames (n, rows, cols)."""
    frames = np.asarray(frames, dtype=np.uint16)
    if frames.ndim == 2:
        frames = frames[None]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "OT"
    ds.Rows, ds.Columns = frames.shape[1:]
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = frames.tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return dicom_bytes(ds)


def with_attributes(name: str, **attributes: object) -> bytes:
    """A pydicom test file with some attributes replaced (or removed when the value is None)."""
    ds = dcmread(io.BytesIO(pydicom_file(name)))
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return dicom_bytes(ds)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header announcing width x height pixels, followed by almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def bad_inputs() -> dict[str, tuple[bytes, str, int, str]]:
    """name -> (raw body, content type, status, error code) for POST /v1/imaging/predict."""
    png = PHANTOM.read_bytes()
    ct = pydicom_file("CT_small.dcm")
    return {
        "empty": (b"", "image/png", 400, "MALFORMED_REQUEST"),
        "truncated png": (png[: len(png) // 2], "image/png", 422, "INVALID_INPUT"),
        "truncated dicom": (ct[: len(ct) // 2], "application/dicom", 422, "INVALID_INPUT"),
        "garbage": (bytes(range(256)) * 8, "image/png", 422, "INVALID_INPUT"),
        "text as an image": (b"patient image follows", "image/jpeg", 422, "INVALID_INPUT"),
        "wrong content type": (png, "text/plain", 415, "UNSUPPORTED_MEDIA_TYPE"),
        "gif": (encode(phantom_grey(), "GIF"), "image/png", 415, "UNSUPPORTED_MEDIA_TYPE"),
        "png bomb header": (png_bomb(), "image/png", 413, "PAYLOAD_TOO_LARGE"),
        "dicom bomb header": (
            make_dicom(np.zeros((1, 4, 4)), Rows=60_000, Columns=60_000),
            "application/dicom",
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        "dicom without pixels": (pydicom_file("rtplan.dcm"), "application/dicom", 422, "INVALID_INPUT"),
        "dicom jpeg-ls": (
            pydicom_file("MR_small_jpeg_ls_lossless.dcm"),
            "application/dicom",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "dicom 12-bit jpeg": (
            pydicom_file("JPGExtended.dcm"),
            "application/dicom",
            415,
            "UNSUPPORTED_MEDIA_TYPE",
        ),
        "dicom part 10 without preamble": (
            pydicom_file("no_meta.dcm"),
            "application/dicom",
            422,
            "INVALID_INPUT",
        ),
    }


def chest_cr(**attributes: object) -> bytes:
    """The phantom as a CR chest DICOM (16-bit MONOCHROME2): what the chest model's intended-use gate
    accepts. ``attributes`` override or add header values."""
    pixels = np.asarray(phantom_grey(), dtype=np.uint16) * 257
    header = {"Modality": "CR", "BodyPartExamined": "CHEST", "ImagerPixelSpacing": [0.15, 0.15]}
    return make_dicom(pixels, **{**header, **attributes})


def as_chest_cr(name: str) -> bytes:
    """A real pydicom test file (its pixels, patient and study attributes) under the headers the
    chest model's intended-use gate accepts: Modality CR, BodyPartExamined CHEST."""
    return with_attributes(name, Modality="CR", BodyPartExamined="CHEST")
