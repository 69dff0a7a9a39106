"""Intended-use gating of imaging inputs: a decoded image against its card's ``intended_use_gate``.

Checked after decoding (the DICOM header and the image size are known) and before the model runs.
Outside the gate is a 422 ``OUT_OF_SCOPE`` listing every reason. A reason names DICOM values only
when they are defined terms (Modality, BodyPartExamined, PhotometricInterpretation: see dicom.py);
a value that is not a defined term is called just that, never quoted (it could be anything the
sender typed, a name included).
"""

from __future__ import annotations

from typing import Any

from medserve.errors import OutOfScope
from medserve.imaging.types import DecodedImage
from medserve.serving.cards import ImagingGate, ModelCard

__all__ = ["check_scope", "scope_reasons"]


def _accepts(values: list[str]) -> str:
    return ", ".join(values)


def scope_reasons(gate: ImagingGate, image: DecodedImage) -> list[dict[str, Any]]:
    """Every way ``image`` lies outside ``gate``, as error details (field, issue, what is accepted)."""
    reasons: list[dict[str, Any]] = []
    if image.format != "dicom":
        if not gate.plain_images:
            reasons.append(
                {"field": "format", "issue": f"{image.format.upper()} files are not accepted: send DICOM"}
            )
    else:
        header = image.header or {}
        if gate.modalities is not None:
            term = header.get("modality")
            if term is None:
                issue = (
                    "the Modality is not a DICOM defined term"
                    if header.get("modality_present")
                    else "the file states no Modality"
                )
                reasons.append({"field": "dicom.Modality", "issue": issue, "accepted": gate.modalities})
            elif term not in gate.modalities:
                issue = f"Modality {term} is not accepted"
                reasons.append({"field": "dicom.Modality", "issue": issue, "accepted": gate.modalities})
        if gate.body_parts is not None:
            term, present = header.get("body_part"), header.get("body_part_present")
            if present and term is None:
                reasons.append(
                    {
                        "field": "dicom.BodyPartExamined",
                        "issue": "the BodyPartExamined is not a DICOM defined term",
                        "accepted": gate.body_parts,
                    }
                )
            elif present and term not in gate.body_parts:
                reasons.append(
                    {
                        "field": "dicom.BodyPartExamined",
                        "issue": f"BodyPartExamined {term} is not accepted",
                        "accepted": gate.body_parts,
                    }
                )
            elif not present and gate.body_part_required:
                reasons.append(
                    {
                        "field": "dicom.BodyPartExamined",
                        "issue": "the file states no BodyPartExamined",
                        "accepted": gate.body_parts,
                    }
                )
        if gate.photometric_interpretations is not None:
            term = header.get("photometric_interpretation")
            if term not in gate.photometric_interpretations:
                shown = f"PhotometricInterpretation {term}" if term else "the PhotometricInterpretation"
                reasons.append(
                    {
                        "field": "dicom.PhotometricInterpretation",
                        "issue": f"{shown} is not accepted",
                        "accepted": gate.photometric_interpretations,
                    }
                )
        spacing = header.get("pixel_spacing_mm")
        if gate.pixel_spacing_mm is not None and spacing is not None:
            lo, hi = gate.pixel_spacing_mm
            if not all(lo <= s <= hi for s in spacing):
                reasons.append(
                    {
                        "field": "dicom.PixelSpacing",
                        "issue": "the pixel spacing is outside the accepted range",
                        "accepted_mm": [lo, hi],
                    }
                )
    short, long = min(image.width, image.height), max(image.width, image.height)
    if short < gate.min_side_px or long > gate.max_side_px:
        reasons.append(
            {
                "field": "image.size",
                "issue": f"the image is {image.width} x {image.height} pixels",
                "accepted_side_px": [gate.min_side_px, gate.max_side_px],
            }
        )
    return reasons


def check_scope(card: ModelCard, image: DecodedImage) -> None:
    """422 OUT_OF_SCOPE when the card's imaging gate refuses ``image``; no gate accepts everything."""
    gate = card.intended_use_gate.imaging if card.intended_use_gate else None
    reasons = scope_reasons(gate, image) if gate is not None else []
    if reasons:
        raise OutOfScope.outside_intended_use("the image", card.name, reasons)
