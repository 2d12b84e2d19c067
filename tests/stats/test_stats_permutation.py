"""paired_permutation_test: exact p-values equal scipy's, Monte Carlo agrees within error."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary import stats


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def _scipy_pvalue(candidate, baseline, alternative, n_resamples, seed):
    return scipy_stats.permutation_test(
        (candidate, baseline), _mean_diff, permutation_type="samples", vectorized=True,
        n_resamples=n_resamples, alternative=alternative, rng=seed,
    )


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
@pytest.mark.parametrize("n", [2, 5, 9, 12])
def test_exact_pvalue_equals_scipy_exact_pvalue(n, alternative):
    rng = np.random.default_rng(n)
    baseline = rng.lognormal(size=n)
    candidate = baseline + rng.normal(0.3, 1.0, n)
    ours = stats.paired_permutation_test(candidate, baseline, alternative=alternative, random_state=0)
    ref = _scipy_pvalue(candidate, baseline, alternative, 10_000, 0)
    assert ours.exact is True
    assert ours.n_resamples == 2**n
    assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)


def test_exact_pvalue_with_tied_and_zero_differences_equals_scipy():
    """Discrete metrics (accuracy 0/1) give many exact ties; counted like scipy."""
    candidate = np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 0], dtype=float)
    baseline = np.array([0, 1, 0, 0, 1, 1, 0, 1, 0, 0], dtype=float)
    for alternative in ("two-sided", "less", "greater"):
        ours = stats.paired_permutation_test(candidate, baseline, alternative=alternative, random_state=0)
        ref = _scipy_pvalue(candidate, baseline, alternative, 10_000, 0)
        assert ours.pvalue == pytest.approx(ref.pvalue, rel=1e-12)


def test_exact_is_chosen_iff_two_to_the_n_fits_in_n_resamples():
    x = np.arange(10.0)
    y = x[::-1].copy()
    assert stats.paired_permutation_test(x, y, n_resamples=1024, random_state=0).exact
    assert not stats.paired_permutation_test(x, y, n_resamples=1023, random_state=0).exact


@pytest.mark.parametrize("shape", ["normal", "lognormal", "heavy_tailed", "ndcg_like"])
def test_monte_carlo_pvalue_agrees_with_scipy_within_monte_carlo_error(paired_samples, shape):
    candidate, baseline = paired_samples[shape]
    # shrink the effect so the p-value is mid-range, where Monte Carlo error is largest
    d = candidate - baseline
    candidate = baseline + d - 0.85 * d.mean()
    ours = stats.paired_permutation_test(candidate, baseline, n_resamples=20_000, random_state=1)
    ref = _scipy_pvalue(candidate, baseline, "two-sided", 20_000, 2)
    assert not ours.exact
    # each p-value has sd <= sqrt(p (1 - p) / B) * 2 (two-sided doubling) <= 0.0071
    # at B = 20,000; the difference of two has sd <= 0.01: allow 5 sd.
    assert ours.pvalue == pytest.approx(ref.pvalue, abs=0.05)
    assert 0.0 < ours.pvalue <= 1.0


def test_monte_carlo_pvalue_is_never_zero():
    """p = (count + 1) / (B + 1): an overwhelming effect gives 1 / (B + 1) one-sided."""
    baseline = np.zeros(200)
    candidate = np.linspace(1.0, 2.0, 200)
    result = stats.paired_permutation_test(candidate, baseline, n_resamples=999, alternative="greater", random_state=3)
    assert result.pvalue == 1 / 1000
    result = stats.paired_permutation_test(candidate, baseline, n_resamples=999, random_state=3)
    assert result.pvalue == 2 / 1000


def test_all_zero_differences_give_pvalue_one_with_reason():
    x = np.linspace(0.0, 1.0, 100)
    result = stats.paired_permutation_test(x, x.copy(), random_state=0)
    assert result.pvalue == 1.0
    assert result.reason == "all_differences_zero"
    assert result.statistic == 0.0


def test_constant_nonzero_difference_is_a_valid_test_not_degenerate():
    x = np.linspace(0.0, 1.0, 12)
    result = stats.paired_permutation_test(x + 1.0, x, random_state=0)
    assert result.exact and result.reason is None
    assert result.pvalue == pytest.approx(2 / 2**12)  # only all-plus and all-minus are as extreme


def test_null_distribution_is_returned_on_request_and_records_settings():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=300), rng.normal(size=300)
    result = stats.paired_permutation_test(x, y, n_resamples=500, random_state=9, return_null_distribution=True)
    assert result.null_distribution is not None and result.null_distribution.shape == (500,)
    payload = result.to_dict()
    assert payload["random_state"] == 9 and payload["n_resamples"] == 500
    assert payload["alternative"] == "two-sided" and payload["method"] == "sign_flip"
    assert "null_distribution" not in payload
    # the null of the mean has sd ~ sqrt(sum d^2) / n
    expected_sd = np.sqrt(np.sum((x - y) ** 2)) / 300
    assert np.std(result.null_distribution) == pytest.approx(expected_sd, rel=0.15)
