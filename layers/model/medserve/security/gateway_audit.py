"""Requests API Gateway refused before any function ran, into the audit trail.

The HTTP API's JWT authorizer answers a missing or invalid token (401) or a token without the
route's scope (403) itself: no function sees those requests, so they would be only in the API
access log. A subscription on the access log group delivers those lines (CloudWatch Logs
``awslogs`` events, gzip + base64) to ``GatewayAuditFunction``, which writes one audit record per
refused request: who (the client id when the token verified), which route, when, why.

A line is a gateway refusal when its status is 401 or 403 and no integration ran
(``integrationLatency`` is ``-``): a function's own refusals have their own record already. The
subscription's filter pattern selects 401/403; the check here makes the function correct whatever
the filter. Deliveries are at least once: the record's key is the request id, so a repeated
delivery rewrites the same record (a new version of one key), never adds a second one.
"""

from __future__ import annotations

import json
from typing import Any

from medserve.observability import logger
from medserve.security import audit
from medserve.services import get_services

__all__ = ["is_logs_event", "record_refusals", "refusal_record"]

_REFUSALS = {"401": "UNAUTHORIZED", "403": "FORBIDDEN"}
_NOT_RUN = {"", "-", None}


def is_logs_event(event: Any) -> bool:
    return isinstance(event, dict) and isinstance(event.get("awslogs"), dict)


def refusal_record(line: dict[str, Any]) -> audit.AuditRecord | None:
    """The audit record of one access-log line, or None when it is not a gateway refusal."""
    status = str(line.get("status", ""))
    if status not in _REFUSALS or line.get("integrationLatency") not in _NOT_RUN:
        return None
    client = str(line.get("clientId") or "")
    client = "" if client in _NOT_RUN else client
    return audit.AuditRecord(
        kind="gateway-refusal",
        principal={"subject": client or "anonymous", "client_id": client, "issuer": "api-gateway"},
        action=str(line.get("routeKey") or "unknown"),
        request_id=str(line.get("requestId") or ""),
        outcome={"status": int(status), "error_code": _REFUSALS[status]},
        function="api-gateway",
    )


def record_refusals(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Write the audit record of every gateway refusal in a CloudWatch Logs event."""
    from aws_lambda_powertools.utilities.data_classes import CloudWatchLogsEvent

    trail = get_services().audit
    if trail is None:
        logger.warning("AUDIT_BUCKET is not set: gateway refusals are not audited")
        return {"recorded": 0}
    recorded = skipped = 0
    for log_event in CloudWatchLogsEvent(event).parse_logs_data().log_events:
        try:
            line = json.loads(log_event.message)
        except ValueError:
            skipped += 1  # not the template's JSON access-log format
            continue
        record = refusal_record(line) if isinstance(line, dict) else None
        if record is None:
            skipped += 1
            continue
        trail.write(record, key_by_request=True)  # S3 failing: raised, so Lambda retries
        recorded += 1
    logger.info("gateway refusals audited", extra={"recorded": recorded, "skipped": skipped})
    return {"recorded": recorded, "skipped": skipped}
