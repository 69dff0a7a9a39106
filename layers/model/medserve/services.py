"""Container-scope dependencies: built once per Lambda container, replaceable in tests.

Handlers and routes call ``get_services()``; tests call ``set_services(...)`` with moto-backed
clients (or ``reset_services()`` to rebuild from the environment).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from medserve.config import reset_settings, settings
from medserve.serving.offload import OffloadConfig, SageMakerRuntime
from medserve.serving.registry import Registry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from medserve.monitoring.capture import CaptureWriter
    from medserve.security.audit import AuditLog
    from medserve.triggers.jobs import JobStore


@dataclass
class Services:
    registry: Registry
    s3_client: Any = None  # S3Client, created on first use
    idempotency_table: str = field(default_factory=lambda: settings().idempotency_table)
    dynamodb_client: Any = None
    offload: OffloadConfig = field(default_factory=OffloadConfig.from_settings)
    sagemaker: SageMakerRuntime = field(default_factory=SageMakerRuntime)  # client built on first use
    jobs_table: str = field(default_factory=lambda: settings().jobs_table)
    _jobs: Any = field(default=None, init=False, repr=False)  # JobStore, built on first use
    audit_bucket: str = field(default_factory=lambda: settings().audit_bucket)
    _audit: Any = field(default=None, init=False, repr=False)  # AuditLog, built on first use
    monitoring_bucket: str = field(default_factory=lambda: settings().monitoring_bucket)

    @property
    def jobs(self) -> JobStore | None:
        """The asynchronous jobs table (None when the function has none: ``JOBS_TABLE`` unset)."""
        if self._jobs is None and self.jobs_table:
            from medserve.triggers.jobs import JobStore

            self._jobs = JobStore(self.jobs_table, self.dynamodb_client)
        return self._jobs

    @property
    def audit(self) -> AuditLog | None:
        """The audit trail (None when the function has no ``AUDIT_BUCKET``: auditing off)."""
        if self._audit is None and self.audit_bucket:
            from medserve.security.audit import AuditLog

            self._audit = AuditLog(self.audit_bucket, lambda: self.s3)
        return self._audit

    def capture(self) -> CaptureWriter | None:
        """A fresh writer for one invocation's monitoring records (None: no ``MONITORING_BUCKET``,
        capture off)."""
        if not self.monitoring_bucket:
            return None
        from medserve.monitoring.capture import CaptureWriter

        return CaptureWriter(self.monitoring_bucket, lambda: self.s3)

    @property
    def s3(self) -> S3Client:
        if self.s3_client is None:
            import boto3

            self.s3_client = boto3.client("s3")
        return self.s3_client


_services: Services | None = None
_lock = threading.Lock()


def get_services() -> Services:
    global _services
    if _services is None:
        with _lock:
            if _services is None:
                # One S3 client for the registry, the audit trail and capture (built on first use).
                services = Services(registry=Registry.from_settings(s3_factory=lambda: services.s3))
                _services = services
    return _services


def set_services(services: Services | None) -> None:
    global _services
    _services = services


def reset_services() -> None:
    """Forget the services and the settings: both are rebuilt from the environment on next use."""
    reset_settings()
    set_services(None)
