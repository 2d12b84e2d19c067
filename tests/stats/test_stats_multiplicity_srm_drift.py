"""Holm/BH adjustment, SRM check, PSI and KS against references and the seed's thresholds."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary import stats


def _holm_brute_force(p, alpha):
    """Reject by the step-down definition: stop at the first sorted p above alpha / (m - i)."""
    order = np.argsort(p, kind="stable")
    reject = np.zeros(len(p), dtype=bool)
    for i, j in enumerate(order):
        if p[j] > alpha / (len(p) - i):
            break
        reject[j] = True
    return reject


@pytest.mark.parametrize("seed", range(5))
def test_holm_rejections_equal_the_step_down_procedure(seed):
    p = np.random.default_rng(seed).uniform(0, 0.08, 8)
    result = stats.holm(p, alpha=0.05)
    np.testing.assert_array_equal(result.reject, _holm_brute_force(p, 0.05))
    assert all(a >= r for a, r in zip(result.adjusted, result.pvalues, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_bh_adjusted_pvalues_equal_scipy(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, 10)
    result = stats.benjamini_hochberg(p)
    np.testing.assert_allclose(result.adjusted, scipy_stats.false_discovery_control(p, method="bh"), rtol=1e-12)


def test_adjustment_of_a_single_pvalue_is_identity():
    for method in ("holm", "bh"):
        assert stats.adjust_pvalues([0.03], method=method).adjusted == (0.03,)


def test_holm_is_never_less_conservative_than_bh():
    for p in itertools.product([0.001, 0.01, 0.02, 0.04, 0.3], repeat=3):
        holm, bh = stats.holm(p), stats.benjamini_hochberg(p)
        assert all(h >= b for h, b in zip(holm.adjusted, bh.adjusted, strict=True))


def test_srm_statistic_equals_scipy_chisquare_and_alerts_below_one_in_a_thousand():
    result = stats.srm_test([50_000, 51_000], [0.5, 0.5])
    ref = scipy_stats.chisquare([50_000, 51_000], [50_500, 50_500])
    assert result.statistic == pytest.approx(ref.statistic)
    assert result.pvalue == pytest.approx(ref.pvalue)
    assert result.alert is bool(ref.pvalue < 0.001)
    assert stats.srm_test([50_000, 52_000], [1, 1]).alert
    assert not stats.srm_test([50_000, 50_100], [1, 1]).alert
    assert result.alpha == stats.SRM_ALPHA == 0.001


def test_srm_handles_unequal_ratios_and_three_arms():
    result = stats.srm_test([2000, 1000, 1000], [2, 1, 1])
    assert result.statistic == 0.0 and result.pvalue == 1.0 and result.df == 2
    assert json.loads(json.dumps(result.to_dict()))["expected"] == [2000.0, 1000.0, 1000.0]


def test_psi_of_identical_samples_is_zero_and_level_none():
    x = np.random.default_rng(0).normal(size=5000)
    result = stats.psi(x, x.copy())
    assert result.value == pytest.approx(0.0, abs=1e-12)
    assert result.level == "none"
    assert len(result.reference_fractions) == 10


def test_psi_levels_follow_the_seed_thresholds():
    edges = [0.5]
    ref = np.r_[np.zeros(500), np.ones(500)]

    def psi_for(share_ones):
        k = int(1000 * share_ones)
        return stats.psi(ref, np.r_[np.zeros(1000 - k), np.ones(k)], bins=edges)

    for share in (0.5, 0.6, 0.7, 0.8):
        result = psi_for(share)
        expected = (share - 0.5) * np.log(share / 0.5) + (0.5 - share) * np.log((1 - share) / 0.5)
        assert result.value == pytest.approx(expected, rel=1e-12)
        level = "none" if expected < 0.1 else ("moderate" if expected < 0.25 else "significant")
        assert result.level == level
    assert {psi_for(s).level for s in (0.5, 0.7, 0.8)} == {"none", "moderate", "significant"}


def test_psi_explicit_edges_use_right_closed_bins_and_floor_empty_bins():
    result = stats.psi([0.0, 1.0, 1.0, 2.0], [3.0, 3.0, 3.0, 3.0], bins=[1.0, 2.0], epsilon=1e-4)
    assert result.edges == (1.0, 2.0)
    assert result.reference_fractions == (0.75, 0.25, 0.0)
    assert result.current_fractions == (0.0, 0.0, 1.0)
    r = np.array([0.75, 0.25, 1e-4])
    c = np.array([1e-4, 1e-4, 1.0])
    assert result.value == pytest.approx(np.sum((c - r) * np.log(c / r)))
    assert np.isfinite(result.value)


def test_ks_matches_scipy_and_records_method():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=300), rng.normal(0.2, 1.0, 400)
    ours, ref = stats.ks_test(x, y), scipy_stats.ks_2samp(x, y)
    assert (ours.statistic, ours.pvalue) == pytest.approx((ref.statistic, ref.pvalue))
    assert ours.method == "exact"
    big = stats.ks_test(rng.normal(size=20_000), rng.normal(size=20_000))
    assert big.method == "asymp" and 0.0 <= big.pvalue <= 1.0
