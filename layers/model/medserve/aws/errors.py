"""The one translation of botocore failures into medserve's error model.

A foreign exception's text can carry bucket keys chosen by callers (and so identifiers): the
message we raise is ours, and the botocore error stays only as ``__cause__`` for the stack trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from medserve.errors import UpstreamError

__all__ = ["aws_errors", "boto_errors"]


def boto_errors() -> tuple[type[Exception], ...]:
    """The botocore exception classes (imported on first use: botocore is a slow import)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


@contextmanager
def aws_errors(message: str, error: type[UpstreamError] = UpstreamError) -> Iterator[None]:
    """``with aws_errors("the result could not be written"): s3.put_object(...)`` raises
    ``error(message)`` from any botocore failure inside the block."""
    try:
        yield
    except boto_errors() as e:
        raise error(message) from e
