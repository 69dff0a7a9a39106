"""Lambda SnapStart for Python: what runs before the snapshot and after each restore.

With SnapStart (template parameter ``ColdStartMode=snapstart``), Lambda runs the init phase once
when a version is published, snapshots the memory and disk of the environment, and starts new
environments by restoring that snapshot instead of importing again. ``register_hooks()`` (called
by the model functions' handler modules) registers, through the runtime's ``snapshot_restore_py``
(absent elsewhere: then it does nothing):

- before the snapshot: what the first request would otherwise pay - the X-Ray SDK where tracing
  is on, boto3/botocore imported and the S3 and DynamoDB service models loaded into the default
  session (through throwaway clients with placeholder credentials: a real client would hold the
  init phase's credentials and connections), and an ONNX Runtime session for every bundled
  model (the registry's session cache, under the key ``Registry.load`` uses). No S3 call: the
  snapshot must not depend on the models bucket, and the alias is still resolved per request;
- after each restore: the random generators re-seeded (every environment restored from one
  snapshot would otherwise share their state: ``random`` and numpy's global generator; uuid4 and
  ``secrets`` read the OS and need nothing).

What SnapStart forbids or changes (see docs/performance.md): ephemeral storage over 512 MB, EFS,
provisioned concurrency on the same version, and anything unique made at init (ids, seeds,
connections, temporary credentials) being reused by every restored environment.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["after_restore", "before_snapshot", "register_hooks"]

_registered = False


def register_hooks() -> bool:
    """Register the hooks once; False where the runtime has no SnapStart support (tests, local)."""
    global _registered
    if _registered:
        return True
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    _registered = True
    return True


def before_snapshot() -> int:
    """Warm what the snapshot keeps; the number of bundled model sessions created."""
    import boto3  # (~100-300 ms of module import, kept in the snapshot)

    from medserve.observability import tracer

    _warm_service_models(boto3)
    from medserve.services import get_services
    from medserve.serving.runtime import SessionKey

    tracer.prepare()
    registry = get_services().registry
    warmed = 0
    for name in registry.bundled.names():
        found = registry.bundled.get(name)
        if found is None:
            continue
        card, artifact = found
        registry.sessions.get(SessionKey(card.name, card.version, card.artifact.sha256), artifact)
        warmed += 1
    return warmed


def _warm_service_models(boto3: Any) -> None:
    """Load the S3 and DynamoDB service models into the default session's loader, where every
    later ``boto3.client`` finds them (building a client is ~60-80 ms of JSON loading, ~20 ms once
    loaded). The throwaway clients get placeholder credentials: no credential of the init phase
    is read or kept, and they never make a call."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    session = boto3.DEFAULT_SESSION
    for service in ("s3", "dynamodb"):
        session.client(
            service,
            region_name=session.region_name or "us-east-1",
            aws_access_key_id="snapshot-placeholder",
            aws_secret_access_key="snapshot-placeholder",  # noqa: S106 (not a secret: never sent)
        )


def after_restore() -> None:
    """Every restored environment draws its own random numbers."""
    import numpy as np

    random.seed()
    np.random.seed()
