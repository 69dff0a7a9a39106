"""Drift statistics in numpy alone (scipy, Evidently and friends do not fit the Lambda layer).

Everything here compares a *baseline* (the training data, summarised in ``statistics.json``) with
an *observed* window (the captured requests). Numerical features arrive as counts over the
baseline's bucket edges (capture never keeps raw values), so the distances are computed on those
buckets: the CDFs are compared at every bucket edge.

- :func:`linf_distance` - Model Monitor's ``baseline_drift_check``: the L-infinity distance between
  the two CDFs (the two-sample Kolmogorov-Smirnov statistic, evaluated at the bucket edges).
  ``Simple`` uses it as is; ``Robust`` (deequ) first subtracts ``1.8 * sqrt((n + m) / (n m))``, the
  KS critical value at alpha ~= 0.003, so a small sample's noise is not read as drift.
- :func:`psi` - the population stability index over the same buckets (a symmetric KL divergence).
- :func:`chi_square` - goodness of fit of observed category counts to the baseline proportions,
  with its p-value from :func:`chi2_sf` (the regularised upper incomplete gamma function).
- :func:`mmd` - maximum mean discrepancy with an RBF kernel and a permutation p-value, for
  low-dimensional embeddings.

tests/unit/monitoring/test_drift.py checks each against scipy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROBUST_FACTOR",
    "ChiSquare",
    "Mmd",
    "chi2_sf",
    "chi_square",
    "ks_statistic",
    "linf_distance",
    "linf_robust",
    "mmd",
    "psi",
    "robust_margin",
]

ROBUST_FACTOR = 1.8  # deequ's KLL "Robust" comparison: c(alpha) of the KS test at alpha ~= 0.003
PSI_EPSILON = 1e-4  # an empty bucket would make PSI infinite; this is the usual floor


def _counts(values: Sequence[float] | np.ndarray) -> np.ndarray:
    counts = np.asarray(values, dtype=np.float64)
    if counts.ndim != 1 or (counts < 0).any():
        raise ValueError("counts must be a 1-d array of non-negative numbers")
    return counts


def linf_distance(baseline_counts: Sequence[float], observed_counts: Sequence[float]) -> float:
    """max |F_baseline - F_observed| over the bucket edges; both count arrays use the same buckets."""
    base, observed = _counts(baseline_counts), _counts(observed_counts)
    if base.shape != observed.shape:
        raise ValueError("baseline and observed counts must have the same buckets")
    if base.sum() == 0 or observed.sum() == 0:
        raise ValueError("both distributions need at least one observation")
    cdf_base = np.cumsum(base) / base.sum()
    cdf_observed = np.cumsum(observed) / observed.sum()
    return float(np.max(np.abs(cdf_base - cdf_observed)))


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """The exact two-sample KS statistic of raw samples (what :func:`linf_distance` approximates
    on buckets; used where raw values are allowed: training data)."""
    x, y = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    if not len(x) or not len(y):
        raise ValueError("both samples need at least one value")
    grid = np.concatenate([x, y])
    cdf_x = np.searchsorted(x, grid, side="right") / len(x)
    cdf_y = np.searchsorted(y, grid, side="right") / len(y)
    return float(np.max(np.abs(cdf_x - cdf_y)))


def robust_margin(n: int, m: int) -> float:
    """deequ's allowance for sampling noise: ``1.8 * sqrt((n + m) / (n m))``."""
    if n <= 0 or m <= 0:
        raise ValueError("both sample sizes must be positive")
    return ROBUST_FACTOR * math.sqrt((n + m) / (n * m))


def linf_robust(distance: float, n: int, m: int) -> float:
    """The Robust variant: the L-infinity distance less :func:`robust_margin`, floored at 0."""
    return max(0.0, distance - robust_margin(n, m))


