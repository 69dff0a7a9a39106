"""TextFunction against moto: the encoder served from the S3 registry (every file downloaded once,
sha256-checked) and the uploads/text/ trigger (entities and redacted text, once per version)."""

import json

import pytest
from medserve.serving.registry import Registry, S3ModelStore

from tests.helpers import REPO, call, http_event, s3_event
from tests.integration.conftest import MODELS, UPLOADS

MODEL_DIR = REPO / "models" / "note-specialty"
NOTE = (REPO / "events" / "data" / "text_note.txt").read_bytes()


@pytest.fixture
def published(aws, services):
    S3ModelStore(MODELS, aws["s3"]).publish(MODEL_DIR, alias="production")
    return services


def upload(aws, key: str, body: bytes, **metadata: str) -> dict:
    put = aws["s3"].put_object(Bucket=UPLOADS, Key=key, Body=body, Metadata=metadata)
    event = s3_event(UPLOADS, key, version_id=put.get("VersionId"), size=len(body))
    event["Records"][0]["s3"]["configurationId"] = "TextFunction-0"
    return event


def result(aws, key: str) -> dict:
    return json.loads(aws["s3"].get_object(Bucket=UPLOADS, Key=key)["Body"].read())


class CountingStore(S3ModelStore):
    downloads: list[str] = []

    def download_artifact(self, card, artifact, dest):
        type(self).downloads.append(artifact.file)
        super().download_artifact(card, artifact, dest)


def test_publish_uploads_every_file_before_the_card(aws):
    S3ModelStore(MODELS, aws["s3"]).publish(MODEL_DIR, alias="production")
    keys = {o["Key"] for o in aws["s3"].list_objects_v2(Bucket=MODELS)["Contents"]}
    base = "models/note-specialty/1.0.0/"
    assert {base + f for f in ("model.onnx", "tokenizer.json", "head.onnx", "ood.json", "card.json")} <= keys
    assert "models/note-specialty/aliases/production.json" in keys


def test_the_encoder_is_served_from_s3_downloaded_once_and_verified(aws, tmp_path):
    CountingStore(MODELS, aws["s3"]).publish(MODEL_DIR, alias="production")
    CountingStore.downloads = []
    registry = Registry(store=CountingStore(MODELS, aws["s3"]), cache_dir=tmp_path / "cache")
    loaded = registry.load("note-specialty", modality="text")
    assert loaded.source == "s3"
    assert sorted(CountingStore.downloads) == ["head.onnx", "model.onnx", "ood.json", "tokenizer.json"]
    assert set(loaded.files) == {"model.onnx", "tokenizer.json", "head.onnx", "ood.json"}
    for artifact in loaded.card.artifacts():
        assert loaded.files[artifact.file].read_bytes() == (MODEL_DIR / artifact.file).read_bytes()
    registry.load("note-specialty")
    Registry(store=CountingStore(MODELS, aws["s3"]), cache_dir=tmp_path / "cache").load("note-specialty")
    assert len(CountingStore.downloads) == 4  # warm container and a new one on the same /tmp: no download


def test_predict_route_serves_the_s3_model(aws, published, text_app, text_context):
    status, body = call(
        text_app, http_event("POST", "/v1/text/predict", {"text": NOTE.decode()}), text_context
    )
    assert status == 200 and body["predictions"][0]["label"] == "cardiology"
    assert body["model"]["sha256"] == json.loads((MODEL_DIR / "card.json").read_text())["artifact"]["sha256"]
    status, card = call(
        text_app,
        http_event(
            "GET",
            "/v1/models/note-specialty",
            route="/v1/models/{name}",
            path_parameters={"name": "note-specialty"},
        ),
        text_context,
    )
    assert status == 200 and card["model"]["source"] == "s3" and len(card["model"]["extra_artifacts"]) == 3


@pytest.mark.parametrize("tampered", ["tokenizer.json", "head.onnx", "model.onnx"])
def test_a_tampered_file_is_refused_with_502(aws, published, text_app, text_context, capsys, tampered):
    aws["s3"].put_object(Bucket=MODELS, Key=f"models/note-specialty/1.0.0/{tampered}", Body=b"{}")
    status, body = call(
        text_app, http_event("POST", "/v1/text/predict", {"text": "chest pain"}), text_context
    )
    assert (status, body["error"]["code"]) == (502, "MODEL_INTEGRITY_ERROR")
    assert "ModelIntegrityFailure" in capsys.readouterr().out


def test_a_note_put_in_s3_is_deidentified_once_per_version(aws, services, text_app, text_context):
    key = "uploads/text/ward 4/consult 0318.txt"
    event = upload(aws, key, NOTE)
    first = text_app.lambda_handler(event, text_context)
    assert first["outcomes"][0]["status"] == "succeeded"
    body = result(aws, "results/text/ward 4/consult 0318.txt.json")
    note = NOTE.decode()
    assert body["source"]["key"] == key and body["mode"] == "tag" and body["characters"] == len(note)
    values = {note[e["begin"] : e["end"]] for e in body["entities"]}
    assert {"Eleanor M. Vasquez", "00731264", "02/11/1948", "217-555-0143", "62704"} <= values
    for value in values:
        assert value not in body["redacted_text"]
    assert "prediction" not in body
    # the same event again (S3 delivers at least once): no second result
    assert text_app.lambda_handler(event, text_context) == first
    listing = aws["s3"].list_object_versions(Bucket=UPLOADS, Prefix="results/text/ward 4/")
    assert len(listing["Versions"]) == 1


def test_metadata_chooses_the_mode_and_adds_the_specialty(aws, published, text_app, text_context):
    event = upload(aws, "uploads/text/n.txt", NOTE, mode="surrogate", predict="true")
    text_app.lambda_handler(event, text_context)
    body = result(aws, "results/text/n.txt.json")
    assert body["mode"] == "surrogate" and "Vasquez" not in body["redacted_text"]
    assert body["prediction"]["label"] == "cardiology" and body["model"]["name"] == "note-specialty"


@pytest.mark.parametrize(
    ("key", "body", "metadata", "code"),
    [
        ("uploads/text/scan.pdf", b"%PDF-1.7", {}, "UNSUPPORTED_MEDIA_TYPE"),
        ("uploads/text/latin1.txt", "Zoë Müller".encode("latin-1"), {}, "INVALID_INPUT"),
        ("uploads/text/huge.txt", b"a" * 200_001, {}, "PAYLOAD_TOO_LARGE"),
        ("uploads/text/odd.txt", b"note", {"mode": "shred"}, "INVALID_INPUT"),
    ],
)
def test_unusable_uploads_get_an_error_result(
    aws, services, text_app, text_context, key, body, metadata, code
):
    out = text_app.lambda_handler(upload(aws, key, body, **metadata), text_context)
    assert out["outcomes"][0]["status"] == "failed"
    error = result(aws, key.replace("uploads/", "results/", 1) + ".error.json")["error"]
    assert error["code"] == code
    assert "Zo" not in json.dumps(error)
