"""Exact shortcuts for paired differences that take few distinct values (binary metrics).

A 0/1 per-query metric such as ``compliance@1`` gives differences in {-1, 0, 1}. Then

* a bootstrap resample's mean depends only on how many times it drew each value: the counts
  follow a multinomial law, so a resample is one draw from that law (inversion on a table of
  its cells) instead of ``n`` index draws;
* under the sign-flip null every nonzero difference of one magnitude ``a`` is ``+a`` or ``-a``
  with probability 1/2, whatever its observed sign, so the number of positive ones is
  Binomial(M, 1/2) and the exact p-value is a binomial tail (the sign test).

Both are exact: the same law as the general kernels, not an approximation. The multinomial table
keeps the cells whose marginal tails hold more than ``_TAIL`` of probability (below what a
53-bit uniform can resolve); its probabilities are computed in double precision.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _scipy_stats
from scipy.special import gammaln, xlogy

from . import _bootstrap_kernels as kernels

__all__ = ["bootstrap_means_by_counts", "sign_flip_pvalues_by_counts"]

_TAIL = 1e-20  # probability left out at each end of each count's range
_MAX_CELLS = 1 << 21  # larger tables (n in the millions) go the general way


def _window(n: int, p: float) -> tuple[int, int]:
    """Counts ``[lo, hi]`` of Binomial(n, p) holding all but at most ``2 * _TAIL`` of its mass.

    Each tail is summed from its own end, so probabilities far below the double epsilon count.
    """
    # Beyond 40 standard deviations (and 50 counts) the binomial's mass is far below 1e-100 (Chernoff).
    spread = 40.0 * np.sqrt(n * p * (1.0 - p)) + 50.0
    first, last = max(0, int(n * p - spread)), min(n, int(n * p + spread) + 1)
    log_pmf = _scipy_stats.binom.logpmf(np.arange(first, last + 1), n, p)
    pmf = np.exp(log_pmf - log_pmf.max())
    pmf /= pmf.sum()
    lower = np.cumsum(pmf)
    upper = np.cumsum(pmf[::-1])  # upper[k]: mass of the k + 1 largest counts of the range
    return first + int(np.argmax(lower > _TAIL)), last - int(np.argmax(upper > _TAIL))


def _canonical_sign(values: np.ndarray, counts: np.ndarray) -> int:
    """+1 or -1 so that ``d`` and ``-d`` resample the same table (and give negated draws).

    0 when the value/count pattern is symmetric (``-d`` is a permutation of ``d``): no table can
    then tell ``d`` from ``-d``, and those data go the general way, which negates exactly.
    """
    forward = list(zip(values.tolist(), counts.tolist()))
    backward = list(zip((-values[::-1]).tolist(), counts[::-1].tolist()))
    if forward == backward:
        return 0
    return 1 if forward < backward else -1


def bootstrap_means_by_counts(d: np.ndarray, n_resamples: int, seed: int) -> np.ndarray | None:
    """Bootstrap means of ``d`` drawn as multinomial counts, or None when ``d`` has more than 3 values.

    Parameters
    ----------
    d : ndarray of float64, shape (n,)
        Validated differences with at least two distinct values.
    n_resamples : int
        Number of resamples ``B``.
    seed : int
        ``random_state``.

    Returns
    -------
    ndarray of float64, shape (B,) or None
        None also when the values are symmetric (see :func:`_canonical_sign`) or the table
        would exceed ``_MAX_CELLS`` cells.
    """
    values, counts = np.unique(d, return_counts=True)
    if not 2 <= values.shape[0] <= 3:
        return None
    sign = _canonical_sign(values, counts)
    if sign == 0:
        return None
    if sign < 0:
        values, counts = -values[::-1], counts[::-1]
    n = d.shape[0]
    # N_a counts the smallest value, N_b the largest of three (none of two), the rest the middle one.
    if values.shape[0] == 3:
        cells = (values[0], values[2], values[1]), (counts[0], counts[2], counts[1])
    else:
        cells = (values[0], 0.0, values[1]), (counts[0], 0, counts[1])
    (value_a, value_b, value_rest), (count_a, count_b, count_rest) = cells
    p_a, p_b, p_rest = count_a / n, count_b / n, count_rest / n
    lo_a, hi_a = _window(n, p_a)
    lo_b, hi_b = _window(n, p_b) if count_b else (0, 0)
    width = hi_b - lo_b + 1
    if (hi_a - lo_a + 1) * width > _MAX_CELLS:
        return None
    # log multinomial pmf up to a constant, A(m) + B(j) + C(m + j): separable but for the third count.
    m = np.arange(lo_a, hi_a + 1, dtype=np.float64)
    j = np.arange(lo_b, hi_b + 1, dtype=np.float64)
    rest = n - np.arange(lo_a + lo_b, hi_a + hi_b + 1, dtype=np.float64)
    log_a = xlogy(m, p_a) - gammaln(m + 1.0)
    log_b = xlogy(j, p_b) - gammaln(j + 1.0)
    with np.errstate(invalid="ignore"):
        log_rest = np.where(rest >= 0, xlogy(rest, p_rest) - gammaln(np.maximum(rest, 0.0) + 1.0), -np.inf)
    cdf = np.empty(m.shape[0] * width)
    kernels.multinomial_cdf(log_a, log_b, log_rest, cdf)
    out = np.empty(n_resamples)
    kernels.bootstrap_means_from_counts(cdf, width, lo_a, lo_b, n, np.array([value_a, value_b, value_rest]),
                                        n_resamples, np.uint64(seed), out)
    return out if sign > 0 else -out


def sign_flip_pvalues_by_counts(d: np.ndarray) -> tuple[float, float] | None:
    """Exact one-sided p-values ``(less, greater)`` of the sign-flip test when every nonzero |d| is equal.

    With ``M`` nonzero differences of magnitude ``a``, ``P`` of them positive, the null sum is
    ``a (2K - M)`` with ``K ~ Binomial(M, 1/2)``: ``greater = P(K >= P)`` and, by the symmetry of
    Binomial(M, 1/2), ``less = P(K <= P) = P(K >= M - P)``. Both tails come from one function, so
    negating ``d`` swaps them exactly. None when the magnitudes differ or every difference is 0.
    """
    nonzero = d[d != 0]
    if nonzero.shape[0] == 0:
        return None
    magnitude = np.abs(nonzero)
    if magnitude.min() != magnitude.max():
        return None
    m = int(nonzero.shape[0])
    positive = int(np.count_nonzero(nonzero > 0))

    def at_least(k: int) -> float:
        p = float(_scipy_stats.binom.sf(k - 1, m, 0.5))
        return max(p, float(np.nextafter(0.0, 1.0)))  # 2**-M can be below the double range; never report 0

    return at_least(m - positive), at_least(positive)
