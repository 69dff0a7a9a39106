"""GatewayAuditFunction: requests the HTTP API's JWT authorizer refused (401/403, no function ran),
from the API access log's subscription into the audit trail.

Thin by design: ``medserve.security.gateway_audit`` does the work.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from medserve.observability import instrumented
from medserve.security.gateway_audit import record_refusals


@instrumented(http=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return record_refusals(event, context)
