"""Sign-flip permutation test of paired differences."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from . import _permutation_kernels as kernels
from ._counts import sign_flip_pvalues_by_counts
from ._paired_results import PermutationResult
from ._record import Alternative
from ._validation import _validate_alternative, _validate_differences, _validate_n_resamples, _validate_random_state

__all__ = ["paired_permutation_test"]


# Relative tolerance for null statistics that equal the observed one in exact
# arithmetic but not in floating point; the same rule as scipy.stats.permutation_test.
_TIE_RTOL = 100 * np.finfo(np.float64).eps


def paired_permutation_test(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    n_resamples: int = 10_000,
    alternative: Alternative = "two-sided",
    random_state: int,
    return_null_distribution: bool = False,
) -> PermutationResult:
    """Permutation test of the mean paired difference by random sign flips.

    Under the null hypothesis the arms are exchangeable within each pair, so
    each difference ``candidate[i] - baseline[i]`` is as likely to have either
    sign. The test statistic is the mean difference.

    Parameters
    ----------
    candidate, baseline : array_like of real numbers, shape (n,)
        Per-example metric of each arm on the same ``n >= 2`` examples.
    n_resamples : int, default 10_000
        Monte Carlo resamples ``B >= 1``. When ``2**n <= n_resamples`` all
        ``2**n`` sign assignments are enumerated instead and the test is exact.
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        ``"greater"``: candidate's mean exceeds baseline's.
    random_state : int
        Required seed, ``0 <= random_state < 2**64``; recorded even when the
        test is exact.
    return_null_distribution : bool, default False
        Attach the null distribution of the mean as ``result.null_distribution``.

    When every nonzero difference has the same magnitude (a 0/1 metric such
    as ``compliance@1``) and enumeration is out of reach, the null law is
    known exactly: the count of positive differences is Binomial(M, 1/2) over
    the ``M`` nonzero ones, so the exact p-value is that binomial tail (the
    sign test), with ``exact=True`` and ``n_resamples=0``. Asking for the null
    distribution keeps the Monte Carlo path.

    Returns
    -------
    PermutationResult
        With ``exact=True`` the p-value is the fraction of all sign
        assignments at least as extreme (the observed one included); otherwise
        ``(count + 1) / (B + 1)``. Two-sided p-values are twice the smaller
        one-sided p-value, capped at 1, as in
        :func:`scipy.stats.permutation_test`, whose exact p-values these equal.
        When every difference is 0 the p-value is 1 with
        ``reason="all_differences_zero"``.

    Raises
    ------
    InvalidInputError
        As :func:`paired_bootstrap`.

    References
    ----------
    .. [1] B. Phipson and G. K. Smyth, "Permutation p-values should never be
       zero", Stat. Appl. Genet. Mol. Biol. 9(1), 2010.
    """
    d = _validate_differences(candidate, baseline)
    n_resamples = _validate_n_resamples(n_resamples)
    alternative = _validate_alternative(alternative)
    seed = _validate_random_state(random_state)
    n = d.shape[0]

    exact = n < 63 and 2**n <= n_resamples
    by_counts = None if exact or return_null_distribution else sign_flip_pvalues_by_counts(d)
    if by_counts is not None:
        less, greater = by_counts
        two_sided = min(1.0, 2.0 * min(less, greater))
        padded = np.zeros(-(-n // 64) * 64)
        padded[:n] = d
        return PermutationResult(
            statistic=_ordered_sum(padded) / n,  # as the Monte Carlo path reports it
            pvalue={"less": less, "greater": greater, "two-sided": two_sided}[alternative],
            exact=True,
            n_resamples=0,
            alternative=alternative,
            random_state=seed,
            n=n,
        )
    if exact:
        sums = np.empty(2**n)
        kernels.sign_flip_exact_sums(d, sums)
        observed = sums[0]
    else:
        padded = np.zeros(-(-n // 64) * 64)
        padded[:n] = d
        observed = _ordered_sum(padded)
        sums = np.empty(n_resamples)
        kernels.sign_flip_sums(padded, observed, n_resamples, np.uint64(seed), sums)
    null_means = sums / n
    statistic = observed / n
    used = null_means.shape[0]

    if not d.any():
        pvalue, reason = 1.0, "all_differences_zero"
    else:
        pvalue, reason = _pvalue(null_means, statistic, alternative, exact), None
    return PermutationResult(
        statistic=float(statistic),
        pvalue=pvalue,
        exact=exact,
        n_resamples=used,
        alternative=alternative,
        random_state=seed,
        n=n,
        reason=reason,
        null_distribution=null_means if return_null_distribution else None,
    )


def _ordered_sum(padded: np.ndarray) -> float:
    """Sum with the association order of :func:`kernels.sign_flip_sums`.

    The kernel reports ``total - 2 * S``; passing this exact ``total`` makes a
    resample that flips nothing equal the observed sum bit for bit.
    """
    groups = padded.reshape(-1, 4)
    partial = ((groups[:, 0] + groups[:, 1]) + groups[:, 2]) + groups[:, 3]
    lanes = np.cumsum(partial.reshape(-1, 4), axis=0)[-1]  # cumsum adds in order
    return float((lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))


def _pvalue(null: np.ndarray, observed: float, alternative: str, exact: bool) -> float:
    """p-value of ``observed`` against ``null`` (scipy's tie tolerance and convention)."""
    adjustment = 0 if exact else 1
    gamma = abs(observed) * _TIE_RTOL
    denominator = null.shape[0] + adjustment
    less = (np.count_nonzero(null <= observed + gamma) + adjustment) / denominator
    greater = (np.count_nonzero(null >= observed - gamma) + adjustment) / denominator
    if alternative == "less":
        p = less
    elif alternative == "greater":
        p = greater
    else:
        p = 2.0 * min(less, greater)
    return float(min(max(p, 0.0), 1.0))
