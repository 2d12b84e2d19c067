"""Paired bootstrap confidence intervals for a difference of two arms."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtr, ndtri

from . import _bootstrap_kernels as kernels
from ._count_kernels import count_means
from ._counts import bootstrap_means_by_counts
from ._paired_results import BootstrapResult
from ._validation import (
    _validate_choice,
    _validate_differences,
    _validate_n_resamples,
    _validate_open_unit,
    _validate_random_state,
)
from .countmatrix import _count_blocks

__all__ = ["paired_bootstrap"]

Statistic = Literal["mean", "median"]
Method = Literal["percentile", "bca"]


def paired_bootstrap(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    statistic: Statistic = "mean",
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: Method = "percentile",
    random_state: int,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Bootstrap confidence interval for a statistic of paired differences.

    Pairs are resampled with replacement; the statistic is computed on the
    per-pair differences ``candidate - baseline``.

    Parameters
    ----------
    candidate, baseline : array_like of real numbers, shape (n,)
        Per-example metric of each arm on the same ``n >= 2`` examples.
    statistic : {"mean", "median"}, default "mean"
        Statistic of the differences. The median of an even number of values
        is the mean of the two middle ones.
    n_resamples : int, default 10_000
        Number of bootstrap resamples ``B >= 1``.
    confidence_level : float, default 0.95
        Two-sided coverage, in (0, 1).
    method : {"percentile", "bca"}, default "percentile"
        Percentile interval, or bias-corrected and accelerated (BCa) with the
        jackknife acceleration computed in O(n).
    random_state : int
        Required seed, ``0 <= random_state < 2**64``. The same seed gives a
        bit-identical result at any thread count.
    return_distribution : bool, default False
        Attach the ``B`` bootstrap statistics as ``result.distribution``.

    Returns
    -------
    BootstrapResult
        ``estimate``, ``low``, ``high`` and the settings that reproduce them.
        When the differences have zero variance the interval collapses to the
        estimate with ``reason="zero_variance"``. When BCa's correction is
        undefined (the bootstrap distribution lies entirely on one side of the
        estimate, or the jackknife is constant) the percentile interval is
        returned with ``method="percentile"`` and ``reason="bca_undefined"``.

    Raises
    ------
    InvalidInputError
        A :class:`ValueError` for NaN/inf, length mismatch, fewer than 2
        pairs, non-numeric data or an out-of-range setting.

    Notes
    -----
    When the differences take two or three distinct values (a 0/1 metric
    such as ``compliance@1``) the mean's resamples are drawn as multinomial
    counts of those values, one draw per resample instead of ``n`` index
    draws: the same resampling law, drawn from other random words, so the
    interval agrees with the index bootstrap within Monte Carlo error and
    ``result.resampling`` says ``"counts"``. Data whose value pattern is
    symmetric (``-d`` a permutation of ``d``) keep the index draws, so that
    swapping the arms always mirrors the interval.

    Otherwise the mean's resamples are rows of the count matrix of
    :func:`stats.resample_counts` for ``(n, n_resamples, random_state)``,
    which is cached and shared by every metric and candidate scored on ``n``
    items: each resample mean is one row times the differences. The rows are
    the index draws the median uses (the same resamples), so the count matrix
    changes only the summation order.

    Interval endpoints are linear-interpolation quantiles of the bootstrap
    distribution, and BCa follows [1]_ Eq. 14.10 and 14.15 with
    ``z0 = Phi^-1((#{t* < t} + #{t* <= t}) / 2B)``, exactly as
    :func:`scipy.stats.bootstrap` does, so the two agree within Monte Carlo
    error.

    References
    ----------
    .. [1] B. Efron and R. J. Tibshirani, *An Introduction to the Bootstrap*,
       Chapman & Hall, 1993.
    """
    d = _validate_differences(candidate, baseline)
    statistic = _validate_choice(statistic, "statistic", ("mean", "median"))  # type: ignore[assignment]
    method = _validate_choice(method, "method", ("percentile", "bca"))  # type: ignore[assignment]
    n_resamples = _validate_n_resamples(n_resamples)
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    seed = _validate_random_state(random_state)

    n = d.shape[0]
    common = {
        "statistic": statistic,
        "n": n,
        "n_resamples": n_resamples,
        "confidence_level": confidence_level,
        "random_state": seed,
    }
    if d.min() == d.max():
        value = float(d[0])
        return BootstrapResult(
            estimate=value,
            low=value,
            high=value,
            method=method,
            standard_error=0.0,
            reason="zero_variance",
            resampling="pairs",
            distribution=np.full(n_resamples, value) if return_distribution else None,
            **common,  # type: ignore[arg-type]
        )

    distribution = np.empty(n_resamples)
    jackknife = np.empty(n)
    resampling: Literal["pairs", "counts"] = "pairs"
    if statistic == "mean":
        estimate = float(np.mean(d))
        by_counts = bootstrap_means_by_counts(d, n_resamples, seed)
        if by_counts is None:
            for start, counts in _count_blocks(n, n_resamples, seed):
                count_means(counts, d, distribution[start : start + counts.shape[0]])
        else:
            distribution, resampling = by_counts, "counts"
        if method == "bca":
            kernels.jackknife_means(d, jackknife)
    else:
        order = np.argsort(d, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        estimate = float(np.median(d))
        kernels.bootstrap_medians(d, rank, n_resamples, np.uint64(seed), distribution)
        if method == "bca":
            kernels.jackknife_medians(d[order], jackknife)

    alpha = (1.0 - confidence_level) / 2.0
    reason = None
    levels = (alpha, 1.0 - alpha)
    if method == "bca":
        bca_levels = _bca_levels(distribution, estimate, jackknife, alpha)
        if bca_levels is None:
            method, reason = "percentile", "bca_undefined"
        else:
            levels = bca_levels
    low, high = np.quantile(distribution, levels)
    return BootstrapResult(
        estimate=estimate,
        low=float(low),
        high=float(high),
        method=method,
        standard_error=_standard_error(distribution),
        reason=reason,
        resampling=resampling,
        distribution=distribution if return_distribution else None,
        **common,  # type: ignore[arg-type]
    )


def _standard_error(distribution: np.ndarray) -> float:
    """Standard deviation of a bootstrap distribution (0 for a single resample)."""
    if distribution.shape[0] < 2:
        return 0.0
    return float(np.std(distribution, ddof=1))


def _bca_levels(
    distribution: np.ndarray, estimate: float, jackknife: np.ndarray, alpha: float
) -> tuple[float, float] | None:
    """Quantile levels of the BCa interval, or None where BCa is undefined.

    Parameters
    ----------
    distribution : ndarray, shape (B,)
        Bootstrap statistics.
    estimate : float
        Statistic on the observed data.
    jackknife : ndarray, shape (n,)
        Leave-one-out statistics.
    alpha : float
        Tail probability of each side.
    """
    below = np.count_nonzero(distribution < estimate) + np.count_nonzero(distribution <= estimate)
    fraction = below / (2.0 * distribution.shape[0])
    if not 0.0 < fraction < 1.0:
        return None
    z0 = float(ndtri(fraction))
    deviations = jackknife.mean() - jackknife
    denominator = float(np.sum(deviations**2))
    if denominator == 0.0:
        return None
    acceleration = float(np.sum(deviations**3)) / (6.0 * denominator**1.5)
    z_alpha = float(ndtri(alpha))
    levels = []
    for z in (z_alpha, -z_alpha):
        shifted = z0 + z
        scale = 1.0 - acceleration * shifted
        if scale <= 0.0:
            return None
        levels.append(float(ndtr(z0 + shifted / scale)))
    if not all(math.isfinite(level) for level in levels):  # pragma: no cover - defensive
        return None
    return levels[0], levels[1]
