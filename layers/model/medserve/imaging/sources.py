"""Where an image of a JSON request comes from: inline base64 or an object already uploaded under
``uploads/imaging/`` of the uploads bucket. Shared by the imaging route and the multi-modal route
and S3 scorer, so an image is accepted (and refused) the same way whichever door it came in by."""

from __future__ import annotations

import base64
import binascii

from medserve.aws.s3 import upload_prefix
from medserve.config import settings
from medserve.errors import InvalidInput, PayloadTooLarge, UpstreamError
from medserve.imaging.pixels import check_size
from medserve.imaging.types import MAX_UPLOAD_BYTES
from medserve.services import get_services

__all__ = ["BASE64_PATTERN", "UPLOAD_PREFIX", "image_from_base64", "image_from_s3"]

UPLOAD_PREFIX = upload_prefix("imaging")

# What image_from_base64 decodes: standard alphabet, padded, optionally after a data: URL prefix.
# Not empty: an empty image is refused (422) whatever its encoding.
BASE64_PATTERN = (
    r"^(data:[^,]{0,94},)?([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{4}|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}==)$"
)


def image_from_base64(text: str) -> bytes:
    """The image bytes of an ``image_base64`` value (a data: URL prefix allowed); 422 when not valid
    base64 or empty."""
    if text.startswith("data:") and "," in text[:100]:
        text = text.split(",", 1)[1]  # data:image/png;base64,....
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise InvalidInput(
            "image_base64 is not valid base64", [{"field": "image_base64", "issue": "not valid base64"}]
        ) from e
    if not data:  # a well-formed request with an empty value: 422, as any invalid field
        raise InvalidInput("image_base64 is empty", [{"field": "image_base64", "issue": "empty"}])
    return data


def image_from_s3(uri: str) -> bytes:
    """The object an ``s3_uri`` names, if it lies under uploads/imaging/ of the uploads bucket."""
    bucket = settings().uploads_bucket
    where = f"s3://{bucket}/{UPLOAD_PREFIX}" if bucket else "the uploads bucket"
    named_bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not (bucket and uri.startswith("s3://") and named_bucket == bucket and key.startswith(UPLOAD_PREFIX)):
        raise InvalidInput(
            f"s3_uri must name an object under {where}",
            [{"field": "s3_uri", "issue": f"outside {where}"}],
        )
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = get_services().s3
    try:
        # One call: the size is in the response's headers before the body is read.
        response = s3.get_object(Bucket=bucket, Key=key)
        try:
            check_size(int(response.get("ContentLength", 0)), MAX_UPLOAD_BYTES)
        except PayloadTooLarge:
            response["Body"].close()
            raise
        return response["Body"].read()
    except ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchKey", "403", "AccessDenied", "NotFound"}:
            # Without ListBucket, S3 answers 403 for a missing key: both mean "nothing to read".
            raise InvalidInput(
                "s3_uri names no object this function can read",
                [{"field": "s3_uri", "issue": "no such object"}],
            ) from e
        raise UpstreamError("the image could not be read from S3") from e
    except BotoCoreError as e:
        raise UpstreamError("the image could not be read from S3") from e
