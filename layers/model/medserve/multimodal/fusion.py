"""The fusion head: member log-odds and missing indicators in, one calibrated probability out.

The head (``model.onnx`` of a ``multimodal`` card) is a logistic regression over the input row
``[z_1..z_k, missing_1..missing_k]`` in the card's member order: ``z_m`` is member m's log-odds
for its target label, and ``missing_m`` is 1 when the request did not carry that modality (its z
is then 0 and the learned missing term ``u_m`` stands in for it: the head was trained with
modalities dropped at random, so nothing is zero-filled silently). Outputs: ``probabilities``
``(n, 2)`` and ``logit`` ``(n, 1)``.

Explanations are exact Shapley values over the modalities present: the value of a coalition is
the head's logit with every modality outside it marked missing; all 2^k coalitions (at most 8)
are one ``session.run``. They sum to the output's log-odds minus the baseline, the logit with
no modality at all.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from medserve.errors import ModelIntegrityError, ModelNotFound
from medserve.serving.cards import ModelCard, MultimodalSpec
from medserve.serving.registry import LoadedModel, Registry

__all__ = ["FusionModel", "combine_ood", "shapley_values"]

LOGIT = "logit"


class FusionModel:
    """A loaded fusion head whose members are exactly the ones its card names."""

    def __init__(self, loaded: LoadedModel) -> None:
        if loaded.card.modality != "multimodal" or loaded.card.multimodal is None:
            raise ModelNotFound(f"model '{loaded.card.name}' is not a multi-modal model")
        self.loaded = loaded
        self.card: ModelCard = loaded.card
        self.spec: MultimodalSpec = loaded.card.multimodal
        self.modalities = [m.modality for m in self.spec.members]
        labels = self.card.outputs.labels
        self._positive = labels.index(self.card.outputs.positive_label or labels[-1])

    @classmethod
    def load(cls, registry: Registry, name: str | None) -> FusionModel:
        """The fusion head ``name`` (None: the default multi-modal model), after checking that the
        registry serves each member at the version and sha256 the card pins (else 502: a member
        changed under the head, which was trained on the old one's outputs)."""
        model = cls(registry.load(name, modality="multimodal"))
        for member in model.spec.members:
            card, _ = registry.resolve(member.name, modality=member.modality)
            if card.version != member.version or card.artifact.sha256 != member.sha256:
                raise ModelIntegrityError(
                    f"fusion model '{model.card.name}' {model.card.version} was trained on "
                    f"{member.modality} model '{member.name}' {member.version}; the registry serves "
                    f"{card.version} (sha256 {card.artifact.sha256[:12]}...): publish a new fusion version"
                )
        return model

    def rows(self, present: Sequence[Mapping[str, float]]) -> np.ndarray:
        """Input rows: one per mapping of modality -> member log-odds (absent = missing)."""
        k = len(self.modalities)
        x = np.zeros((len(present), 2 * k), dtype=np.float32)
        for i, given in enumerate(present):
            for j, modality in enumerate(self.modalities):
                if modality in given:
                    x[i, j] = given[modality]
                else:
                    x[i, k + j] = 1.0
        return x

    def run(self, present: Sequence[Mapping[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """(n, 2) probabilities and (n,) logits, one ``session.run``."""
        probs, logits = self.loaded.session.run(
            [self.card.outputs.probability_tensor, LOGIT], {self.card.inputs.tensor: self.rows(present)}
        )
        return np.asarray(probs, dtype=np.float64), np.asarray(logits, dtype=np.float64).reshape(-1)

    def predict(
        self, z: Mapping[str, float], *, explain: bool
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The prediction and (when asked) the per-modality Shapley explanation of one request."""
        players = [m for m in self.modalities if m in z]
        coalitions = [
            frozenset(c) for r in range(len(players) + 1) for c in itertools.combinations(players, r)
        ]
        # The full coalition is the answer; the others only cost a row each when explaining.
        wanted = coalitions if explain else [frozenset(players)]
        probs, logits = self.run([{m: z[m] for m in c} for c in wanted])
        row = len(wanted) - 1  # combinations() ends with the full coalition
        labels = self.card.outputs.labels
        p = float(probs[row, self._positive])
        threshold = self.card.outputs.decision_threshold
        prediction: dict[str, Any] = {
            "index": 0,
            "label": labels[self._positive] if p >= threshold else labels[1 - self._positive],
            "probability": p,
            "probabilities": {label: float(v) for label, v in zip(labels, probs[row], strict=True)},
            "decision_threshold": threshold,
            "log_odds": float(logits[row]),
        }
        if not explain:
            return prediction, None
        value = {c: float(v) for c, v in zip(coalitions, logits, strict=True)}
        phi = shapley_values(players, value)
        baseline = value[frozenset()]
        output = value[frozenset(players)]
        contributions = sorted(
            (
                {
                    "modality": m,
                    "contribution": phi[m],
                    "direction": "raises risk" if phi[m] > 0 else "lowers risk",
                }
                for m in players
            ),
            key=lambda c: -abs(c["contribution"]),
        )
        explanation = {
            "index": 0,
            "method": "shapley-exact",
            "space": "log-odds",
            "players": players,
            "baseline": {
                "description": "the head with every modality missing (its learned missing terms)",
                "log_odds": baseline,
                "probability": _sigmoid(baseline),
            },
            "output": {"log_odds": output, "probability": _sigmoid(output)},
            "contributions": contributions,
            "coalitions": len(coalitions),
            "summary": "; ".join(
                f"{c['modality']} {c['direction']} ({c['contribution']:+.3f} log-odds)" for c in contributions
            ),
        }
        return prediction, explanation


def shapley_values(players: Sequence[str], value: Mapping[frozenset[str], float]) -> dict[str, float]:
    """Exact Shapley values of ``players`` under ``value`` (every subset of players present)."""
    k = len(players)
    phi = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for r in range(len(others) + 1):
            weight = math.factorial(r) * math.factorial(k - r - 1) / math.factorial(k)
            for subset in itertools.combinations(others, r):
                s = frozenset(subset)
                total += weight * (value[s | {player}] - value[s])
        phi[player] = total
    return phi


def combine_ood(members: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The fused answer's ``ood`` block: in distribution when every member given says so, out when
    any says out, unknown (None) when a member has no calibrated score; each member's block kept."""
    verdicts = [block.get("in_distribution") for block in members.values()]
    if any(v is False for v in verdicts):
        inside: bool | None = False
    elif verdicts and all(v is True for v in verdicts):
        inside = True
    else:
        inside = None
    return {
        "score": None,
        "threshold": None,
        "in_distribution": inside,
        "method": "members",
        "members": dict(members),
    }


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))
