"""The recommender: fold-in of a new patient (numpy) and scoring with top-k (ONNX).

Artifacts (both sha256-checked by the registry): ``model.onnx`` computes
``scores = user @ item_matrix`` (an initializer of shape ``(d + 2, n_items)``: the ``d`` item factor
columns, the item baseline row, the popularity row), sets masked items to -inf and answers the top
``k``; ``factors.npz`` (card ``recommend.factors_file``) holds the same factors for the fold-in and
the explanations. Loading checks that the two agree (one ONNX run), so a mismatched pair is refused.

Fold-in (no retraining) of a history ``H`` with values ``r``, items' factor rows ``x_j``:

- explicit ratings: ``A = X_H^T X_H + lambda I``, ``w_j = r_j - b_j`` (``b_j`` the item baseline),
- implicit (Hu, Koren, Volinsky 2008): ``c_j = 1 + alpha r_j``, ``A = X^T X + X_H^T (C - I) X_H +
  lambda I``, ``w_j = c_j`` (preference 1 for every item in the history),

then ``u = A^-1 X_H^T w`` and ``score_i = b_i + x_i . u``. Given the history's items, ``u`` is linear
in ``w``, so ``score_i - b_i = sum_j w_j (x_i^T A^-1 x_j)`` exactly: those are the explanation's
contributions. For explicit models ``x`` carries a constant 1 column, so ``u``'s last coordinate
is the patient's own offset (a user bias) and the sum still holds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from medserve.errors import ModelIntegrityError
from medserve.serving.cards import ModelCard, RecommendSpec
from medserve.serving.registry import LoadedModel

if TYPE_CHECKING:
    from medserve.serving.registry import Registry

__all__ = ["Factors", "FoldIn", "RecommendModel", "contributions", "fold_in"]

_AGREEMENT = 1e-6  # |ONNX - factors| allowed at load (float64 both sides; a mismatch is far larger)


@dataclass(frozen=True)
class Factors:
    """The numeric side of a recommender (``factors.npz``; float64)."""

    item_factors: np.ndarray  # (n_items, d)
    item_bias: np.ndarray  # (n_items,): the baseline score of each item
    popularity: np.ndarray  # (n_items,): the non-personalised ranking score
    feedback: str
    lam: float
    alpha: float
    feature_mean: np.ndarray | None = None  # (n_features,) cold start: z = (x - mean) / scale
    feature_scale: np.ndarray | None = None
    feature_map: np.ndarray | None = None  # (n_features, d): u = z @ map + intercept
    feature_intercept: np.ndarray | None = None  # (d,)

    @property
    def dim(self) -> int:
        return int(self.item_factors.shape[1])

    @property
    def gram(self) -> np.ndarray:
        return self.item_factors.T @ self.item_factors

    @property
    def learned_features(self) -> bool:
        return self.feature_map is not None

    @classmethod
    def load(cls, path: Path, spec: RecommendSpec) -> Factors:
        # allow_pickle=False: an .npz is arrays only; a pickled object would run code on load.
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.asarray(npz[name], dtype=np.float64) for name in npz.files}
        n = len(spec.items)
        factors = cls(
            item_factors=arrays["item_factors"],
            item_bias=arrays["item_bias"],
            popularity=arrays["popularity"],
            feedback=spec.feedback,
            lam=spec.regularization,
            alpha=spec.confidence_alpha,
            feature_mean=arrays.get("feature_mean"),
            feature_scale=arrays.get("feature_scale"),
            feature_map=arrays.get("feature_map"),
            feature_intercept=arrays.get("feature_intercept"),
        )
        if (
            factors.item_factors.shape[0] != n
            or factors.item_bias.shape != (n,)
            or factors.popularity.shape != (n,)
        ):
            raise ModelIntegrityError("the recommender's factors do not match the items of its card")
        return factors

    def matrix(self) -> np.ndarray:
        """``item_matrix`` of the ONNX graph: ``(d + 2, n_items)``."""
        return np.vstack([self.item_factors.T, self.item_bias[None, :], self.popularity[None, :]])


@dataclass(frozen=True)
class FoldIn:
    """A patient folded in from a history: their factor vector and what explains it."""

    user: np.ndarray  # (d,)
    a_inv: np.ndarray  # (d, d)
    items: np.ndarray  # (h,) item indices of the history
    weights: np.ndarray  # (h,) w_j: explicit r_j - b_j, implicit c_j


def fold_in(factors: Factors, items: np.ndarray, values: np.ndarray) -> FoldIn:
    """``u = A^-1 X_H^T w`` for one history (see the module docstring for ``A`` and ``w``)."""
    x_h = factors.item_factors[items]
    eye = factors.lam * np.eye(factors.dim)
    if factors.feedback == "explicit":
        a = x_h.T @ x_h + eye
        weights = values - factors.item_bias[items]
    else:
        confidence = 1.0 + factors.alpha * values
        a = factors.gram + x_h.T @ ((confidence - 1.0)[:, None] * x_h) + eye
        weights = confidence
    a_inv = np.linalg.inv(a)  # symmetric positive definite and d x d (d small): exact enough
    user = a_inv @ (x_h.T @ weights)
    return FoldIn(user=user, a_inv=a_inv, items=items, weights=weights)


def contributions(factors: Factors, fold: FoldIn, targets: np.ndarray) -> np.ndarray:
    """``(len(targets), h)``: ``w_j x_i^T A^-1 x_j``; each row sums to ``score_i - b_i``."""
    x_t = factors.item_factors[targets]
    x_h = factors.item_factors[fold.items]
    return (x_t @ fold.a_inv @ x_h.T) * fold.weights[None, :]


_CACHE: dict[tuple[str, ...], RecommendModel] = {}
_CACHE_LOCK = threading.Lock()


class RecommendModel:
    """A loaded recommender: its card, factors and ONNX session."""

    @classmethod
    def load(cls, registry: Registry, name: str | None) -> RecommendModel:
        """From the registry (every file sha256-checked; None: the default recommender); factors
        cached with the session."""
        loaded = registry.load(name, modality="recommend")
        card = loaded.card
        key = (card.name, card.version, *(a.sha256 for a in card.artifacts()))
        model = _CACHE.get(key)
        if model is None or model.loaded.session is not loaded.session:
            with _CACHE_LOCK:
                model = _CACHE[key] = cls(loaded)
        return model

    def __init__(self, loaded: LoadedModel) -> None:
        if loaded.card.recommend is None:
            raise ModelIntegrityError(f"model '{loaded.card.name}' is not a recommender")
        self.loaded = loaded
        self.card: ModelCard = loaded.card
        self.spec: RecommendSpec = loaded.card.recommend
        self.factors = Factors.load(loaded.files[self.spec.factors_file], self.spec)
        self.item_ids = self.spec.item_ids()
        self.index = {item: i for i, item in enumerate(self.item_ids)}
        self.labels = {item.id: item.label for item in self.spec.items}
        self._check_agreement()

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_row(self, user: np.ndarray | None) -> np.ndarray:
        """The ONNX input row: ``[u, 1, 0]`` (personalised) or ``[0, 0, 1]`` (popularity)."""
        row = np.zeros(self.factors.dim + 2)
        if user is None:
            row[-1] = 1.0
        else:
            row[: self.factors.dim] = user
            row[-2] = 1.0
        return row

    def top_k(self, users: np.ndarray, masks: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """One ONNX run: ``(n, k)`` scores (descending) and item indices. Masked items score -inf;
        callers keep ``k`` at most the number of unmasked items and drop any -inf all the same."""
        t = self.spec.tensors
        scores, items = self.loaded.session.run(
            [t["top_scores"], t["top_items"]],
            {
                t["user"]: np.ascontiguousarray(users, dtype=np.float64),
                t["mask"]: np.ascontiguousarray(masks, dtype=bool),
                t["k"]: np.array([k], dtype=np.int64),
            },
        )
        return np.asarray(scores, dtype=np.float64), np.asarray(items, dtype=np.int64)

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Every item's score, ``(n, n_items)``, from the ONNX graph (nothing masked)."""
        t = self.spec.tensors
        masks = np.zeros((len(users), self.n_items), dtype=bool)
        (out,) = self.loaded.session.run(
            [t["scores"]],
            {
                t["user"]: np.ascontiguousarray(users, dtype=np.float64),
                t["mask"]: masks,
                t["k"]: np.array([1], dtype=np.int64),
            },
        )
        return np.asarray(out, dtype=np.float64)

    def _check_agreement(self) -> None:
        # Scoring the identity rows reads item_matrix back out of the graph.
        probe = self.scores(np.eye(self.factors.dim + 2))
        if probe.shape != (self.factors.dim + 2, self.n_items) or not np.allclose(
            probe, self.factors.matrix(), rtol=_AGREEMENT, atol=_AGREEMENT
        ):
            raise ModelIntegrityError(
                f"model '{self.card.name}' version '{self.card.version}': "
                "the ONNX graph and its factors disagree"
            )
