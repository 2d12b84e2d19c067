"""Calibration by simulation: CI coverage on skewed data and type-I error of the permutation test.

Seeds are fixed, so these tests are deterministic; the tolerances are still
set from the binomial Monte Carlo error so that they say something true about
the method rather than about one lucky seed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from runnotary import stats

REPLICATIONS = 4000  # coverage SE = sqrt(.95 * .05 / 4000) = 0.0034


def _coverage(n: int, sigma: float, seed: int) -> tuple[float, float, int]:
    """Coverage of percentile and BCa 95% CIs for the mean of lognormal(0, sigma) differences."""
    rng = np.random.default_rng(seed)
    truth = 0.2
    baseline = rng.normal(size=(REPLICATIONS, n))
    noise = rng.lognormal(0.0, sigma, size=(REPLICATIONS, n)) - math.exp(sigma**2 / 2)  # mean 0, skewed
    candidate = baseline + noise + truth
    hits = np.zeros((REPLICATIONS, 2), dtype=bool)
    for r in range(REPLICATIONS):
        for k, method in enumerate(("percentile", "bca")):
            ci = stats.paired_bootstrap(candidate[r], baseline[r], method=method, n_resamples=1000, random_state=r)
            hits[r, k] = ci.low <= truth <= ci.high
    discordant = int(np.count_nonzero(hits[:, 0] != hits[:, 1]))
    percentile, bca = hits.mean(axis=0)
    return float(percentile), float(bca), discordant


@pytest.mark.slow
@pytest.mark.parametrize("n", [50, 200])
def test_ci_coverage_on_lognormal_differences_is_between_92_and_97_percent(n):
    """Lognormal(0, 0.5) noise (skewness 1.75): both 95% CIs cover 92-97% of the time; BCa no worse."""
    percentile, bca, discordant = _coverage(n, sigma=0.5, seed=n)
    for coverage in (percentile, bca):
        assert 0.92 <= coverage <= 0.97
    # Both intervals are computed on the same data sets, so their coverages differ
    # only on discordant replications: sd(bca - percentile) <= sqrt(discordant) / R.
    slack = 3.0 * math.sqrt(max(discordant, 1)) / REPLICATIONS
    assert abs(bca - 0.95) <= abs(percentile - 0.95) + slack


@pytest.mark.slow
def test_bca_is_no_worse_than_percentile_on_strongly_skewed_differences():
    """Lognormal(0, 1) noise (skewness 6.2) at n = 50: percentile undercovers; BCa is at least as close to 95%."""
    percentile, bca, discordant = _coverage(50, sigma=1.0, seed=3)
    slack = 3.0 * math.sqrt(max(discordant, 1)) / REPLICATIONS
    assert percentile < 0.93
    assert abs(bca - 0.95) <= abs(percentile - 0.95) + slack


@pytest.mark.slow
@pytest.mark.parametrize(("n", "n_resamples"), [(30, 999), (9, 10_000)])
def test_permutation_type_one_error_is_five_percent(n, n_resamples):
    """Under a symmetric null, P(p <= 0.05) is 5% (Monte Carlo path and exact path)."""
    rng = np.random.default_rng(n)
    differences = rng.standard_t(4, size=(REPLICATIONS, n))  # symmetric, heavy-tailed null
    rejections = sum(
        stats.paired_permutation_test(differences[r], np.zeros(n), n_resamples=n_resamples, random_state=r).pvalue
        <= 0.05
        for r in range(REPLICATIONS)
    )
    rate = rejections / REPLICATIONS
    # binomial sd at 5% over 4,000 replications is 0.0034; allow 3.5 sd. The exact
    # test with n = 9 has only 512 sign patterns, so its level can sit slightly below 5%.
    assert abs(rate - 0.05) <= 3.5 * math.sqrt(0.05 * 0.95 / REPLICATIONS)


@pytest.mark.slow
def test_quantile_delta_ci_covers_the_true_p95_difference():
    """Two lognormal latency samples of 2,000: the 95% CI of the p95 difference covers ~95%."""
    from scipy.stats import lognorm

    rng = np.random.default_rng(7)
    truth = lognorm.ppf(0.95, 0.6, scale=math.exp(0.1)) - lognorm.ppf(0.95, 0.6)
    reps = 1000  # sd of coverage = 0.0069
    hits = 0
    for r in range(reps):
        x = rng.lognormal(0.1, 0.6, 2000)
        y = rng.lognormal(0.0, 0.6, 2000)
        ci = stats.quantile_delta(x, y, q=0.95, n_resamples=2000, random_state=r)
        hits += ci.low <= truth <= ci.high
    assert 0.92 <= hits / reps <= 0.975
