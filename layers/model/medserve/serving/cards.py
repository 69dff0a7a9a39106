"""Model cards: what a model is, what it takes and gives, how well it did, what it is for.

A model is a directory holding ``model.onnx`` and ``card.json``. The card is the single source of
truth for input validation (names, units, valid ranges), output labels and decision threshold,
explanation settings, the artifact's sha256 and where the model runs (``placement``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from medserve.errors import InvalidModelCard

CARD_FILE = "card.json"
MODEL_FILE = "model.onnx"

Modality = Literal["tabular", "imaging", "text", "recommend", "multimodal"]
Placement = Literal["lambda", "sagemaker-realtime", "sagemaker-async"]


class _Card(BaseModel):
    # Cards are written by training scripts and publishers; unknown keys are kept, not rejected,
    # so a newer card still loads in an older layer.
    model_config = ConfigDict(extra="allow", frozen=True)


class FeatureSpec(_Card):
    name: str
    type: Literal["float"] = "float"
    unit: str
    description: str = ""
    valid_range: tuple[float, float] = Field(description="inclusive; values outside are refused (422)")
    training_range: tuple[float, float] | None = Field(
        default=None, description="observed in training data; values outside are flagged, not refused"
    )
    baseline: float = Field(description="reference value for explanations (training mean)")

    @model_validator(mode="after")
    def _ranges_ordered(self) -> FeatureSpec:
        lo, hi = self.valid_range
        if not lo <= hi:
            raise ValueError(f"valid_range of {self.name} is not ordered")
        if not lo <= self.baseline <= hi:
            raise ValueError(f"baseline of {self.name} lies outside its valid_range")
        return self


class ImageSpec(_Card):
    """Geometry and normalisation of an imaging model's input tensor (``(n, channels, height, width)``)."""

    height: int = Field(ge=8, le=2048, description="rows of the model input, pixels")
    width: int = Field(ge=8, le=2048, description="columns of the model input, pixels")
    channels: Literal[1] = Field(default=1, description="greyscale: colour images are reduced to luma")
    layout: Literal["NCHW"] = "NCHW"
    resize: Literal["letterbox-bilinear"] = Field(
        default="letterbox-bilinear",
        description="padded (centred, with 0) to the input's aspect ratio, then resampled bilinearly",
    )
    window_percentiles: tuple[float, float] = Field(
        default=(0.5, 99.5),
        description="per image, these percentiles of the grey values map to 0 and 1 (clipped)",
    )
    max_pixels: int = Field(default=40_000_000, ge=1, description="decoded width x height; more is a 413")

    @model_validator(mode="after")
    def _window_ordered(self) -> ImageSpec:
        lo, hi = self.window_percentiles
        if not 0.0 <= lo < hi <= 100.0:
            raise ValueError("window_percentiles must satisfy 0 <= low < high <= 100")
        return self


class InputSpec(_Card):
    tensor: str = Field(description="name of the ONNX input")
    dtype: Literal["float32", "float64", "int64"] = "float32"  # int64: token ids of text models
    features: list[FeatureSpec] = Field(default_factory=list)
    max_records: int = Field(default=1000, ge=1, description="records per request; more is a 413")
    image: ImageSpec | None = Field(default=None, description="imaging models: the input image tensor")


class CodingSpec(_Card):
    system: str = Field(min_length=1)
    code: str = Field(min_length=1)
    display: str | None = None


class CodeSpec(_Card):
    """A FHIR CodeableConcept for what the model outputs (``Observation.code``, ``RiskAssessment.code``)."""

    text: str = Field(min_length=1)
    coding: list[CodingSpec] = Field(default_factory=list)


class OutputSpec(_Card):
    labels: list[str] = Field(min_length=2)
    probability_tensor: str = Field(description="name of the ONNX output holding class probabilities")
    positive_label: str | None = None
    decision_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    fhir_code: CodeSpec | None = Field(
        default=None, description="what the output is, for FHIR answers (text, and codings where verified)"
    )

    @model_validator(mode="after")
    def _positive_is_a_label(self) -> OutputSpec:
        if self.positive_label is not None and self.positive_label not in self.labels:
            raise ValueError("positive_label must be one of labels")
        return self


