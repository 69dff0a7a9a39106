"""devtools.local.invoke: sam local invoke semantics, in process and through the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from devtools.local.invoke import Invoker, MarshalError, invoke_function, overrides_for
from devtools.local.template import Template


@pytest.fixture
def invoker(stack: Path) -> Invoker:
    return Invoker(Template.load(stack))


def test_environment_is_lambdas_and_restored_afterwards(invoker: Invoker, stack: Path) -> None:
    # GIVEN a variable of the process that the function also defines
    os.environ["SHARED"] = "from-the-process"
    try:
        # WHEN the function runs with an override
        answer = invoker.invoke("EchoFunction", {}, {"OVERRIDDEN": "override"})
        # THEN it saw runtime < template < override, and the process environment is back as it was
        env = answer["env"]
        assert env["SHARED"] == "from-function"
        assert env["OVERRIDDEN"] == "override"
        assert env["DATA_BUCKET"] == "medserve-local-databucket"
        assert env["AWS_LAMBDA_FUNCTION_NAME"] == "EchoFunction"
        assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1024"
        assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
        assert env["_HANDLER"] == "app.lambda_handler"
        assert env["AWS_SAM_LOCAL"] == "true"
        assert env["LAMBDA_TASK_ROOT"] == str(stack.parent / "echo")
        assert os.environ["SHARED"] == "from-the-process"
        assert "AWS_LAMBDA_FUNCTION_NAME" not in os.environ
        assert "OVERRIDDEN" not in os.environ
    finally:
        del os.environ["SHARED"]


def test_context_is_real_shaped(invoker: Invoker) -> None:
    context = invoker.invoke("EchoFunction", {})["context"]
    assert context["function_name"] == "EchoFunction"
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:EchoFunction"
    assert context["memory_limit_in_mb"] == "1024"  # a string, as awslambdaric sets it
    assert uuid.UUID(context["aws_request_id"]).version == 4
    assert context["log_group_name"] == "/aws/lambda/EchoFunction"
    assert "[$LATEST]" in context["log_stream_name"]
    assert 0 < context["remaining_ms"] <= 30_000


def test_request_id_can_be_given(invoker: Invoker) -> None:
    answer = invoker.invoke("EchoFunction", {}, request_id="my-request")
    assert answer["context"]["aws_request_id"] == "my-request"


def test_module_is_cached_per_function_like_a_warm_container(invoker: Invoker, stack: Path) -> None:
    first = invoker.invoke("EchoFunction", {"n": 1})
    second = invoker.invoke("EchoFunction", {"n": 2})
    assert (first["calls"], second["calls"]) == (1, 2)
    # both handlers are app.py: each is its own module
    assert invoker.invoke("OtherFunction", {})["body"] == "other:medserve_fn_OtherFunction"
    assert sys.modules["medserve_fn_EchoFunction"].__file__ == str(stack.parent / "echo" / "app.py")
    # a new Invoker is a new (cold) container
    assert Invoker(invoker.template).invoke("EchoFunction", {})["calls"] == 1


def test_code_and_layers_importable_and_cwd_is_the_task_root(invoker: Invoker, stack: Path) -> None:
    before = os.getcwd()
    answer = invoker.invoke("EchoFunction", {})
    assert answer["helper"] == "from-layer"
    assert answer["cwd"] == str(stack.parent / "echo")
    assert os.getcwd() == before
    # <ContentUri>/python (sam build's layout) comes after the venv: local builds of packages win
    assert sys.path[-1] == str(stack.parent / "layer" / "python")


def test_handler_stdout_goes_to_stderr(invoker: Invoker, capsys: pytest.CaptureFixture[str]) -> None:
    invoker.invoke("EchoFunction", {})
    captured = capsys.readouterr()
    assert "noise on stdout" in captured.err
    assert "noise on stdout" not in captured.out


def test_errors_propagate_and_bad_results_do_not_marshal(invoker: Invoker) -> None:
    with pytest.raises(ValueError, match="boom"):
        invoker.invoke("EchoFunction", {"raise": True})
    with pytest.raises(MarshalError):
        invoker.invoke("EchoFunction", {"unserialisable": True})


def test_invoke_function_is_warm_per_template(stack: Path) -> None:
    template = Template.load(stack)
    assert invoke_function(template, "EchoFunction", {})["calls"] == 1
    assert invoke_function(template, "EchoFunction", {})["calls"] == 2


def test_env_vars_file_format() -> None:
    env_vars = {"Parameters": {"A": "all", "B": 1}, "EchoFunction": {"A": "mine", "C": True}}
    assert overrides_for(env_vars, "EchoFunction") == {"A": "mine", "B": "1", "C": "true"}
    assert overrides_for(env_vars, "OtherFunction") == {"A": "all", "B": "1"}
    assert overrides_for(None, "EchoFunction") == {}


# ---------------------------------------------------------------------------- medserve invoke


def _cli(stack: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "devtools.cli", "invoke", *args, "--template", str(stack)]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60, check=False)


def test_cli_prints_only_the_result_on_stdout(stack: Path, tmp_path: Path) -> None:
    # GIVEN an event file and an env-vars file in sam's format
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"hello": "world"}))
    env_vars = tmp_path / "env.json"
    env_vars.write_text(json.dumps({"EchoFunction": {"OVERRIDDEN": "from-file"}}))
    # WHEN the function is invoked through the CLI
    result = _cli(stack, "EchoFunction", "--event", str(event), "--env-vars", str(env_vars))
    # THEN stdout is exactly the JSON return value; the handler's print went to stderr
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["event"] == {"hello": "world"}
    assert answer["env"]["OVERRIDDEN"] == "from-file"
    assert "noise on stdout" in result.stderr


def test_cli_reads_the_event_from_stdin(stack: Path) -> None:
    result = _cli(stack, "EchoFunction", "--event", "-", stdin='{"from": "stdin"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"] == {"from": "stdin"}


def test_cli_exits_1_when_the_handler_raises(stack: Path) -> None:
    result = _cli(stack, "EchoFunction", "--event", "-", stdin='{"raise": true}')
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ValueError: boom" in result.stderr
    error = json.loads(result.stdout)  # Lambda's error object, as sam local invoke prints it
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "boom"


def test_cli_exits_2_on_an_unknown_function(stack: Path) -> None:
    result = _cli(stack, "NoSuchFunction", "--event", "-", stdin="{}")
    assert result.returncode == 2
    assert "EchoFunction" in result.stderr
    assert result.stdout == ""
