"""The numpy drift statistics against scipy (dev extra only: the layer never carries scipy)."""

from __future__ import annotations

import numpy as np
import pytest
from medserve.monitoring import drift
from scipy import stats
from scipy.spatial.distance import cdist

RNG = np.random.default_rng(20261201)


@pytest.mark.parametrize("shift", [0.0, 0.3, 1.0])
def test_ks_statistic_is_scipys(shift):
    a, b = RNG.normal(size=300), RNG.normal(loc=shift, size=120)
    assert drift.ks_statistic(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, 0.5, 2.0])
def test_bucketed_linf_is_the_ks_statistic_of_the_bucketed_samples(shift):
    # Capture keeps bucket numbers, not values: the L-infinity distance over bucket counts is
    # exactly the two-sample KS statistic of the samples reduced to their bucket numbers.
    base, observed = RNG.gamma(2.0, size=400), RNG.gamma(2.0, size=150) + shift
    edges = np.quantile(base, np.linspace(0, 1, 11))
    bins_base, bins_observed = (
        np.searchsorted(edges, base, "right"),
        np.searchsorted(edges, observed, "right"),
    )
    counts_base = np.bincount(bins_base, minlength=12)
    counts_observed = np.bincount(bins_observed, minlength=12)
    expected = stats.ks_2samp(bins_base, bins_observed).statistic
    assert drift.linf_distance(counts_base, counts_observed) == pytest.approx(expected, abs=1e-12)
    # ... and never more than the KS statistic of the raw values.
    assert (
        drift.linf_distance(counts_base, counts_observed) <= stats.ks_2samp(base, observed).statistic + 1e-12
    )


def test_robust_margin_is_the_ks_critical_value_at_its_alpha():
    # 1.8 * sqrt((n+m)/(nm)) is where the asymptotic KS p-value equals kstwobign.sf(1.8) (~0.003):
    # the Robust distance is positive exactly when the asymptotic test rejects at that level.
    alpha = stats.kstwobign.sf(drift.ROBUST_FACTOR)
    assert 0.002 < alpha < 0.004
    for n, m, d in [(426, 143, 0.16), (426, 143, 0.19), (1000, 60, 0.2), (1000, 60, 0.3)]:
        robust = drift.linf_robust(d, n, m)
        p = stats.kstwobign.sf(d * np.sqrt(n * m / (n + m)))
        assert (robust > 0) == (p < alpha), (n, m, d)
        assert robust == pytest.approx(max(0.0, d - 1.8 * np.sqrt((n + m) / (n * m))))


def test_psi_is_the_symmetric_kl_divergence():
    p, q = RNG.integers(5, 50, size=10), RNG.integers(5, 50, size=10)
    expected = stats.entropy(p, q) + stats.entropy(q, p)
    assert drift.psi(p, q) == pytest.approx(expected, rel=1e-9)
    assert drift.psi(p, p) == pytest.approx(0.0, abs=1e-12)


def test_psi_survives_empty_buckets():
    assert np.isfinite(drift.psi([10, 10, 0], [0, 10, 10]))


@pytest.mark.parametrize("dof", [1, 2, 5, 9, 30])
def test_chi2_sf_is_scipys(dof):
    for x in [0.01, 0.5, dof * 0.7, dof, dof * 1.5, dof * 3 + 10, 200.0]:
        assert drift.chi2_sf(x, dof) == pytest.approx(stats.chi2.sf(x, dof), rel=1e-9, abs=1e-300), (x, dof)


def test_chi_square_is_scipys_goodness_of_fit():
    base = np.array([120, 80, 40, 10])
    observed = np.array([30, 35, 20, 15])
    ours = drift.chi_square(observed, base)
    expected = stats.chisquare(observed, base / base.sum() * observed.sum())
    assert ours.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert ours.dof == 3


def _mmd2_reference(x, y, s):
    k = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * s * s))  # noqa: E731
    n, m = len(x), len(y)
    kxx, kyy = k(x, x), k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )


def test_mmd_is_the_unbiased_estimate_and_detects_a_shift():
    x, y = RNG.normal(size=(80, 3)), RNG.normal(size=(60, 3))
    same = drift.mmd(x, y, permutations=200, seed=1)
    assert same.mmd2 == pytest.approx(_mmd2_reference(x, y, same.bandwidth), rel=1e-9, abs=1e-12)
    shifted = drift.mmd(x, y + 1.0, permutations=200, seed=1)
    assert shifted.p_value < 0.01 < same.p_value
    # The median heuristic: sqrt(median squared distance / 2) of the pooled sample.
    z = np.vstack([x, y])
    d2 = cdist(z, z, "sqeuclidean")[np.triu_indices(len(z), 1)]
    assert same.bandwidth == pytest.approx(np.sqrt(np.median(d2) / 2))


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError):
        drift.linf_distance([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        drift.linf_distance([0, 0], [1, 1])
    with pytest.raises(ValueError):
        drift.robust_margin(0, 5)
