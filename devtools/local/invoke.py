"""``sam local invoke`` without Docker: run a template's handler in this Python process.

Contract of :meth:`Invoker.invoke` (and of :func:`invoke_function`, its one-call form):

* the function's environment is the one Lambda would give it: the runtime's variables
  (``AWS_LAMBDA_FUNCTION_NAME`` = logical id as ``sam local`` does, ``..._MEMORY_SIZE``,
  ``..._VERSION=$LATEST``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, log group/stream, ``_HANDLER``,
  ``LAMBDA_TASK_ROOT``, ``AWS_SAM_LOCAL=true``), then the template's ``Environment`` (Globals
  merged, resolved by :mod:`devtools.local.template`), then the overrides. It is set in
  ``os.environ`` only while the handler (or its module's import) runs and restored afterwards;
* ``CodeUri`` and each layer's ``ContentUri`` are put in front of ``sys.path``; a layer's
  ``<ContentUri>/python`` (where ``sam build`` puts packages) is *appended*, so the local
  virtualenv's builds of numpy/onnxruntime win over wheels built for the Lambda's Python;
* the handler module is imported once per function under the unique name
  ``medserve_fn_<LogicalId>`` (every handler is an ``app.py``) and cached: later invokes are warm.
  A failed import is not cached, as Lambda retries the init phase on the next invoke;
* the handler runs with the working directory set to ``CodeUri`` (Lambda's ``/var/task``), its
  stdout sent to stderr (Lambda's stdout is a log stream; Powertools' Logger and Metrics print
  to stdout), a real-shaped :class:`LambdaContext`, and a JSON copy of the event;
* its return value goes through JSON like Lambda's response (:class:`MarshalError` if it cannot);
  what it raises propagates unchanged.

Invocations are serialised by one process-wide lock, because ``os.environ``, ``sys.stdout`` and the
working directory are process-wide (and a Lambda execution environment handles one event at a
time anyway). So a handler must not wait on another local invocation, e.g. call the local API.
``Timeout`` is not enforced (a thread cannot be stopped); overruns are reported on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from devtools.local.template import LOCAL_ACCOUNT_ID, FunctionSpec, Template, TemplateError, local_region

__all__ = [
    "CognitoIdentity",
    "Invoker",
    "LambdaContext",
    "MarshalError",
    "invoke_function",
    "main_invoke",
    "overrides_for",
    "read_env_vars",
]

Handler = Callable[[Any, Any], Any]
EnvVarsFile = Mapping[str, Mapping[str, Any]]  # sam's --env-vars: {"Fn": {...}, "Parameters": {...}}


_PROCESS_LOCK = threading.RLock()  # guards os.environ, sys.stdout and the cwd during an invoke


class MarshalError(TypeError):
    """The handler returned something JSON cannot carry (Lambda's ``Runtime.MarshalError``)."""


@dataclass
class CognitoIdentity:
    """``context.identity``: always present, empty unless invoked through the mobile SDK."""

    cognito_identity_id: str | None = None
    cognito_identity_pool_id: str | None = None


@dataclass
class LambdaContext:
    """The context object of the Python runtime (awslambdaric), field for field.

    ``memory_limit_in_mb`` is a string, as in Lambda (the runtime copies it from the environment).
    """

    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline_ms: int  # epoch milliseconds
    identity: CognitoIdentity = field(default_factory=CognitoIdentity)
    client_context: Any = None
    tenant_id: str | None = None

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before ``Timeout``, never negative."""
        return max(0, self.deadline_ms - int(time.time() * 1000))

    @classmethod
    def for_function(
        cls, spec: FunctionSpec, *, request_id: str | None = None, now: float | None = None
    ) -> LambdaContext:
        """A context for one invocation of ``spec`` whose clock starts ``now`` (default: now)."""
        started = time.time() if now is None else now
        name = spec.logical_id
        return cls(
            function_name=name,
            function_version="$LATEST",
            invoked_function_arn=f"arn:aws:lambda:{local_region()}:{LOCAL_ACCOUNT_ID}:function:{name}",
            memory_limit_in_mb=str(spec.memory_size),
            aws_request_id=request_id or str(uuid.uuid4()),
            log_group_name=_log_group(spec),
            log_stream_name=_log_stream(),
            deadline_ms=int(started * 1000) + spec.timeout * 1000,
        )


def _log_group(spec: FunctionSpec) -> str:
    return f"/aws/lambda/{spec.logical_id}"


_LOG_STREAM = time.strftime("%Y/%m/%d") + "/[$LATEST]" + secrets.token_hex(16)  # one per process


def _log_stream() -> str:
    return _LOG_STREAM


def runtime_environment(spec: FunctionSpec) -> dict[str, str]:
    """The variables the Lambda runtime (and ``sam local``) set for every function."""
    region = local_region()
    return {
        "AWS_LAMBDA_FUNCTION_NAME": spec.logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(spec.timeout),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": _log_group(spec),
        "AWS_LAMBDA_LOG_STREAM_NAME": _log_stream(),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "LAMBDA_TASK_ROOT": str(spec.code_uri),
        "_HANDLER": spec.handler,
        "AWS_SAM_LOCAL": "true",
    }


def overrides_for(env_vars: EnvVarsFile | None, logical_id: str) -> dict[str, str]:
    """The overrides for one function from sam's ``--env-vars`` format.

    ``Parameters`` applies to every function; the function's own entry wins over it. Unlike
    sam, variables absent from the template are added rather than ignored.
    """
    if not env_vars:
        return {}
    merged: dict[str, Any] = {**(env_vars.get("Parameters") or {}), **(env_vars.get(logical_id) or {})}
    return {k: _env_string(v) for k, v in merged.items()}


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------ process-wide state, scoped


@contextlib.contextmanager
def _patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ; afterwards restore exactly the keys it touched."""
    previous = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in previous.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def _install_paths(spec: FunctionSpec) -> None:
    """Make the function's code and its layers importable (idempotent)."""
    front = [spec.code_uri, *spec.layers]
    for path in reversed(front):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))
    for layer in spec.layers:
        packages = layer / "python"
        if packages.is_dir() and str(packages) not in sys.path:
            sys.path.append(str(packages))


