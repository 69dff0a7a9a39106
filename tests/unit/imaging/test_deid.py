"""DICOM de-identification (medserve.imaging.deid) on the files inside the pydicom wheel, with
identifiers planted where real files carry them: every planted value absent from the output bytes,
pixel data byte-identical, UIDs new and consistent within a batch, dates shifted by one offset."""

import datetime as dt
import io

import pytest
from medserve.errors import InvalidInput
from medserve.imaging.deid import (
    METHOD_CODES,
    RULES,
    DicomDeidentifier,
    burned_in_risk,
    deidentify_batch,
    deidentify_dicom,
)
from pydicom import dcmread
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.imaging_samples import (
    NESTED_NAME,
    PLANTED,
    PRIVATE_CREATOR,
    PRIVATE_NAME,
    PYDICOM_FILES,
    REQUEST_PHYSICIAN,
    STUDY_UID,
    dicom_bytes,
    plant,
    pydicom_file,
)


def read(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def strings(ds: Dataset) -> list[str]:
    """Every string value in a dataset, nested ones included."""
    found: list[str] = []
    ds.walk(lambda _, elem: found.append(str(elem.value)) if elem.VR != "SQ" else None)
    return found


@pytest.mark.parametrize("name", PYDICOM_FILES)
def test_planted_identifiers_are_absent_and_pixels_unchanged(name):
    source = plant(name)
    original = dicom_bytes(source)
    out = deidentify_dicom(original)
    for keyword, value in PLANTED.items():
        if len(value) > 2:
            assert value.encode() not in out.data, keyword
    for value in (PRIVATE_NAME, PRIVATE_CREATOR, NESTED_NAME, REQUEST_PHYSICIAN, "REQ-MARKER-1"):
        assert value.encode() not in out.data
    result = read(out.data)
    assert result.PixelData == source.PixelData  # byte-identical, encapsulated or native
    assert result.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID
    assert result.PatientIdentityRemoved == "YES"
    assert result.LongitudinalTemporalInformationModified == "MODIFIED"
    assert {(i.CodingSchemeDesignator, i.CodeValue) for i in result.DeidentificationMethodCodeSequence} == {
        ("DCM", "113100"),
        ("DCM", "113107"),
    }
    assert any("Basic Application Level Confidentiality" in m for m in result.DeidentificationMethod)
    # Type 2 attributes stay, empty; X attributes are gone.
    assert result.PatientName == "" and result.PatientID == "" and result.PatientBirthDate == ""
    assert result.PatientSex == "" and result.AccessionNumber == "" and result.StudyID == ""
    for gone in ("PatientAge", "PatientAddress", "OtherPatientIDs", "InstitutionAddress", "StudyDescription"):
        assert gone not in result
    assert "RequestAttributesSequence" not in result
    assert not [e for e in _walk(result) if e.tag.is_private]
    assert result.preamble == b"\x00" * 128
    assert result.file_meta.MediaStorageSOPInstanceUID == result.SOPInstanceUID


def _walk(ds: Dataset) -> list:
    found: list = []
    ds.walk(lambda _, elem: found.append(elem))
    return found


def test_the_identifiers_the_shipped_files_carry_are_gone():
    for name, shipped in (
        ("CT_small.dcm", ("CompressedSamples", "1CT1", "JFK IMAGING")),
        ("MR_small.dcm", ("4MR1",)),
    ):
        data = pydicom_file(name)
        assert all(s.encode() in data for s in shipped)
        out = deidentify_dicom(data).data
        assert not [s for s in shipped if s.encode() in out], name


def test_the_pixels_decode_to_the_same_array():
    source = pydicom_file("CT_small.dcm")
    result = read(deidentify_dicom(source).data)
    assert (result.pixel_array == read(source).pixel_array).all()


def test_uids_are_new_and_consistent_across_the_files_of_one_study():
    ct = plant("CT_small.dcm")
    mr = plant("MR_small.dcm")
    # The MR references the CT image: after de-identification the reference must still hold.
    ref = Dataset()
    ref.ReferencedSOPClassUID = ct.SOPClassUID
    ref.ReferencedSOPInstanceUID = ct.SOPInstanceUID
    mr.ReferencedImageSequence = Sequence([ref])
    mr.FrameOfReferenceUID = ct.FrameOfReferenceUID
    out_ct, out_mr = (read(o.data) for o in deidentify_batch([dicom_bytes(ct), dicom_bytes(mr)]))

    assert out_ct.StudyInstanceUID == out_mr.StudyInstanceUID != STUDY_UID
    assert out_ct.FrameOfReferenceUID == out_mr.FrameOfReferenceUID != ct.FrameOfReferenceUID
    assert out_mr.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_ct.SOPInstanceUID
    assert out_mr.ReferencedImageSequence[0].ReferencedSOPClassUID == ct.SOPClassUID  # a class: kept
    assert out_ct.SOPClassUID == ct.SOPClassUID
    for before, after in ((ct, out_ct), (mr, out_mr)):
        for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            assert after[keyword].value != before[keyword].value
            assert after[keyword].value.is_valid  # a DICOM UID: digits and dots, at most 64
        assert str(before.SOPInstanceUID).encode() not in dicom_bytes(after)
    assert out_ct.SOPInstanceUID != out_mr.SOPInstanceUID
    assert out_ct.SeriesInstanceUID != out_mr.SeriesInstanceUID


def test_another_batch_gets_other_uids_and_the_mapping_is_not_the_input():
    data = dicom_bytes(plant("CT_small.dcm"))
    first, second = read(deidentify_dicom(data).data), read(deidentify_dicom(data).data)
    assert first.StudyInstanceUID != second.StudyInstanceUID  # a random salt per batch
    session = DicomDeidentifier()
    assert (
        read(session.deidentify(data).data).StudyInstanceUID
        == read(session.deidentify(data).data).StudyInstanceUID
    )
    assert "salt" not in repr(session) and STUDY_UID not in repr(session)


def _date(value: str) -> dt.date:
    return dt.datetime.strptime(value, "%Y%m%d").date()


def test_dates_move_by_one_offset_per_patient_and_times_stay():
    ct = plant("CT_small.dcm", SeriesDate="19870620", AcquisitionDateTime="19870620101112.5")
    mr = plant("MR_small.dcm", StudyDate="19880101")
    other = plant("MR_small.dcm", PatientID="SOMEONE-ELSE", StudyDate="19880101")
    out_ct, out_mr, out_other = (
        read(o.data) for o in deidentify_batch([dicom_bytes(ct), dicom_bytes(mr), dicom_bytes(other)])
    )
    offset = _date(out_ct.StudyDate) - _date(ct.StudyDate)
    assert dt.timedelta(days=-3652) <= offset <= dt.timedelta(days=-1)
    assert _date(out_ct.SeriesDate) - _date(ct.SeriesDate) == offset  # intervals kept exactly
    assert _date(out_mr.StudyDate) - _date(mr.StudyDate) == offset  # same patient, same offset
    assert out_ct.AcquisitionDateTime == (_date("19870620") + offset).strftime("%Y%m%d") + "101112.5"
    nested = out_ct.AnatomicRegionSequence[0]
    assert nested.ObservationDateTime == (_date("19870615") + offset).strftime("%Y%m%d") + "093000.25+0100"
    assert out_ct.StudyTime == ct.StudyTime  # a whole-day offset leaves the time of day
    assert nested.PersonName == "ANONYMIZED" and nested.CodeMeaning == "Chest"  # D; codes kept
    # another patient of the batch is shifted on its own (its offset is independent, maybe equal)
    moved = _date(out_other.StudyDate) - _date("19880101")
    assert dt.timedelta(days=-3652) <= moved <= dt.timedelta(days=-1)
    assert "PatientBirthDate" in out_ct and out_ct.PatientBirthDate == ""


def test_unparseable_dates_are_emptied_not_kept():
    ds = plant("CT_small.dcm")
    ds["SeriesDate"].value = "UNKNOWN"  # written as the file says; pydicom reads it back raw
    result = read(deidentify_dicom(dicom_bytes(ds)).data)
    assert result.SeriesDate == ""


def test_names_and_uids_the_table_does_not_list_are_caught():
    ds = plant("CT_small.dcm")
    ds.ScheduledPerformingPhysicianName = "UNLISTED^NAME^MARKER"  # in the table: removed
    ds.add_new(0x00321034, "SQ", Sequence())  # Requesting Service Code Sequence (not in the table)
    item = Dataset()
    # Tags no edition known here defines (as a later edition may add): the safety nets catch them.
    item.add_new(0x0040A43A, "PN", "NOT^INTABLE^MARKER")
    item.add_new(0x0040A124, "UI", "1.2.3.4.5.6.7.8.9")  # UID in the table: replaced
    item.add_new(0x00081199, "SQ", Sequence())
    ds.ContentTemplateSequence = Sequence([item])
    ds.add_new(0x00209FF0, "UI", "1.2.840.99999.7")
    out = deidentify_dicom(dicom_bytes(ds)).data
    assert b"UNLISTED^NAME^MARKER" not in out and b"NOT^INTABLE^MARKER" not in out
    assert b"1.2.3.4.5.6.7.8.9" not in out and b"1.2.840.99999.7" not in out


def test_overlays_and_group_lengths_are_removed():
    ds = read(pydicom_file("examples_overlay.dcm"))
    assert any(e.tag.group & 0xFF00 == 0x6000 and e.tag.element == 0x3000 for e in ds)
    result = read(deidentify_dicom(pydicom_file("examples_overlay.dcm")).data)
    assert not any(e.tag.group & 0xFF00 == 0x6000 for e in result)  # data, comments, description
    assert not any(e.tag.element == 0 for e in result)
    assert result.PixelData == ds.PixelData


@pytest.mark.parametrize(
    ("name", "attributes", "expected"),
    [
        ("CT_small.dcm", {}, ("burned-in-annotation-not-stated",)),
        ("CT_small.dcm", {"BurnedInAnnotation": "NO"}, ()),
        ("CT_small.dcm", {"BurnedInAnnotation": "YES"}, ("burned-in-annotation-yes",)),
        ("ExplVR_BigEnd.dcm", {"BurnedInAnnotation": "NO"}, ("modality-us",)),
        ("SC_rgb_jpeg_dcmtk.dcm", {"BurnedInAnnotation": "NO"}, ("modality-ot", "secondary-capture")),
        (
            "CT_small.dcm",
            {"BurnedInAnnotation": "NO", "RecognizableVisualFeatures": "YES"},
            ("recognizable-visual-features",),
        ),
        ("rtplan.dcm", {}, ()),  # no pixel data: nothing to burn in
    ],
)
def test_burned_in_risk_is_flagged_never_cleaned(name, attributes, expected):
    ds = read(pydicom_file(name))
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    risk = burned_in_risk(ds)
    assert risk.reasons == expected and risk.risk is bool(expected)
    out = deidentify_dicom(dicom_bytes(ds))
    assert out.burned_in == risk
    assert out.burned_in.header() == (f"yes; reasons={','.join(expected)}" if expected else "no")
    report = out.report()
    assert report["burned_in_risk"] == {
        "risk": bool(expected),
        "reasons": list(expected),
        "pixels_cleaned": False,
    }
    if "BurnedInAnnotation" in ds:
        assert read(out.data).BurnedInAnnotation == ds.BurnedInAnnotation  # never rewritten to NO


def test_the_report_carries_no_header_value():
    out = deidentify_dicom(dicom_bytes(plant("CT_small.dcm")))
    text = repr(out.report())
    assert not [v for v in PLANTED.values() if len(v) > 2 and v in text]
    assert {c for c, _ in METHOD_CODES} <= set(text.replace("'", " ").split())


def test_the_table_is_the_standard_s_data():
    """Each row names the tag pydicom's dictionary gives that keyword, and its action is one the
    profile's code allows (C: a date or time kept shifted under the option; K: U*, UIDs replaced)."""
    for tag, rule in RULES.items():
        assert keyword_for_tag(tag) == rule.keyword, hex(tag)
        allowed = set(rule.profile.replace("*", "").split("/"))
        if rule.action == "C":
            assert dictionary_VR(tag) in ("DA", "TM", "DT"), rule.keyword
        elif rule.action == "K":
            assert rule.profile == "X/Z/U*", rule.keyword
        elif rule.profile == "D" and dictionary_VR(tag) == "SQ":
            assert rule.action == "Z", rule.keyword  # a dummy sequence would need dummy contents
        else:
            assert rule.action in allowed, rule.keyword
    assert len(RULES) > 150


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a dicom file at all" * 10,
        pydicom_file("no_meta.dcm"),
        pydicom_file("CT_small.dcm")[:600],  # cut in the header: an image without pixel data
        pydicom_file("CT_small.dcm")[:-1000],  # cut inside the pixel data
        pydicom_file("JPEG2000.dcm")[:-20],  # cut inside the encapsulated pixel data
    ],
    ids=["empty", "text", "no preamble", "cut in the header", "cut in the pixels", "cut in a fragment"],
)
def test_not_dicom_or_corrupt_is_invalid_input(data):
    with pytest.raises(InvalidInput) as refused:
        deidentify_dicom(data)
    assert refused.value.status == 422


