"""Bad input raises InvalidInputError (a ValueError) whose message names the problem."""

from __future__ import annotations

import numpy as np
import pytest

from runnotary import stats

GOOD = np.array([1.0, 2.0, 3.0, 4.0])
OTHER = np.array([0.5, 2.5, 2.0, 3.0])


def _paired_calls():
    return {
        "bootstrap": lambda c, b, **kw: stats.paired_bootstrap(c, b, random_state=0, n_resamples=50, **kw),
        "permutation": lambda c, b, **kw: stats.paired_permutation_test(c, b, random_state=0, n_resamples=50, **kw),
        "effect_sizes": lambda c, b, **kw: stats.effect_sizes(c, b, **kw),
    }


@pytest.mark.parametrize("call", list(_paired_calls()))
@pytest.mark.parametrize(
    ("candidate", "baseline", "fragment"),
    [
        (np.array([1.0, np.nan, 3.0, 4.0]), OTHER, "NaN"),
        (np.array([1.0, np.inf, 3.0, 4.0]), OTHER, "inf"),
        (GOOD, np.array([1.0, 2.0, -np.inf, 4.0]), "inf"),
        (GOOD, OTHER[:3], "length mismatch"),
        (GOOD[:1], OTHER[:1], "fewer than 2 pairs"),
        (np.array(["a", "b", "c", "d"]), OTHER, "non-numeric"),
        (np.array([1 + 1j, 2, 3, 4]), OTHER, "non-numeric"),
        (np.array([object(), 1, 2, 3], dtype=object), OTHER, "non-numeric"),
        (GOOD.reshape(2, 2), OTHER.reshape(2, 2), "1-dimensional"),
        (np.array([1e308, -1e308, 0.0, 1.0]), np.array([-1e308, 1e308, 0.0, 1.0]), "overflow"),
        (np.array([1e160, 0.0, 0.0, 1.0]), OTHER, "too large in magnitude"),
    ],
)
def test_paired_functions_reject_bad_data_naming_the_problem(call, candidate, baseline, fragment):
    with pytest.raises(ValueError, match=fragment):
        _paired_calls()[call](candidate, baseline)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_resamples": 0}, "n_resamples must be >= 1"),
        ({"n_resamples": 2.5}, "n_resamples must be an integer"),
        ({"n_resamples": True}, "n_resamples must be an integer"),
        ({"confidence_level": 0.0}, r"confidence_level must be in \(0, 1\)"),
        ({"confidence_level": 1.0}, r"confidence_level must be in \(0, 1\)"),
        ({"confidence_level": float("nan")}, r"confidence_level must be in \(0, 1\)"),
        ({"method": "basic"}, "method must be one of"),
        ({"statistic": "trimmed_mean"}, "statistic must be one of"),
        ({"random_state": -1}, "random_state must be >= 0"),
        ({"random_state": 2**64}, "random_state must be < 2"),
        ({"random_state": None}, "random_state must be an int"),
        ({"random_state": np.random.default_rng(0)}, "random_state must be an int"),
        ({"random_state": 1.5}, "random_state must be an integer"),
    ],
)
def test_paired_bootstrap_rejects_bad_settings(kwargs, fragment):
    settings = {"random_state": 0, **kwargs}
    with pytest.raises(stats.InvalidInputError, match=fragment):
        stats.paired_bootstrap(GOOD, OTHER, **settings)


def test_random_state_is_required_and_keyword_only():
    with pytest.raises(TypeError):
        stats.paired_bootstrap(GOOD, OTHER)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        stats.paired_permutation_test(GOOD, OTHER, 100, "two-sided", 0)  # type: ignore[misc]


def test_permutation_rejects_bad_alternative_and_resamples():
    with pytest.raises(ValueError, match="alternative must be one of"):
        stats.paired_permutation_test(GOOD, OTHER, alternative="bigger", random_state=0)
    with pytest.raises(ValueError, match="n_resamples must be >= 1"):
        stats.paired_permutation_test(GOOD, OTHER, n_resamples=0, random_state=0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"q": 0.0}, r"q must be in \(0, 1\)"),
        ({"q": 1.0}, r"q must be in \(0, 1\)"),
        ({"q": 1.5}, r"q must be in \(0, 1\)"),
        ({"confidence_level": 2.0}, r"confidence_level must be in \(0, 1\)"),
        ({"n_resamples": -5}, "n_resamples must be >= 1"),
    ],
)
def test_quantile_delta_rejects_bad_settings(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        stats.quantile_delta(GOOD, OTHER, random_state=0, **kwargs)


def test_quantile_delta_rejects_differences_that_overflow():
    with pytest.raises(ValueError, match="overflows"):
        stats.quantile_delta([1e308, 1.7e308], [-1e308, -1.7e308], random_state=0)


def test_quantile_delta_rejects_nan_and_tiny_samples():
    with pytest.raises(ValueError, match="candidate_samples contains NaN"):
        stats.quantile_delta([1.0, np.nan, 2.0], OTHER, random_state=0)
    with pytest.raises(ValueError, match="baseline_samples has 1 values; at least 2"):
        stats.quantile_delta(GOOD, [1.0], random_state=0)


def test_integer_and_boolean_metrics_are_accepted_as_numbers():
    result = stats.paired_bootstrap([1, 0, 1, 1], [True, False, False, True], n_resamples=20, random_state=1)
    assert result.estimate == pytest.approx(0.25)


def test_srm_rejects_mismatched_or_invalid_counts():
    with pytest.raises(ValueError, match="length mismatch"):
        stats.srm_test([10, 20, 30], [1, 1])
    with pytest.raises(ValueError, match="non-negative integers"):
        stats.srm_test([10, -1], [1, 1])
    with pytest.raises(ValueError, match="positive"):
        stats.srm_test([10, 10], [1, 0])
    with pytest.raises(ValueError, match="all zero"):
        stats.srm_test([0, 0], [1, 1])


def test_psi_rejects_unsorted_edges_and_nan():
    with pytest.raises(ValueError, match="strictly increasing"):
        stats.psi(GOOD, OTHER, bins=[2.0, 1.0])
    with pytest.raises(ValueError, match="reference contains NaN"):
        stats.psi([1.0, np.nan, 3.0], OTHER)


def test_multiplicity_rejects_out_of_range_pvalues():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        stats.holm([0.2, 1.5])
    with pytest.raises(ValueError, match="NaN"):
        stats.benjamini_hochberg([0.2, float("nan")])
    with pytest.raises(ValueError, match="method must be one of"):
        stats.adjust_pvalues([0.2], method="bonferroni")  # type: ignore[arg-type]


def test_power_helpers_reject_impossible_settings():
    with pytest.raises(ValueError, match="delta must be nonzero"):
        stats.paired_sample_size(0.0, sd_diff=1.0)
    with pytest.raises(ValueError, match="sd_diff must be >= 0"):
        stats.paired_sample_size(0.1, sd_diff=-1.0)
    with pytest.raises(ValueError, match=r"power must be in \(0, 1\)"):
        stats.paired_sample_size(0.1, sd_diff=1.0, power=1.0)
    with pytest.raises(ValueError, match="points away"):
        stats.paired_sample_size(-0.1, sd_diff=1.0, alternative="greater")
    with pytest.raises(ValueError, match="n must be >= 2"):
        stats.paired_mde(1, sd_diff=1.0)