def _handler_file(spec: FunctionSpec) -> Path:
    relative = Path(*spec.module_name.replace("/", ".").split("."))
    for candidate in (spec.code_uri / relative.with_suffix(".py"), spec.code_uri / relative / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise TemplateError(
        f"{spec.logical_id}: handler module {spec.module_name!r} not found in {spec.code_uri}"
    )


def _import_handler_module(spec: FunctionSpec) -> ModuleType:
    """Import the handler file under ``medserve_fn_<LogicalId>`` (handlers share the name ``app``)."""
    name = f"medserve_fn_{spec.logical_id}"
    module_spec = importlib.util.spec_from_file_location(name, _handler_file(spec))
    if module_spec is None or module_spec.loader is None:
        raise TemplateError(f"{spec.logical_id}: cannot import {spec.module_name!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module  # before exec, as importlib does: dataclasses/pickle look it up
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _marshal(value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise MarshalError(f"Unable to marshal response: {e}") from e


# --------------------------------------------------------------------------------- the invoker


class Invoker:
    """Warm execution environments for the functions of one template (one per function).

    ``env_vars`` is sam's ``--env-vars`` mapping, applied to every invoke.
    """

    def __init__(self, template: Template, env_vars: EnvVarsFile | None = None) -> None:
        self.template = template
        self.env_vars = env_vars
        self._specs = template.functions()
        self._modules: dict[str, ModuleType] = {}

    @property
    def specs(self) -> dict[str, FunctionSpec]:
        """The template's functions, by logical id."""
        return self._specs

    def spec(self, logical_id: str) -> FunctionSpec:
        """One function; TemplateError naming the known ones if there is no such function."""
        if logical_id not in self._specs:
            known = ", ".join(sorted(self._specs)) or "none"
            raise TemplateError(f"no function {logical_id!r} in the template (functions: {known})")
        return self._specs[logical_id]

    def environment(self, logical_id: str, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """The full environment the function's handler sees (runtime < template < overrides)."""
        spec = self.spec(logical_id)
        return {
            **runtime_environment(spec),
            **spec.environment,
            **overrides_for(self.env_vars, logical_id),
            **(overrides or {}),
        }

    def invoke(
        self,
        logical_id: str,
        event: Any,
        env_overrides: Mapping[str, str] | None = None,
        *,
        request_id: str | None = None,
    ) -> Any:
        """Run the function's handler once on ``event``; return its JSON-marshalled result.

        ``request_id`` becomes ``context.aws_request_id`` (default: a new uuid4).
        """
        spec = self.spec(logical_id)
        payload = _marshal(event)  # the handler gets what Lambda would deserialise, never our object
        with _PROCESS_LOCK:
            environment = self.environment(logical_id, env_overrides)
            missing = [n for n in spec.unresolved_environment if n not in environment]
            if missing:
                _warn(f"{logical_id}: environment variables not resolvable locally: {', '.join(missing)}")
            started = time.monotonic()
            with (
                _patched_environ(environment),
                contextlib.redirect_stdout(sys.stderr),
                _working_directory(spec.code_uri),
            ):
                handler = self.handler(logical_id)  # the init phase does not count against Timeout
                result = handler(payload, LambdaContext.for_function(spec, request_id=request_id))
            elapsed = time.monotonic() - started
        if elapsed > spec.timeout:
            _warn(f"{logical_id} ran {elapsed:.1f} s, over its Timeout of {spec.timeout} s (Lambda stops it)")
        return _marshal(result)

    def module(self, logical_id: str) -> ModuleType:
        """The function's handler module, imported once (a warm container keeps its module)."""
        spec = self.spec(logical_id)
        module = self._modules.get(spec.logical_id)
        if module is None:
            _install_paths(spec)
            module = _import_handler_module(spec)
            self._modules[spec.logical_id] = module
        return module

    def handler(self, logical_id: str) -> Handler:
        """The function's handler callable, resolved from ``Handler`` in the template."""
        spec = self.spec(logical_id)
        handler = getattr(self.module(logical_id), spec.function_name, None)
        if not callable(handler):
            raise TemplateError(
                f"{spec.logical_id}: {spec.handler!r} is not a function of {spec.module_name}"
            )
        return handler


def _warn(message: str) -> None:
    print(f"medserve: warning: {message}", file=sys.stderr, flush=True)


_INVOKERS: weakref.WeakKeyDictionary[Template, Invoker] = weakref.WeakKeyDictionary()
_INVOKERS_BY_PATH: dict[Path, Template] = {}


def invoke_function(
    template: Template | str | os.PathLike[str],
    logical_id: str,
    event: Any,
    env_overrides: Mapping[str, str] | None = None,
) -> Any:
    """Invoke one function once; warm across calls with the same Template object (or path)."""
    if not isinstance(template, Template):
        path = Path(template).resolve()
        template = _INVOKERS_BY_PATH.setdefault(path, Template.load(path))
    invoker = _INVOKERS.get(template)
    if invoker is None:
        invoker = _INVOKERS[template] = Invoker(template)
    return invoker.invoke(logical_id, event, env_overrides)


# ------------------------------------------------------------------------------ medserve invoke


def _read_event(source: str) -> Any:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    return json.loads(text)


def read_env_vars(path: str | None) -> dict[str, dict[str, Any]] | None:
    """Parse a sam ``--env-vars`` JSON file (None when no path); ValueError if it is not that shape."""
    if not path:
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f'{path}: expected {{"FunctionId": {{"VAR": "value"}}, "Parameters": {{...}}}}')
    return data


@contextlib.contextmanager
def _stdout_to_stderr_fd() -> Iterator[None]:
    """Point file descriptor 1 at stderr, so even native libraries' prints stay off stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def sample_objects(template: Template, source: str, event: Any) -> list[tuple[str, str, bytes]]:
    """The S3 objects a sample event of ``events/`` refers to (``s3_object`` in
    ``events/manifest.yaml``), as (bucket named in the event, key, bytes): the embedded S3 holds
    them before the invoke, so ``medserve invoke TabularFunction --event events/s3_tabular_upload.json``
    reads a real object. Any other event: none."""
    manifest = template.base_dir / "events" / "manifest.yaml"
    if source == "-" or not manifest.is_file() or Path(source).resolve().parent != manifest.parent:
        return []
    import yaml  # the local extra; only for sample events

    entry = (yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}).get(Path(source).name) or {}
    obj = entry.get("s3_object")
    records = event.get("Records") if isinstance(event, dict) else None
    if not obj or not records:
        return []
    bucket = records[0]["s3"]["bucket"]["name"]
    return [(bucket, obj["key"], (template.base_dir / obj["file"]).read_bytes())]


@contextlib.contextmanager
def _maybe_embedded_aws(
    invoker: Invoker, wanted: bool, seed: list[tuple[str, str, bytes]] | None = None
) -> Iterator[None]:
    """By default (no ``--aws``): the template's resources in moto for the duration of the invoke,
    holding the ``seed`` objects."""
    if not wanted:
        yield
        return
    from devtools.local.embedded import EmbeddedAWS  # moto is heavy: only when asked for

    with EmbeddedAWS(invoker.template, invoker, seed_objects=seed):
        yield


def _error_payload(error: BaseException, request_id: str) -> dict[str, Any]:
    """What Lambda answers for an unhandled exception (``sam local invoke`` prints the same)."""
    return {
        "errorMessage": str(error),
        "errorType": type(error).__name__,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }


def _emit(value: Any, out: TextIO) -> None:
    out.write(json.dumps(value) + "\n")
    out.flush()


def main_invoke(args: argparse.Namespace) -> int:
    """``medserve invoke``: 0 when the handler returned, 1 when it raised, 2 on bad input.

    By default the function gets a fresh in-process moto holding the template's resources, so an
    invoke works offline with no account; ``--aws`` makes it talk to whatever AWS the environment
    points at, as ``sam local invoke`` does.

    stdout carries exactly one JSON document: the return value, or Lambda's error object
    (``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``). Everything else goes to stderr.
    """
    try:
        template = Template.load(args.template)
        invoker = Invoker(template, read_env_vars(getattr(args, "env_vars", None)))
        invoker.spec(args.function)
        event = _read_event(args.event)
    except (TemplateError, OSError, ValueError) as e:
        print(f"medserve invoke: {e}", file=sys.stderr)
        return 2
    request_id = str(uuid.uuid4())
    embedded = not getattr(args, "aws", False)
    seed = sample_objects(template, args.event, event) if embedded else []
    with _stdout_to_stderr_fd(), _maybe_embedded_aws(invoker, embedded, seed):
        try:
            result = invoker.invoke(args.function, event, request_id=request_id)
        except Exception as e:  # any handler failure is the function's answer, as in Lambda
            traceback.print_exc(file=sys.stderr)
            failure: dict[str, Any] | None = _error_payload(e, request_id)
        else:
            failure = None
    _emit(failure if failure is not None else result, sys.stdout)
    return 1 if failure is not None else 0