class ExplanationSpec(_Card):
    method: str
    space: str = "log-odds"
    baseline: str = ""
    permutations: int = Field(default=8, ge=1, le=256)
    max_evaluations: int = Field(default=4096, ge=1, description="model evaluations per explained record")
    token_budget_ratio: float | None = Field(
        default=None, gt=0, description="text: encoder tokens evaluated per explanation / the note's tokens"
    )
    grid: int | None = Field(
        default=None, ge=2, le=32, description="occlusion: cells per side; grid^2 + 1 evaluations per image"
    )

    @model_validator(mode="after")
    def _grid_within_budget(self) -> ExplanationSpec:
        if self.grid is not None and self.grid * self.grid + 1 > self.max_evaluations:
            raise ValueError("an occlusion grid needs grid^2 + 1 evaluations, more than max_evaluations")
        return self


class ImagingGate(_Card):
    """What an imaging model accepts, checked after decoding and before the model runs (422
    ``OUT_OF_SCOPE`` outside it). DICOM values are compared as DICOM defined terms; a list left out
    (None) accepts anything. MONAI Deploy's series selector rules gate on the same attributes."""

    modalities: list[str] | None = Field(
        default=None, description="accepted DICOM Modality (0008,0060) defined terms, e.g. CR, DX"
    )
    body_parts: list[str] | None = Field(
        default=None, description="accepted DICOM BodyPartExamined (0018,0015) defined terms, e.g. CHEST"
    )
    body_part_required: bool = Field(
        default=False, description="refuse DICOM files without BodyPartExamined (many radiographs omit it)"
    )
    photometric_interpretations: list[str] | None = Field(
        default=None, description="accepted DICOM PhotometricInterpretation defined terms"
    )
    pixel_spacing_mm: tuple[float, float] | None = Field(
        default=None,
        description="inclusive range of the row/column spacing (PixelSpacing, else ImagerPixelSpacing), "
        "mm; files stating neither are accepted",
    )
    min_side_px: int = Field(default=1, ge=1, description="smallest accepted image side (rows or columns)")
    max_side_px: int = Field(default=65_535, ge=1, description="largest accepted image side")
    plain_images: bool = Field(
        default=True, description="whether PNG and JPEG files (no DICOM header) are accepted"
    )

    @model_validator(mode="after")
    def _ordered(self) -> ImagingGate:
        if self.pixel_spacing_mm is not None and not 0 < self.pixel_spacing_mm[0] <= self.pixel_spacing_mm[1]:
            raise ValueError("pixel_spacing_mm must satisfy 0 < low <= high")
        if self.min_side_px > self.max_side_px:
            raise ValueError("min_side_px must not exceed max_side_px")
        return self


class TextGate(_Card):
    """What a text model accepts. The language check is deliberately cheap (no language model):
    the share of letters that are Latin (U+0000-U+024F), and function-word hits of English against
    six other Latin-script languages (``medserve.text.scope``)."""

    languages: list[Literal["en"]] = Field(default_factory=lambda: ["en"])
    min_words: int = Field(default=1, ge=1, description="fewer words (letter runs) is out of scope")
    max_characters: int | None = Field(default=None, ge=1, description="more characters is out of scope")
    min_latin_letter_share: float = Field(default=0.9, ge=0.0, le=1.0)
    foreign_function_words_min: int = Field(
        default=3, ge=1, description="this many function words of another language, more than English ones"
    )


class TabularGate(_Card):
    """Tabular models are gated by each feature's ``valid_range`` (always refused: INVALID_INPUT);
    ``training_range`` outside values are flagged by default, refused (OUT_OF_SCOPE) with ``refuse``."""

    outside_training_range: Literal["flag", "refuse"] = "flag"


class IntendedUseGate(_Card):
    imaging: ImagingGate | None = None
    text: TextGate | None = None
    tabular: TabularGate | None = None