def test_an_earlier_deidentification_is_kept_and_added_to():
    once = deidentify_dicom(pydicom_file("MR_small.dcm")).data
    twice = read(deidentify_dicom(once).data)
    assert len(twice.DeidentificationMethodCodeSequence) == 2  # not duplicated
    assert twice.PatientIdentityRemoved == "YES"


def test_strings_of_the_output_hold_no_planted_value():
    """The parsed view, as a reader sees it (the byte test above covers encodings)."""
    out = read(deidentify_dicom(dicom_bytes(plant("MR_small.dcm"))).data)
    found = " ".join(strings(out))
    assert not [v for v in PLANTED.values() if len(v) > 2 and v in found]


def test_elements_of_unknown_vr_are_removed():
    ds = plant("MR_small.dcm")
    ds.add_new(0x00209FF2, "UN", b"UNKNOWN^VR^MARKER")  # a public tag no dictionary here knows
    out = deidentify_dicom(dicom_bytes(ds))
    assert b"UNKNOWN^VR^MARKER" not in out.data and 0x00209FF2 not in read(out.data)


def test_rt_labels_typed_by_staff_are_replaced():
    source = read(pydicom_file("rtplan.dcm"))
    result = read(deidentify_dicom(pydicom_file("rtplan.dcm")).data)
    assert source.RTPlanLabel and result.RTPlanLabel == "ANONYMIZED"  # D: Type 1, so a dummy
    assert "RTPlanName" not in result and "RTPlanDate" in result
    assert result.RTPlanDate != source.RTPlanDate


