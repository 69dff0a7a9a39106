"""The HTTP API's access log, as far as a function subscribes to it: gateway refusals.

In AWS, API Gateway writes one line per request to the access log group in the template's
``AccessLogSettings.Format``, and a ``CloudWatchLogs`` event of a function (a subscription filter)
hands matching lines to it as an ``awslogs`` event (gzip + base64). medserve subscribes
``GatewayAuditFunction`` to the 401/403 lines, so that requests the JWT authorizer refused (which
no other function sees) reach the audit trail. ``medserve serve`` does the same for the requests
it refuses: it renders the line from the template's format and delivers it to every subscribed
function. Only refusals are delivered (what the subscription selects); served requests are in the
functions' own audit records.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from devtools.local.template import LOCAL_ACCOUNT_ID, Template, local_name

__all__ = ["AccessLog"]

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


@dataclass(frozen=True)
class AccessLog:
    log_group: str  # the log group's local name
    format: str
    subscribers: tuple[str, ...]  # function logical ids with a CloudWatchLogs event on the group

    @classmethod
    def from_template(cls, template: Template) -> AccessLog | None:
        """The first HttpApi's access log with at least one subscribed function, if any."""
        functions = template.functions()
        for props in template.resources_of_type("AWS::Serverless::HttpApi").values():
            settings = props.get("AccessLogSettings") or {}
            destination = settings.get("DestinationArn")
            group = (
                (destination or {}).get("Fn::GetAtt", [None])[0] if isinstance(destination, dict) else None
            )
            if not group or not isinstance(settings.get("Format"), str):
                continue
            subscribers = tuple(
                fid
                for fid in functions
                if any(
                    event.get("Type") == "CloudWatchLogs"
                    and (event.get("Properties") or {}).get("LogGroupName") == {"Ref": group}
                    for event in (template.properties(fid).get("Events") or {}).values()
                )
            )
            if subscribers:
                return cls(local_name(group), " ".join(settings["Format"].split()), subscribers)
        return None

    def line(self, context: Mapping[str, Any]) -> str:
        """The template's format with ``$context.*`` filled in (``-`` where API Gateway has no value)."""
        return _VARIABLE.sub(lambda m: str(context.get(m.group(1), "-")).replace('"', "'"), self.format)

    def event(self, line: str) -> dict[str, Any]:
        """The ``awslogs`` event a subscription filter delivers for one line."""
        data = {
            "messageType": "DATA_MESSAGE",
            "owner": LOCAL_ACCOUNT_ID,
            "logGroup": self.log_group,
            "logStream": time.strftime("%Y/%m/%d/[$LATEST]") + secrets.token_hex(16),
            "subscriptionFilters": ["GatewayRefusals"],
            "logEvents": [
                {"id": str(secrets.randbits(62)), "timestamp": int(time.time() * 1000), "message": line}
            ],
        }
        packed = gzip.compress(json.dumps(data).encode())
        return {"awslogs": {"data": base64.b64encode(packed).decode("ascii")}}
