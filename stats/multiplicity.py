"""Multiple-comparison adjustment across the metrics of one comparison."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from ._check_results import MultipleTestingResult
from ._validation import _as_numeric_array, _validate_choice, _validate_open_unit
from .errors import InvalidInputError

__all__ = ["adjust_pvalues", "benjamini_hochberg", "holm"]

Method = Literal["holm", "bh"]


def adjust_pvalues(pvalues: ArrayLike, *, method: Method, alpha: float = 0.05) -> MultipleTestingResult:
    """Adjust the p-values of the metrics of one comparison.

    Parameters
    ----------
    pvalues : array_like of float, shape (m,)
        Raw p-values in [0, 1], ``m >= 1``.
    method : {"holm", "bh"}
        ``"holm"`` controls the family-wise error rate under any dependence
        [1]_; ``"bh"`` (Benjamini-Hochberg) controls the false discovery rate
        for independent or positively dependent tests [2]_.
    alpha : float, default 0.05
        Level for the ``reject`` decisions, in (0, 1).

    Returns
    -------
    MultipleTestingResult
        Adjusted p-values in input order; ``reject[i]`` is
        ``adjusted[i] <= alpha``, which is equivalent to the step-down (Holm)
        or step-up (BH) procedure at level ``alpha``.

    References
    ----------
    .. [1] S. Holm, "A simple sequentially rejective multiple test
       procedure", Scand. J. Stat. 6(2), 1979.
    .. [2] Y. Benjamini and Y. Hochberg, "Controlling the false discovery
       rate", J. R. Stat. Soc. B 57(1), 1995.
    """
    p = _validate_pvalues(pvalues)
    method = _validate_choice(method, "method", ("holm", "bh"))  # type: ignore[assignment]
    alpha = _validate_open_unit(alpha, "alpha")
    m = p.shape[0]
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        steps = np.maximum.accumulate((m - np.arange(m)) * ranked)
    else:
        steps = np.minimum.accumulate((m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(steps, 1.0)
    return MultipleTestingResult(
        method=method,
        alpha=alpha,
        pvalues=tuple(float(v) for v in p),
        adjusted=tuple(float(v) for v in adjusted),
        reject=tuple(bool(v <= alpha) for v in adjusted),
    )


def holm(pvalues: ArrayLike, *, alpha: float = 0.05) -> MultipleTestingResult:
    """Holm step-down adjustment; see :func:`adjust_pvalues`."""
    return adjust_pvalues(pvalues, method="holm", alpha=alpha)


def benjamini_hochberg(pvalues: ArrayLike, *, alpha: float = 0.05) -> MultipleTestingResult:
    """Benjamini-Hochberg step-up adjustment; see :func:`adjust_pvalues`."""
    return adjust_pvalues(pvalues, method="bh", alpha=alpha)


def _validate_pvalues(pvalues: ArrayLike) -> np.ndarray:
    """Return p-values as a float64 array, all in [0, 1]."""
    p = np.atleast_1d(_as_numeric_array(pvalues, "pvalues", kinds="iuf")).astype(np.float64)
    if p.ndim != 1 or p.shape[0] == 0:
        raise InvalidInputError(f"pvalues must be a non-empty 1-d sequence, got shape {p.shape}")
    if np.isnan(p).any():
        raise InvalidInputError("pvalues contains NaN")
    if ((p < 0.0) | (p > 1.0)).any():
        raise InvalidInputError("pvalues must lie in [0, 1]")
    return p
