"""quantile_delta: exact order-statistic bootstrap law, agreement with scipy.stats.bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary import stats
from runnotary.stats.quantiles import _order_index, _order_statistic_law


@pytest.mark.parametrize("n", [2, 7, 100, 1001])
@pytest.mark.parametrize("q", [0.01, 0.07, 0.5, 0.95, 0.99])
def test_order_index_matches_numpy_inverted_cdf(n, q):
    x = np.arange(n, dtype=float)
    assert x[_order_index(n, q)] == np.quantile(x, q, method="inverted_cdf")


def test_order_statistic_law_equals_brute_force_enumeration():
    """For n = 5 every one of 5**5 resamples is enumerated; the law must match exactly."""
    x = np.array([3.0, 1.0, 4.0, 1.5, 9.0])
    n = x.shape[0]
    q = 0.6
    grid = np.array(np.meshgrid(*[np.arange(n)] * n)).reshape(n, -1).T
    sample_q = np.quantile(np.sort(x)[grid], q, axis=1, method="inverted_cdf")
    estimate, cdf, values = _order_statistic_law(x, q)
    assert estimate == np.quantile(x, q, method="inverted_cdf")
    brute = np.array([(sample_q <= v).mean() for v in values])
    np.testing.assert_allclose(cdf, brute, rtol=1e-12)


@pytest.mark.parametrize("q", [0.5, 0.95])
def test_interval_agrees_with_scipy_bootstrap_of_the_same_quantile(q):
    rng = np.random.default_rng(0)
    baseline = rng.lognormal(3.0, 0.6, 3000)
    candidate = rng.lognormal(3.05, 0.6, 2500)

    def statistic(x, y, axis=-1):
        return np.quantile(x, q, axis=axis, method="inverted_cdf") - np.quantile(y, q, axis=axis, method="inverted_cdf")

    ref = scipy_stats.bootstrap(
        (candidate, baseline), statistic, vectorized=True, n_resamples=4000, method="percentile", batch=500, rng=1
    )
    ours = stats.quantile_delta(candidate, baseline, q=q, n_resamples=20_000, random_state=2)
    assert ours.estimate == statistic(candidate, baseline)
    # scipy's endpoints come from 4,000 resamples: Monte Carlo sd about
    # sqrt(.025 * .975 / 4000) / phi(1.96) = 0.042 SE; allow 0.3 SE (about 7 sd).
    tol = 0.3 * ours.standard_error
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=tol)
    assert ours.standard_error == pytest.approx(ref.standard_error, rel=0.1)


def test_result_shape_records_quantile_and_both_sizes():
    rng = np.random.default_rng(1)
    result = stats.quantile_delta(rng.normal(size=500), rng.normal(size=400), q=0.9, random_state=5)
    payload = result.to_dict()
    assert payload["statistic"] == "quantile" and payload["q"] == 0.9
    assert payload["n"] == 500 and payload["n_baseline"] == 400
    assert payload["method"] == "percentile" and payload["random_state"] == 5
    assert result.low <= result.estimate <= result.high


def test_constant_samples_give_degenerate_interval_with_reason():
    result = stats.quantile_delta(np.full(50, 3.0), np.full(70, 1.0), random_state=0)
    assert (result.estimate, result.low, result.high) == (2.0, 2.0, 2.0)
    assert result.reason == "zero_variance"


def test_large_samples_use_a_window_far_smaller_than_the_sample():
    x = np.random.default_rng(2).lognormal(size=1_000_000)
    _, cdf, values = _order_statistic_law(x, 0.95)
    assert cdf.shape[0] < 10_000
    assert cdf[0] < 2.0**-60 * 10 and cdf[-1] == pytest.approx(1.0, abs=1e-15)
    assert np.all(np.diff(values) >= 0)


def test_same_random_state_reproduces_the_interval():
    rng = np.random.default_rng(3)
    x, y = rng.lognormal(size=2000), rng.lognormal(size=2000)
    assert stats.quantile_delta(x, y, random_state=4) == stats.quantile_delta(x, y, random_state=4)
