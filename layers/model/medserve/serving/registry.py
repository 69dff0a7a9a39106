"""The model registry: bundled models in the layer, and an S3 registry in the models bucket.

S3 layout (``medserve models publish`` writes it)::

    models/<name>/<version>/model.onnx
    models/<name>/<version>/<extra artifact>    e.g. tokenizer.json (card: extra_artifacts)
    models/<name>/<version>/card.json
    models/<name>/aliases/<alias>.json     {"version": "<version>"}

The alias the deployment serves (``MEDSERVE_MODEL_ALIAS``, default ``production``) names the
version of each S3 model; an S3 model shadows a bundled one of the same name. Versions are
immutable, so each artifact file is downloaded once to /tmp, its sha256 checked against the card, and
reused for the life of the container; aliases are re-read after ``alias_ttl`` seconds so that
switching an alias takes effect without a redeploy.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from medserve.aws.errors import aws_errors
from medserve.config import Settings, settings
from medserve.errors import InvalidModelCard, ModelIntegrityError, ModelNotFound, UpstreamError
from medserve.monitoring.baseline import CONSTRAINTS_FILE, STATISTICS_FILE, Baseline
from medserve.observability import MetricUnit, logger, metrics
from medserve.serving.cards import CARD_FILE, ArtifactSpec, ModelCard, load_card, parse_card
from medserve.serving.runtime import SessionCache, SessionKey, sha256_file

if TYPE_CHECKING:
    import onnxruntime as ort
    from mypy_boto3_s3 import S3Client

BUNDLED_DIR = Path(__file__).resolve().parents[1] / "bundled"  # medserve/bundled
DEFAULT_CACHE_DIR = Path(tempfile.gettempdir()) / "medserve" / "models"
PREFIX = "models/"

Source = Literal["bundled", "s3", "endpoint"]  # endpoint: loaded by a SageMaker container


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run: its card, where it came from and its inference session."""

    card: ModelCard
    source: Source
    session: ort.InferenceSession
    # Every verified file of the model by its card name (artifact and extra artifacts).
    files: Mapping[str, Path] = field(default_factory=dict)

    def envelope(self) -> dict[str, str]:
        """The ``model`` block of every response."""
        return self.card.ref()


def derive_model(source: Path, target: Path, **card_updates: Any) -> Path:
    """Copy the model directory ``source`` to ``target`` with its card changed by ``card_updates``
    (name, version, placement, ...): the same artifact, so the card's sha256 still holds. How a
    model is republished under another name, version or placement (demos, tests)."""
    shutil.copytree(source, target)
    card = json.loads((target / CARD_FILE).read_text())
    card.update(card_updates)
    (target / CARD_FILE).write_text(json.dumps(card, indent=2))
    return target


class BundledModels:
    """Models shipped in the layer: ``<dir>/<name>/{card.json,model.onnx}``, one version each."""

    def __init__(self, directory: Path = BUNDLED_DIR) -> None:
        self.directory = directory
        self._cards: dict[str, tuple[ModelCard, Path]] | None = None

    def _scan(self) -> dict[str, tuple[ModelCard, Path]]:
        if self._cards is None:
            found: dict[str, tuple[ModelCard, Path]] = {}
            if self.directory.is_dir():
                for card_path in sorted(self.directory.glob(f"*/{CARD_FILE}")):
                    card = load_card(card_path.parent)
                    found[card.name] = (card, card_path.parent / card.artifact.file)
            self._cards = found
        return self._cards

    def names(self) -> list[str]:
        return list(self._scan())

    def get(self, name: str) -> tuple[ModelCard, Path] | None:
        return self._scan().get(name)


