"""The one place medserve reads its environment: :class:`Settings`, read once per container.

Lambda fixes a function's environment for the container's life, so reading it once is exact there.
Tests that change the environment call :func:`reset_settings` (``services.reset_services`` does).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_MODEL_CACHE = Path("/tmp/medserve-models")  # noqa: S108 - Lambda's only writable path
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """What the template's ``Environment`` (or a test) configures; empty means "not configured"."""

    uploads_bucket: str = ""  # UPLOADS_BUCKET: inputs and results of the S3 triggers
    data_key_arn: str = ""  # DATA_KEY_ARN: every object we write is SSE-KMS under this key
    models_bucket: str = ""  # MODELS_BUCKET: the S3 model registry
    model_alias: str = "production"  # MEDSERVE_MODEL_ALIAS: the alias served from the registry
    model_cache: Path = DEFAULT_MODEL_CACHE  # MEDSERVE_MODEL_CACHE
    idempotency_table: str = ""  # IDEMPOTENCY_TABLE
    jobs_table: str = ""  # JOBS_TABLE
    audit_bucket: str = ""  # AUDIT_BUCKET
    monitoring_bucket: str = ""  # MONITORING_BUCKET: capture, ground truth and drift reports
    # MEDSERVE_CAPTURE_SAMPLING: share of requests captured (0..1); None: each card's own setting
    capture_sampling: float | None = None
    monitor_window_hours: float = 24.0  # MONITOR_WINDOW_HOURS: how far back the drift job reads
    realtime_endpoint: str = ""  # MEDSERVE_REALTIME_ENDPOINT
    async_endpoint: str = ""  # MEDSERVE_ASYNC_ENDPOINT
    require_auth: bool = True  # MEDSERVE_REQUIRE_AUTH: secure by default
    function_name: str | None = None  # AWS_LAMBDA_FUNCTION_NAME (None outside Lambda)
    memory_mb: int | None = None  # AWS_LAMBDA_FUNCTION_MEMORY_SIZE
    default_models: Mapping[str, str] = field(default_factory=dict)  # MEDSERVE_DEFAULT_<MODALITY>_MODEL

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        memory = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        defaults = {
            key[len("MEDSERVE_DEFAULT_") : -len("_MODEL")].lower(): value
            for key, value in env.items()
            if key.startswith("MEDSERVE_DEFAULT_") and key.endswith("_MODEL") and value
        }
        return cls(
            uploads_bucket=env.get("UPLOADS_BUCKET", ""),
            data_key_arn=env.get("DATA_KEY_ARN", ""),
            models_bucket=env.get("MODELS_BUCKET", ""),
            model_alias=env.get("MEDSERVE_MODEL_ALIAS", "production"),
            model_cache=Path(env.get("MEDSERVE_MODEL_CACHE") or DEFAULT_MODEL_CACHE),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            jobs_table=env.get("JOBS_TABLE", ""),
            audit_bucket=env.get("AUDIT_BUCKET", ""),
            monitoring_bucket=env.get("MONITORING_BUCKET", ""),
            capture_sampling=_fraction(env.get("MEDSERVE_CAPTURE_SAMPLING", "")),
            monitor_window_hours=_positive(env.get("MONITOR_WINDOW_HOURS", ""), 24.0),
            realtime_endpoint=env.get("MEDSERVE_REALTIME_ENDPOINT", ""),
            async_endpoint=env.get("MEDSERVE_ASYNC_ENDPOINT", ""),
            require_auth=env.get("MEDSERVE_REQUIRE_AUTH", "true").strip().lower() not in _FALSE,
            function_name=env.get("AWS_LAMBDA_FUNCTION_NAME") or None,
            memory_mb=int(memory) if memory.isdigit() else None,
            default_models=defaults,
        )


def _fraction(text: str) -> float | None:
    """A share in [0, 1]; None when unset or unreadable (a bad value must not stop the function)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return min(1.0, max(0.0, value)) if value == value else None  # NaN is unreadable too


def _positive(text: str, default: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return default
    return value if value > 0 and value != float("inf") else default


_settings: Settings | None = None
_lock = threading.Lock()


def settings() -> Settings:
    """The container's settings, read from the environment on first use."""
    global _settings
    if _settings is None:
        with _lock:
            if _settings is None:
                _settings = Settings.from_env()
    return _settings


def reset_settings() -> None:
    """Read the environment again on next use (tests that change it)."""
    global _settings
    _settings = None
