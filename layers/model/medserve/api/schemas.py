"""Wire formats of the HTTP API (pydantic): what the OpenAPI document publishes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TabularPredictRequest(_Wire):
    model: str | None = Field(default=None, description="model name; default: the deployment's tabular model")
    records: list[dict[str, Any]] = Field(
        description="one object per case, feature name -> number, exactly the card's features"
    )
    explain: bool = Field(default=False, description="add per-feature Shapley contributions")

    def __repr__(self) -> str:
        # Never the records: powertools formats route arguments into a debug f-string on every
        # call (evaluated even when DEBUG is off), and a repr must not carry patient values.
        return (
            f"TabularPredictRequest(model={self.model!r}, records=<{len(self.records)}>, "
            f"explain={self.explain})"
        )

    __str__ = __repr__


class ModelRefOut(BaseModel):
    name: str
    version: str
    sha256: str


class ErrorBody(BaseModel):
    code: str = Field(examples=["INVALID_INPUT"])
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    request_id: str
    error: ErrorBody


class PredictEnvelope(BaseModel):
    request_id: str
    model: ModelRefOut
    placement: Literal["lambda", "sagemaker-realtime", "sagemaker-async"] = "lambda"
    ran_on: dict[str, Any] = Field(default_factory=dict, description="placement, endpoint and why")
    predictions: list[dict[str, Any]]
    explanations: list[dict[str, Any]] = Field(default_factory=list)
    timing_ms: dict[str, float]
    intended_use: str


class ModelSummary(BaseModel):
    name: str
    version: str
    modality: str
    task: str
    placement: str
    intended_use: str
    sha256: str
    source: str


class ModelList(BaseModel):
    request_id: str
    models: list[ModelSummary]


class Health(BaseModel):
    status: Literal["ok"]
    service: str
    version: str
    function: str | None = None


class CardEnvelope(BaseModel):
    request_id: str
    model: dict[str, Any] = Field(description="the model card (see README: model cards)")


def error_responses(descriptions: Mapping[int, str], *codes: int) -> dict[int, dict[str, Any]]:
    """OpenAPI ``responses`` entries for a route's errors (all of ``descriptions`` unless ``codes``
    picks some), each with the error envelope as its body."""
    return {
        code: {"description": descriptions[code], "content": {"application/json": {"model": ErrorEnvelope}}}
        for code in (codes or tuple(descriptions))
    }
