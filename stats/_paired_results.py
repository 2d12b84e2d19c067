"""Results of the paired comparisons (one run per arm): bootstrap intervals, permutation tests, effect sizes,
power; the records' conventions are in :mod:`stats._record`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._record import Alternative, Record, unserialised


@dataclass(frozen=True)
class BootstrapResult(Record):
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
    distribution: np.ndarray | None = unserialised()


@dataclass(frozen=True)
class PermutationResult(Record):
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
    null_distribution: np.ndarray | None = unserialised()


@dataclass(frozen=True)
class EffectSizeResult(Record):
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
class PowerResult(Record):
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
