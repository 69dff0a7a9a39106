"""Imaging prediction: bytes of one image in, label, calibrated probabilities and an occlusion map out.

The three steps (``pre_process -> predict -> post_process``) are :meth:`ImagingModel.prepare`,
:meth:`ImagingModel.predict` and :meth:`ImagingModel.explain`; :func:`predict_image` runs them for
the API route and the S3 trigger alike and returns the response body without its ``request_id``.

The model contract comes from the card: input ``inputs.tensor`` of shape ``(n, 1, height, width)``
float32 in [0, 1] (``inputs.image``), output ``outputs.probability_tensor`` of shape
``(n, len(labels))`` holding class probabilities; the label is the positive class when its
probability reaches ``decision_threshold`` (binary cards), else the most probable one.
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from medserve.errors import ModelNotFound, NotConfigured
from medserve.imaging.decode import decode, normalise, to_model_input
from medserve.imaging.saliency import evaluations_per_image, occlusion, overlay_png
from medserve.imaging.scope import check_scope
from medserve.imaging.types import MAX_INLINE_BYTES, DecodedImage, ModelInput
from medserve.monitoring.capture import capture_outputs
from medserve.observability import Stopwatch, model_dimensions, record_prediction
from medserve.services import get_services
from medserve.serving.cards import ImageSpec, ModelCard
from medserve.serving.ood import NOT_CALIBRATED, refuse_if_required, scorer_for
from medserve.serving.registry import LoadedModel

__all__ = ["ImagingModel", "capture_prediction", "predict_image"]


class ImagingModel:
    """A loaded imaging classifier with its card."""

    def __init__(self, loaded: LoadedModel) -> None:
        spec = loaded.card.inputs.image
        if spec is None:  # cards.py refuses imaging cards without one; other modalities land here
            raise ModelNotFound(f"model '{loaded.card.name}' does not take images")
        self.loaded = loaded
        self.card: ModelCard = loaded.card
        self.spec: ImageSpec = spec
        labels = self.card.outputs.labels
        positive = self.card.outputs.positive_label
        self._positive = labels.index(positive) if positive is not None else None

    def prepare(self, image: DecodedImage) -> ModelInput:
        """Normalise and letterbox a decoded image to the model's input geometry."""
        grey, uniform = normalise(image.pixels, self.spec.window_percentiles)
        return to_model_input(grey, self.spec.height, self.spec.width, uniform=uniform)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(n, height, width) float32 -> (n, n_labels) float64, one ``session.run``."""
        return self._run(images, embedding=False)[0]

    def _run(self, images: np.ndarray, *, embedding: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Probabilities and, when asked and the card names one, the embedding output: one run."""
        outputs = [self.card.outputs.probability_tensor]
        wanted = self.card.ood.embedding_output if embedding and self.card.ood else None
        if wanted:
            outputs.append(wanted)
        out = self.loaded.session.run(
            outputs, {self.card.inputs.tensor: images[:, None, :, :].astype(np.float32, copy=False)}
        )
        embeddings = np.asarray(out[1], dtype=np.float64) if wanted else None
        return np.asarray(out[0], dtype=np.float64), embeddings

    def ood(self, embedding: np.ndarray | None) -> dict[str, Any]:
        """The ``ood`` block: the card's score on the embedding (or "none" without an ``ood`` block)."""
        scorer = scorer_for(self.loaded)
        if scorer is None or embedding is None:
            return dict(NOT_CALIBRATED)
        return scorer.verdict(float(scorer.scores(embedding[None])[0]))

    def _target(self, probabilities: np.ndarray) -> int:
        return self._positive if self._positive is not None else int(np.argmax(probabilities))

    def predict(self, x: ModelInput, warnings: list[str] | None = None) -> tuple[dict[str, Any], np.ndarray]:
        """The prediction item of the response, and the probabilities it was made from."""
        probs, embeddings = self._run(x.tensor[None], embedding=True)
        probs = probs[0]
        labels = self.card.outputs.labels
        item: dict[str, Any] = {"index": 0}
        if self._positive is not None and len(labels) == 2:
            p = float(probs[self._positive])
            threshold = self.card.outputs.decision_threshold
            item["label"] = labels[self._positive] if p >= threshold else labels[1 - self._positive]
            item["probability"] = p
            item["decision_threshold"] = threshold
        else:
            item["label"] = labels[int(np.argmax(probs))]
        item["probabilities"] = {label: float(v) for label, v in zip(labels, probs, strict=True)}
        notes = list(warnings or [])
        if x.uniform:
            notes.append("the image has a single grey value: there is nothing for the model to see")
        if notes:
            item["warnings"] = notes
        item["ood"] = self.ood(embeddings[0] if embeddings is not None else None)
        return item, probs

    def explain(self, x: ModelInput, probabilities: np.ndarray) -> dict[str, Any]:
        """Occlusion map for the target class (the positive label, else the predicted one)."""
        spec = self.card.explanation
        grid = spec.grid if spec is not None and spec.grid else 8
        budget = spec.max_evaluations if spec is not None else evaluations_per_image(grid)
        target = self._target(probabilities)
        result = occlusion(lambda batch: self.probabilities(batch)[:, target], x.tensor, grid)
        peak = np.unravel_index(int(np.argmax(result.values)), result.values.shape)
        label = self.card.outputs.labels[target]
        strongest = float(result.values[peak])
        png = overlay_png(x.tensor, result, x.box)
        return {
            "index": 0,
            "method": "occlusion",
            "space": "probability",
            "target_label": label,
            "baseline": "each grid cell replaced by its own mean grey value",
            "output": {"probability": result.score},
            "grid": {
                "rows": grid,
                "columns": grid,
                "row_edges_px": result.row_edges.tolist(),
                "column_edges_px": result.col_edges.tolist(),
                # values[r][c] = p(target) - p(target with cell r, c hidden): > 0 supports the label
                "values": [[round(float(v), 6) for v in row] for row in result.values],
            },
            "input_box_px": list(x.box),
            "peak": {"row": int(peak[0]), "column": int(peak[1]), "value": round(strongest, 6)},
            "summary": (
                f"Hiding cell (row {peak[0]}, column {peak[1]}) lowers p({label}) most, by {strongest:.3f}."
                if strongest > 0
                else f"No region raises p({label}): hiding any cell leaves it the same or higher."
            ),
            "overlay_png_base64": base64.b64encode(png).decode("ascii"),
            "overlay_px": [x.box[2] - x.box[0], x.box[3] - x.box[1]],
            "evaluations": result.evaluations,
            "budget": budget,
            "session_runs": result.calls,
        }


