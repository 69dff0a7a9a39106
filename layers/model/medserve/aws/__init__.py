"""AWS plumbing shared by every writer and trigger: S3 encryption arguments, the one translation of
botocore failures into :class:`medserve.errors.UpstreamError`, upload/result key formats (``s3``)
and the DynamoDB idempotency wiring (``idempotency``)."""
