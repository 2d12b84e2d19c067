"""Frozen result records returned by the public functions.

Every record has :meth:`to_dict`, which returns JSON-ready plain Python types
(``float``, ``int``, ``str``, ``bool``, ``None``, lists of those) for Kafka
events and evidence bundles. No field is ever NaN: a quantity that is
undefined for the data is ``None`` and ``reason`` says why.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "BootstrapResult",
    "EffectSizeResult",
    "KSResult",
    "MultipleTestingResult",
    "PSIResult",
    "PermutationResult",
    "PowerResult",
    "SRMResult",
]

Alternative = Literal["two-sided", "less", "greater"]


def _plain(value: Any) -> Any:
    """Convert numpy scalars and tuples to JSON-ready Python values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):  # pragma: no cover - guarded by construction
            raise ValueError("result field is not finite")
        return number
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_plain(v) for v in value]
    raise TypeError(f"unsupported result field type {type(value).__name__}")


class _Record:
    """Mixin giving frozen dataclasses a JSON-ready ``to_dict``."""

    _omit: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Return the record as JSON-ready plain Python types.

        Array-valued diagnostics (the resample distribution) are omitted.
        """
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
            if f.name not in self._omit
        }


@dataclass(frozen=True)
class BootstrapResult(_Record):
    """Bootstrap confidence interval for a difference candidate - baseline.

    Attributes
    ----------
    estimate : float
        The statistic on the observed data.
    low, high : float
        Confidence interval bounds.
    method : {"percentile", "bca"}
        Interval method actually used (BCa falls back to percentile, with a
        ``reason``, when its correction is undefined).
    statistic : str
        ``"mean"``, ``"median"`` (of paired differences) or ``"quantile"``
        (difference of quantiles of two independent samples; see ``q``).
    n : int
        Number of pairs (paired) or candidate sample size (``quantile_delta``).
    n_resamples : int
        Number of bootstrap resamples.
    confidence_level : float
        Nominal coverage of ``[low, high]``.
    random_state : int
        Seed that reproduces the result bit for bit.
    standard_error : float
        Standard deviation of the bootstrap distribution.
    reason : str or None
        Why the result is degenerate (e.g. ``"zero_variance"``), else None.
    q : float or None
        Quantile level for ``statistic="quantile"``.
    n_baseline : int or None
        Baseline sample size for ``quantile_delta``.
    resampling : {"pairs", "counts"} or None
        How :func:`paired_bootstrap` drew its resamples: ``"pairs"``, ``n``
        pair indices per resample; ``"counts"``, one draw of the multinomial
        counts of the differences' values per resample (mean of differences
        with at most three distinct values: the same law, fewer draws).
        None for ``quantile_delta``.
    distribution : ndarray or None
        The bootstrap distribution when requested; not part of ``to_dict``.
    """

    estimate: float
    low: float
    high: float
    method: Literal["percentile", "bca"]
    statistic: str
    n: int
    n_resamples: int
    confidence_level: float
    random_state: int
    standard_error: float
    reason: str | None = None
    q: float | None = None
    n_baseline: int | None = None
    resampling: Literal["pairs", "counts"] | None = None
    distribution: np.ndarray | None = field(default=None, repr=False, compare=False)

    _omit = ("distribution",)


@dataclass(frozen=True)
class PermutationResult(_Record):
    """Sign-flip permutation test of paired differences.

    Attributes
    ----------
    statistic : float
        Observed mean difference candidate - baseline.
    pvalue : float
        p-value for ``alternative``.
    exact : bool
        True when the p-value counts every sign assignment: by enumeration,
        or by the binomial law when every nonzero difference has one
        magnitude.
    n_resamples : int
        Resamples used: ``2**n`` when enumerated, 0 when the binomial law
        gives the p-value (no resample is drawn).
    alternative : {"two-sided", "less", "greater"}
        Alternative hypothesis about the mean difference.
    random_state : int
        Seed that reproduces the result (unused but recorded when exact).
    n : int
        Number of pairs.
    method : str
        ``"sign_flip"``.
    reason : str or None
        ``"all_differences_zero"`` when the test is degenerate, else None.
    null_distribution : ndarray or None
        Null means when requested; not part of ``to_dict``.
    """

    statistic: float
    pvalue: float
    exact: bool
    n_resamples: int
    alternative: Alternative
    random_state: int
    n: int
    method: str = "sign_flip"
    reason: str | None = None
    null_distribution: np.ndarray | None = field(default=None, repr=False, compare=False)

    _omit = ("null_distribution",)


@dataclass(frozen=True)
class EffectSizeResult(_Record):
    """Standardised effect sizes of paired differences.

    Attributes
    ----------
    n : int
        Number of pairs.
    mean_delta : float
        Mean of candidate - baseline.
    relative_lift_pct : float or None
        ``100 * mean_delta / mean(baseline)``; None when the baseline mean is 0.
    cohens_dz : float or None
        ``mean_delta / sd(differences)`` (ddof=1); None at zero variance.
    hedges_g : float or None
        Hedges' g for paired data (g_z): ``cohens_dz`` times the exact
        small-sample correction ``J(n - 1)``, which removes d_z's upward bias.
    dz_low, dz_high : float or None
        Confidence interval for the population d_z by inverting the noncentral
        t distribution of ``sqrt(n) * d_z``.
    confidence_level : float
        Level of the d_z interval.
    method : str
        ``"noncentral_t"``.
    reason : str or None
        ``"zero_variance"`` and/or ``"zero_baseline_mean"`` (comma separated).
    """

    n: int
    mean_delta: float
    relative_lift_pct: float | None
    cohens_dz: float | None
    hedges_g: float | None
    dz_low: float | None
    dz_high: float | None
    confidence_level: float
    method: str = "noncentral_t"
    reason: str | None = None


@dataclass(frozen=True)
class MultipleTestingResult(_Record):
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
class SRMResult(_Record):
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
class PSIResult(_Record):
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
class KSResult(_Record):
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


@dataclass(frozen=True)
class PowerResult(_Record):
    """Sample size or minimum detectable effect of a paired comparison.

    Attributes
    ----------
    n : int
        Number of pairs (required, or given for an MDE).
    delta : float
        Mean difference to detect (given, or the MDE).
    sd_diff : float
        Standard deviation of the paired differences.
    alpha : float
        Significance level.
    power : float
        Target power.
    achieved_power : float
        Power of the paired t-test at ``n`` and ``delta``.
    alternative : {"two-sided", "less", "greater"}
        Sidedness of the planned test.
    method : str
        ``"paired_t_noncentral"``.
    reason : str or None
        ``"zero_variance"`` when ``sd_diff`` is 0, else None.
    """

    n: int
    delta: float
    sd_diff: float
    alpha: float
    power: float
    achieved_power: float
    alternative: Alternative
    method: str = "paired_t_noncentral"
    reason: str | None = None
