"""CLI misuse answers one line on stderr and a non-zero exit status, never a traceback."""

import os
import socket
import subprocess
import sys

import pytest

from tests.helpers import REPO


def medserve(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "devtools.cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        yield str(sock.getsockname()[1])


@pytest.mark.parametrize(
    "args",
    [
        ["endpoint", "serve", "--model-dir", "/nonexistent/model"],
        ["invoke", "NoSuchFunction", "--event", "events/health.json"],
        ["invoke", "TabularFunction", "--event", "/nonexistent/event.json"],
        ["invoke", "TabularFunction", "--event", "events/health.json", "--template", "/nonexistent.yaml"],
        ["serve", "--template", "/nonexistent.yaml"],
        ["eval", "deid", "--corpus", "/nonexistent/corpus.txt"],
        ["models", "show", "no-such-model"],
        ["models", "publish", "/nonexistent/dir", "--bucket", "b"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_misuse_is_one_line_and_a_failure(args):
    done = medserve(*args)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("medserve")


def test_a_busy_port_is_one_line(busy_port):
    for args in (["serve", "--port", busy_port], ["endpoint", "serve", "--port", busy_port]):
        if args[0] == "endpoint":
            args += ["--model-dir", "layers/model/medserve/bundled/breast-cancer-risk"]
        done = medserve(*args)
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines()[-1].endswith("Address already in use"), done.stderr


def test_eval_of_the_generated_set_runs_from_any_directory(tmp_path):
    # The console script does not put the repository on sys.path: the generated set (b) must still
    # find training/deid_notes.py of this checkout (it once died with ModuleNotFoundError).
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from devtools.cli import main; sys.exit(main())",
            "eval",
            "deid",
            "--set",
            "generated",
            "--json",
        ],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # the installed package only
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert "generated" in done.stdout
