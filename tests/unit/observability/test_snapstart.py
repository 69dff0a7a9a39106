"""SnapStart hooks: registered only where the runtime offers them; the snapshot holds every
bundled model's session; restored environments draw fresh random numbers."""

from __future__ import annotations

import random
import sys
import types

import numpy as np
import pytest
from medserve import snapstart
from medserve.services import Services, get_services, set_services
from medserve.serving.registry import BundledModels, Registry
from medserve.serving.runtime import SessionKey


@pytest.fixture
def bundled_only():
    previous = get_services()
    set_services(Services(registry=Registry(bundled=BundledModels())))
    yield get_services().registry
    set_services(previous)


def test_no_snapstart_runtime_no_hooks(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as off Lambda
    monkeypatch.setattr(snapstart, "_registered", False)
    assert snapstart.register_hooks() is False


def test_hooks_registered_once_with_the_runtime(monkeypatch):
    before, after = [], []
    runtime = types.ModuleType("snapshot_restore_py")
    runtime.register_before_snapshot = before.append
    runtime.register_after_restore = after.append
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime)
    monkeypatch.setattr(snapstart, "_registered", False)
    assert snapstart.register_hooks() and snapstart.register_hooks()
    assert before == [snapstart.before_snapshot] and after == [snapstart.after_restore]


def test_before_snapshot_creates_every_bundled_session_under_the_load_key(bundled_only):
    registry = bundled_only
    names = registry.bundled.names()
    assert snapstart.before_snapshot() == len(names) >= 3
    assert len(registry.sessions) == len(names)
    for name in names:
        card, _ = registry.bundled.get(name)
        cached = registry.sessions.get(SessionKey(card.name, card.version, card.artifact.sha256), None)
        assert registry.load(name).session is cached  # the first request reuses it


def test_after_restore_reseeds_the_generators():
    random.seed(7)
    np.random.seed(7)
    snapshot_state = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    snapstart.after_restore()
    assert (random.random(), np.random.random()) != snapshot_state


def test_before_snapshot_leaves_the_service_models_loaded_and_no_credentials(bundled_only, monkeypatch):
    import boto3
    import botocore.loaders

    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # a fresh container's default session
    snapstart.before_snapshot()
    session = boto3.DEFAULT_SESSION
    assert session is not None
    loaded: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file
    monkeypatch.setattr(
        botocore.loaders.JSONFileLoader,
        "load_file",
        lambda self, path: (loaded.append(path), original(self, path))[1],
    )
    boto3.client("s3")  # after a restore: what the first request builds
    boto3.client("dynamodb")
    assert loaded == []  # every service-model file came from the snapshot's loader cache
    # The warm-up's placeholder credentials never became the session's.
    credentials = session.get_credentials()
    assert credentials is None or credentials.access_key != "snapshot-placeholder"
