"""Sample-ratio-mismatch check of an experiment's allocation."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import chi2

from ._check_results import SRMResult
from ._validation import _validate_open_unit
from .errors import InvalidInputError

__all__ = ["SRM_ALPHA", "srm_test"]

#: The seed's alert level: a mismatch this unlikely means broken assignment.
SRM_ALPHA = 0.001


def srm_test(
    observed_counts: ArrayLike, expected_ratios: ArrayLike, *, alpha: float = SRM_ALPHA
) -> SRMResult:
    """Chi-square goodness-of-fit test of arm counts against configured ratios.

    Parameters
    ----------
    observed_counts : array_like of int, shape (k,)
        Units assigned to each arm, ``k >= 2``, non-negative, not all zero.
    expected_ratios : array_like of float, shape (k,)
        Configured allocation per arm, positive (need not sum to 1).
    alpha : float, default 0.001
        Alert level: ``alert`` is ``pvalue < alpha``.

    Returns
    -------
    SRMResult
        Pearson statistic ``sum((o - e)**2 / e)`` with ``k - 1`` degrees of
        freedom and its upper-tail p-value.
    """
    observed = _validate_counts(observed_counts)
    ratios = _validate_ratios(expected_ratios, observed.shape[0])
    alpha = _validate_open_unit(alpha, "alpha")
    total = float(observed.sum())
    expected = total * ratios / ratios.sum()
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    df = observed.shape[0] - 1
    pvalue = float(chi2.sf(statistic, df))
    return SRMResult(
        statistic=statistic,
        pvalue=pvalue,
        df=df,
        alert=pvalue < alpha,
        alpha=alpha,
        observed=tuple(int(v) for v in observed),
        expected=tuple(float(v) for v in expected),
    )


def _validate_counts(values: ArrayLike) -> np.ndarray:
    """Return non-negative integral counts as float64."""
    counts = np.asarray(values)
    if counts.dtype.kind not in "iuf" or counts.ndim != 1:
        raise InvalidInputError(
            f"observed_counts must be a 1-d sequence of integers, got {counts.dtype} {counts.shape}"
        )
    counts = counts.astype(np.float64)
    if counts.shape[0] < 2:
        raise InvalidInputError(f"observed_counts needs at least 2 arms, got {counts.shape[0]}")
    if not np.isfinite(counts).all() or (counts < 0).any() or (counts != np.round(counts)).any():
        raise InvalidInputError("observed_counts must be finite non-negative integers")
    if counts.sum() == 0:
        raise InvalidInputError("observed_counts are all zero")
    return counts


def _validate_ratios(values: ArrayLike, k: int) -> np.ndarray:
    """Return positive finite ratios, one per arm."""
    ratios = np.asarray(values)
    if ratios.dtype.kind not in "iuf" or ratios.ndim != 1:
        raise InvalidInputError(f"expected_ratios must be a 1-d sequence of numbers, got {ratios.dtype} {ratios.shape}")
    ratios = ratios.astype(np.float64)
    if ratios.shape[0] != k:
        raise InvalidInputError(f"length mismatch: {k} observed counts but {ratios.shape[0]} expected ratios")
    if not np.isfinite(ratios).all() or (ratios <= 0).any():
        raise InvalidInputError("expected_ratios must be finite and positive")
    return ratios
