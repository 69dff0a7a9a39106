"""MultimodalFunction: a record, an image and a note fused in one prediction, over the HTTP API
and for JSONL files of requests put in S3 (images referenced by their uploads/imaging/ URI).

Thin by design: everything it calls lives in the shared layer (package ``medserve``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.api import create_app
from medserve.api.multimodal import router as multimodal_router
from medserve.multimodal.batch import score_multimodal_file
from medserve.observability import instrumented
from medserve.triggers.s3 import is_s3_event, process_s3_event

app = create_app(multimodal_router)


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_s3_event(event):
        return process_s3_event(event, context, modality="multimodal", score_file=score_multimodal_file)
    return app.resolve(event, context)
