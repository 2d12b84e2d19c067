"""Bootstrap CI for the difference of a quantile between two independent samples.

The bootstrap distribution of a sample quantile needs no resampling of the
data. For a sample of size ``n`` sorted as ``x_(0) <= ... <= x_(n-1)``, the
``k``-th order statistic of a resample (``k`` counted from 1) is at a sorted
position ``J`` with

    P(J <= j) = P(at least k of n draws fall on positions 0..j)
              = P(Binomial(n, (j + 1) / n) >= k).

So after one partial sort around the quantile the exact bootstrap law of each
arm's quantile is known; ``n_resamples`` independent draws from each (by
inversion, with the package generator) give the bootstrap distribution of the
difference in O(n + B log n) instead of O(B n log n).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import bdtr, bdtrc

from . import _quantile_kernels as kernels
from ._paired_results import BootstrapResult
from ._validation import (
    _validate_n_resamples,
    _validate_open_unit,
    _validate_random_state,
    _validate_sample,
)
from .bootstrap import _standard_error
from .errors import InvalidInputError
from .rng import STREAM_QUANTILE_BASELINE, STREAM_QUANTILE_CANDIDATE

__all__ = ["quantile_delta"]

# Order-statistic mass outside the window is below this, far below the 2**-53
# resolution of the uniforms that drive the inversion.
_TAIL = 2.0**-60


def quantile_delta(
    candidate_samples: ArrayLike,
    baseline_samples: ArrayLike,
    *,
    q: float = 0.95,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    random_state: int,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Bootstrap CI for ``quantile(candidate, q) - quantile(baseline, q)``.

    The two samples are independent (e.g. latency logs of two deployments,
    10**4 to 10**6 values each) and are resampled separately.

    Parameters
    ----------
    candidate_samples, baseline_samples : array_like of real numbers
        1-d samples, at least 2 values each; sizes may differ.
    q : float, default 0.95
        Quantile level in (0, 1).
    n_resamples : int, default 10_000
        Number of bootstrap resamples ``B >= 1``.
    confidence_level : float, default 0.95
        Two-sided coverage, in (0, 1).
    random_state : int
        Required seed, ``0 <= random_state < 2**64``.
    return_distribution : bool, default False
        Attach the ``B`` bootstrap differences as ``result.distribution``.

    Returns
    -------
    BootstrapResult
        ``statistic="quantile"``, ``method="percentile"``, ``q`` and
        ``n_baseline`` set; ``n`` is the candidate sample size. When both
        samples are constant the interval collapses to the estimate with
        ``reason="zero_variance"``.

    Raises
    ------
    InvalidInputError
        A :class:`ValueError` for NaN/inf, fewer than 2 values, non-numeric
        data or an out-of-range setting.

    Notes
    -----
    The sample quantile is the inverted-CDF (Hyndman-Fan type 1) one, the
    plug-in quantile of the empirical distribution that the bootstrap
    resamples: ``numpy.quantile(x, q, method="inverted_cdf")``, an order
    statistic. Its bootstrap distribution equals that of
    ``scipy.stats.bootstrap`` with that statistic, without sorting any
    resample. The interval is the percentile interval with linear
    interpolation between bootstrap quantiles.
    """
    x = _validate_sample(candidate_samples, "candidate_samples")
    y = _validate_sample(baseline_samples, "baseline_samples")
    if not math.isfinite(float(max(x.max(), -x.min())) + float(max(y.max(), -y.min()))):
        raise InvalidInputError("candidate_samples - baseline_samples overflows float64")
    q = _validate_open_unit(q, "q")
    n_resamples = _validate_n_resamples(n_resamples)
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    seed = _validate_random_state(random_state)

    x_estimate, x_cdf, x_values = _order_statistic_law(x, q)
    y_estimate, y_cdf, y_values = _order_statistic_law(y, q)
    estimate = x_estimate - y_estimate

    x_draws = np.empty(n_resamples)
    y_draws = np.empty(n_resamples)
    kernels.sample_order_statistic(x_cdf, x_values, n_resamples, np.uint64(seed), STREAM_QUANTILE_CANDIDATE, x_draws)
    kernels.sample_order_statistic(y_cdf, y_values, n_resamples, np.uint64(seed), STREAM_QUANTILE_BASELINE, y_draws)
    distribution = x_draws - y_draws

    alpha = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(distribution, (alpha, 1.0 - alpha))
    constant = x.min() == x.max() and y.min() == y.max()
    return BootstrapResult(
        estimate=float(estimate),
        low=float(low),
        high=float(high),
        method="percentile",
        statistic="quantile",
        n=x.shape[0],
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        random_state=seed,
        standard_error=_standard_error(distribution),
        reason="zero_variance" if constant else None,
        q=q,
        n_baseline=y.shape[0],
        distribution=distribution if return_distribution else None,
    )


def _order_index(n: int, q: float) -> int:
    """0-based position of the inverted-CDF q-quantile, computed as numpy does."""
    return min(max(math.ceil(n * q) - 1, 0), n - 1)


def _order_statistic_law(x: np.ndarray, q: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Sample quantile and the bootstrap law of its sorted position.

    Parameters
    ----------
    x : ndarray of float64, shape (n,)
        Sample, unsorted (not modified).
    q : float
        Quantile level.

    Returns
    -------
    estimate : float
        The sample's q-quantile.
    cdf : ndarray of float64, shape (w,)
        ``P(J <= lo + i)`` for the window ``lo .. lo + w - 1`` of positions
        that carries all but ``2**-60`` of each tail's probability.
    values : ndarray of float64, shape (w,)
        Sorted sample values at those positions.
    """
    n = x.shape[0]
    k0 = _order_index(n, q)
    half_width = math.ceil(10.0 * math.sqrt(n * q * (1.0 - q))) + 10
    while True:
        lo = max(k0 - half_width, 0)
        hi = min(k0 + half_width, n - 1)
        # P(J <= lo - 1) = P(Bin(n, lo/n) > k0); P(J > hi) = P(Bin(n, (hi+1)/n) <= k0)
        below = float(bdtrc(k0, n, lo / n)) if lo > 0 else 0.0
        above = float(bdtr(k0, n, (hi + 1) / n)) if hi < n - 1 else 0.0
        if below < _TAIL and above < _TAIL:
            break
        half_width *= 2
    partitioned = np.partition(x, (lo, hi)) if hi > lo else np.partition(x, lo)
    values = np.sort(partitioned[lo : hi + 1])
    positions = np.arange(lo, hi + 1)
    cdf = np.asarray(bdtrc(k0, n, (positions + 1) / n), dtype=np.float64)
    return float(values[k0 - lo]), cdf, values