def _marker(vr: str, n: int) -> object | None:
    """A value of ``vr`` that appears nowhere else in the file (None: no distinctive value exists)."""
    text = f"MK{n:04d}QZ"
    return {
        "PN": f"MARKER^P{n:04d}",
        "DA": f"1901{1 + n % 12:02d}{1 + n % 28:02d}",
        "TM": f"01{n % 60:02d}03.{n:06d}",
        "DT": f"1901{1 + n % 12:02d}{1 + n % 28:02d}010203.{n:06d}",
        "UI": f"1.2.3.999.{n}",
        **{vr: text for vr in ("LO", "SH", "LT", "ST", "UT", "UC", "CS", "AE")},
    }.get(vr)


def test_every_row_of_the_table_acts_at_the_top_and_nested():
    """Each non-keeping row, planted with a distinctive value at the top level and inside a kept
    sequence: the value is gone from the output bytes and the attribute is removed, emptied,
    dummied or given a new UID as the row says."""
    ds = read(pydicom_file("MR_small.dcm"))
    holder = Dataset()
    holder.CodeValue, holder.CodingSchemeDesignator, holder.CodeMeaning = "T-D3000", "SRT", "Chest"
    ds.AnatomicRegionSequence = Sequence([holder])
    planted: dict[int, object] = {}
    for n, (tag, rule) in enumerate(RULES.items()):
        vr = dictionary_VR(tag)
        if rule.action in ("K", "C") or tag >> 16 in (0x0002, 0xFFFA, 0xFFFC):
            continue
        if vr == "SQ":
            item = Dataset()
            item.add_new(0x0040A123, "PN", f"MARKER^S{n:04d}")  # Person Name: D wherever it is
            value: object = Sequence([item])
            planted[tag] = f"MARKER^S{n:04d}"
        else:
            value = _marker(vr, n)
            if value is None:
                continue
            planted[tag] = value
        ds.add_new(tag, vr, value)
        nested_value = value if vr != "SQ" else Sequence([Dataset(item)])
        holder.add_new(tag, vr, nested_value)
    assert len(planted) > 150
    out = deidentify_dicom(dicom_bytes(ds))
    result = read(out.data)
    leaked = [RULES[t].keyword for t, v in planted.items() if str(v).encode() in out.data]
    assert not leaked
    for where in (result, result.AnatomicRegionSequence[0]):
        for tag in planted:
            action = RULES[tag].action
            if action == "X":
                assert tag not in where, RULES[tag].keyword
            elif action == "Z":
                assert where[tag].value in ("", None, []) or not where[tag].value, RULES[tag].keyword
            elif action == "D":
                assert where[tag].value in ("ANONYMIZED", "0", 0, []), RULES[tag].keyword
            elif action == "U":
                assert str(where[tag].value).startswith("1.2.826.0.1.3680043.8.498."), RULES[tag].keyword
