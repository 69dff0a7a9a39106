"""Shared fixtures. Fake AWS credentials and region are set before any boto3 client exists, so
no test can reach a real account; moto intercepts every call."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests import helpers
from tests.helpers import REPO

for _var, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}.items():
    os.environ[_var] = _value
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "MODELS_BUCKET", "IDEMPOTENCY_TABLE"):
    os.environ.pop(_var, None)


@pytest.fixture
def lambda_context() -> Any:
    return helpers.lambda_context()


@pytest.fixture(scope="session")
def tabular_app() -> ModuleType:
    return helpers.stack().module("TabularFunction")


@pytest.fixture(scope="session")
def imaging_app() -> ModuleType:
    return helpers.stack().module("ImagingFunction")


@pytest.fixture(scope="session")
def text_app() -> ModuleType:
    return helpers.stack().module("TextFunction")


@pytest.fixture
def imaging_context() -> Any:
    return helpers.lambda_context("ImagingFunction")


@pytest.fixture
def text_context() -> Any:
    return helpers.lambda_context("TextFunction")


@pytest.fixture
def monkeypatch(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """pytest's monkeypatch, with medserve's settings read again after each environment change
    (the functions read their environment once per container, as Lambda fixes it)."""
    from medserve.config import reset_settings

    def after(change: Any) -> Any:
        def changed(*args: Any, **kwargs: Any) -> None:
            change(*args, **kwargs)
            reset_settings()

        return changed

    monkeypatch.setenv = after(monkeypatch.setenv)  # type: ignore[method-assign]
    monkeypatch.delenv = after(monkeypatch.delenv)  # type: ignore[method-assign]
    return monkeypatch


@pytest.fixture(autouse=True)
def _fresh_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with container-scope dependencies rebuilt from its own environment."""
    from medserve import services
    from medserve.triggers import s3 as batch

    monkeypatch.setenv("MEDSERVE_MODEL_CACHE", str(tmp_path / "model-cache"))
    services.reset_services()
    batch._processors.clear()
    yield
    services.reset_services()
    batch._processors.clear()


@pytest.fixture(scope="session")
def card() -> Any:
    from medserve.serving.registry import BundledModels

    found = BundledModels().get("breast-cancer-risk")
    assert found is not None
    return found[0]


@pytest.fixture
def record(card: Any) -> dict[str, float]:
    """A real WDBC case (the first record of events/tabular_predict.json)."""
    event = json.loads((REPO / "events" / "tabular_predict.json").read_text())
    return dict(json.loads(event["body"])["records"][0])


@pytest.fixture
def emitted(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Everything the function emits: JSON log lines (with their extra keys) and EMF metrics."""
    import io
    import logging

    from medserve.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    root = logging.getLogger()
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    root.addHandler(root_handler)
    previous = root.level
    root.setLevel(logging.DEBUG)  # the most a misconfigured function could log

    def text() -> str:
        out = capsys.readouterr()
        return stream.getvalue() + root_stream.getvalue() + out.out + out.err

    try:
        yield text
    finally:
        logger.removeHandler(handler)
        root.removeHandler(root_handler)
        root.setLevel(previous)
