"""The one recommendation step the route and the S3 scorer share: check a query against the card,
withhold what must never be suggested, fold the patient in, rank in ONNX, explain.

Safety: an item in the history, in the request's ``exclude``, or in a card conflict with any
history item is masked before ranking (it scores -inf inside the graph), dropped again should the
graph ever return it, and reported in ``excluded`` with its rule and reason.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from medserve.errors import InvalidInput
from medserve.recommend.model import RecommendModel, contributions, fold_in
from medserve.recommend.types import Basis, Exclusion, Query, Recommendation, Result
from medserve.tabular.model import validate_record

__all__ = ["Plan", "plan", "recommend", "recommend_many"]

# An unknown item is quoted back only when it is shaped like a card item id (a lowercase code,
# what a typo of one looks like); anything else ("Jane Doe", free text) could be patient data and
# is named by its position alone. Either way the catalogue's closest ids are suggested.
_ID_SHAPED = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
RAISED_MOST_BY = 3  # history items named as having raised a score most


@dataclass
class Plan:
    """A checked query: what to fold in, what to mask, how many to answer."""

    basis: Basis
    k: int
    items: np.ndarray  # history item indices
    values: np.ndarray  # history values (defaults filled in)
    features: np.ndarray | None  # standardised patient features (basis "features")
    mask: np.ndarray  # (n_items,) True = never recommend
    excluded: list[Exclusion]
    explain: bool
    warnings: list[str] = field(default_factory=list)


def plan(model: RecommendModel, query: Query) -> Plan:
    """Check ``query`` against the card (422 naming every problem) and decide how to answer it."""
    spec, card = model.spec, model.card
    issues: list[dict] = []
    unknown: list[str] = []
    seen: set[str] = set()
    items, values = [], []
    for i, entry in enumerate(query.history):
        where = f"history[{i}]"
        if entry.item not in model.index:
            issues.append(_unknown(model, f"{where}.item", entry.item, unknown))
            continue
        if entry.item in seen:
            issues.append({"field": f"{where}.item", "issue": "duplicate item", "item": entry.item})
            continue
        seen.add(entry.item)
        value = entry.value if entry.value is not None else spec.default_value
        if value is None:
            issues.append(
                {"field": f"{where}.value", "issue": f"missing: {spec.feedback} ratings need a value"}
            )
            continue
        lo, hi = spec.value_range
        if not lo <= value <= hi:
            issues.append({"field": f"{where}.value", "issue": "out of range", "valid_range": [lo, hi]})
            continue
        items.append(model.index[entry.item])
        values.append(float(value))
    for i, item in enumerate(query.exclude):
        if item not in model.index:
            issues.append(_unknown(model, f"exclude[{i}]", item, unknown))
    k = spec.default_k if query.k is None else query.k
    if not 1 <= k <= spec.max_k:
        issues.append({"field": "k", "issue": "out of range", "valid_range": [1, spec.max_k]})

    features = None
    warnings: list[str] = []
    if query.patient is not None:
        vector, feature_issues, feature_warnings = validate_record(card, query.patient)
        issues += [{**i.as_detail(), "field": f"patient.{i.field}"} for i in feature_issues]
        warnings += feature_warnings
        if not feature_issues:
            if items or query.history:
                warnings.append("patient features not used: the history decides")
            elif not model.factors.learned_features:
                warnings.append("patient features not used: this model learned no map from features")
            else:
                f = model.factors
                features = (np.asarray(vector) - f.feature_mean) / f.feature_scale
    if issues:
        message = f"{len(issues)} invalid field(s)"
        if unknown:
            names = ", ".join(dict.fromkeys(unknown))
            message = f"unknown item(s): {names}; the card (GET /v1/models/{card.name}) lists the items"
        raise InvalidInput(message, issues[:100])

    excluded, mask = _exclusions(model, items, query.exclude)
    allowed = int((~mask).sum())
    if allowed < k:
        warnings.append(f"only {allowed} item(s) may be recommended for this patient")
    basis: Basis = "history" if items else ("features" if features is not None else "popularity")
    return Plan(
        basis=basis,
        k=min(k, allowed),
        items=np.asarray(items, dtype=np.int64),
        values=np.asarray(values, dtype=np.float64),
        features=features,
        mask=mask,
        excluded=excluded,
        explain=query.explain,
        warnings=warnings,
    )


def _unknown(model: RecommendModel, field: str, item: str, unknown: list[str]) -> dict:
    """The issue of an unknown item; its name goes into ``unknown`` (for the message)."""
    detail: dict = {"field": field, "issue": "unknown item"}
    if _ID_SHAPED.fullmatch(item):
        detail["item"] = item
        unknown.append(item)
    else:
        unknown.append(field)
    close = difflib.get_close_matches(item.lower()[:64], model.item_ids, n=3, cutoff=0.6)
    if close:
        detail["did_you_mean"] = close
    return detail


def _exclusions(
    model: RecommendModel, history: list[int], exclude: Sequence[str]
) -> tuple[list[Exclusion], np.ndarray]:
    ids, labels = model.item_ids, model.labels
    in_history = {ids[i] for i in history}
    requested = set(exclude)
    conflicts: dict[str, tuple[str, str]] = {}
    for conflict in model.spec.conflicts:
        a, b = conflict.items
        for present, other in ((a, b), (b, a)):
            if present in in_history and other not in conflicts:
                conflicts[other] = (present, conflict.reason)
    excluded, mask = [], np.zeros(model.n_items, dtype=bool)
    for i, item in enumerate(ids):
        if item in in_history:
            excluded.append(Exclusion(item, labels[item], "history", "already in the patient's history"))
        elif item in requested:
            excluded.append(Exclusion(item, labels[item], "request", "excluded by the request"))
        elif item in conflicts:
            present, reason = conflicts[item]
            excluded.append(
                Exclusion(
                    item, labels[item], "conflict", f"contraindicated with {present}: {reason}", present
                )
            )
        else:
            continue
        mask[i] = True
    return excluded, mask


def recommend(model: RecommendModel, query: Query) -> Result:
    return recommend_many(model, [plan(model, query)])[0]


def recommend_many(model: RecommendModel, plans: Sequence[Plan]) -> list[Result]:
    """Answer checked plans with one ONNX run (their top ``max(k)``, each cut to its own ``k``)."""
    folds, rows = [], []
    f = model.factors
    for p in plans:
        if p.basis == "history":
            fold = fold_in(f, p.items, p.values)
            folds.append(fold)
            rows.append(model.user_row(fold.user))
        elif p.basis == "features":
            folds.append(None)
            rows.append(model.user_row(p.features @ f.feature_map + f.feature_intercept))
        else:
            folds.append(None)
            rows.append(model.user_row(None))
    k_max = max((p.k for p in plans), default=0)
    # Nothing to rank (every item withheld): no graph run, every answer empty.
    top_scores, top_items = np.empty((len(plans), 0)), np.empty((len(plans), 0), dtype=np.int64)
    if k_max > 0:
        top_scores, top_items = model.top_k(np.asarray(rows), np.asarray([p.mask for p in plans]), k_max)
    results = []
    for n, p in enumerate(plans):
        recs: list[Recommendation] = []
        for score, idx in zip(top_scores[n, : p.k], top_items[n, : p.k], strict=True):
            # Belt and braces: a masked item is -inf in the graph; never pass one on.
            if not np.isfinite(score) or p.mask[idx]:
                continue
            item = model.item_ids[idx]
            recs.append(Recommendation(item, model.labels[item], float(score), len(recs) + 1))
        explanations = _explain(model, p, folds[n], recs, rows[n]) if p.explain else []
        results.append(Result(recs, p.excluded, p.basis, explanations, p.warnings))
    return results


def _explain(model: RecommendModel, p: Plan, fold, recs: list[Recommendation], row: np.ndarray) -> list[dict]:
    f, spec = model.factors, model.spec
    targets = np.asarray([model.index[r.item] for r in recs], dtype=np.int64)
    out = []
    if p.basis == "history":
        contrib = contributions(f, fold, targets)
        for r, t, c in zip(recs, targets, contrib, strict=True):
            order = np.argsort(-c, kind="stable")
            parts = [
                {
                    "item": model.item_ids[fold.items[j]],
                    "label": model.labels[model.item_ids[fold.items[j]]],
                    "contribution": float(c[j]),
                }
                for j in order
            ]
            out.append(
                {
                    "item": r.item,
                    "method": "fold-in decomposition (exact: the score is linear in the history)",
                    "score": r.score,
                    "baseline": float(f.item_bias[t]),
                    "baseline_description": spec.baseline,
                    "contributions": parts,
                    "raised_most_by": [x["item"] for x in parts if x["contribution"] > 0][:RAISED_MOST_BY],
                }
            )
    elif p.basis == "features":
        names = model.card.feature_names
        for r, t in zip(recs, targets, strict=True):
            x_t = f.item_factors[t]
            c = p.features * (f.feature_map @ x_t)
            order = np.argsort(-c, kind="stable")
            out.append(
                {
                    "item": r.item,
                    "method": "feature decomposition (exact: cold-start factors are linear in the features)",
                    "score": r.score,
                    "baseline": float(f.item_bias[t] + x_t @ f.feature_intercept),
                    "baseline_description": "the score of a patient with the training-mean features",
                    "contributions": [{"feature": names[j], "contribution": float(c[j])} for j in order],
                    "raised_most_by": [names[j] for j in order if c[j] > 0][:RAISED_MOST_BY],
                }
            )
    else:
        for r in recs:
            out.append(
                {
                    "item": r.item,
                    "method": "popularity (not personalised: no history and no usable features)",
                    "score": r.score,
                    "baseline": r.score,
                    "baseline_description": "the item's popularity score in the training data",
                    "contributions": [],
                    "raised_most_by": [],
                }
            )
    return out
