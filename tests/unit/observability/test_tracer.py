"""The lazy tracer: no X-Ray SDK where tracing is off, powertools' Tracer where it is on."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools import Tracer
from medserve.observability import LazyTracer

LAYER = Path(__file__).resolve().parents[3] / "layers" / "model"


def test_importing_the_layer_outside_lambda_does_not_import_the_xray_sdk() -> None:
    code = (
        "import sys; import medserve.observability, medserve.api.tabular; "
        "print('aws_xray_sdk' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k not in {"LAMBDA_TASK_ROOT", "AWS_XRAY_DAEMON_ADDRESS"}}
    env["PYTHONPATH"] = str(LAYER)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_inactive_tracer_calls_the_function_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    lazy = LazyTracer("medserve-test")

    @lazy.capture_method(capture_response=False)
    def double(x: int) -> int:
        """doc"""
        return 2 * x

    assert double(21) == 42
    assert double.__doc__ == "doc" and double.__wrapped__(1) == 2  # type: ignore[attr-defined]
    assert lazy.active is False and lazy._tracer is None


@pytest.mark.parametrize(
    ("env", "active"),
    [
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task"}, False),  # Tracing not Active: no daemon
        (
            {
                "LAMBDA_TASK_ROOT": "/var/task",
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                "AWS_SAM_LOCAL": "true",
            },
            False,
        ),
        (
            {
                "LAMBDA_TASK_ROOT": "/var/task",
                "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
                "POWERTOOLS_TRACE_DISABLED": "true",
            },
            False,
        ),
    ],
)
def test_active_follows_powertools_rule_and_the_daemon(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], active: bool
) -> None:
    for name in ("LAMBDA_TASK_ROOT", "AWS_XRAY_DAEMON_ADDRESS", "AWS_SAM_LOCAL", "POWERTOOLS_TRACE_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert LazyTracer("medserve-test").active is active


def test_active_tracer_decorates_with_powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    lazy = LazyTracer("medserve-test")
    lazy._active = True
    seen: list[dict[str, object]] = []
    original = Tracer.capture_method

    def spy(self: Tracer, method: object = None, **options: object) -> object:
        if method is not None:  # powertools re-enters itself with the function once options are bound
            seen.append(options)
        return original(self, method, **options)

    monkeypatch.setattr(Tracer, "capture_method", spy)
    monkeypatch.setattr(lazy, "_tracer", Tracer(service="medserve-test", disabled=True))

    @lazy.capture_method(capture_response=False)
    def triple(x: int) -> int:
        return 3 * x

    assert triple(2) == 6 and triple(3) == 9
    assert [o["capture_response"] for o in seen] == [False]  # decorated once, on the first call
