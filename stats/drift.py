"""Distribution drift between a reference and a current sample: PSI and KS."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats as _scipy_stats

from ._check_results import KSResult, PSIResult
from ._record import Alternative
from ._validation import _validate_alternative, _validate_int, _validate_open_unit, _validate_sample
from .errors import InvalidInputError

__all__ = ["PSI_MODERATE", "PSI_SIGNIFICANT", "ks_test", "psi"]

#: The seed's PSI levels: below 0.1 no drift, 0.1 to 0.25 moderate, 0.25 and up significant.
PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25

# ks_2samp's own rule for method="auto"; applied here so the method used is recorded.
_KS_EXACT_MAX_N = 10_000


def psi(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    bins: int | Sequence[float] = 10,
    epsilon: float = 1e-4,
) -> PSIResult:
    """Population stability index of ``current`` against ``reference``.

    Parameters
    ----------
    reference, current : array_like of real numbers
        1-d samples, at least 2 values each.
    bins : int or sequence of float, default 10
        An int ``k`` makes ``k`` bins at the reference's quantiles (edges that
        coincide because of ties are merged). A sequence gives the interior
        edges explicitly, strictly increasing; the outer bins extend to
        -inf and +inf. Bin ``i`` is ``(edges[i-1], edges[i]]``.
    epsilon : float, default 1e-4
        Floor for bin fractions, so an empty bin adds a large but finite term.

    Returns
    -------
    PSIResult
        ``value = sum((c_i - r_i) * log(c_i / r_i))`` and its level: ``"none"``
        below 0.1, ``"moderate"`` from 0.1 to below 0.25, ``"significant"``
        from 0.25.
    """
    r = _validate_sample(reference, "reference")
    c = _validate_sample(current, "current")
    epsilon = _validate_open_unit(epsilon, "epsilon")
    edges = _edges(r, bins)
    r_frac = np.bincount(np.searchsorted(edges, r, side="left"), minlength=edges.shape[0] + 1) / r.shape[0]
    c_frac = np.bincount(np.searchsorted(edges, c, side="left"), minlength=edges.shape[0] + 1) / c.shape[0]
    r_floor = np.maximum(r_frac, epsilon)
    c_floor = np.maximum(c_frac, epsilon)
    value = float(np.sum((c_floor - r_floor) * np.log(c_floor / r_floor)))
    if value < PSI_MODERATE:
        level: Literal["none", "moderate", "significant"] = "none"
    elif value < PSI_SIGNIFICANT:
        level = "moderate"
    else:
        level = "significant"
    return PSIResult(
        value=value,
        level=level,
        edges=tuple(float(e) for e in edges),
        reference_fractions=tuple(float(v) for v in r_frac),
        current_fractions=tuple(float(v) for v in c_frac),
        epsilon=epsilon,
    )


def _edges(reference: np.ndarray, bins: int | Sequence[float]) -> np.ndarray:
    """Interior bin edges from a bin count (reference quantiles) or explicit edges."""
    if isinstance(bins, (int, np.integer)) and not isinstance(bins, bool):
        k = _validate_int(bins, "bins", minimum=1)
        levels = np.linspace(0.0, 1.0, k + 1)[1:-1]
        return np.unique(np.quantile(reference, levels))
    edges = np.asarray(bins)
    if edges.dtype.kind not in "iuf" or edges.ndim != 1:
        raise InvalidInputError("bins must be an int or a 1-d sequence of edges")
    edges = edges.astype(np.float64)
    edges = edges[~np.isinf(edges)]  # -inf/+inf ends are implied
    if np.isnan(edges).any():
        raise InvalidInputError("bins contains NaN")
    if edges.shape[0] == 0:
        raise InvalidInputError("bins has no finite edge, so there would be a single bin")
    if (np.diff(edges) <= 0).any():
        raise InvalidInputError("bins edges must be strictly increasing")
    return edges


def ks_test(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    alternative: Alternative = "two-sided",
) -> KSResult:
    """Two-sample Kolmogorov-Smirnov test (wraps :func:`scipy.stats.ks_2samp`).

    Parameters
    ----------
    reference, current : array_like of real numbers
        1-d samples, at least 2 values each.
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        As in :func:`scipy.stats.ks_2samp`.

    Returns
    -------
    KSResult
        The exact p-value when both samples have at most 10,000 values (and
        scipy's exact computation succeeds), else the asymptotic one;
        ``method`` records which.
    """
    r = _validate_sample(reference, "reference")
    c = _validate_sample(current, "current")
    alternative = _validate_alternative(alternative)
    method = "exact" if max(r.shape[0], c.shape[0]) <= _KS_EXACT_MAX_N else "asymp"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _scipy_stats.ks_2samp(r, c, alternative=alternative, method=method)
    if method == "exact" and any("asymp" in str(w.message) for w in caught):
        method = "asymp"  # scipy fell back because the exact computation failed
    return KSResult(
        statistic=float(result.statistic),
        pvalue=float(min(max(result.pvalue, 0.0), 1.0)),
        alternative=alternative,
        method=method,
        n_reference=r.shape[0],
        n_current=c.shape[0],
    )
