"""Few-valued differences (0/1 metrics): bootstrap by multinomial counts, sign-flip test by the binomial law."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary import stats
from runnotary.stats import _bootstrap_kernels
from runnotary.stats._counts import bootstrap_means_by_counts, sign_flip_pvalues_by_counts


def _binary_arms(n: int, seed: int, p_candidate: float = 0.93, p_baseline: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.random(n) < p_candidate).astype(float), (rng.random(n) < p_baseline).astype(float)


def test_count_draws_follow_the_exact_bootstrap_law_of_the_mean():
    """Against exact enumeration of all n**n index tuples of a 3-valued sample (chi-square)."""
    d = np.array([-1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    n = d.shape[0]
    exact: dict[float, float] = {}
    for tuple_ in itertools.product(range(n), repeat=n):
        mean = round(float(d[list(tuple_)].sum()), 9)
        exact[mean] = exact.get(mean, 0.0) + 1.0 / n**n
    draws = bootstrap_means_by_counts(d, 200_000, 7)
    assert draws is not None
    sums = np.round(draws * n, 9)
    support = sorted(exact)
    observed = np.array([np.count_nonzero(sums == s) for s in support])
    assert observed.sum() == draws.shape[0]  # nothing outside the law's support
    expected = np.array([exact[s] for s in support]) * draws.shape[0]
    keep = expected >= 5
    statistic = (((observed - expected) ** 2 / expected)[keep]).sum()
    assert scipy_stats.chi2.sf(statistic, keep.sum() - 1) > 1e-4


def test_count_draws_match_index_draws_in_mean_spread_and_quantiles():
    """5,000 binary pairs: the counts and the index kernel draw the same law (100,000 resamples each)."""
    c, b = _binary_arms(5000, 1)
    d = c - b
    by_counts = bootstrap_means_by_counts(d, 100_000, 3)
    assert by_counts is not None
    by_pairs = np.empty(100_000)
    _bootstrap_kernels.bootstrap_means(np.append(d, 0.0), 100_000, np.uint64(3), by_pairs)
    law_sd = d.std() / np.sqrt(d.shape[0])
    for draws in (by_counts, by_pairs):
        assert abs(draws.mean() - d.mean()) < 5 * law_sd / np.sqrt(draws.shape[0])
        assert draws.std() == pytest.approx(law_sd, rel=0.02)
    levels = [0.025, 0.5, 0.975]
    assert np.quantile(by_counts, levels) == pytest.approx(np.quantile(by_pairs, levels), abs=0.1 * law_sd)


def test_binary_metric_interval_uses_counts_and_agrees_with_scipy():
    c, b = _binary_arms(3000, 2)
    ours = stats.paired_bootstrap(c, b, n_resamples=20_000, method="bca", random_state=11)
    assert ours.resampling == "counts"
    ref = scipy_stats.bootstrap((c - b,), np.mean, n_resamples=20_000, method="BCa",
                                random_state=np.random.default_rng(11)).confidence_interval
    assert ours.low == pytest.approx(ref.low, abs=1.5e-3)
    assert ours.high == pytest.approx(ref.high, abs=1.5e-3)


def test_continuous_and_symmetric_patterns_keep_index_draws():
    rng = np.random.default_rng(0)
    b = rng.random(200)
    assert stats.paired_bootstrap(rng.random(200), b, random_state=1, n_resamples=50).resampling == "pairs"
    # differences +1, -1, +1, -1, 0: -d is a permutation of d, so only index draws can mirror exactly
    symmetric = stats.paired_bootstrap([1.0, 0.0, 1.0, 0.0, 0.5], [0.0, 1.0, 0.0, 1.0, 0.5], random_state=1,
                                       n_resamples=50)
    assert symmetric.resampling == "pairs"
    assert stats.paired_bootstrap([1.0, 0.0, 1.0], [0.0, 0.0, 0.0], random_state=1, n_resamples=50).resampling == "counts"
    assert stats.paired_bootstrap([1.0, 0.0, 1.0], [1.0, 0.0, 1.0], random_state=1, n_resamples=50).reason == "zero_variance"


def test_swapping_binary_arms_mirrors_the_counts_interval_exactly():
    c, b = _binary_arms(800, 5)
    forward = stats.paired_bootstrap(c, b, n_resamples=2000, method="bca", random_state=9)
    backward = stats.paired_bootstrap(b, c, n_resamples=2000, method="bca", random_state=9)
    assert forward.resampling == backward.resampling == "counts"
    assert backward.estimate == -forward.estimate
    assert backward.low == pytest.approx(-forward.high, abs=1e-12)
    assert backward.high == pytest.approx(-forward.low, abs=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_binomial_pvalue_equals_full_enumeration(alternative):
    """n = 12 binary pairs: 4,096 resamples enumerate every sign pattern; 4,095 take the binomial law."""
    c, b = _binary_arms(12, 4, 0.8, 0.4)
    enumerated = stats.paired_permutation_test(c, b, n_resamples=4096, alternative=alternative, random_state=0)
    by_law = stats.paired_permutation_test(c, b, n_resamples=4095, alternative=alternative, random_state=0)
    assert enumerated.exact and enumerated.n_resamples == 4096
    assert by_law.exact and by_law.n_resamples == 0
    assert by_law.statistic == enumerated.statistic
    assert by_law.pvalue == pytest.approx(enumerated.pvalue, rel=1e-12)


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_binomial_pvalue_is_scipys_sign_test(alternative):
    c, b = _binary_arms(5000, 6)
    d = c - b
    result = stats.paired_permutation_test(c, b, alternative=alternative, random_state=0)
    reference = scipy_stats.binomtest(int((d > 0).sum()), int((d != 0).sum()), 0.5, alternative=alternative).pvalue
    assert result.exact and result.pvalue == pytest.approx(reference, rel=1e-9)


def test_binomial_pvalue_agrees_with_monte_carlo_and_never_reaches_zero():
    c, b = _binary_arms(5000, 8)
    exact = stats.paired_permutation_test(c, b, random_state=3)
    monte_carlo = stats.paired_permutation_test(c, b, random_state=3, return_null_distribution=True)
    assert not monte_carlo.exact
    assert exact.pvalue == pytest.approx(monte_carlo.pvalue, abs=0.02)
    ones, zeros = np.ones(3000), np.zeros(3000)
    tiny = stats.paired_permutation_test(ones, zeros, alternative="greater", random_state=0)
    assert 0.0 < tiny.pvalue < 1e-300


def test_mixed_magnitudes_keep_the_monte_carlo_test():
    d = np.array([1.0, -1.0, 0.5, 0.0, 1.0] * 20)
    assert sign_flip_pvalues_by_counts(d) is None
    assert not stats.paired_permutation_test(d, np.zeros_like(d), random_state=0).exact
    assert sign_flip_pvalues_by_counts(np.zeros(5)) is None