class OodSpec(_Card):
    """The out-of-distribution score every prediction carries (``predictions[].ood``).

    ``score`` > ``threshold`` means out of distribution. The threshold is the ``percentile`` of
    the scores of in-distribution calibration data; ``false_alarm_rate`` is the share of held-out
    in-distribution inputs scored above it. ``statistics`` names the extra artifact holding what
    the score needs (a JSON file: mean and precision matrix, or class centroids).
    """

    method: str = Field(description="e.g. mahalanobis, max-cosine-centroid")
    threshold: float
    percentile: float = Field(gt=0.0, le=100.0)
    false_alarm_rate: float = Field(ge=0.0, le=1.0, description="on held-out in-distribution data")
    policy: Literal["flag", "refuse"] = Field(
        default="flag", description="flag: in_distribution=false in the answer; refuse: 422 OUT_OF_SCOPE"
    )
    statistics: str = Field(description="file name of the statistics artifact (in extra_artifacts)")
    space: str = Field(default="", description="what the score is computed on")
    embedding_output: str | None = Field(
        default=None, description="the ONNX output holding the embedding (imaging models)"
    )
    training_range_margin: float | None = Field(
        default=None,
        ge=0.0,
        description="tabular: a feature beyond its training_range widened by this share of the range's "
        "width is out of distribution too",
    )
    calibration: dict = Field(default_factory=dict, description="data and split the threshold comes from")


class MonitoringSpec(_Card):
    """Production monitoring of the model (medserve.monitoring)."""

    capture_sampling: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="share of requests captured for drift monitoring (MEDSERVE_CAPTURE_SAMPLING overrides)",
    )


class ItemSpec(_Card):
    """One recommendable item (a treatment or service): what clients show in a picker."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    label: str = Field(min_length=1, description="display name")
    category: str = ""


class ConflictSpec(_Card):
    """A contraindicated combination: with one of ``items`` in the history, the other is never
    recommended."""

    items: tuple[str, str]
    reason: str = Field(min_length=1)


class RecommendSpec(_Card):
    """A recommender's contract: items, safety rules, limits and how the artifacts fit together.

    The ONNX artifact scores ``user @ item_matrix`` (``item_matrix`` an initializer of shape
    ``(factors + 2, n_items)``: the item factors, the item baseline row, the popularity row),
    replaces masked items by -inf and answers the top ``k``. ``factors_file`` (an extra artifact,
    sha256-checked) holds the same item factors for the fold-in and the explanations.
    """

    feedback: Literal["explicit", "implicit"]
    items: list[ItemSpec] = Field(min_length=2)
    conflicts: list[ConflictSpec] = Field(default_factory=list)
    default_k: int = Field(default=5, ge=1)
    max_k: int = Field(ge=1)
    max_history: int = Field(default=200, ge=1, description="history entries per patient; more is a 413")
    max_exclude: int = Field(default=200, ge=0)
    value_range: tuple[float, float] = Field(description="inclusive range of a history entry's value")
    default_value: float | None = Field(
        default=None, description="value of a history entry that gives none (None: value required)"
    )
    value_meaning: str = ""
    regularization: float = Field(gt=0.0, description="lambda of the fold-in (V^T V + lambda I)")
    confidence_alpha: float = Field(default=0.0, ge=0.0, description="implicit: c = 1 + alpha * value")
    factors_file: str = Field(default="factors.npz", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    cold_start: Literal["features", "popularity"] = Field(
        description="no history: 'features' maps patient features to a factor vector, else popularity"
    )
    baseline: str = Field(description="what an explanation's baseline score is")
    tensors: dict[str, str] = Field(
        default_factory=lambda: {
            "user": "user",
            "mask": "mask",
            "k": "k",
            "scores": "scores",
            "top_scores": "top_scores",
            "top_items": "top_items",
        }
    )

    @model_validator(mode="after")
    def _consistent(self) -> RecommendSpec:
        ids = [item.id for item in self.items]
        if len(set(ids)) != len(ids):
            raise ValueError("item ids must be distinct")
        known = set(ids)
        for conflict in self.conflicts:
            a, b = conflict.items
            if a == b or a not in known or b not in known:
                raise ValueError("a conflict names two distinct items of the card")
        if not self.default_k <= self.max_k <= len(ids):
            raise ValueError("default_k <= max_k <= number of items must hold")
        lo, hi = self.value_range
        if not lo <= hi or (self.default_value is not None and not lo <= self.default_value <= hi):
            raise ValueError("value_range must be ordered and hold default_value")
        return self

    def item_ids(self) -> list[str]:
        return [item.id for item in self.items]


class ArtifactSpec(_Card):
    # A plain file name: it becomes an S3 key and a path under the /tmp cache.
    file: str = Field(default=MODEL_FILE, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int | None = None


class TrainingDataDescription(_Card):
    description: str = Field(min_length=1, description="what the data are, where from, how many")
    demographics: str = Field(
        min_length=1, description="who the data represent (age, sex, race, ethnicity...), or why unknown"
    )


class ValidationDescription(_Card):
    process: str = Field(min_length=1, description="how the model was validated (splits, external data)")
    metrics: list[str] = Field(min_length=1, description="the headline measures: names in the card's metrics")


class FairnessDescription(_Card):
    assessed: bool = Field(description="whether subgroup performance was measured")
    analysis: str = Field(min_length=1, description="what was measured, or why it could not be")


class Transparency(_Card):
    """The source attributes ONC HTI-1 (45 CFR 170.315(b)(11)) asks of a predictive decision
    support intervention, beside what the card already states (intended use, inputs, outputs,
    limitations, metrics). Also the FHIR DocumentReference's Markdown (medserve.interop.fhir)."""

    developer: str = Field(min_length=1, description="who developed and funded it")
    intended_patient_population: str = Field(min_length=1)
    intended_users: str = Field(min_length=1)
    out_of_scope_uses: list[str] = Field(min_length=1, description="uses the developer cautions against")
    training_data: TrainingDataDescription
    validation: ValidationDescription
    fairness: FairnessDescription
    update_and_maintenance: str = Field(
        min_length=1, description="how it is monitored, updated, re-validated"
    )
    known_risks: list[str] = Field(min_length=1)


