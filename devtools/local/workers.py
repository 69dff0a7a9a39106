"""Execution environments as worker processes: what lets the local stack run requests concurrently.

Lambda runs each concurrent request of a function in its own execution environment (a process
with its own init, cold start and memory); ``Invoker`` alone runs every handler in the server's
process under one lock, so one slow request (a 3 s text explanation) held every other, including
``GET /v1/health``. :class:`PooledInvoker` keeps the ``Invoker`` interface and sends each invoke to
an idle worker of that function's pool:

* a worker is ``python -m devtools.local.workers`` running an ``Invoker`` for ONE function (its
  module imported on its first invoke: a cold start per worker, as in Lambda); it gets the
  server's environment when it starts (``AWS_ENDPOINT_URL`` of the embedded AWS included);
* up to ``size`` workers per function (``medserve serve --workers N``, default 2), started on
  demand; an invoke waits for a free one (as with reserved concurrency, but queued, not 429);
* a worker imports its handler module when it starts (Lambda's init phase, under the function's
  environment) and says it is ready; as in Lambda, the init does not count against ``Timeout``
  (it has its own :data:`INIT_SECONDS`); an init that fails answers the invoke as a handler
  error and the worker exits (the next invoke starts a fresh one, as Lambda retries the init);
* the function's ``Timeout`` is enforced, as Lambda does: a worker over it is killed (its
  replacement starts cold) and the invoke raises :class:`FunctionTimeout`; a worker that dies
  raises :class:`WorkerCrashed`; a handler's exception comes back as :class:`FunctionError`
  with its type and traceback (logged on stderr by the caller, as CloudWatch would show it);
* requests and answers are JSON lines on the worker's stdin and on a copy of its original stdout;
  the handler's own prints (stdout, native libraries included) go to stderr, like Lambda's logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import select
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devtools.local.invoke import EnvVarsFile, Invoker, _marshal, _patched_environ, _working_directory
from devtools.local.template import Template

__all__ = ["FunctionError", "FunctionTimeout", "PooledInvoker", "WorkerCrashed"]

DEFAULT_WORKERS = 2
INIT_SECONDS = 120  # Lambda allows 10 s; a shared laptop importing onnxruntime needs more headroom
_STOP_SECONDS = 5


class FunctionError(Exception):
    """The handler raised: ``error_type`` and the ``trace`` (Lambda's errorType and stackTrace)."""

    def __init__(self, error_type: str, trace: str) -> None:
        super().__init__(f"the handler raised {error_type}")
        self.error_type = error_type
        self.trace = trace


class FunctionTimeout(Exception):
    """The handler ran past the function's Timeout and its execution environment was stopped."""


class WorkerCrashed(Exception):
    """The execution environment exited during an invoke (Lambda: Runtime.ExitError)."""


class _Worker:
    """One execution environment: a child process serving invokes of one function."""

    def __init__(self, template: Template, function_id: str, env_vars: EnvVarsFile | None) -> None:
        assert template.path is not None
        setup = {
            "template": str(template.path),
            "parameter_overrides": dict(template.parameter_overrides or {}),
            "function": function_id,
            "env_vars": env_vars or {},
        }
        root = Path(__file__).resolve().parents[2]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.local.workers"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(root),
        )
        self._buffer = b""
        self._ready = False
        self._send(setup)

    def _send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()

    def _receive(self, deadline: float) -> Any:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise FunctionTimeout
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise WorkerCrashed
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def invoke(
        self, event: Any, overrides: Mapping[str, str] | None, request_id: str | None, timeout: float
    ) -> Any:
        if not self._ready:  # the init phase: its own limit, not the function's Timeout
            try:
                ready = self._receive(time.monotonic() + INIT_SECONDS)
            except FunctionTimeout as e:
                raise WorkerCrashed("the init phase did not finish") from e
            if "ready" not in ready:
                self.kill()  # its init failed: the next invoke gets a fresh environment
                raise FunctionError(ready.get("error_type", "Exception"), ready.get("trace", ""))
            self._ready = True
        try:
            self._send({"event": event, "overrides": dict(overrides or {}), "request_id": request_id})
        except (BrokenPipeError, OSError) as e:
            raise WorkerCrashed from e
        answer = self._receive(time.monotonic() + timeout)
        if "result" in answer:
            return answer["result"]
        raise FunctionError(answer.get("error_type", "Exception"), answer.get("trace", ""))

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(Exception):
            self.process.wait(timeout=_STOP_SECONDS)

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            assert self.process.stdin is not None
            self.process.stdin.close()  # EOF: the worker's loop ends
        try:
            self.process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()


