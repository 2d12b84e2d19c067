"""run_swap_permutation: exact p-values equal brute-force enumeration; Monte Carlo; matched sign flips."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runnotary import stats


def _arms(seed: int, s_b: int, s_a: int, n: int = 40, shift: float = 0.1):
    rng = np.random.default_rng(seed)
    v = rng.normal(0, 1, n)
    yb = shift + v + rng.normal(0, 0.2, (s_b, 1)) + rng.normal(0, 0.4, n) + rng.normal(0, 1, (s_b, n))
    ya = v + rng.normal(0, 0.2, (s_a, 1)) + rng.normal(0, 0.4, n) + rng.normal(0, 1, (s_a, n))
    return yb, ya


def _two_sided(null: np.ndarray, observed: float) -> float:
    tol = abs(observed) * 1e-9
    less = np.mean(null <= observed + tol)
    greater = np.mean(null >= observed - tol)
    return min(1.0, 2.0 * min(less, greater))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_p_on_three_plus_three_equals_brute_force_enumeration(seed):
    yb, ya = _arms(seed, 3, 3)
    pooled = np.vstack([yb, ya])
    null = np.array([
        pooled[list(chosen)].mean() - pooled[[r for r in range(6) if r not in chosen]].mean()
        for chosen in itertools.combinations(range(6), 3)
    ])
    result = stats.run_swap_permutation(yb, ya, random_state=0)
    assert result.exact and result.n_relabelings == result.n_resamples == 20 and not result.studentized
    assert result.statistic == pytest.approx(yb.mean() - ya.mean(), rel=1e-12)
    assert result.pvalue == pytest.approx(_two_sided(null, yb.mean() - ya.mean()), abs=1e-12)


def test_unequal_seed_counts_studentize_with_the_e3_variance_of_each_relabeling():
    """The Gram-matrix statistic equals crossed_interval's delta / se recomputed on each relabeled design."""
    yb, ya = _arms(3, 4, 2)
    pooled = np.vstack([yb, ya])
    null = []
    for chosen in itertools.combinations(range(6), 4):
        rest = [r for r in range(6) if r not in chosen]
        r = stats.crossed_interval(pooled[list(chosen)], pooled[rest])
        null.append(r.delta / r.standard_error)
    observed = stats.crossed_interval(yb, ya)
    result = stats.run_swap_permutation(yb, ya, random_state=0, alternative="greater")
    assert result.studentized and result.exact and result.n_relabelings == 15
    assert result.statistic == pytest.approx(observed.delta / observed.standard_error, rel=1e-9)
    t = observed.delta / observed.standard_error
    assert result.pvalue == pytest.approx(np.mean(np.array(null) >= t - 1e-9), abs=1e-12)


def test_matched_sign_flips_enumerate_two_to_the_s_pairs():
    yb, ya = _arms(4, 5, 5)
    e = (yb - ya).mean(axis=1)
    null = np.array([np.mean(np.array(signs) * e) for signs in itertools.product((1, -1), repeat=5)])
    result = stats.run_swap_permutation(yb, ya, random_state=0, matched=True)
    assert result.method == "matched_sign_flip" and result.exact and result.n_relabelings == 32
    assert result.pvalue == pytest.approx(_two_sided(null, e.mean()), abs=1e-12)


@pytest.mark.parametrize(("s", "smallest"), [(3, 0.10), (4, 2 / 70), (5, 2 / 252)])
def test_smallest_two_sided_p_of_separated_arms(s, smallest):
    rng = np.random.default_rng(s)
    yb = 10.0 + rng.normal(0, 0.1, (s, 30))
    ya = rng.normal(0, 0.1, (s, 30))
    assert stats.run_swap_permutation(yb, ya, random_state=1).pvalue == pytest.approx(smallest)
    assert stats.run_swap_permutation(yb, ya, random_state=1, matched=True).pvalue == pytest.approx(2 / 2**s)


def test_monte_carlo_p_is_k_plus_one_over_b_plus_one_and_near_the_exact_one():
    yb, ya = _arms(5, 6, 6, shift=0.15)
    exact = stats.run_swap_permutation(yb, ya, random_state=3, n_resamples=1000)
    assert exact.exact and exact.n_relabelings == math.comb(12, 6)
    mc = stats.run_swap_permutation(yb, ya, random_state=3, n_resamples=4000 - 1)
    assert mc.exact  # 924 <= 4000
    sampled = stats.run_swap_permutation(yb, ya, random_state=3, n_resamples=599)
    assert not sampled.exact and sampled.n_resamples == 599
    assert (sampled.pvalue * 600) == pytest.approx(round(sampled.pvalue * 600))
    assert sampled.pvalue == pytest.approx(exact.pvalue, abs=4 * math.sqrt(exact.pvalue * (1 - exact.pvalue) / 600) + 0.01)


def test_monte_carlo_relabelings_are_reproducible_and_seed_dependent():
    yb, ya = _arms(6, 8, 8)
    first = stats.run_swap_permutation(yb, ya, random_state=11, n_resamples=999)
    assert stats.run_swap_permutation(yb, ya, random_state=11, n_resamples=999) == first
    others = {stats.run_swap_permutation(yb, ya, random_state=k, n_resamples=999).pvalue for k in range(12, 16)}
    assert len(others | {first.pvalue}) > 1


def test_swapping_arms_keeps_the_two_sided_p_and_negates_the_statistic():
    yb, ya = _arms(7, 4, 3)
    forward = stats.run_swap_permutation(yb, ya, random_state=2)
    backward = stats.run_swap_permutation(ya, yb, random_state=2)
    assert backward.statistic == pytest.approx(-forward.statistic, rel=1e-9)
    assert backward.pvalue == pytest.approx(forward.pvalue)


def test_identical_runs_are_reported_as_zero_variance():
    y = np.tile(np.arange(6.0), (3, 1))
    result = stats.run_swap_permutation(y, y, random_state=0)
    assert result.reason == "zero_variance" and result.pvalue == 1.0


def test_more_than_62_runs_are_rejected():
    with pytest.raises(stats.InvalidInputError, match="at most 62 runs"):
        stats.run_swap_permutation(np.zeros((40, 3)), np.zeros((30, 3)), random_state=0)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 4), st.integers(2, 4), st.integers(3, 30), st.integers(0, 2**32 - 1), st.floats(-20, 20))
def test_per_item_constants_and_reorderings_leave_the_exact_test_unchanged(s_b, s_a, n, seed, scale):
    yb, ya = _arms(seed, s_b, s_a, n)
    rng = np.random.default_rng(seed)
    base = stats.run_swap_permutation(yb, ya, random_state=0)
    c = rng.normal(0, 1, n) * scale
    items = rng.permutation(n)
    for other in (
        stats.run_swap_permutation(yb + c, ya + c, random_state=0),
        stats.run_swap_permutation(yb[rng.permutation(s_b)][:, items], ya[rng.permutation(s_a)][:, items],
                                   random_state=0),
    ):
        assert other.exact and other.n_relabelings == base.n_relabelings
        assert other.statistic == pytest.approx(base.statistic, rel=1e-7, abs=1e-9)
        assert other.pvalue == pytest.approx(base.pvalue)
