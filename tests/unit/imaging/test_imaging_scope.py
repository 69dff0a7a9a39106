"""Intended-use gating and OOD scores of the chest model, through the real handler: real DICOM files
of other modalities (the pydicom wheel's MR, CT, ultrasound, NM, secondary captures) refused with
422 OUT_OF_SCOPE naming the defined term, and flagged out of distribution when the gate is lifted;
the bundled in-domain phantoms and a CR chest DICOM of one accepted and in distribution."""

import io
import json

import numpy as np
import pytest
from medserve.imaging.scope import scope_reasons
from medserve.imaging.types import DecodedImage
from medserve.serving.cards import ImagingGate
from medserve.serving.registry import BundledModels
from PIL import Image

from tests.helpers import REPO, call, http_event, serve_derived
from tests.imaging_samples import chest_cr, pydicom_file, with_attributes

PREDICT = "/v1/imaging/predict"
NAME = "cxr-nodule-phantom"
SAMPLES = sorted((REPO / "events" / "data").glob("imaging_phantom_*.png"))
# Real DICOM files written by others (the pydicom wheel), none of them a chest radiograph:
# file -> the Modality it states.
OTHER_MODALITIES = {
    "MR_small.dcm": "MR",
    "MR_small_RLE.dcm": "MR",
    "examples_overlay.dcm": "MR",  # an abdomen MR, BodyPartExamined ABDOMEN
    "CT_small.dcm": "CT",
    "J2K_pixelrep_mismatch.dcm": "CT",  # a head CT, BodyPartExamined HEAD
    "examples_rgb_color.dcm": "US",
    "examples_ybr_color.dcm": "US",
    "examples_palette.dcm": "US",
    "examples_jpeg2k.dcm": "US",
    "JPEG2000.dcm": "NM",
    "SC_rgb_jpeg_dcmtk.dcm": "OT",
}


@pytest.fixture
def ctx(imaging_context):
    return imaging_context


def raw(data: bytes, content_type: str, **query: str) -> dict:
    return http_event("POST", PREDICT, data, headers={"content-type": content_type}, binary=True, query=query)


