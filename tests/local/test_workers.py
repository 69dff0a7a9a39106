"""devtools.local.workers: execution environments as worker processes (the fake stack)."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.local.template import Template
from devtools.local.workers import FunctionError, FunctionTimeout, PooledInvoker
from tests.local.conftest import make_stack


@pytest.fixture
def pooled(tmp_path: Path):
    invoker = PooledInvoker(Template.load(make_stack(tmp_path)), size=2)
    yield invoker
    invoker.close()


def test_a_worker_is_a_warm_execution_environment_of_its_own(pooled: PooledInvoker) -> None:
    first = pooled.invoke("EchoFunction", {"n": 1})
    second = pooled.invoke("EchoFunction", {"n": 2})
    assert (first["calls"], second["calls"]) == (1, 2)  # the idle worker is reused: warm
    assert second["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "EchoFunction"
    assert second["helper"] == "from-layer"  # the layer is on the worker's path


def test_a_handler_error_comes_back_with_its_type_and_trace(pooled: PooledInvoker) -> None:
    with pytest.raises(FunctionError) as failed:
        pooled.invoke("EchoFunction", {"raise": True})
    assert failed.value.error_type == "ValueError" and "boom" in failed.value.trace
    assert pooled.invoke("EchoFunction", {})["calls"] == 2  # the environment survived its error


def test_a_worker_over_its_timeout_is_stopped_and_replaced(pooled: PooledInvoker) -> None:
    with pytest.raises(FunctionTimeout):
        pooled.invoke("EchoFunction", {"rawPath": "/v1/items/slow"}, timeout=0.5)
    fresh = pooled.invoke("EchoFunction", {})
    assert fresh["calls"] == 1  # a new environment: a cold start


def test_size_zero_runs_in_this_process(tmp_path: Path) -> None:
    invoker = PooledInvoker(Template.load(make_stack(tmp_path)), size=0)
    assert invoker.invoke("OtherFunction", {})["body"] == "other:medserve_fn_OtherFunction"
    invoker.close()


def test_a_failed_init_is_the_invokes_error_and_the_next_invoke_retries_it(tmp_path: Path) -> None:
    template = make_stack(tmp_path)
    app = tmp_path / "other" / "app.py"
    good = app.read_text()
    app.write_text("raise ImportError('broken at import')\n" + good)
    invoker = PooledInvoker(Template.load(template), size=1)
    try:
        with pytest.raises(FunctionError) as failed:
            invoker.invoke("OtherFunction", {})
        assert failed.value.error_type == "ImportError"
        app.write_text(good)  # fixed: Lambda retries the init on the next invoke
        assert invoker.invoke("OtherFunction", {})["statusCode"] == 200
    finally:
        invoker.close()
