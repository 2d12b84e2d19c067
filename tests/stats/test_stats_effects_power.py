"""effect_sizes and the paired power / MDE helpers against closed forms and simulation-free references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from scipy.special import gamma

from runnotary import stats


def test_effect_sizes_match_their_definitions():
    rng = np.random.default_rng(0)
    baseline = rng.normal(10.0, 2.0, 40)
    candidate = baseline + rng.normal(0.5, 1.0, 40)
    d = candidate - baseline
    result = stats.effect_sizes(candidate, baseline)
    dz = d.mean() / d.std(ddof=1)
    df = 39
    j_exact = gamma(df / 2) / (math.sqrt(df / 2) * gamma((df - 1) / 2))
    assert result.mean_delta == pytest.approx(d.mean(), rel=1e-12)
    assert result.relative_lift_pct == pytest.approx(100 * d.mean() / baseline.mean(), rel=1e-12)
    assert result.cohens_dz == pytest.approx(dz, rel=1e-12)
    assert result.hedges_g == pytest.approx(j_exact * dz, rel=1e-10)
    # J is close to Hedges' approximation 1 - 3 / (4 df - 1)
    assert result.hedges_g / result.cohens_dz == pytest.approx(1 - 3 / (4 * df - 1), rel=1e-3)


def test_dz_interval_inverts_the_noncentral_t():
    rng = np.random.default_rng(1)
    baseline = rng.normal(size=25)
    candidate = baseline + rng.normal(0.4, 1.0, 25)
    result = stats.effect_sizes(candidate, baseline, confidence_level=0.9)
    t_obs = result.cohens_dz * math.sqrt(25)
    assert scipy_stats.nct.sf(t_obs, 24, result.dz_low * 5) == pytest.approx(0.05, abs=1e-8)
    assert scipy_stats.nct.cdf(t_obs, 24, result.dz_high * 5) == pytest.approx(0.05, abs=1e-8)
    assert result.dz_low < result.cohens_dz < result.dz_high


def test_dz_interval_for_a_large_sample_is_close_to_the_normal_approximation():
    rng = np.random.default_rng(2)
    baseline = rng.normal(size=20_000)
    candidate = baseline + rng.normal(0.05, 1.0, 20_000)
    result = stats.effect_sizes(candidate, baseline)
    se = math.sqrt(1 / 20_000 + result.cohens_dz**2 / 40_000)
    assert result.dz_low == pytest.approx(result.cohens_dz - 1.959964 * se, abs=2e-4)
    assert result.dz_high == pytest.approx(result.cohens_dz + 1.959964 * se, abs=2e-4)


def test_zero_variance_and_zero_baseline_mean_return_none_with_reasons():
    baseline = np.array([-1.0, 1.0, -2.0, 2.0])
    result = stats.effect_sizes(baseline + 1.0, baseline)
    assert result.mean_delta == 1.0
    assert result.cohens_dz is None and result.hedges_g is None and result.dz_low is None
    assert result.relative_lift_pct is None
    assert result.reason == "zero_baseline_mean,zero_variance"
    payload = result.to_dict()
    assert payload["cohens_dz"] is None


def test_swapping_arms_negates_effect_sizes():
    rng = np.random.default_rng(3)
    b = rng.lognormal(size=30)
    c = b * rng.lognormal(0.1, 0.3, 30)
    forward, backward = stats.effect_sizes(c, b), stats.effect_sizes(b, c)
    assert backward.cohens_dz == pytest.approx(-forward.cohens_dz, rel=1e-12)
    assert backward.dz_low == pytest.approx(-forward.dz_high, rel=1e-8)


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_sample_size_is_the_smallest_n_reaching_the_target_power(alternative):
    result = stats.paired_sample_size(0.25, sd_diff=1.0, alpha=0.05, power=0.8, alternative=alternative)
    assert result.achieved_power >= 0.8
    assert stats.paired_power(result.n - 1, 0.25, sd_diff=1.0, alternative=alternative) < 0.8
    z = scipy_stats.norm.ppf(0.975 if alternative == "two-sided" else 0.95) + scipy_stats.norm.ppf(0.8)
    normal_n = (z / 0.25) ** 2
    assert normal_n <= result.n <= normal_n + 4  # the t-test needs a few more pairs than the z-test


def test_power_matches_a_known_table_value():
    """Cohen (1988): paired t, d = 0.5, n = 34, alpha = .05 two-sided -> power about 0.80."""
    assert stats.paired_power(34, 0.5, sd_diff=1.0) == pytest.approx(0.8078, abs=2e-3)


def test_mde_and_sample_size_are_inverse():
    mde = stats.paired_mde(200, sd_diff=2.0)
    assert mde.achieved_power == pytest.approx(0.8, abs=1e-9)
    size = stats.paired_sample_size(mde.delta * 1.0001, sd_diff=2.0)
    assert size.n == 200
    less = stats.paired_mde(200, sd_diff=2.0, alternative="less")
    assert less.delta < 0


def test_zero_variance_power_helpers_are_degenerate_not_errors():
    assert stats.paired_sample_size(0.1, sd_diff=0.0).reason == "zero_variance"
    assert stats.paired_mde(10, sd_diff=0.0).delta == 0.0


def test_difference_sd_is_the_sd_of_paired_differences():
    c, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.5, 1.0])
    assert stats.difference_sd(c, b) == pytest.approx(np.std(c - b, ddof=1))


@pytest.mark.parametrize("df", [1, 4, 99, 4999, 200_000])
@pytest.mark.parametrize("nc", [-40.0, -2.5, 0.0, 0.7, 3.0, 38.0])
def test_fast_t_tails_equal_scipy_stats(df: int, nc: float) -> None:
    """Power and effect-size intervals call the ufuncs behind scipy.stats directly: same numbers."""
    from scipy.stats import nct
    from scipy.stats import t as student_t

    from runnotary.stats._tdist import nct_sf, t_ppf

    for x in (-50.0, -3.0, -0.1, 0.0, 1.96, 4.0, 60.0):
        expected = float(nct.sf(x, df, nc))
        assert nct_sf(x, df, nc) == expected or (math.isnan(expected) and math.isnan(nct_sf(x, df, nc)))
    for q in (0.001, 0.025, 0.5, 0.95, 0.975):
        assert t_ppf(q, df) == float(student_t.ppf(q, df))
