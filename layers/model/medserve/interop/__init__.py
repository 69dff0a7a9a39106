"""Interoperability: medserve results in the formats hospital systems file.

* ``negotiation``: which answer a prediction request asked for (``Accept`` with q-values, or
  ``?_format=fhir``): medserve JSON, a FHIR R4 Bundle, or a DICOM Structured Report.
* ``fhir``: FHIR R4 resources built as plain dicts (no FHIR library in the layer) following the
  HL7 AI Transparency on FHIR guide: every AI-produced resource labelled ``AIAST``, one Device for
  the model, its card as a DocumentReference, one Provenance naming both; errors as
  OperationOutcome.
* ``sr``: a DICOM Comprehensive SR (TID 1500-style) for an imaging prediction of a DICOM input,
  in the input's study (pydicom only).
* ``subjects``: the ``subject`` a caller names (reference or identifier) for FHIR answers.
* ``batch``: FHIR NDJSON beside an S3 batch result (object metadata ``format: fhir``).
* ``multipart``: ``multipart/related`` bodies split and joined byte for byte (DICOMweb STOW-RS
  style: several DICOM files of one de-identification batch).
"""