def as_png(name: str) -> bytes:
    """A pydicom file's pixels as an 8-bit greyscale PNG, as a user exporting it from a viewer would send it."""
    from medserve.imaging.decode import decode, normalise

    grey, _ = normalise(decode(pydicom_file(name)).pixels)
    buffer = io.BytesIO()
    Image.fromarray(np.round(grey * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def gate() -> ImagingGate:
    card = BundledModels().get(NAME)[0]
    assert card.intended_use_gate is not None and card.intended_use_gate.imaging is not None
    return card.intended_use_gate.imaging


def decoded(fmt: str = "dicom", width: int = 512, height: int = 512, **header: object) -> DecodedImage:
    base = {
        "modality": "CR",
        "modality_present": True,
        "body_part": "CHEST",
        "body_part_present": True,
        "photometric_interpretation": "MONOCHROME2",
        "pixel_spacing_mm": (0.15, 0.15),
    }
    return DecodedImage(
        pixels=np.zeros((2, 2)),
        format=fmt,  # type: ignore[arg-type]
        width=width,
        height=height,
        mode="MONOCHROME2",
        header={**base, **header} if fmt == "dicom" else None,
    )


# ------------------------------------------------------------------------- the gate, unit


def test_the_bundled_card_accepts_cr_dx_chest_and_its_own_png_domain():
    g = gate()
    assert g.modalities == ["CR", "DX"] and g.body_parts == ["CHEST"] and not g.body_part_required
    assert g.plain_images and g.photometric_interpretations == ["MONOCHROME1", "MONOCHROME2"]
    assert scope_reasons(g, decoded()) == []
    assert scope_reasons(g, decoded(modality="DX", body_part=None, body_part_present=False)) == []
    assert scope_reasons(g, decoded("png", 128, 128)) == []


@pytest.mark.parametrize(
    ("header", "field", "issue"),
    [
        ({"modality": "MR"}, "dicom.Modality", "Modality MR is not accepted"),
        ({"modality": None}, "dicom.Modality", "the Modality is not a DICOM defined term"),
        ({"modality": None, "modality_present": False}, "dicom.Modality", "the file states no Modality"),
        ({"body_part": "SHOULDER"}, "dicom.BodyPartExamined", "BodyPartExamined SHOULDER is not accepted"),
        ({"body_part": None}, "dicom.BodyPartExamined", "the BodyPartExamined is not a DICOM defined term"),
        (
            {"photometric_interpretation": "RGB"},
            "dicom.PhotometricInterpretation",
            "PhotometricInterpretation RGB is not accepted",
        ),
        (
            {"pixel_spacing_mm": (2.26, 2.26)},
            "dicom.PixelSpacing",
            "the pixel spacing is outside the accepted range",
        ),
    ],
)
def test_each_gate_rule_names_its_reason(header, field, issue):
    [reason] = scope_reasons(gate(), decoded(**header))
    assert (reason["field"], reason["issue"]) == (field, issue)


def test_size_and_plain_image_rules():
    [reason] = scope_reasons(gate(), decoded(width=64, height=64))
    assert reason == {
        "field": "image.size",
        "issue": "the image is 64 x 64 pixels",
        "accepted_side_px": [128, 8192],
    }
    strict = gate().model_copy(update={"plain_images": False})
    assert [r["field"] for r in scope_reasons(strict, decoded("jpeg"))] == ["format"]


# ---------------------------------------------------------------- real files, through the handler


@pytest.mark.parametrize(("name", "modality"), sorted(OTHER_MODALITIES.items()))
def test_real_dicoms_of_other_modalities_are_refused(imaging_app, ctx, name, modality):
    status, body = call(imaging_app, raw(pydicom_file(name), "application/dicom"), ctx)
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE"), body
    assert f"Modality {modality} is not accepted" in body["error"]["message"]
    assert {
        "field": "dicom.Modality",
        "issue": f"Modality {modality} is not accepted",
        "accepted": ["CR", "DX"],
    } in (body["error"]["details"])


def test_a_non_chest_cr_is_refused_without_echoing_free_text(imaging_app, ctx):
    """CR headers on a real file (CT_small's pixels): the body part decides. A defined term is
    named; free text (it could be a name) is not."""
    status, body = call(
        imaging_app,
        raw(
            with_attributes("CT_small.dcm", Modality="CR", BodyPartExamined="HAND", PixelSpacing=None),
            "application/dicom",
        ),
        ctx,
    )
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE")
    assert "BodyPartExamined HAND is not accepted" in body["error"]["message"]
    free_text = with_attributes(
        "CT_small.dcm", Modality="CR", BodyPartExamined="DOE JANE KNEE", PixelSpacing=None
    )
    status, body = call(imaging_app, raw(free_text, "application/dicom"), ctx)
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE")
    assert "DOE" not in json.dumps(body) and "not a DICOM defined term" in body["error"]["message"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.name)
def test_bundled_in_domain_samples_are_accepted_and_in_distribution(imaging_app, ctx, sample):
    status, body = call(imaging_app, raw(sample.read_bytes(), "image/png"), ctx)
    assert status == 200, body
    ood = body["predictions"][0]["ood"]
    assert ood["method"] == "mahalanobis" and ood["in_distribution"] is True
    assert 0 <= ood["score"] <= ood["threshold"]


def test_a_cr_chest_dicom_is_accepted_and_in_distribution(imaging_app, ctx):
    status, body = call(imaging_app, raw(chest_cr(), "application/dicom"), ctx)
    assert status == 200, body
    assert body["dicom"]["modality"] == "CR"
    assert body["predictions"][0]["ood"]["in_distribution"] is True
    status, body = call(imaging_app, raw(chest_cr(BodyPartExamined=None), "application/dicom"), ctx)
    assert status == 200  # BodyPartExamined is often absent on radiographs: accepted


@pytest.mark.parametrize("name", sorted(OTHER_MODALITIES))
def test_without_the_gate_the_ood_score_flags_them(imaging_app, ctx, tmp_path, name):
    """The second line of defence: the same real files with the gate lifted, and as plain PNGs
    (no header to gate on), are answered with in_distribution = false."""
    serve_derived(tmp_path, NAME, intended_use_gate=None)
    for event in (raw(pydicom_file(name), "application/dicom"), raw(as_png(name), "image/png")):
        status, body = call(imaging_app, event, ctx)
        assert status == 200, body
        ood = body["predictions"][0]["ood"]
        assert ood["in_distribution"] is False and ood["score"] > ood["threshold"], (name, ood)


def test_refuse_policy_answers_out_of_scope(imaging_app, ctx, tmp_path):
    card = json.loads((BundledModels().directory / NAME / "card.json").read_text())
    serve_derived(tmp_path, NAME, ood={**card["ood"], "policy": "refuse"})
    status, body = call(imaging_app, raw(as_png("CT_small.dcm"), "image/png"), ctx)  # 128 x 128: gate passes
    assert (status, body["error"]["code"]) == (422, "OUT_OF_SCOPE")
    assert "training distribution" in body["error"]["message"]
    status, body = call(imaging_app, raw(SAMPLES[0].read_bytes(), "image/png"), ctx)
    assert status == 200
