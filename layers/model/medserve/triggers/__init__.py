"""Event-driven entry points below the handlers: the S3 upload processor (``s3``), the jobs table
behind ``GET /v1/jobs/{id}`` (``jobs``) and SageMaker asynchronous jobs (``async_jobs``)."""
