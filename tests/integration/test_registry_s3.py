"""The S3 model registry against moto: publish, download once, sha256 check, alias switch."""

from pathlib import Path

import pytest
from medserve.errors import ModelIntegrityError, ModelNotFound
from medserve.serving.registry import BUNDLED_DIR, BundledModels, Registry, S3ModelStore, derive_model
from medserve.serving.runtime import sha256_file

from tests.helpers import call, http_event
from tests.integration.conftest import MODELS


def model_dir(tmp_path: Path, version: str, name: str = "breast-cancer-risk") -> Path:
    """A copy of the bundled model as another version (same artifact, new card version)."""
    return derive_model(
        BUNDLED_DIR / "breast-cancer-risk", tmp_path / f"{name}-{version}", name=name, version=version
    )


class CountingStore(S3ModelStore):
    downloads = 0

    def download(self, card, dest):
        type(self).downloads += 1
        super().download(card, dest)


def test_publish_then_serve_from_s3_downloading_once(aws, tmp_path):
    store = CountingStore(MODELS, aws["s3"])
    CountingStore.downloads = 0
    store.publish(model_dir(tmp_path, "2.0.0"), alias="production")
    registry = Registry(store=store, cache_dir=tmp_path / "cache")

    first = registry.load("breast-cancer-risk")
    assert (first.source, first.card.version) == ("s3", "2.0.0")  # S3 shadows the bundled 1.0.0
    again = registry.load("breast-cancer-risk")
    assert again.session is first.session and CountingStore.downloads == 1

    # a new container (new Registry, same /tmp) reuses the downloaded artifact
    Registry(store=store, cache_dir=tmp_path / "cache").load("breast-cancer-risk")
    assert CountingStore.downloads == 1
    cached = tmp_path / "cache" / "breast-cancer-risk" / "2.0.0" / first.card.artifact.sha256 / "model.onnx"
    assert sha256_file(cached) == first.card.artifact.sha256


def test_sha256_mismatch_refuses_to_serve(aws, tmp_path, capsys):
    directory = model_dir(tmp_path, "3.0.0")
    S3ModelStore(MODELS, aws["s3"]).publish(directory, alias="production")
    # GIVEN the artifact in S3 is replaced behind the card's back
    aws["s3"].put_object(Bucket=MODELS, Key="models/breast-cancer-risk/3.0.0/model.onnx", Body=b"tampered")
    registry = Registry(store=S3ModelStore(MODELS, aws["s3"]), cache_dir=tmp_path / "cache")
    with pytest.raises(ModelIntegrityError) as caught:
        registry.load("breast-cancer-risk")
    assert caught.value.status == 502 and "integrity" in caught.value.message
    # nothing unverified is left in the cache for a later invocation to trust
    assert not list((tmp_path / "cache").rglob("model.onnx"))
    from medserve.observability import metrics

    metrics.flush_metrics()
    assert "ModelIntegrityFailure" in capsys.readouterr().out


def test_publish_refuses_an_artifact_that_does_not_match_its_card(aws, tmp_path):
    directory = model_dir(tmp_path, "4.0.0")
    (directory / "model.onnx").write_bytes(b"not the model")
    with pytest.raises(ModelIntegrityError):
        S3ModelStore(MODELS, aws["s3"]).publish(directory, alias="production")


def test_alias_switch_takes_effect_after_the_ttl(aws, tmp_path):
    store = S3ModelStore(MODELS, aws["s3"])
    store.publish(model_dir(tmp_path, "2.0.0"), alias="production")
    newer = model_dir(tmp_path, "2.1.0")
    store.publish(newer, alias=None)
    now = [0.0]
    registry = Registry(store=store, cache_dir=tmp_path / "cache", alias_ttl=60, clock=lambda: now[0])
    assert registry.load("breast-cancer-risk").card.version == "2.0.0"

    store.publish(newer, alias="production")  # move the alias
    now[0] = 30.0
    assert registry.load("breast-cancer-risk").card.version == "2.0.0"  # still cached
    now[0] = 61.0
    assert registry.load("breast-cancer-risk").card.version == "2.1.0"


def test_models_without_the_served_alias_are_not_listed(aws, tmp_path):
    store = S3ModelStore(MODELS, aws["s3"])
    store.publish(model_dir(tmp_path, "1.0.0", name="sepsis-risk-demo"), alias="staging")
    registry = Registry(store=store, cache_dir=tmp_path / "cache")
    bundled = BundledModels().names()
    assert [c.name for c, _ in registry.cards()] == bundled  # the staging-only model is not listed
    with pytest.raises(ModelNotFound):
        registry.load("sepsis-risk-demo")
    staging = Registry(store=store, alias="staging", cache_dir=tmp_path / "cache")
    assert {c.name for c, _ in staging.cards()} == {*bundled, "sepsis-risk-demo"}


def test_api_serves_the_s3_version(aws, services, tmp_path, tabular_app, lambda_context, record):
    S3ModelStore(MODELS, aws["s3"]).publish(model_dir(tmp_path, "2.0.0"), alias="production")
    status, body = call(
        tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [record]}), lambda_context
    )
    assert status == 200 and body["model"]["version"] == "2.0.0"
    status, listing = call(tabular_app, http_event("GET", "/v1/models"), lambda_context)
    # The S3 version shadows the bundled one: listed once, from S3.
    listed = [(m["name"], m["version"], m["source"]) for m in listing["models"]]
    assert [m for m in listed if m[0] == "breast-cancer-risk"] == [("breast-cancer-risk", "2.0.0", "s3")]


def test_registry_outage_is_a_502(aws, services, tabular_app, lambda_context, record):
    services.registry.store.bucket = "no-such-bucket"
    status, body = call(
        tabular_app, http_event("POST", "/v1/tabular/predict", {"records": [record]}), lambda_context
    )
    assert (status, body["error"]["code"]) == (502, "UPSTREAM_ERROR")
