"""Exactly-once processing of events AWS may deliver twice (S3 notifications, SNS), with powertools
idempotency on the stack's DynamoDB table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from medserve.observability import logger

F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Idempotent"]


class Idempotent:
    """Wraps a function of one keyword argument so that it runs once per key (a JMESPath into that
    argument). Without a table it runs every time, and says so once in the log."""

    def __init__(
        self,
        function: F,
        *,
        table: str,
        key_jmespath: str,
        argument: str,
        dynamodb_client: Any = None,
        expires_after_seconds: int | None = None,
    ) -> None:
        self.config: Any = None
        self.run: Callable[..., Any] = function
        if not table:
            logger.warning("IDEMPOTENCY_TABLE is not set: duplicate events will be processed again")
            return
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        options: dict[str, Any] = {"event_key_jmespath": key_jmespath, "raise_on_no_idempotency_key": True}
        if expires_after_seconds is not None:
            options["expires_after_seconds"] = expires_after_seconds
        self.config = IdempotencyConfig(**options)
        store = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb_client)
        self.run = idempotent_function(
            data_keyword_argument=argument, persistence_store=store, config=self.config
        )(function)

    def register(self, context: Any) -> None:
        """Tell powertools the invocation's deadline (records in progress expire with it)."""
        if self.config is not None and context is not None:
            self.config.register_lambda_context(context)