def predict_image(
    data: bytes, *, model: str | None = None, explain: bool = False, max_bytes: int = MAX_INLINE_BYTES
) -> dict[str, Any]:
    """Decode, predict and optionally explain one image; the response body without ``request_id``.

    ``timing_ms`` splits the work into decode, preprocess, inference and explain (milliseconds).
    """
    clock = Stopwatch()
    registry = get_services().registry
    card, _ = registry.resolve(model, modality="imaging")
    if card.placement != "lambda":
        # Never run a model here that its card places on SageMaker (size, GPU): say so instead.
        raise NotConfigured(f"model '{card.name}' runs on SageMaker; imaging offload is not offered yet")
    imaging = ImagingModel(registry.load(card.name, modality="imaging"))
    model_dimensions(imaging.card.name, imaging.card.version)
    spec = imaging.spec

    decoded = decode(
        data,
        max_bytes=max_bytes,
        max_pixels=spec.max_pixels,
        reduce_to=2 * max(spec.height, spec.width),
    )
    clock.lap("decode")
    check_scope(imaging.card, decoded)  # 422 OUT_OF_SCOPE before the model runs
    x = imaging.prepare(decoded)
    clock.lap("preprocess")
    prediction, probs = imaging.predict(x, decoded.warnings)
    refuse_if_required(imaging.card, prediction["ood"], "the image")
    clock.lap("inference")
    explanations = [imaging.explain(x, probs)] if explain else []
    clock.lap("explain")
    timing = clock.timing_ms()
    record_prediction(
        "imaging prediction",
        count=1,
        total_ms=timing["total"],
        model=imaging.card.name,
        version=imaging.card.version,
        format=decoded.format,
        explain=explain,
    )
    body: dict[str, Any] = {
        "model": imaging.loaded.envelope(),
        "placement": imaging.card.placement,
        "input": decoded.describe(),
    }
    if decoded.dicom is not None:
        body["dicom"] = decoded.dicom
    body |= {
        "predictions": [prediction],
        "explanations": explanations,
        "timing_ms": timing,
        "intended_use": imaging.card.intended_use,
    }
    return body


def capture_prediction(body: dict[str, Any], *, route: str, request_id: str) -> ModelCard:
    """Hand a :func:`predict_image` body's outputs and OOD score (never pixels, header or file
    name) to monitoring's sampled capture, as the route and the S3 scorer both do; the card of the
    model that answered."""
    services = get_services()
    card, _ = services.registry.resolve(body["model"]["name"], modality="imaging")
    capture_outputs(
        services.capture(),
        services.registry,
        card,
        route=route,
        status=200,
        latency_ms=body["timing_ms"]["total"],
        request_id=request_id,
        predictions=body["predictions"],
    )
    return card
