"""Results of the checks around a comparison: multiplicity adjustment, sample-ratio mismatch, drift (PSI, KS);
the records' conventions are in :mod:`stats._record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._record import Alternative, Record


@dataclass(frozen=True)
class MultipleTestingResult(Record):
    """p-values adjusted across the metrics of one comparison.

    Attributes
    ----------
    method : {"holm", "bh"}
        Holm (family-wise error) or Benjamini-Hochberg (false discovery rate).
    alpha : float
        Level at which ``reject`` is decided.
    pvalues : tuple of float
        Raw p-values, input order.
    adjusted : tuple of float
        Adjusted p-values, input order; ``reject[i] = adjusted[i] <= alpha``.
    reject : tuple of bool
        Decisions, input order.
    """

    method: Literal["holm", "bh"]
    alpha: float
    pvalues: tuple[float, ...]
    adjusted: tuple[float, ...]
    reject: tuple[bool, ...]


@dataclass(frozen=True)
class SRMResult(Record):
    """Sample-ratio-mismatch check (chi-square goodness of fit).

    Attributes
    ----------
    statistic : float
        Pearson chi-square statistic.
    pvalue : float
        Upper-tail p-value with ``df`` degrees of freedom.
    df : int
        Number of arms minus one.
    alert : bool
        ``pvalue < alpha``.
    alpha : float
        Alert level (the seed's is 0.001).
    observed : tuple of int
        Observed counts per arm.
    expected : tuple of float
        Expected counts per arm under the configured ratios.
    method : str
        ``"chi_square"``.
    """

    statistic: float
    pvalue: float
    df: int
    alert: bool
    alpha: float
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    method: str = "chi_square"


@dataclass(frozen=True)
class PSIResult(Record):
    """Population stability index between a reference and a current sample.

    Attributes
    ----------
    value : float
        ``sum((c - r) * log(c / r))`` over bins, fractions floored at ``epsilon``.
    level : {"none", "moderate", "significant"}
        ``< 0.1`` none, ``[0.1, 0.25)`` moderate, ``>= 0.25`` significant.
    edges : tuple of float
        Interior bin edges; the outer bins extend to -inf and +inf. Bin ``i``
        is ``(edges[i-1], edges[i]]``.
    reference_fractions, current_fractions : tuple of float
        Fractions per bin before flooring.
    epsilon : float
        Floor applied to empty bins.
    """

    value: float
    level: Literal["none", "moderate", "significant"]
    edges: tuple[float, ...]
    reference_fractions: tuple[float, ...]
    current_fractions: tuple[float, ...]
    epsilon: float


@dataclass(frozen=True)
class KSResult(Record):
    """Two-sample Kolmogorov-Smirnov test.

    Attributes
    ----------
    statistic : float
        Supremum distance between the empirical CDFs.
    pvalue : float
        p-value for ``alternative``.
    alternative : {"two-sided", "less", "greater"}
        As in :func:`scipy.stats.ks_2samp`.
    method : {"exact", "asymp"}
        How the p-value was computed.
    n_reference, n_current : int
        Sample sizes.
    """

    statistic: float
    pvalue: float
    alternative: Alternative
    method: str
    n_reference: int
    n_current: int