class _Pool:
    """At most ``size`` workers of one function; idle ones are reused, most recent first (warm)."""

    def __init__(self, owner: PooledInvoker, function_id: str, size: int) -> None:
        self.owner = owner
        self.function_id = function_id
        self.slots = threading.BoundedSemaphore(size)
        self.idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self.everyone: set[_Worker] = set()
        self.lock = threading.Lock()

    def invoke(
        self, event: Any, overrides: Mapping[str, str] | None, request_id: str | None, timeout: float
    ) -> Any:
        with self.slots:
            worker = self._take()
            try:
                result = worker.invoke(event, overrides, request_id, timeout)
            except (FunctionTimeout, WorkerCrashed):
                self._discard(worker)
                raise
            except BaseException:
                if worker.alive():
                    self.idle.put(worker)
                else:
                    self._discard(worker)
                raise
            self.idle.put(worker)
            return result

    def _take(self) -> _Worker:
        while True:
            try:
                worker = self.idle.get_nowait()
            except queue.Empty:
                worker = _Worker(self.owner.template, self.function_id, self.owner.env_vars)
                with self.lock:
                    self.everyone.add(worker)
                return worker
            if worker.alive():
                return worker
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self.lock:
            self.everyone.discard(worker)

    def close(self) -> None:
        with self.lock:
            workers, self.everyone = list(self.everyone), set()
        for worker in workers:
            worker.stop()


class PooledInvoker(Invoker):
    """An :class:`Invoker` whose invokes run in per-function pools of worker processes.

    ``size`` workers at most per function (0: in this process, under the lock, as ``Invoker``).
    ``module()`` and ``handler()`` still import into this process (for callers that want the
    module itself); ``invoke()`` never does.
    """

    def __init__(
        self, template: Template, env_vars: EnvVarsFile | None = None, *, size: int = DEFAULT_WORKERS
    ) -> None:
        super().__init__(template, env_vars)
        if template.path is None:
            size = 0  # a worker loads the template from its file
        self.size = size
        self._pools: dict[str, _Pool] = {}
        self._pools_lock = threading.Lock()

    def invoke(
        self,
        logical_id: str,
        event: Any,
        env_overrides: Mapping[str, str] | None = None,
        *,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> Any:
        """As :meth:`Invoker.invoke`, in a worker; ``timeout`` (seconds) caps the function's Timeout."""
        if self.size <= 0:
            return super().invoke(logical_id, event, env_overrides, request_id=request_id)
        spec = self.spec(logical_id)
        payload = _marshal(event)
        with self._pools_lock:
            pool = self._pools.get(logical_id)
            if pool is None:
                pool = self._pools[logical_id] = _Pool(self, logical_id, self.size)
        limit = float(spec.timeout) if timeout is None else min(float(spec.timeout), timeout)
        return pool.invoke(payload, env_overrides, request_id, limit)

    def close(self) -> None:
        """Stop every worker (idempotent)."""
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()


# --------------------------------------------------------------------------- the worker side


def _serve(channel_in: Any, channel_out: Any) -> None:
    setup = json.loads(channel_in.readline())
    template = Template.load(setup["template"], parameter_overrides=setup["parameter_overrides"] or None)
    invoker = Invoker(template, setup["env_vars"] or None)
    function_id = setup["function"]
    spec = invoker.spec(function_id)
    try:  # the init phase, as Lambda runs it: the module imported under the function's environment
        with (
            _patched_environ(invoker.environment(function_id)),
            contextlib.redirect_stdout(sys.stderr),
            _working_directory(spec.code_uri),
        ):
            invoker.handler(function_id)
    except Exception as e:
        channel_out.write(
            json.dumps({"error_type": type(e).__name__, "trace": traceback.format_exc()}) + "\n"
        )
        channel_out.flush()
        return  # this environment is done; the next invoke starts a fresh one
    channel_out.write(json.dumps({"ready": True}) + "\n")
    channel_out.flush()
    for line in channel_in:
        message = json.loads(line)
        try:
            result = invoker.invoke(
                function_id, message["event"], message["overrides"] or None, request_id=message["request_id"]
            )
            answer: dict[str, Any] = {"result": result}
        except Exception as e:  # the handler's failure is the invoke's answer, as in Lambda
            answer = {"error_type": type(e).__name__, "trace": traceback.format_exc()}
        channel_out.write(json.dumps(answer) + "\n")
        channel_out.flush()


def main() -> None:
    # The protocol keeps the original stdout; fd 1 becomes stderr so that anything the handler or
    # a native library prints goes where Lambda's logs go, never into an answer.
    channel_out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _serve(sys.stdin, channel_out)


if __name__ == "__main__":
    main()
