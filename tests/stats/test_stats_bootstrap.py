"""paired_bootstrap: agreement with scipy.stats.bootstrap, degenerate data, result shape."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary import stats
from runnotary.stats import _bootstrap_kernels


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _median_diff(x, y, axis=-1):
    return np.median(x - y, axis=axis)


@pytest.mark.parametrize("shape", ["normal", "lognormal", "heavy_tailed", "ndcg_like"])
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_mean_interval_agrees_with_scipy_within_monte_carlo_error(paired_samples, shape, method):
    candidate, baseline = paired_samples[shape]
    ours = stats.paired_bootstrap(candidate, baseline, n_resamples=20_000, method=method, random_state=11)
    ref = scipy_stats.bootstrap(
        (candidate, baseline), _mean_diff, paired=True, vectorized=True,
        n_resamples=20_000, method=method, rng=12,
    )
    # An endpoint at the 2.5% level estimated from B = 20,000 resamples has a
    # Monte Carlo sd of about sqrt(.025 * .975 / B) / phi(1.96) = 0.019 bootstrap
    # SEs (BCa a little more); two independent runs differ by ~0.03 SE, so 0.15 SE
    # is a 5-sigma tolerance.
    tol = 0.15 * ours.standard_error
    assert ours.estimate == pytest.approx(np.mean(candidate - baseline), rel=1e-12, abs=1e-15)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=tol)
    assert ours.standard_error == pytest.approx(ref.standard_error, rel=0.05)


@pytest.mark.parametrize("shape", ["normal", "lognormal", "ndcg_like"])
@pytest.mark.parametrize("method", ["percentile", "bca"])
def test_median_interval_agrees_with_scipy_within_monte_carlo_error(paired_samples, shape, method):
    candidate, baseline = paired_samples[shape]
    ours = stats.paired_bootstrap(
        candidate, baseline, statistic="median", method=method, n_resamples=20_000, random_state=3
    )
    ref = scipy_stats.bootstrap(
        (candidate, baseline), _median_diff, paired=True, vectorized=True,
        n_resamples=20_000, method=method, rng=4,
    )
    # The median's bootstrap law is discrete, so endpoints jump between
    # neighbouring order statistics: allow 0.25 bootstrap SE.
    tol = 0.25 * ours.standard_error
    assert ours.estimate == np.median(candidate - baseline)
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=tol)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=tol)


def test_jackknife_kernels_equal_brute_force_leave_one_out():
    rng = np.random.default_rng(8)
    for n in (2, 3, 8, 9):
        d = np.sort(rng.lognormal(size=n))
        loo = np.array([np.delete(d, i) for i in range(n)])
        means = np.empty(n)
        medians = np.empty(n)
        _bootstrap_kernels.jackknife_means(d, means)
        _bootstrap_kernels.jackknife_medians(d, medians)
        np.testing.assert_allclose(means, loo.mean(axis=1), rtol=1e-13)
        np.testing.assert_array_equal(medians, np.median(loo, axis=1))


def test_zero_variance_returns_degenerate_interval_with_reason():
    baseline = np.arange(20) / 4.0  # dyadic values, so candidate - baseline is exactly 0.5
    for method in ("percentile", "bca"):
        for statistic in ("mean", "median"):
            result = stats.paired_bootstrap(
                baseline + 0.5, baseline, statistic=statistic, method=method, random_state=0
            )
            assert result.reason == "zero_variance"
            assert result.low == result.estimate == result.high
            assert result.standard_error == 0.0


def test_bca_falls_back_to_percentile_when_correction_is_undefined():
    """All-but-one tie makes the bootstrap median sit on one side: BCa undefined, never NaN."""
    candidate = np.array([0.0] * 29 + [1.0])
    baseline = np.zeros(30)
    result = stats.paired_bootstrap(candidate, baseline, statistic="median", method="bca", random_state=1)
    assert result.method == "percentile"
    assert result.reason == "bca_undefined"
    assert np.isfinite([result.low, result.high]).all()


def test_result_records_settings_and_serialises_to_plain_json():
    c = np.array([0.9, 0.8, 0.7, 0.95, 0.6])
    b = np.array([0.85, 0.8, 0.65, 0.9, 0.7])
    result = stats.paired_bootstrap(
        c, b, statistic="median", n_resamples=500, confidence_level=0.9, method="bca", random_state=42
    )
    payload = result.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert {k: payload[k] for k in ("statistic", "n", "n_resamples", "confidence_level", "random_state")} == {
        "statistic": "median", "n": 5, "n_resamples": 500, "confidence_level": 0.9, "random_state": 42,
    }
    assert payload["method"] in ("bca", "percentile")
    assert "distribution" not in payload
    assert all(type(v) in (float, int, str, bool, type(None)) for v in payload.values())
    with pytest.raises(AttributeError):
        result.low = 0.0  # type: ignore[misc]


def test_return_distribution_attaches_the_resamples_the_interval_came_from():
    rng = np.random.default_rng(2)
    b = rng.normal(size=40)
    c = b + rng.normal(size=40)
    result = stats.paired_bootstrap(c, b, n_resamples=1000, random_state=5, return_distribution=True)
    assert result.distribution is not None and result.distribution.shape == (1000,)
    low, high = np.quantile(result.distribution, [0.025, 0.975])
    assert (result.low, result.high) == pytest.approx((low, high), rel=1e-12)


def test_same_random_state_reproduces_and_different_one_changes_the_interval():
    rng = np.random.default_rng(3)
    b = rng.normal(size=100)
    c = b + rng.normal(size=100)
    first = stats.paired_bootstrap(c, b, random_state=7)
    assert stats.paired_bootstrap(c, b, random_state=7) == first
    assert stats.paired_bootstrap(c, b, random_state=8).low != first.low


def test_single_resample_gives_finite_zero_standard_error():
    result = stats.paired_bootstrap([1.0, 2.0, 4.0], [0.0, 0.0, 0.0], n_resamples=1, random_state=0)
    assert result.standard_error == 0.0
    assert result.low == result.high
