"""RecommendFunction: treatment recommendation over the HTTP API and for JSONL files put in S3.

Thin by design: everything it calls lives in the shared layer (package ``medserve``).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.api import create_app
from medserve.api.recommend import router as recommend_router
from medserve.observability import instrumented
from medserve.recommend.batch import score_recommend_file
from medserve.snapstart import register_hooks
from medserve.triggers.s3 import is_s3_event, process_s3_event

app = create_app(recommend_router)
register_hooks()  # SnapStart (ColdStartMode=snapstart): sessions in the snapshot; no-op elsewhere


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_s3_event(event):
        return process_s3_event(event, context, modality="recommend", score_file=score_recommend_file)
    return app.resolve(event, context)
