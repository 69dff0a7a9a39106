"""S3 conventions every writer shares: the encryption arguments the bucket policies demand, the
key layout of uploads and results, and a log-safe handle for caller-chosen keys."""

from __future__ import annotations

import hashlib

from medserve.config import settings

__all__ = [
    "RESULTS_PREFIX",
    "UPLOADS_PREFIX",
    "encryption_args",
    "encryption_headers",
    "object_ref",
    "result_file_key",
    "result_key",
    "upload_key",
    "upload_prefix",
]

UPLOADS_PREFIX = "uploads"
RESULTS_PREFIX = "results"


def encryption_args() -> dict[str, str]:
    """PutObject arguments asking for SSE-KMS with the stack's data key (the bucket policy refuses
    any PutObject that does not ask for exactly that key); empty when no key is configured."""
    key = settings().data_key_arn
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key} if key else {}


def encryption_headers() -> dict[str, str]:
    """The same demand as HTTP headers, for a presigned PUT the caller sends."""
    args = encryption_args()
    if not args:
        return {}
    return {
        "x-amz-server-side-encryption": args["ServerSideEncryption"],
        "x-amz-server-side-encryption-aws-kms-key-id": args["SSEKMSKeyId"],
    }


def upload_prefix(modality: str) -> str:
    """``uploads/<modality>/``: objects put under it are scored by that modality's trigger."""
    return f"{UPLOADS_PREFIX}/{modality}/"


def upload_key(modality: str, job_id: str, filename: str) -> str:
    """The key ``POST /v1/uploads`` hands out: ``uploads/<modality>/<job_id>/<filename>``."""
    return f"{upload_prefix(modality)}{job_id}/{filename}"


def result_key(key: str, modality: str, *, error: bool = False) -> str:
    """``results/<modality>/<path>.json`` (or ``.error.json``) for ``uploads/<modality>/<path>``."""
    return result_file_key(key, modality) + (".error.json" if error else ".json")


def result_file_key(key: str, modality: str) -> str:
    """``results/<modality>/<path>`` for ``uploads/<modality>/<path>``: where a trigger that makes a
    file (a de-identified DICOM) writes it, beside its ``.json`` document."""
    prefix = upload_prefix(modality)
    if not key.startswith(prefix):
        raise ValueError("key is outside the modality's upload prefix")
    return f"{RESULTS_PREFIX}/{modality}/{key[len(prefix) :]}"


def object_ref(key: str) -> str:
    """A log-safe handle for an object key (keys are chosen by callers and may name patients)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]
