"""An embedded AWS for local runs: moto's server in this process, provisioned from the template.

:class:`EmbeddedAWS` (a context manager) does, on :meth:`~EmbeddedAWS.start`:

1. starts ``moto.server.ThreadedMotoServer`` on ``127.0.0.1`` and a free port, and resets moto's
   (process-global) state so every start begins empty;
2. sets ``AWS_ENDPOINT_URL`` (honoured by every boto3 client created afterwards, handlers
   included), plus fake credentials and a region when none are set, restoring them on stop;
3. creates every ``AWS::S3::Bucket`` (versioning as in the template), ``AWS::DynamoDB::Table`` /
   ``AWS::Serverless::SimpleTable`` (key schema and indexes, on-demand, TTL ignored),
   ``AWS::SQS::Queue`` and ``AWS::SNS::Topic`` under its local name
   (:meth:`Template.physical_name`);
4. emulates each function's ``Type: S3`` event: the bucket gets a notification configuration
   (same events, prefix/suffix filter; ``Id`` = ``<LogicalId>-<n>``) to one internal SQS queue,
   and a daemon thread long-polls that queue and invokes the function whose configuration id the
   record carries, with the S3 event as moto built it (keys URL-encoded, like AWS). As Lambda runs
   asynchronous invokes concurrently, up to as many notifications are delivered at once as the
   invoker runs a function at once (``PooledInvoker.size`` workers; 1 for the in-process
   ``Invoker``), and no more are received than can start: a received message never waits out
   its visibility timeout behind others (it would be delivered twice). moto leaves
   out fields S3 sends: ``object.versionId`` (in versioned buckets) and ``object.sequencer`` are
   put in when moto builds the event, from the object version the PUT created (so two quick
   writes to one key are two events with two versions, as in S3); ``userIdentity``,
   ``requestParameters``, ``responseElements`` and ``bucket.ownerIdentity`` are added when the
   message is handled. moto's ``s3:TestEvent`` is skipped;
   a failing invoke is handled as Lambda handles a failed asynchronous invoke: retried
   ``EventInvokeConfig.MaximumRetryAttempts`` times (default 2; a second apart here, not
   minutes), then the invocation record (Lambda's on-failure shape: request payload, error,
   ``condition: RetriesExhausted``) goes to the function's ``OnFailure`` SQS destination in
   moto AND to a file under ``.medserve/dead-letters/<LogicalId>/`` beside the template, which
   ``medserve dead-letters`` lists. A failure is never only a traceback;
5. publishes every model directory under ``models/`` beside the template (the S3 registry's
   models, e.g. the text encoder) to the functions' ``MODELS_BUCKET`` under their
   ``MEDSERVE_MODEL_ALIAS``, so models that do not fit the layer are served offline too.

Nothing here logs object keys or bodies: keys may carry identifiers of patients.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from devtools.local.invoke import Invoker
from devtools.local.template import (
    LOCAL_ACCOUNT_ID,
    S3Trigger,
    Template,
    TemplateError,
    local_name,
    local_region,
)

__all__ = ["EmbeddedAWS", "S3Route"]

NOTIFICATION_QUEUE = local_name("Internal") + "-s3-notifications"
DEAD_LETTERS_DIR = Path(".medserve") / "dead-letters"  # beside template.yaml: medserve dead-letters
DEFAULT_RETRY_ATTEMPTS = 2  # Lambda's default for asynchronous invokes
RETRY_DELAY_SECONDS = 1.0  # Lambda waits about a minute, then two; locally a second, then two
MODELS_DIR = "models"  # beside template.yaml: registry models seeded into the embedded models bucket
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
_ATTRIBUTE_TYPES = {"String": "S", "Number": "N", "Binary": "B"}  # SimpleTable PrimaryKey.Type


@dataclass(frozen=True)
class S3Route:
    """Where records of one bucket notification configuration go."""

    function_id: str
    bucket_name: str
    trigger: S3Trigger


class EmbeddedAWS:
    """moto on ``127.0.0.1``, provisioned from ``template``; S3 triggers delivered via ``invoker``.

    ``invoker`` defaults to a new :class:`Invoker` for the template; pass the one the HTTP server
    uses so both share warm handlers. ``port=0`` picks a free port.
    """

    def __init__(
        self,
        template: Template,
        invoker: Invoker | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_seconds: int = 1,
        seed_objects: list[tuple[str, str, bytes]] | None = None,
        retry_delay: float = RETRY_DELAY_SECONDS,
        dead_letter_dir: Path | None = None,
    ) -> None:
        self.template = template
        # (bucket, key, body) put before the S3 notifications exist: `medserve invoke` seeds the
        # objects a sample S3 event names, without a second, notified invoke.
        self.seed_objects = list(seed_objects or [])
        self.retry_delay = retry_delay
        self.dead_letters: list[Path] = []  # records written by this run
        self.dead_letter_dir = dead_letter_dir or template.base_dir / DEAD_LETTERS_DIR
        self.invoker = invoker or Invoker(template)
        self.host = host
        self.port = port
        self.poll_seconds = poll_seconds  # long-poll wait; bounds how long stop() takes
        self.buckets: dict[str, str] = {}  # logical id → local name
        self.tables: dict[str, str] = {}
        self.queues: dict[str, str] = {}
        self.topics: dict[str, str] = {}
        self.s3_routes: dict[str, S3Route] = {}  # notification configuration id → route
        self.seeded_models: list[str] = []  # models/<name>/ directories published to the registry
        self._server: ThreadedMotoServer | None = None
        self._saved_env: dict[str, str | None] = {}
        self._stopping = threading.Event()
        self._poller: threading.Thread | None = None
        self._queue_url: str | None = None

    # ----------------------------------------------------------------------------- lifecycle

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint of every AWS service while running."""
        if self._server is None:
            raise RuntimeError("EmbeddedAWS is not started")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def start(self) -> EmbeddedAWS:
        """Start moto, point boto3 at it, create the template's resources and S3 triggers."""
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log names S3 keys
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        try:
            self._reset_moto()
            self._set_environment()
            self._create_resources()
            self._seed_objects()
            _events_carry_the_put_version()
            self._configure_s3_notifications()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the notification thread and the moto server; restore the environment. Idempotent."""
        self._stopping.set()
        if self._poller is not None:
            self._poller.join(timeout=self.poll_seconds + 10)
            self._poller = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}

    def __enter__(self) -> EmbeddedAWS:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on the embedded endpoint (fake credentials)."""
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=local_region(),
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def _reset_moto(self) -> None:
        # moto's backends are module globals: without a reset, a second start in the same process
        # (tests) would find the previous run's buckets and fail to create them.
        url = f"{self.endpoint_url}/moto-api/reset"  # http://127.0.0.1:<port>: our own server
        request = urllib.request.Request(url, method="POST", data=b"")  # noqa: S310
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    def _set_environment(self) -> None:
        values = {"AWS_ENDPOINT_URL": self.endpoint_url}
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            # Environment credentials win over AWS_PROFILE (which might need an SSO login).
            values.update(FAKE_CREDENTIALS)
        if not (os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")):
            values["AWS_DEFAULT_REGION"] = "us-east-1"
        self._saved_env = {k: os.environ.get(k) for k in [*values, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"]}
        os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)
        if "AWS_SECRET_ACCESS_KEY" in values:
            self._saved_env["AWS_SESSION_TOKEN"] = os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(values)

    # ----------------------------------------------------------------------------- resources

    def _create_resources(self) -> None:
        self._create_buckets()
        self._create_tables()
        self._create_queues()
        self._create_topics()
        self._seed_models()

    def _seed_models(self) -> None:
        """Publish the repository's registry models (``models/<name>/``, e.g. the text encoder, too
        large for the layer) to the models bucket the functions read (``MODELS_BUCKET``), under the
        alias they serve, as ``medserve models publish`` would: the local stack works offline."""
        directory = self.template.base_dir / MODELS_DIR
        if not directory.is_dir():
            return
        from medserve.serving.registry import S3ModelStore

        targets: dict[str, str] = {}  # models bucket -> alias
        for spec in self.invoker.specs.values():
            bucket = spec.environment.get("MODELS_BUCKET", "")
            if bucket in self.buckets.values():
                targets[bucket] = spec.environment.get("MEDSERVE_MODEL_ALIAS") or "production"
        s3 = self.client("s3")
        self.seeded_models = []
        for bucket, alias in sorted(targets.items()):
            store = S3ModelStore(bucket, s3)
            for card in sorted(directory.glob("*/card.json")):
                store.publish(card.parent, alias)
                self.seeded_models.append(card.parent.name)

    def _seed_objects(self) -> None:
        s3 = self.client("s3")
        for bucket, key, body in self.seed_objects:
            s3.put_object(Bucket=bucket, Key=key, Body=body)

    def _create_buckets(self) -> None:
        s3 = self.client("s3")
        region = local_region()
        for lid, props in self.template.resources_of_type("AWS::S3::Bucket").items():
            name = self.template.physical_name(lid)
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            s3.create_bucket(**kwargs)
            versioning = self.template.resolve(props.get("VersioningConfiguration")) or {}
            if versioning.get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            self.buckets[lid] = name

    def _create_tables(self) -> None:
        dynamodb = self.client("dynamodb")
        types = ("AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable")
        for lid, raw in self.template.resources_of_type(*types).items():
            props = self.template.resolve(raw) or {}
            name = self.template.physical_name(lid)
            if self.template.resource_type(lid) == "AWS::Serverless::SimpleTable":
                key = props.get("PrimaryKey") or {"Name": "id", "Type": "String"}
                props = {
                    "KeySchema": [{"AttributeName": key["Name"], "KeyType": "HASH"}],
                    "AttributeDefinitions": [
                        {"AttributeName": key["Name"], "AttributeType": _ATTRIBUTE_TYPES[key["Type"]]}
                    ],
                }
            kwargs: dict[str, Any] = {
                "TableName": name,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": "PAY_PER_REQUEST",
            }
            for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if props.get(index_kind):
                    kwargs[index_kind] = [
                        {k: index[k] for k in ("IndexName", "KeySchema", "Projection") if k in index}
                        for index in props[index_kind]
                    ]
            dynamodb.create_table(**kwargs)
            self.tables[lid] = name

    def _create_queues(self) -> None:
        sqs = self.client("sqs")
        for lid, raw in self.template.resources_of_type("AWS::SQS::Queue").items():
            props = self.template.resolve(raw) or {}
            name = self.template.physical_name(lid)
            attributes = {
                k: _attribute_string(props[k])
                for k in ("FifoQueue", "ContentBasedDeduplication", "VisibilityTimeout", "DelaySeconds")
                if k in props
            }
            sqs.create_queue(QueueName=name, Attributes=attributes)
            self.queues[lid] = name

    def _create_topics(self) -> None:
        sns = self.client("sns")
        for lid, raw in self.template.resources_of_type("AWS::SNS::Topic").items():
            props = self.template.resolve(raw) or {}
            name = self.template.physical_name(lid)
            attributes = {k: _attribute_string(props[k]) for k in ("FifoTopic",) if k in props}
            sns.create_topic(Name=name, Attributes=attributes)
            self.topics[lid] = name

    # ---------------------------------------------------------------------- S3 notifications

    def _configure_s3_notifications(self) -> None:
        per_bucket: dict[str, list[dict[str, Any]]] = {}
        for function_id, spec in self.invoker.specs.items():
            for n, trigger in enumerate(spec.s3_triggers):
                if trigger.bucket_logical_id not in self.buckets:
                    raise TemplateError(f"{function_id}: S3 event on a bucket that is not created locally")
                config_id = f"{function_id}-{n}"
                bucket = self.buckets[trigger.bucket_logical_id]
                self.s3_routes[config_id] = S3Route(function_id, bucket, trigger)
                per_bucket.setdefault(bucket, []).append(_queue_configuration(config_id, trigger))
        if not per_bucket:
            return
        sqs = self.client("sqs")
        self._queue_url = sqs.create_queue(QueueName=NOTIFICATION_QUEUE)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self._queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        s3 = self.client("s3")
        for bucket, configurations in per_bucket.items():
            for configuration in configurations:
                configuration["QueueArn"] = queue_arn
            s3.put_bucket_notification_configuration(
                Bucket=bucket, NotificationConfiguration={"QueueConfigurations": configurations}
            )
        self._stopping.clear()
        self._poller = threading.Thread(target=self._poll, name="medserve-s3-notifications", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        """Long-poll the notification queue until stop(); deliver each message (up to
        ``concurrency`` at once, in a thread pool), then delete it."""
        sqs = self.client("sqs")
        concurrency = max(1, min(10, int(getattr(self.invoker, "size", 1) or 1)))
        slots = threading.Semaphore(concurrency)

        def handle(message: dict[str, Any]) -> None:
            try:
                self._deliver(json.loads(message["Body"]))
            except Exception as e:  # a bad message must not stop the deliveries
                _log(f"S3 notifications: undeliverable message ({type(e).__name__})")
            finally:
                with contextlib.suppress(Exception):
                    sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=message["ReceiptHandle"])
                slots.release()

        with ThreadPoolExecutor(concurrency, thread_name_prefix="medserve-s3-delivery") as pool:
            while not self._stopping.is_set():
                if not slots.acquire(timeout=self.poll_seconds):
                    continue  # every slot busy: receive nothing that could not start now
                free = 1
                while free < concurrency and slots.acquire(blocking=False):
                    free += 1
                try:
                    response = sqs.receive_message(
                        QueueUrl=self._queue_url, MaxNumberOfMessages=free, WaitTimeSeconds=self.poll_seconds
                    )
                except Exception as e:
                    for _ in range(free):
                        slots.release()
                    if self._stopping.is_set():
                        break  # the server went away under us: we are shutting down
                    _log(f"S3 notifications: receive failed ({type(e).__name__}); retrying")
                    self._stopping.wait(1)
                    continue
                messages = response.get("Messages", [])
                for _ in range(free - len(messages)):
                    slots.release()
                for message in messages:
                    pool.submit(handle, message)

    def _deliver(self, body: dict[str, Any]) -> None:
        """Invoke the functions the records of one S3 notification are for."""
        if body.get("Event") == "s3:TestEvent":
            return  # S3 sends it when the configuration is saved; Lambda never sees it
        per_function: dict[str, list[dict[str, Any]]] = {}
        for record in body.get("Records", []):
            route = self.s3_routes.get(record.get("s3", {}).get("configurationId", ""))
            if route is None:
                continue
            per_function.setdefault(route.function_id, []).append(_enrich(record))
        for function_id, records in per_function.items():
            self._invoke(function_id, {"Records": records})

    def _invoke(self, function_id: str, event: dict[str, Any]) -> None:
        """An asynchronous invoke, as Lambda runs it: retried, then dead-lettered."""
        request_id = str(uuid.uuid4())
        attempts = 1 + self._retry_attempts(function_id)
        for attempt in range(1, attempts + 1):
            started = time.monotonic()
            try:
                self.invoker.invoke(function_id, event, request_id=request_id)
            except Exception as e:
                # What CloudWatch would show for a failed asynchronous invoke; no key, no body.
                _log(
                    f"S3 trigger: {function_id} failed, attempt {attempt}/{attempts} (request {request_id}):"
                )
                trace = getattr(e, "trace", None) or traceback.format_exc()  # a worker's, or ours
                print(trace, file=sys.stderr, flush=True)
                if attempt == attempts:
                    self._dead_letter(function_id, event, request_id, attempts, e)
                elif not self._stopping.wait(self.retry_delay * attempt):
                    continue
                else:
                    return
            else:
                _log(f"S3 trigger: {function_id} {len(event['Records'])} record(s) {_ms(started)} ms")
                return

    def _event_invoke_config(self, function_id: str) -> dict[str, Any]:
        props = self.template.properties(function_id)
        return self.template.resolve(props.get("EventInvokeConfig")) or {}

    def _retry_attempts(self, function_id: str) -> int:
        value = self._event_invoke_config(function_id).get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)
        return max(0, int(value))

    def _dead_letter(
        self, function_id: str, event: dict[str, Any], request_id: str, attempts: int, error: Exception
    ) -> None:
        """Lambda's on-failure invocation record: to the function's OnFailure SQS destination (as
        in AWS), and to a file ``medserve dead-letters`` lists (locally visible without AWS tools)."""
        spec = self.invoker.spec(function_id)
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {
                "requestId": request_id,
                "functionArn": f"arn:aws:lambda:{local_region()}:{LOCAL_ACCOUNT_ID}:function:"
                f"{spec.logical_id}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": {
                "errorType": getattr(error, "error_type", type(error).__name__),
                "errorMessage": "the function raised; its traceback is in the function's log",
            },
        }
        directory = self.dead_letter_dir / function_id
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{request_id}.json"
        path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        self.dead_letters.append(path)
        destination = (self._event_invoke_config(function_id).get("DestinationConfig") or {}).get(
            "OnFailure"
        ) or {}
        queue = str(destination.get("Destination") or "").rsplit(":", 1)[-1]
        if destination.get("Type") == "SQS" and queue in self.queues.values():
            with contextlib.suppress(Exception):  # the file is the record that must exist
                sqs = self.client("sqs")
                sqs.send_message(
                    QueueUrl=sqs.get_queue_url(QueueName=queue)["QueueUrl"], MessageBody=json.dumps(record)
                )
        _log(f"S3 trigger: {function_id} dead-lettered after {attempts} attempts: {path}")


def _queue_configuration(config_id: str, trigger: S3Trigger) -> dict[str, Any]:
    filters = (("prefix", trigger.prefix), ("suffix", trigger.suffix))
    rules = [{"Name": name, "Value": value} for name, value in filters if value]
    configuration: dict[str, Any] = {"Id": config_id, "Events": list(trigger.events)}
    if rules:
        configuration["Filter"] = {"Key": {"FilterRules": rules}}
    return configuration


def _events_carry_the_put_version() -> None:
    """Make moto's S3 event builder write ``versionId`` (versioned buckets) and ``sequencer`` of
    the object version the PUT created, as S3 does. moto's server runs in this process; the
    builder is patched once (it is looked up by name when a notification is sent)."""
    from moto.s3 import notifications

    if getattr(notifications._get_s3_event, "medserve_versions", False):
        return
    original = notifications._get_s3_event

    def build(event_name: str, bucket: Any, key: Any, notification_id: str) -> dict[str, Any]:
        event = original(event_name, bucket, key, notification_id)
        obj = event["Records"][0]["s3"]["object"]
        version = getattr(key, "version_id", None)
        if version and version != "null" and getattr(bucket, "is_versioned", False):
            obj["versionId"] = version
        obj.setdefault("sequencer", f"{time.time_ns():X}")  # increases per object, like S3's
        return event

    build.medserve_versions = True  # type: ignore[attr-defined]
    notifications._get_s3_event = build


def _enrich(record: dict[str, Any]) -> dict[str, Any]:
    """Add the fields S3 puts in a record and moto omits (existing values are kept)."""
    record.setdefault("userIdentity", {"principalId": "AWS:LOCAL"})
    record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
    record.setdefault(
        "responseElements",
        {"x-amz-request-id": uuid.uuid4().hex[:16].upper(), "x-amz-id-2": uuid.uuid4().hex},
    )
    detail = record.setdefault("s3", {})
    detail.setdefault("bucket", {}).setdefault("ownerIdentity", {"principalId": "LOCAL"})
    detail.setdefault("object", {}).setdefault("sequencer", f"{time.time_ns():X}")
    return record


def _attribute_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f}"


def _log(message: str) -> None:
    print(f"medserve: {message}", file=sys.stderr, flush=True)
