"""Images put in S3 (the ``ImagingFunction`` trigger on ``uploads/imaging/``).

One object = one image (PNG, JPEG or DICOM, recognised by its bytes, up to 50 MB). Object
metadata may choose the model (``x-amz-meta-model``) and ask for an occlusion map
(``x-amz-meta-explain: true``); ``POST /v1/uploads`` puts both into the presigned PUT's headers.
The result document is the API's response body (without ``request_id``, which batch.py adds with
the source object); a file that cannot be used gets the error envelope as ``.error.json``.
Objects under ``uploads/imaging/<job_id>/`` update that job (:data:`UPLOAD_JOBS`).

DICOM files under ``uploads/imaging-deid/<path>`` are de-identified (:func:`deidentify_upload`):
the file goes to ``results/imaging-deid/<path>``, its report (burned-in risk, counts, never a
header value) to ``<path>.json``. Each object is a batch of its own: UIDs are consistent within the
file, not across objects (send files that must share new UIDs through one batch of
:func:`medserve.imaging.deid.deidentify_batch`).
"""

from __future__ import annotations

from typing import Any

from medserve.errors import InvalidInput
from medserve.imaging.deid import deidentify_dicom
from medserve.imaging.model import capture_prediction, predict_image
from medserve.imaging.types import MAX_UPLOAD_BYTES
from medserve.monitoring.capture import inference_id, object_batch_id
from medserve.services import get_services
from medserve.triggers.jobs import UploadJobs
from medserve.triggers.s3 import ResultFile, S3Upload
from medserve.wire import flag_from

__all__ = ["UPLOAD_JOBS", "deidentify_upload", "score_imaging_upload"]

# Resolves the jobs table per event, so a container (or a test) that replaces its services is heard.
UPLOAD_JOBS = UploadJobs(lambda: get_services().jobs)


def score_imaging_upload(upload: S3Upload) -> dict[str, Any]:
    """Predict one uploaded image; raises a MedserveError for an unusable file (batch.py records it).
    The result's ``inference_id`` names the prediction for ``POST /v1/monitoring/ground-truth``."""
    body = predict_image(
        upload.body,
        model=upload.metadata.get("model") or None,
        explain=flag_from(upload.metadata, "explain", "x-amz-meta-explain"),
        max_bytes=MAX_UPLOAD_BYTES,
    )
    batch = object_batch_id(upload.bucket, upload.key, upload.version_id)
    body["inference_id"] = inference_id(batch, 0)
    capture_prediction(body, route="s3:uploads/imaging/", request_id=batch)
    return body


def deidentify_upload(upload: S3Upload) -> ResultFile:
    """De-identify one uploaded DICOM file; raises a MedserveError for an unusable one."""
    if upload.key.endswith(".json"):
        # results/imaging-deid/x.json is the report of x: an upload named x.json would overwrite it.
        raise InvalidInput("a file to de-identify must not be named *.json (its result would be a report)")
    result = deidentify_dicom(upload.body)
    return ResultFile(document=result.report(), body=result.data, content_type="application/dicom")
