"""``medserve dead-letters``: the S3-triggered invokes of the local stack that failed for good.

The embedded AWS (:mod:`devtools.local.embedded`) retries a failed asynchronous invoke as Lambda
does, then writes Lambda's on-failure invocation record to the function's ``OnFailure`` queue and
to ``.medserve/dead-letters/<LogicalId>/<time>-<request id>.json`` beside the template. This lists
those files: time, function, request id, error type and, per S3 record, the bucket and a short
hash of the key (keys may name patients; ``--show <request id>`` prints the whole record).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from medserve.aws.s3 import object_ref

from devtools.local.embedded import DEAD_LETTERS_DIR

__all__ = ["dead_letters", "main_dead_letters"]


def dead_letters(base_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """Every record under ``base_dir``'s dead-letter directory, oldest first."""
    root = base_dir / DEAD_LETTERS_DIR
    found = []
    for path in sorted(root.glob("*/*.json"), key=lambda p: p.name):
        try:
            found.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError):
            continue
    return found


def summary(path: Path, record: dict[str, Any]) -> str:
    context = record.get("requestContext") or {}
    objects = []
    for r in (record.get("requestPayload") or {}).get("Records") or []:
        detail = r.get("s3") or {}
        bucket = (detail.get("bucket") or {}).get("name", "?")
        objects.append(f"{bucket}/#{object_ref(str((detail.get('object') or {}).get('key', '')))}")
    return (
        f"{record.get('timestamp', '?')}  {path.parent.name}  {context.get('requestId', '?')}  "
        f"{(record.get('responsePayload') or {}).get('errorType', '?')} after "
        f"{context.get('approximateInvokeCount', '?')} attempts  {' '.join(objects) or '-'}"
    )


def main_dead_letters(args: argparse.Namespace) -> int:
    base_dir = Path(args.template).resolve().parent
    records = dead_letters(base_dir)
    if args.show:
        for _, record in records:
            if (record.get("requestContext") or {}).get("requestId") == args.show:
                print(json.dumps(record, indent=1))
                return 0
        print(f"medserve dead-letters: no record of request {args.show}")
        return 1
    if not records:
        print(f"no dead letters under {base_dir / DEAD_LETTERS_DIR}")
        return 0
    for path, record in records:
        print(summary(path, record))
    return 0