def psi(
    baseline_counts: Sequence[float], observed_counts: Sequence[float], epsilon: float = PSI_EPSILON
) -> float:
    """Population stability index: sum (o - b) ln(o / b) over bucket proportions (each floored at
    ``epsilon``). Rules of thumb: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 major shift."""
    base, observed = _counts(baseline_counts), _counts(observed_counts)
    if base.shape != observed.shape:
        raise ValueError("baseline and observed counts must have the same buckets")
    p = np.maximum(base / base.sum(), epsilon)
    q = np.maximum(observed / observed.sum(), epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


# -- chi-square ---------------------------------------------------------------------------------


def _gamma_series(a: float, x: float) -> float:
    """P(a, x) by its power series (converges fast for x < a + 1)."""
    term = total = 1.0 / a
    denominator = a
    for _ in range(10_000):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a: float, x: float) -> float:
    """Q(a, x) by Lentz's continued fraction (converges fast for x >= a + 1)."""
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h * math.exp(-x + a * math.log(x) - math.lgamma(a))


def chi2_sf(x: float, dof: int) -> float:
    """P(X >= x) for X ~ chi-square(dof): Q(dof / 2, x / 2)."""
    if dof <= 0:
        raise ValueError("degrees of freedom must be positive")
    if x <= 0:
        return 1.0
    a, half = dof / 2.0, x / 2.0
    if half < a + 1.0:
        return max(0.0, 1.0 - _gamma_series(a, half))
    return min(1.0, _gamma_continued_fraction(a, half))


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    dof: int
    p_value: float


def chi_square(observed_counts: Sequence[float], baseline_counts: Sequence[float]) -> ChiSquare:
    """Goodness of fit of ``observed_counts`` to the baseline's category proportions.

    A category the baseline never saw gets half a count (a zero expectation would make the
    statistic infinite for one stray value); the categorical_values_check reports those apart.
    """
    observed, base = _counts(observed_counts), _counts(baseline_counts)
    if observed.shape != base.shape or len(base) < 2:
        raise ValueError("observed and baseline need the same categories, at least two")
    base = np.where(base > 0, base, 0.5)
    expected = base / base.sum() * observed.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    dof = len(base) - 1
    return ChiSquare(statistic, dof, chi2_sf(statistic, dof))


# -- MMD ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mmd:
    mmd2: float  # unbiased estimate of the squared MMD
    p_value: float  # permutation test
    bandwidth: float  # RBF kernel width (median heuristic unless given)


def _sq_distances(z: np.ndarray) -> np.ndarray:
    norms = np.sum(z * z, axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * z @ z.T, 0.0)


def _mmd2_unbiased(kernel: np.ndarray, n: int) -> float:
    m = len(kernel) - n
    kxx, kyy, kxy = kernel[:n, :n], kernel[n:, n:], kernel[:n, n:]
    xx = (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
    yy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def mmd(
    x: np.ndarray,
    y: np.ndarray,
    *,
    bandwidth: float | None = None,
    permutations: int = 200,
    seed: int = 0,
) -> Mmd:
    """Two-sample MMD test of ``x`` (n, d) against ``y`` (m, d) with ``exp(-|a-b|^2 / (2 s^2))``.

    Quadratic in n + m: meant for summaries (a few dimensions, at most a few thousand rows)."""
    x, y = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.atleast_2d(np.asarray(y, dtype=np.float64))
    if x.shape[1] != y.shape[1] or len(x) < 2 or len(y) < 2:
        raise ValueError("x and y need the same dimension and at least two rows each")
    z = np.vstack([x, y])
    d2 = _sq_distances(z)
    if bandwidth is None:
        off = d2[np.triu_indices(len(z), k=1)]
        positive = off[off > 0]
        bandwidth = float(np.sqrt(np.median(positive) / 2.0)) if len(positive) else 1.0
    kernel = np.exp(-d2 / (2.0 * bandwidth * bandwidth))
    n = len(x)
    observed = _mmd2_unbiased(kernel, n)
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(permutations):
        order = rng.permutation(len(z))
        if _mmd2_unbiased(kernel[np.ix_(order, order)], n) >= observed:
            exceed += 1
    return Mmd(observed, (exceed + 1) / (permutations + 1), bandwidth)
