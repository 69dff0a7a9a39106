"""MonitorFunction: the scheduled drift job, and ``POST /v1/monitoring/ground-truth``.

Thin by design: ``medserve.monitoring.job`` does the work.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.api import create_app
from medserve.api.monitoring import router as monitoring_router
from medserve.config import settings
from medserve.monitoring.job import is_monitor_event, run_from_event
from medserve.observability import instrumented
from medserve.services import get_services

app = create_app(monitoring_router)


@instrumented()
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if is_monitor_event(event):
        services = get_services()
        return run_from_event(
            event, services.monitoring_bucket, services.s3, services.registry, settings().monitor_window_hours
        )
    return app.resolve(event, context)
