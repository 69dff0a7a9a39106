"""JobsFunction: records SageMaker asynchronous inference notifications (SNS) as job states.

Thin by design: ``medserve.triggers.async_jobs`` does the work; ``GET /v1/jobs/{id}`` reads the result.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.observability import instrumented
from medserve.triggers.async_jobs import record_notifications


@instrumented(http=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return record_notifications(event, context)