class S3ModelStore:
    """The S3 side of the registry. Every ``ClientError`` becomes an ``UpstreamError``."""

    def __init__(
        self,
        bucket: str,
        client: S3Client | None = None,
        *,
        client_factory: Callable[[], S3Client] | None = None,
    ) -> None:
        """``client_factory``: where the container's one S3 client comes from (Services.s3), so a
        cold start builds one client, not one per user of S3 (each is ~60-80 ms of model loading)."""
        self.bucket = bucket
        self._client = client
        self._client_factory = client_factory

    @property
    def client(self) -> S3Client:
        if self._client is None:
            if self._client_factory is not None:
                self._client = self._client_factory()
            else:
                import boto3

                self._client = boto3.client("s3")
        return self._client

    def _get(self, key: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise UpstreamError("the model registry could not be read") from e
        except BotoCoreError as e:  # no credentials, endpoint unreachable, timeouts
            raise UpstreamError("the model registry could not be reached") from e

    def names(self) -> list[str]:
        names: list[str] = []
        with aws_errors("the model registry could not be listed"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=PREFIX, Delimiter="/"):
                names += [p["Prefix"][len(PREFIX) : -1] for p in page.get("CommonPrefixes", [])]
        return names

    def alias_version(self, name: str, alias: str) -> str | None:
        raw = self._get(f"{PREFIX}{name}/aliases/{alias}.json")
        if raw is None:
            return None
        try:
            return str(json.loads(raw)["version"])
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidModelCard(f"alias {alias} of model {name} is not valid JSON with a version") from e

    def card(self, name: str, version: str) -> ModelCard | None:
        raw = self._get(f"{PREFIX}{name}/{version}/{CARD_FILE}")
        if raw is None:
            return None
        return parse_card(raw, source=f"s3://{self.bucket}/{PREFIX}{name}/{version}/{CARD_FILE}")

    def baseline(self, card: ModelCard) -> Baseline | None:
        """The model's monitoring baseline (statistics.json + constraints.json), if published."""
        base = f"{PREFIX}{card.name}/{card.version}/"
        statistics = self._get(base + STATISTICS_FILE)
        constraints = self._get(base + CONSTRAINTS_FILE) if statistics is not None else None
        if statistics is None or constraints is None:
            return None
        return Baseline.from_documents(statistics, constraints)

    def download(self, card: ModelCard, dest: Path) -> None:
        self.download_artifact(card, card.artifact, dest)

    def download_artifact(self, card: ModelCard, artifact: ArtifactSpec, dest: Path) -> None:
        key = f"{PREFIX}{card.name}/{card.version}/{artifact.file}"
        with aws_errors("a model artifact could not be downloaded from the registry"):
            self.client.download_file(self.bucket, key, str(dest))

    def publish(self, directory: Path, alias: str | None) -> ModelCard:
        """Upload a model directory after checking its card and sha256; then move the alias."""
        card = load_card(directory)
        for spec in card.artifacts():
            if sha256_file(directory / spec.file) != spec.sha256:
                raise ModelIntegrityError(f"{directory / spec.file} does not match the sha256 in its card")
        base = f"{PREFIX}{card.name}/{card.version}/"
        # The artifacts go first and the card second: a reader that finds a card finds its model.
        for spec in card.artifacts():
            self.client.upload_file(str(directory / spec.file), self.bucket, base + spec.file)
        for name in (STATISTICS_FILE, CONSTRAINTS_FILE):  # the monitoring baseline, when built
            if (directory / name).is_file():
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=base + name,
                    Body=(directory / name).read_bytes(),
                    ContentType="application/json",
                )
        self.client.put_object(
            Bucket=self.bucket,
            Key=base + CARD_FILE,
            Body=(directory / CARD_FILE).read_bytes(),
            ContentType="application/json",
        )
        if alias:
            self.client.put_object(
                Bucket=self.bucket,
                Key=f"{PREFIX}{card.name}/aliases/{alias}.json",
                Body=json.dumps({"version": card.version}).encode(),
                ContentType="application/json",
            )
        return card


