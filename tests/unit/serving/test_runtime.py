from pathlib import Path

import pytest
from medserve.serving.registry import BUNDLED_DIR
from medserve.serving.runtime import SessionCache, SessionKey, available_vcpus, sha256_file


@pytest.mark.parametrize(
    ("memory", "vcpus"), [("128", 1), ("1769", 1), ("1770", 2), ("3008", 2), ("10240", 6)]
)
def test_threads_follow_lambda_memory(monkeypatch, memory, vcpus):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)
    assert available_vcpus() == vcpus


def test_sessions_are_cached_per_artifact():
    path = BUNDLED_DIR / "breast-cancer-risk" / "model.onnx"
    cache = SessionCache(threads=1)
    key = SessionKey("breast-cancer-risk", "1.0.0", sha256_file(path))
    first = cache.get(key, path)
    assert cache.get(key, path) is first
    assert cache.get(SessionKey("breast-cancer-risk", "1.0.1", key.sha256), path) is not first
    assert len(cache) == 2
    assert first.get_session_options().intra_op_num_threads == 1


def test_sha256_file(tmp_path: Path):
    f = tmp_path / "x"
    f.write_bytes(b"abc")
    assert sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
