"""ImagingFunction: PNG, JPEG and DICOM classification over the HTTP API and for images put in S3.

Routes: ``POST /v1/imaging/predict``, ``POST /v1/imaging/deidentify`` (DICOM in, de-identified
DICOM out), ``POST /v1/uploads`` (presigned PUT for large inputs), ``GET /v1/jobs/{id}``; the S3
trigger on ``uploads/imaging/`` predicts uploads and keeps their jobs current, the one on
``uploads/imaging-deid/`` de-identifies DICOM files into ``results/imaging-deid/``. Thin by
design: everything it calls lives in the shared layer (package ``medserve``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.api import create_app
from medserve.api.imaging import router as imaging_router
from medserve.api.jobs import router as jobs_router
from medserve.imaging.batch import UPLOAD_JOBS, deidentify_upload, score_imaging_upload
from medserve.imaging.deid import DEID_MODALITY
from medserve.observability import instrumented
from medserve.snapstart import register_hooks
from medserve.triggers.s3 import is_s3_event, process_s3_event, upload_modality

app = create_app(imaging_router, jobs_router)
register_hooks()  # SnapStart (ColdStartMode=snapstart): sessions in the snapshot; no-op elsewhere


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_s3_event(event):
        if upload_modality(event) == DEID_MODALITY:
            return process_s3_event(
                event, context, modality=DEID_MODALITY, score_file=deidentify_upload, jobs=UPLOAD_JOBS
            )
        return process_s3_event(
            event, context, modality="imaging", score_file=score_imaging_upload, jobs=UPLOAD_JOBS
        )
    return app.resolve(event, context)
