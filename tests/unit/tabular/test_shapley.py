"""Shapley contributions add up exactly, match the closed form for additive models, and are stable."""

import numpy as np
import pytest
from medserve.tabular.shapley import evaluations_per_record, shapley


def test_contributions_sum_to_output_minus_baseline_for_a_nonlinear_model():
    # GIVEN a model with interactions and saturation
    rng = np.random.default_rng(1)
    w = rng.normal(size=6)

    def score(x: np.ndarray) -> np.ndarray:
        return np.tanh(x @ w) + x[:, 0] * x[:, 1] - 0.5 * x[:, 2] ** 2

    records = rng.normal(size=(5, 6))
    baseline = rng.normal(size=6)
    # WHEN explained
    for x, att in zip(records, shapley(score, records, baseline, permutations=6), strict=True):
        # THEN the contributions telescope exactly to f(x) - f(baseline)
        assert att.output_value == pytest.approx(score(x[None])[0], abs=1e-12)
        assert att.base_value == pytest.approx(score(baseline[None])[0], abs=1e-12)
        assert att.contributions.sum() == pytest.approx(att.output_value - att.base_value, abs=1e-9)


def test_additive_model_gets_its_exact_shapley_values():
    w = np.array([0.5, -2.0, 3.0, 0.0])
    records = np.array([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.5, 9.0]])
    baseline = np.array([0.2, 0.2, 0.2, 0.2])
    for x, att in zip(records, shapley(lambda z: z @ w + 1.0, records, baseline, 4), strict=True):
        np.testing.assert_allclose(att.contributions, w * (x - baseline), atol=1e-12)


def test_same_input_same_explanation_and_bounded_cost():
    calls = []

    def score(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.sin(x).sum(axis=1) * x[:, 0]

    records = np.arange(12.0).reshape(2, 6)
    first = shapley(score, records, np.zeros(6), 8)
    second = shapley(score, records, np.zeros(6), 8)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a.contributions, b.contributions)
    per_record = evaluations_per_record(6, 8)
    assert first[0].evaluations == per_record == 2 + 8 * 5
    # all walks of both records in one batched call, twice (two explain calls)
    assert calls == [2 * per_record, 2 * per_record]


def test_single_feature_model():
    att = shapley(lambda z: 3 * z[:, 0], np.array([[2.0]]), np.array([1.0]), 4)[0]
    assert att.contributions.tolist() == [3.0]
