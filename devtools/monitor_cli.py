"""``medserve monitor run``: the drift job once, as the schedule runs it (MonitorFunction of the
template, its environment), against the embedded AWS of a running ``medserve serve`` (its
``--endpoint-url``, printed in the banner) or, with ``--aws``, the account the environment names.
Prints where each report was written and its verdict; exit 0 also when violations were found."""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid

FUNCTION = "MonitorFunction"


def _fail(message: str) -> int:
    """A misuse the user can fix: one line on stderr, exit 2 (as devtools.cli answers them)."""
    print(f"medserve monitor run: {message}", file=sys.stderr)
    return 2


def main_monitor(args: argparse.Namespace) -> int:
    from devtools.local.embedded import FAKE_CREDENTIALS
    from devtools.local.invoke import Invoker
    from devtools.local.template import Template, TemplateError

    try:
        invoker = Invoker(Template.load(args.template))
        invoker.spec(FUNCTION)
    except (TemplateError, OSError) as e:
        return _fail(str(e))
    overrides: dict[str, str] = {}
    endpoint = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    if not args.aws:
        if not endpoint:
            return _fail(
                "no embedded AWS to read: start `medserve serve` and pass the --endpoint-url its banner "
                "prints (or set AWS_ENDPOINT_URL), or use --aws --bucket <MonitoringBucketName>"
            )
        overrides["AWS_ENDPOINT_URL"] = endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            overrides.update(FAKE_CREDENTIALS)
    if args.bucket:
        overrides["MONITORING_BUCKET"] = args.bucket
    if args.window_hours:
        overrides["MONITOR_WINDOW_HOURS"] = str(args.window_hours)
    event = {"source": "medserve.monitor", "detail-type": "medserve monitor run", "detail": {}}
    if args.model:
        event["model"] = args.model
    from medserve.errors import MedserveError

    try:
        result = invoker.invoke(FUNCTION, event, overrides, request_id=str(uuid.uuid4()))
    except MedserveError as e:
        return _fail(e.message)
    reports = result.get("reports", [])
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    if not reports:
        print("no captured requests" + (f" of model {args.model}" if args.model else "") + " in the window")
        return 0
    for report in reports:
        violations = f", {len(report['violations'])} violation(s)" if report["violations"] else ""
        head = f"{report['model']} {report['version']}: {report['verdict']}"
        print(f"{head} ({report['items']} items{violations})")
        for violation in report["violations"]:
            print(f"  {violation}")
        print(f"  report: {report['location']}report.md")
    return 0
