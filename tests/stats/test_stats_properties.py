"""Invariants by hypothesis: swapping arms negates, a common shift changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runnotary import stats

# Values on a dyadic grid make candidate - baseline, and shifts by integers,
# exact in float64, so the invariants can be checked exactly rather than
# within a tolerance that could hide a bug.
_grid = st.integers(min_value=-4000, max_value=4000).map(lambda k: k / 8.0)
_pairs = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(st.lists(_grid, min_size=n, max_size=n), st.lists(_grid, min_size=n, max_size=n))
)
_seed = st.integers(min_value=0, max_value=2**64 - 1)
_settings = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(pairs=_pairs, seed=_seed, statistic=st.sampled_from(["mean", "median"]),
       method=st.sampled_from(["percentile", "bca"]))
def test_swapping_arms_negates_estimate_and_mirrors_interval(pairs, seed, statistic, method):
    c, b = map(np.array, pairs)
    forward = stats.paired_bootstrap(c, b, statistic=statistic, method=method, n_resamples=200, random_state=seed)
    backward = stats.paired_bootstrap(b, c, statistic=statistic, method=method, n_resamples=200, random_state=seed)
    scale = 1e-9 * (1.0 + np.abs(c - b).max())
    assert backward.estimate == -forward.estimate
    assert backward.method == forward.method
    assert backward.low == pytest.approx(-forward.high, abs=scale)
    assert backward.high == pytest.approx(-forward.low, abs=scale)


@_settings
@given(pairs=_pairs, seed=_seed, shift=st.integers(-1000, 1000), method=st.sampled_from(["percentile", "bca"]))
def test_adding_a_constant_to_both_arms_leaves_the_bootstrap_unchanged(pairs, seed, shift, method):
    c, b = map(np.array, pairs)
    plain = stats.paired_bootstrap(c, b, method=method, n_resamples=200, random_state=seed)
    shifted = stats.paired_bootstrap(c + shift, b + shift, method=method, n_resamples=200, random_state=seed)
    assert shifted == plain


@_settings
@given(pairs=_pairs, seed=_seed, shift=st.integers(-1000, 1000),
       alternative=st.sampled_from(["two-sided", "less", "greater"]))
def test_adding_a_constant_to_both_arms_leaves_the_permutation_test_unchanged(pairs, seed, shift, alternative):
    c, b = map(np.array, pairs)
    plain = stats.paired_permutation_test(c, b, n_resamples=300, alternative=alternative, random_state=seed)
    shifted = stats.paired_permutation_test(c + shift, b + shift, n_resamples=300, alternative=alternative,
                                            random_state=seed)
    assert shifted == plain


_flip = {"two-sided": "two-sided", "less": "greater", "greater": "less"}


@_settings
@given(pairs=_pairs, seed=_seed, alternative=st.sampled_from(["two-sided", "less", "greater"]))
def test_swapping_arms_negates_statistic_and_mirrors_the_alternative(pairs, seed, alternative):
    c, b = map(np.array, pairs)
    forward = stats.paired_permutation_test(c, b, n_resamples=300, alternative=alternative, random_state=seed)
    backward = stats.paired_permutation_test(b, c, n_resamples=300, alternative=_flip[alternative], random_state=seed)
    assert backward.statistic == -forward.statistic
    assert backward.pvalue == forward.pvalue
    assert 0.0 < forward.pvalue <= 1.0


@_settings
@given(
    x=st.lists(_grid, min_size=2, max_size=60), y=st.lists(_grid, min_size=2, max_size=60),
    q=st.sampled_from([0.1, 0.5, 0.9, 0.95]), shift=st.integers(-1000, 1000), seed=_seed,
)
def test_quantile_delta_is_shift_invariant_and_within_sample_range(x, y, q, shift, seed):
    x, y = np.array(x), np.array(y)
    plain = stats.quantile_delta(x, y, q=q, n_resamples=300, random_state=seed)
    shifted = stats.quantile_delta(x + shift, y + shift, q=q, n_resamples=300, random_state=seed)
    assert shifted.estimate == plain.estimate
    assert (shifted.low, shifted.high) == pytest.approx((plain.low, plain.high), abs=1e-9)
    assert x.min() - y.max() <= plain.low <= plain.high <= x.max() - y.min()


@_settings
@given(pairs=_pairs, seed=_seed)
def test_results_are_never_nan_and_serialise(pairs, seed):
    c, b = map(np.array, pairs)
    for result in (
        stats.paired_bootstrap(c, b, method="bca", n_resamples=100, random_state=seed),
        stats.paired_permutation_test(c, b, n_resamples=100, random_state=seed),
        stats.effect_sizes(c, b),
    ):
        for value in result.to_dict().values():
            assert not (isinstance(value, float) and np.isnan(value))
