"""A DICOM Comprehensive SR for an imaging prediction of a DICOM input (pydicom only).

The report follows TID 1500 (Measurement Report) as far as one classification needs:

    CONTAINER (126000, DCM, "Imaging Measurement Report")  [TID 1500]
      HAS CONCEPT MOD  (121049, DCM, "Language of Content Item and Descendants") = en-US
      HAS OBS CONTEXT  (121005, DCM, "Observer Type") = (121007, DCM, "Device")       [TID 1004]
      HAS OBS CONTEXT  (121012/121013/121015/121014) device UID, name, model name, manufacturer
      HAS CONCEPT MOD  (121058, DCM, "Procedure reported") = (363679005, SCT, "Imaging procedure")
      CONTAINS CONTAINER (111028, DCM, "Image Library")
        CONTAINS IMAGE   the input SOP instance
      CONTAINS CONTAINER (126010, DCM, "Imaging Measurements")
        CONTAINS CONTAINER (125007, DCM, "Measurement Group")                         [TID 1501]
          HAS OBS CONTEXT (112039, DCM, "Tracking Identifier"), (112040, ... "Tracking Unique Identifier")
          HAS CONCEPT MOD (121071, DCM, "Finding") = what the model looks for (its positive label)
          HAS CONCEPT MOD (111001, DCM, "Algorithm Name"), (111003, DCM, "Algorithm Version") [TID 4019]
          CONTAINS IMAGE  (260753009, SCT, "Source") = the input SOP instance
          CONTAINS CODE   (classification, 99MEDSERVE, "AI classification") = the predicted label
          CONTAINS NUM    (probability, 99MEDSERVE, "Probability of <label>"), unit (1, UCUM, "no units")
      CONTAINS TEXT    (121106, DCM, "Comment") = the model's intended use ("not for clinical use")

It lives in the input's study: Patient and General Study modules are copied from the input
(nothing else of its header is), with a new Series and SOP Instance UID. ``VerificationFlag`` is
``UNVERIFIED``: no person has signed it. Labels have no standard code: they are coded in the local
scheme ``99MEDSERVE`` (PS3.16 8.2: designators beginning "99" are private).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from medserve import __version__
from medserve.errors import InvalidInput
from medserve.imaging.dicom import configure_pydicom
from medserve.serving.cards import ModelCard

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

__all__ = ["COMPREHENSIVE_SR", "dicom_sr", "input_uids", "read_header"]

COMPREHENSIVE_SR = "1.2.840.10008.5.1.4.1.1.88.33"
_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
_LOCAL_SCHEME = "99MEDSERVE"
_MANUFACTURER = "medserve"

# Copied from the input: the Patient module and the General Study module (PS3.3 C.7.1.1, C.7.2.1).
_PATIENT = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "OtherPatientIDsSequence",
    "PatientAge",
    "EthnicGroup",
)
_STUDY = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)
_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime")
_TYPE2 += ("ReferringPhysicianName", "StudyID", "AccessionNumber")


def read_header(data: bytes) -> Dataset:
    """The input's header (no pixel data), read quietly: pydicom's messages may quote values."""
    configure_pydicom()
    from pydicom import dcmread

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return dcmread(io.BytesIO(data), stop_before_pixels=True)
        except Exception as e:  # the decoder already read it: this is belt and braces
            raise InvalidInput("the DICOM file cannot be parsed") from e


def input_uids(header: Dataset) -> dict[str, str]:
    """Study, series and SOP instance UIDs (and the SOP class): the only header values a FHIR
    answer quotes."""
    names = {
        "study_instance_uid": "StudyInstanceUID",
        "series_instance_uid": "SeriesInstanceUID",
        "sop_instance_uid": "SOPInstanceUID",
        "sop_class_uid": "SOPClassUID",
    }
    return {key: str(header.get(attr)) for key, attr in names.items() if header.get(attr)}


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning[:64]
    return item


def _item(relationship: str | None, value_type: str, concept: tuple[str, str, str]) -> Dataset:
    from pydicom.dataset import Dataset

    item = Dataset()
    if relationship is not None:
        item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = [_code(*concept)]
    return item


def _text(relationship: str, concept: tuple[str, str, str], text: str) -> Dataset:
    item = _item(relationship, "TEXT", concept)
    item.TextValue = text
    return item


def _code_item(relationship: str, concept: tuple[str, str, str], value: tuple[str, str, str]) -> Dataset:
    item = _item(relationship, "CODE", concept)
    item.ConceptCodeSequence = [_code(*value)]
    return item


def _uid_item(relationship: str, concept: tuple[str, str, str], uid: str) -> Dataset:
    item = _item(relationship, "UIDREF", concept)
    item.UID = uid
    return item


def _image(
    relationship: str, uids: Mapping[str, str], concept: tuple[str, str, str] | None = None
) -> Dataset:
    from pydicom.dataset import Dataset

    if concept is not None:
        item = _item(relationship, "IMAGE", concept)
    else:
        item = Dataset()
        item.RelationshipType = relationship
        item.ValueType = "IMAGE"
    ref = Dataset()
    ref.ReferencedSOPClassUID = uids["sop_class_uid"]
    ref.ReferencedSOPInstanceUID = uids["sop_instance_uid"]
    item.ReferencedSOPSequence = [ref]
    return item


def _container(relationship: str | None, concept: tuple[str, str, str], children: list[Dataset]) -> Dataset:
    item = _item(relationship, "CONTAINER", concept)
    item.ContinuityOfContent = "SEPARATE"
    item.ContentSequence = children
    return item


def _label_code(label: str) -> tuple[str, str, str]:
    return (label[:16], _LOCAL_SCHEME, label.replace("_", " "))


def dicom_sr(
    data: bytes,
    card: ModelCard,
    model: Mapping[str, Any],
    prediction: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> bytes:
    """The SR (DICOM Part 10 bytes) reporting ``prediction`` of the DICOM file ``data``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    header = read_header(data)
    uids = input_uids(header)
    if not {"study_instance_uid", "sop_instance_uid", "sop_class_uid"} <= set(uids):
        raise InvalidInput(
            "a DICOM SR needs the input's Study Instance, SOP Instance and SOP Class UIDs",
            [{"field": "body", "issue": "DICOM UIDs missing"}],
        )
    when = now or datetime.now(UTC)
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    name, version = str(model["name"]), str(model["version"])
    label = str(prediction["label"])
    probability = float(prediction["probabilities"][label])
    target = card.outputs.positive_label or label

    ds = Dataset()
    if "SpecificCharacterSet" in header:  # the copied names keep their encoding
        ds.SpecificCharacterSet = header.SpecificCharacterSet
    for attr in _PATIENT + _STUDY:
        if attr in header:
            setattr(ds, attr, header.data_element(attr).value)
        elif attr in _TYPE2:
            setattr(ds, attr, None)  # type 2: present, empty
    sop_uid = generate_uid()
    ds.SOPClassUID = COMPREHENSIVE_SR
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "SR"
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 9901
    ds.SeriesDescription = f"AI result {name} {version}"[:64]
    ds.ReferencedPerformedProcedureStepSequence = []
    ds.Manufacturer = _MANUFACTURER
    ds.ManufacturerModelName = name[:64]
    ds.SoftwareVersions = [version[:64], f"medserve {__version__}"]
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = date, time
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "UNVERIFIED"
    ds.PerformedProcedureCodeSequence = []
    evidence_instance = Dataset()
    evidence_instance.ReferencedSOPClassUID = uids["sop_class_uid"]
    evidence_instance.ReferencedSOPInstanceUID = uids["sop_instance_uid"]
    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = uids.get("series_instance_uid") or generate_uid()
    evidence_series.ReferencedSOPSequence = [evidence_instance]
    evidence = Dataset()
    evidence.StudyInstanceUID = uids["study_instance_uid"]
    evidence.ReferencedSeriesSequence = [evidence_series]
    ds.CurrentRequestedProcedureEvidenceSequence = [evidence]

    template = Dataset()
    template.MappingResource = "DCMR"
    template.TemplateIdentifier = "1500"
    group = _container(
        "CONTAINS",
        ("125007", "DCM", "Measurement Group"),
        [
            _text("HAS OBS CONTEXT", ("112039", "DCM", "Tracking Identifier"), f"{name} finding"[:64]),
            _uid_item("HAS OBS CONTEXT", ("112040", "DCM", "Tracking Unique Identifier"), generate_uid()),
            _code_item("HAS CONCEPT MOD", ("121071", "DCM", "Finding"), _label_code(target)),
            _text("HAS CONCEPT MOD", ("111001", "DCM", "Algorithm Name"), name),
            _text("HAS CONCEPT MOD", ("111003", "DCM", "Algorithm Version"), version),
            _image("CONTAINS", uids, ("260753009", "SCT", "Source")),
            _code_item(
                "CONTAINS", ("classification", _LOCAL_SCHEME, "AI classification"), _label_code(label)
            ),
            _probability(label, probability),
        ],
    )
    root = _container(
        None,
        ("126000", "DCM", "Imaging Measurement Report"),
        [
            _code_item(
                "HAS CONCEPT MOD",
                ("121049", "DCM", "Language of Content Item and Descendants"),
                ("en-US", "RFC5646", "English (United States)"),
            ),
            _code_item("HAS OBS CONTEXT", ("121005", "DCM", "Observer Type"), ("121007", "DCM", "Device")),
            _uid_item("HAS OBS CONTEXT", ("121012", "DCM", "Device Observer UID"), _device_uid(model)),
            _text("HAS OBS CONTEXT", ("121013", "DCM", "Device Observer Name"), name),
            _text("HAS OBS CONTEXT", ("121015", "DCM", "Device Observer Model Name"), f"{name} {version}"),
            _text("HAS OBS CONTEXT", ("121014", "DCM", "Device Observer Manufacturer"), _MANUFACTURER),
            _code_item(
                "HAS CONCEPT MOD",
                ("121058", "DCM", "Procedure reported"),
                ("363679005", "SCT", "Imaging procedure"),
            ),
            _container("CONTAINS", ("111028", "DCM", "Image Library"), [_image("CONTAINS", uids)]),
            _container("CONTAINS", ("126010", "DCM", "Imaging Measurements"), [group]),
            _text("CONTAINS", ("121106", "DCM", "Comment"), f"AI generated. {card.intended_use}"),
        ],
    )
    for attr in ("ValueType", "ConceptNameCodeSequence", "ContinuityOfContent", "ContentSequence"):
        setattr(ds, attr, getattr(root, attr))
    ds.ContentTemplateSequence = [template]

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = COMPREHENSIVE_SR
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = _EXPLICIT_VR_LITTLE_ENDIAN
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _probability(label: str, probability: float) -> Dataset:
    from pydicom.dataset import Dataset

    item = _item(
        "CONTAINS", "NUM", ("probability", _LOCAL_SCHEME, f"Probability of {label.replace('_', ' ')}")
    )
    value = Dataset()
    # DS holds at most 16 characters.
    value.NumericValue = f"{probability:.6f}"
    value.MeasurementUnitsCodeSequence = [_code("1", "UCUM", "no units")]
    item.MeasuredValueSequence = [value]
    return item


def _device_uid(model: Mapping[str, Any]) -> str:
    """One UID per model artifact (derived from its sha256): the same model, the same observer."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=[str(model.get("sha256") or model["name"])])