class FusionMember(_Card):
    """One model a fusion head reads: pinned by name, version and sha256 (a change = a new fusion)."""

    modality: Literal["tabular", "imaging", "text"]
    name: str
    version: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    target_label: str = Field(description="the member label whose log-odds the head reads")


class MultimodalSpec(_Card):
    """A late-fusion head: input ``[z_1..z_k, missing_1..missing_k]`` in member order, where z is a
    member's log-odds (0 when missing) and missing is 1 when the modality was not given."""

    members: list[FusionMember] = Field(min_length=1, max_length=3)
    max_request_bytes: int = Field(default=6 * 1024 * 1024 - 64 * 1024, ge=1024)
    time_budget_seconds: float = Field(default=20.0, gt=0)
    example: dict = Field(default_factory=dict, description="a request body the API accepts")


class ModelCard(_Card):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
    modality: Modality
    task: str
    description: str = ""
    intended_use: str
    limitations: list[str] = Field(default_factory=list)
    placement: Placement = "lambda"
    artifact: ArtifactSpec
    extra_artifacts: list[ArtifactSpec] = Field(
        default_factory=list,
        description="further files the model needs (tokenizer, head), each downloaded and sha256-checked",
    )
    inputs: InputSpec
    outputs: OutputSpec
    preprocessing: dict = Field(default_factory=dict)
    explanation: ExplanationSpec | None = None
    recommend: RecommendSpec | None = Field(default=None, description="recommenders: items, conflicts, k")
    multimodal: MultimodalSpec | None = Field(default=None, description="fusion heads: members and limits")
    metrics: dict = Field(default_factory=dict)
    training_data: dict = Field(default_factory=dict)
    transparency: Transparency | None = Field(
        default=None, description="HTI-1 transparency attributes (every bundled card has them)"
    )
    intended_use_gate: IntendedUseGate | None = Field(
        default=None, description="inputs outside it are refused with 422 OUT_OF_SCOPE"
    )
    ood: OodSpec | None = Field(default=None, description="the out-of-distribution score and its threshold")
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)

    @model_validator(mode="after")
    def _tabular_needs_features(self) -> ModelCard:
        if self.modality == "tabular":
            if not self.inputs.features:
                raise ValueError("a tabular card lists its input features")
            if self.task == "binary-classification" and (
                len(self.outputs.labels) != 2 or self.outputs.positive_label is None
            ):
                raise ValueError("a binary classifier has two labels and a positive_label")
        return self

    @model_validator(mode="after")
    def _imaging_needs_image_spec(self) -> ModelCard:
        if self.modality == "imaging" and self.inputs.image is None:
            raise ValueError("an imaging card describes its input image (inputs.image)")
        return self

    @model_validator(mode="after")
    def _recommender_needs_its_spec(self) -> ModelCard:
        if self.modality == "recommend":
            spec = self.recommend
            if spec is None:
                raise ValueError("a recommend card describes its items and limits (recommend)")
            if spec.factors_file not in {a.file for a in self.extra_artifacts}:
                raise ValueError("recommend.factors_file must be one of extra_artifacts (sha256-checked)")
            if list(self.outputs.labels) != spec.item_ids():
                raise ValueError("a recommender's outputs.labels are its item ids, in card order")
        return self

    @model_validator(mode="after")
    def _fusion_needs_members(self) -> ModelCard:
        if self.modality == "multimodal" and self.multimodal is None:
            raise ValueError("a multimodal card names its member models (multimodal.members)")
        return self

    @model_validator(mode="after")
    def _artifact_files_distinct(self) -> ModelCard:
        files = [self.artifact.file, *(a.file for a in self.extra_artifacts)]
        if len(set(files)) != len(files) or CARD_FILE in files:
            raise ValueError("artifact files must be distinct and must not be the card itself")
        return self

    @model_validator(mode="after")
    def _ood_statistics_shipped(self) -> ModelCard:
        if self.ood is not None and self.ood.statistics not in {a.file for a in self.extra_artifacts}:
            raise ValueError("ood.statistics must name one of extra_artifacts")
        return self

    @model_validator(mode="after")
    def _transparency_metrics_exist(self) -> ModelCard:
        if self.transparency is not None:
            unknown = [m for m in self.transparency.validation.metrics if m not in self.metrics]
            if unknown:
                raise ValueError(
                    f"transparency.validation.metrics names unknown metrics: {', '.join(unknown)}"
                )
        return self

    def artifacts(self) -> list[ArtifactSpec]:
        """Every file of the model: the ONNX artifact first, then the extra artifacts."""
        return [self.artifact, *self.extra_artifacts]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.inputs.features]

    def ref(self) -> dict[str, str]:
        """The ``model`` block of every response: which model, exactly."""
        return {"name": self.name, "version": self.version, "sha256": self.artifact.sha256}

    def summary(self) -> dict:
        """What ``GET /v1/models`` lists for each model."""
        return {
            "name": self.name,
            "version": self.version,
            "modality": self.modality,
            "task": self.task,
            "placement": self.placement,
            "intended_use": self.intended_use,
            "sha256": self.artifact.sha256,
        }


def parse_card(raw: bytes | str, *, source: str) -> ModelCard:
    """Parse and validate a card; ``source`` names where it came from, for the error message."""
    try:
        return ModelCard.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as e:
        details = []
        if isinstance(e, ValidationError):
            details = [{"field": ".".join(map(str, err["loc"])), "issue": err["msg"]} for err in e.errors()]
        raise InvalidModelCard(f"model card at {source} is invalid", details) from e


def load_card(directory: Path) -> ModelCard:
    return parse_card((directory / CARD_FILE).read_bytes(), source=str(directory / CARD_FILE))
