"""ONNX Runtime sessions, created once per container and cached per (name, version, sha256).

Lambda reports the host's cores through ``os.cpu_count()``, not the vCPUs the function gets, so
thread counts come from the configured memory (1,769 MB buys one vCPU, up to 6 vCPUs).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from medserve.config import settings

if TYPE_CHECKING:  # onnxruntime is imported lazily: it is the largest import of a cold start
    import onnxruntime as ort

_MB_PER_VCPU = 1769
_MAX_LAMBDA_VCPUS = 6


def available_vcpus() -> int:
    """vCPUs this process may use: from Lambda's memory setting, else the CPU affinity mask."""
    memory = settings().memory_mb
    if memory:
        return max(1, min(_MAX_LAMBDA_VCPUS, math.ceil(memory / _MB_PER_VCPU)))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class SessionKey:
    name: str
    version: str
    sha256: str


class SessionCache:
    """Thread-safe cache of inference sessions; one per model artifact for the container's life."""

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._sessions: dict[SessionKey, ort.InferenceSession] = {}
        self._lock = threading.Lock()

    def get(self, key: SessionKey, model_path: Path) -> ort.InferenceSession:
        session = self._sessions.get(key)
        if session is not None:
            return session
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                session = create_session(model_path, self._threads)
                self._sessions[key] = session
            return session

    def __len__(self) -> int:
        return len(self._sessions)


def execution_providers() -> list[str]:
    """CUDA when this onnxruntime build and machine have it (a SageMaker GPU endpoint), else CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def create_session(
    model_path: Path, threads: int | None = None, providers: list[str] | None = None
) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or available_vcpus()
    # One request at a time per Lambda container: parallelism across operators buys nothing.
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings may echo shapes, never data, but are noise
    return ort.InferenceSession(
        str(model_path), sess_options=options, providers=providers or ["CPUExecutionProvider"]
    )
