"""two_way_bootstrap: shared item counts, seed counts per arm, its variance law, quantiles."""

from __future__ import annotations

import numpy as np
import pytest

from runnotary import stats


def _arms(seed: int, s_b: int, s_a: int, n: int):
    rng = np.random.default_rng(seed)
    v = rng.normal(0, 1, n)
    yb = 0.1 + v + rng.normal(0, 0.2, (s_b, 1)) + rng.normal(0, 0.5, n) + rng.normal(0, 1, (s_b, n))
    ya = v + rng.normal(0, 0.2, (s_a, 1)) + rng.normal(0, 0.5, n) + rng.normal(0, 1, (s_a, n))
    return yb, ya


def _sg(y: np.ndarray) -> float:
    resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + y.mean()
    return float((resid**2).sum() / y.size)


@pytest.mark.parametrize(("s_b", "s_a", "n"), [(3, 3, 50), (5, 4, 200), (2, 6, 100)])
def test_mean_replicate_variance_follows_owens_formula(s_b, s_a, n):
    """Var* = (S_A-1)/S_A V_A + (S_B-1)/S_B V_B + (n-1)/n s2_d/n + SG_A/(S_A n) + SG_B/(S_B n)."""
    yb, ya = _arms(s_b * 10 + s_a, s_b, s_a, n)
    r = stats.crossed_interval(yb, ya)
    expected = ((s_a - 1) / s_a * r.seed_variance_baseline / s_a + (s_b - 1) / s_b * r.seed_variance_candidate / s_b
                + (n - 1) / n * r.difference_variance / n + _sg(ya) / (s_a * n) + _sg(yb) / (s_b * n))
    boot = stats.two_way_bootstrap(yb, ya, n_resamples=40_000, random_state=5)
    # Var of a variance estimate from B draws: relative sd sqrt(2 / B) = 0.7 %; 4 sd.
    assert boot.standard_error**2 / expected == pytest.approx(1.0, abs=0.03)
    assert boot.estimate == pytest.approx(r.delta, rel=1e-12)


def test_replicates_are_the_weighted_means_of_shared_item_counts_and_per_arm_seed_counts():
    from runnotary.stats import _twoway_kernels
    from runnotary.stats.rng import STREAM_SEEDS_BASELINE, STREAM_SEEDS_CANDIDATE

    yb, ya = _arms(1, 3, 4, 30)
    boot = stats.two_way_bootstrap(yb, ya, n_resamples=200, random_state=8, return_distribution=True)
    counts = stats.resample_counts(30, 200, 8).astype(np.float64)
    rb = np.empty((200, 3), dtype=np.int64)
    ra = np.empty((200, 4), dtype=np.int64)
    _twoway_kernels.seed_counts(3, 200, np.uint64(8), STREAM_SEEDS_CANDIDATE, rb)
    _twoway_kernels.seed_counts(4, 200, np.uint64(8), STREAM_SEEDS_BASELINE, ra)
    assert (rb.sum(axis=1) == 3).all() and (ra.sum(axis=1) == 4).all()
    expected = (np.einsum("bs,bi,si->b", rb, counts, yb) / (3 * 30)
                - np.einsum("bs,bi,si->b", ra, counts, ya) / (4 * 30))
    np.testing.assert_allclose(boot.distribution, expected, rtol=1e-12, atol=1e-14)
    matched = stats.two_way_bootstrap(yb[:3], ya[:3], n_resamples=200, random_state=8, matched=True,
                                      return_distribution=True)
    expected_matched = np.einsum("bs,bi,si->b", rb, counts, yb[:3] - ya[:3]) / (3 * 30)
    np.testing.assert_allclose(matched.distribution, expected_matched, rtol=1e-10, atol=1e-13)


def test_quantile_replicates_are_inverted_cdf_quantiles_of_the_expanded_sample():
    from runnotary.stats import _twoway_kernels
    from runnotary.stats.rng import STREAM_SEEDS_BASELINE, STREAM_SEEDS_CANDIDATE

    rng = np.random.default_rng(2)
    yb = rng.lognormal(3.0, 0.4, (3, 40))
    ya = rng.lognormal(3.0, 0.4, (2, 40))
    boot = stats.two_way_bootstrap(yb, ya, statistic=("quantile", 0.95), n_resamples=60, random_state=4,
                                   return_distribution=True)
    assert boot.estimate == np.quantile(yb, 0.95, method="inverted_cdf") - np.quantile(ya, 0.95, method="inverted_cdf")
    counts = stats.resample_counts(40, 60, 4)
    rb = np.empty((60, 3), dtype=np.int64)
    ra = np.empty((60, 2), dtype=np.int64)
    _twoway_kernels.seed_counts(3, 60, np.uint64(4), STREAM_SEEDS_CANDIDATE, rb)
    _twoway_kernels.seed_counts(2, 60, np.uint64(4), STREAM_SEEDS_BASELINE, ra)
    for b in range(60):
        def expanded(y, r):
            weights = np.outer(r, counts[b]).ravel().astype(int)
            return np.repeat(y.ravel(), weights)
        want = (np.quantile(expanded(yb, rb[b]), 0.95, method="inverted_cdf")
                - np.quantile(expanded(ya, ra[b]), 0.95, method="inverted_cdf"))
        assert boot.distribution[b] == want
    low = stats.two_way_bootstrap(yb, ya, statistic=("quantile", 0.1), n_resamples=60, random_state=4)
    assert low.estimate == np.quantile(yb, 0.1, method="inverted_cdf") - np.quantile(ya, 0.1, method="inverted_cdf")


def test_item_counts_are_the_shared_cached_matrix():
    """Same (n, B, random_state): the two-way bootstrap and paired_bootstrap read one count matrix."""
    yb, ya = _arms(3, 1, 1, 50)
    paired = stats.paired_bootstrap(yb[0], ya[0], n_resamples=500, random_state=7, return_distribution=True)
    two_way = stats.two_way_bootstrap(yb, ya, n_resamples=500, random_state=7, return_distribution=True)
    np.testing.assert_allclose(two_way.distribution, paired.distribution, rtol=1e-12, atol=1e-14)
    assert two_way.warnings == ("retraining_variance_not_covered",)


def test_bad_statistic_is_rejected():
    with pytest.raises(stats.InvalidInputError, match="statistic"):
        stats.two_way_bootstrap(np.eye(3), np.eye(3), statistic="median", random_state=0)  # type: ignore[arg-type]
    with pytest.raises(stats.InvalidInputError, match="quantile level"):
        stats.two_way_bootstrap(np.eye(3), np.eye(3), statistic=("quantile", 1.5), random_state=0)


def test_swapping_arms_negates_every_replicate():
    yb, ya = _arms(9, 3, 3, 60)
    forward = stats.two_way_bootstrap(yb, ya, n_resamples=300, random_state=1, matched=True, return_distribution=True)
    backward = stats.two_way_bootstrap(ya, yb, n_resamples=300, random_state=1, matched=True, return_distribution=True)
    np.testing.assert_allclose(backward.distribution, -forward.distribution, rtol=1e-12, atol=1e-14)