class Registry:
    """Resolves a model name to a ready session, from S3 (by alias) or from the bundle."""

    def __init__(
        self,
        bundled: BundledModels | None = None,
        store: S3ModelStore | None = None,
        *,
        alias: str = "production",
        cache_dir: Path = DEFAULT_CACHE_DIR,
        sessions: SessionCache | None = None,
        alias_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bundled = bundled or BundledModels()
        self.store = store
        self.alias = alias
        self.cache_dir = cache_dir
        self.sessions = sessions or SessionCache()
        self.alias_ttl = alias_ttl
        self._clock = clock
        self._aliases: dict[str, tuple[float, str | None]] = {}
        self._s3_cards: dict[tuple[str, str], ModelCard] = {}
        self._verified: set[tuple[Path, str]] = set()
        self._baselines: dict[tuple[str, str, str], Baseline | None] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        config: Settings | None = None,
        s3_client: S3Client | None = None,
        s3_factory: Callable[[], S3Client] | None = None,
    ) -> Registry:
        config = config or settings()
        bucket = config.models_bucket
        return cls(
            store=S3ModelStore(bucket, s3_client, client_factory=s3_factory) if bucket else None,
            alias=config.model_alias,
            cache_dir=config.model_cache,
        )

    # -- resolution ---------------------------------------------------------------------------
    def _s3_version(self, name: str) -> str | None:
        if self.store is None:
            return None
        now = self._clock()
        cached = self._aliases.get(name)
        if cached is not None and now - cached[0] < self.alias_ttl:
            return cached[1]
        version = self.store.alias_version(name, self.alias)
        self._aliases[name] = (now, version)
        return version

    def _s3_card(self, name: str, version: str) -> ModelCard:
        card = self._s3_cards.get((name, version))
        if card is None:
            card = self.store.card(name, version) if self.store else None
            if card is None:
                raise ModelNotFound(
                    f"model '{name}' version '{version}' named by alias '{self.alias}' is missing"
                )
            if card.name != name or card.version != version:
                raise InvalidModelCard(f"card at models/{name}/{version}/ names another model or version")
            self._s3_cards[(name, version)] = card
        return card

    def card(self, name: str) -> tuple[ModelCard, Source]:
        version = self._s3_version(name)
        if version is not None:
            return self._s3_card(name, version), "s3"
        bundled = self.bundled.get(name)
        if bundled is not None:
            return bundled[0], "bundled"
        # Not quoted: the name is the caller's, and callers put anything there (a patient's name too).
        raise ModelNotFound("no model with that name; GET /v1/models lists the models served")

    def cards(self) -> list[tuple[ModelCard, Source]]:
        names = set(self.bundled.names())
        if self.store is not None:
            names.update(self.store.names())
        found = []
        for name in sorted(names):
            try:
                found.append(self.card(name))
            except ModelNotFound:  # an S3 model without the served alias is not servable here
                continue
        return found

    def default_name(self, modality: str) -> str:
        configured = settings().default_models.get(modality)
        if configured:
            return configured
        candidates = [card.name for card, _ in self.cards() if card.modality == modality]
        if not candidates:
            raise ModelNotFound(f"no {modality} model is available")
        return candidates[0]

    # -- loading ------------------------------------------------------------------------------
    def resolve(self, name: str | None, modality: str | None = None) -> tuple[ModelCard, Source]:
        """The card a name serves (no download, no session): enough to validate and route. No name:
        the modality's default model."""
        if name is None:
            if modality is None:
                raise ModelNotFound("no model named and no modality to choose a default for")
            name = self.default_name(modality)
        card, source = self.card(name)
        if modality is not None and card.modality != modality:
            raise ModelNotFound(f"model '{name}' is a {card.modality} model, not a {modality} one")
        return card, source

    def load(self, name: str | None, modality: str | None = None) -> LoadedModel:
        """The model ``name`` (None: the modality's default) with a verified artifact and its session."""
        card, source = self.resolve(name, modality)
        path = self._artifact(card, source)
        files = {card.artifact.file: path}
        files.update({spec.file: self._artifact(card, source, spec) for spec in card.extra_artifacts})
        session = self.sessions.get(SessionKey(card.name, card.version, card.artifact.sha256), path)
        return LoadedModel(card=card, source=source, session=session, files=files)

    def _artifact(self, card: ModelCard, source: Source, spec: ArtifactSpec | None = None) -> Path:
        """A verified local copy of one file of the model (default: its ONNX artifact)."""
        spec = spec or card.artifact
        if source == "bundled":
            path = self.bundled.get(card.name)[1].parent / spec.file  # type: ignore[index]
        else:
            path = self.cache_dir / card.name / card.version / spec.sha256 / spec.file
            if not path.exists():
                self._download(card, path, spec)
        self._verify(card, path, source, spec)
        return path

    def _download(self, card: ModelCard, path: Path, spec: ArtifactSpec | None = None) -> None:
        spec = spec or card.artifact
        assert self.store is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        # Download beside the target and rename: a concurrent or interrupted download never
        # leaves a half-written model where a later invocation would trust it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
        os.close(fd)
        try:
            if spec is card.artifact:
                self.store.download(card, Path(tmp))
            else:
                self.store.download_artifact(card, spec, Path(tmp))
            started = time.perf_counter()
            actual = sha256_file(Path(tmp))
            if actual != spec.sha256:
                self._integrity_failure(card, "s3")
            os.replace(tmp, path)
            logger.info(
                "model downloaded",
                extra={
                    "model": card.name,
                    "version": card.version,
                    "file": spec.file,
                    "hash_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self._verified.add((path, spec.sha256))

    def _verify(self, card: ModelCard, path: Path, source: Source, spec: ArtifactSpec | None = None) -> None:
        key = (path, (spec or card.artifact).sha256)
        if key in self._verified:
            return
        with self._lock:
            if key not in self._verified:
                if sha256_file(path) != key[1]:
                    self._integrity_failure(card, source)
                self._verified.add(key)

    @staticmethod
    def _integrity_failure(card: ModelCard, source: str) -> None:
        metrics.add_metric(name="ModelIntegrityFailure", unit=MetricUnit.Count, value=1)
        logger.error(
            "model artifact sha256 mismatch",
            extra={"model": card.name, "version": card.version, "source": source},
        )
        raise ModelIntegrityError(
            f"model '{card.name}' version '{card.version}' failed its integrity check and will not be served"
        )

    def baseline(self, card: ModelCard, source: Source) -> Baseline | None:
        """The monitoring baseline beside the card (bundled directory or S3 version), read once
        per container; None when the model has none (then nothing of its inputs is captured)."""
        key = (card.name, card.version, card.artifact.sha256)
        if key not in self._baselines:
            if source == "bundled":
                found = self.bundled.get(card.name)
                self._baselines[key] = Baseline.load(found[1].parent) if found else None
            elif source == "s3" and self.store is not None:
                self._baselines[key] = self.store.baseline(card)
            else:
                self._baselines[key] = None
        return self._baselines[key]

    def describe(self, name: str) -> dict[str, Any]:
        """The full card as served by ``GET /v1/models/{name}``."""
        card, source = self.card(name)
        return {**card.model_dump(mode="json"), "source": source}
