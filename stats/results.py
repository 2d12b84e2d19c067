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
    "CrossedResult",
    "EffectSizeResult",
    "KSResult",
    "MultipleTestingResult",
    "PSIResult",
    "PermutationResult",
    "PowerResult",
    "RunSwapResult",
    "SRMResult",
    "TwoWayBootstrapResult",
]

Alternative = Literal["two-sided", "less", "greater"]
Estimand = Literal["E1", "E2", "E3"]


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


@dataclass(frozen=True)
class CrossedResult(_Record):
    """Closed-form interval for a candidate recipe against a baseline recipe, seeds crossed with items.

    Attributes
    ----------
    estimand : {"E1", "E2", "E3"}
        What the interval is about: E1 these checkpoints over items, E2 the
        recipes on this item set over retraining, E3 the recipes over
        retraining and items.
    requested_estimand : {"E1", "E2", "E3"}
        The estimand asked for; ``estimand`` is E1 when an arm has one run.
    delta : float
        Mean over items of the per-item difference of arm means, candidate - baseline.
    low, high : float
        Two-sided interval at ``confidence_level`` (whatever ``alternative``).
    standard_error : float
        ``sqrt(V)``.
    df : float or None
        Satterthwaite degrees of freedom; None when ``V`` is 0.
    pvalue : float or None
        p-value of ``delta - margin`` for ``alternative`` (Student t with
        ``df``); None when ``V`` is 0.
    alternative : {"two-sided", "less", "greater"}
        ``"greater"``: candidate exceeds baseline by more than ``margin``.
    margin : float
        Null value of the difference (0, or a non-inferiority margin).
    confidence_level : float
        Level of ``[low, high]``.
    matched : bool
        True when seed ``s`` of both arms shared its randomness (declared in
        advance) and the matched-seed variance was used.
    seeds_candidate, seeds_baseline : int
        Runs per arm.
    n_items : int
        Items every run scored.
    run_means_candidate, run_means_baseline : tuple of float
        Each run's mean over the items, in input order (the per-seed scores).
    seed_variance_candidate, seed_variance_baseline : float or None
        Variance (ddof 1) of each arm's run means; None for one run.
    seed_variance_difference : float or None
        Matched only: variance of the run-mean differences ``D_s``.
    residual_ms_candidate, residual_ms_baseline : float or None
        Residual mean square of each arm (seed x item interaction plus noise);
        None for one run.
    residual_ms_difference : float or None
        Matched only: residual mean square of the run differences.
    difference_variance : float
        Variance (ddof 1) over items of the per-item difference of arm means.
    item_arm_variance : float or None
        Item x arm variance: ``max(0, difference_variance - MS_A/S_A - MS_B/S_B)``
        (matched: ``- MS_E/S``); None when an arm has one run.
    variance_seeds : float
        Seed part of ``V`` (``s2_A/S_A + s2_B/S_B``; matched ``s2_D/S``); 0 for E1.
    variance_items : float
        Item part of ``V`` (``item_arm_variance / n``; for E1 ``difference_variance / n``);
        0 for E2.
    mde : float or None
        Minimum detectable effect at the observed variance split:
        ``(t_{df, 1 - mde_alpha/2} + t_{df, mde_power}) * standard_error``.
    mde_alpha, mde_power : float
        Two-sided level and power of ``mde``.
    prob_improvement : float
        ``U / (S_A S_B)`` over run means: the fraction of (candidate run,
        baseline run) pairs where the candidate run scores higher, ties
        counting one half.
    method : str
        ``"crossed_satterthwaite"``, ``"matched_satterthwaite"`` or ``"paired_t"`` (E1).
    n_resamples : int
        0: the interval draws nothing.
    random_state : None
        The interval is deterministic.
    warnings : tuple of str
        ``"retraining_variance_not_covered"`` (E1), ``"few_seeds"`` (an arm
        has 2 runs; 5 or more per arm recommended).
    reason : str or None
        ``"zero_variance"`` when ``V`` is 0, else None.
    """

    estimand: Estimand
    requested_estimand: Estimand
    delta: float
    low: float
    high: float
    standard_error: float
    df: float | None
    pvalue: float | None
    alternative: Alternative
    margin: float
    confidence_level: float
    matched: bool
    seeds_candidate: int
    seeds_baseline: int
    n_items: int
    run_means_candidate: tuple[float, ...]
    run_means_baseline: tuple[float, ...]
    seed_variance_candidate: float | None
    seed_variance_baseline: float | None
    seed_variance_difference: float | None
    residual_ms_candidate: float | None
    residual_ms_baseline: float | None
    residual_ms_difference: float | None
    difference_variance: float
    item_arm_variance: float | None
    variance_seeds: float
    variance_items: float
    mde: float | None
    mde_alpha: float
    mde_power: float
    prob_improvement: float
    method: str
    n_resamples: int = 0
    random_state: None = None
    warnings: tuple[str, ...] = ()
    reason: str | None = None

    @property
    def ci(self) -> tuple[float, float]:
        """``(low, high)``."""
        return self.low, self.high


@dataclass(frozen=True)
class RunSwapResult(_Record):
    """Permutation test that exchanges whole runs between the arms.

    Attributes
    ----------
    statistic : float
        Observed statistic: ``delta``, or ``delta / sqrt(V)`` (E3 variance)
        when ``studentized``.
    delta : float
        Observed difference of arm means, candidate - baseline.
    pvalue : float
        p-value for ``alternative``: with ``exact`` the fraction of all
        relabelings at least as extreme, else ``(k + 1) / (B + 1)``.
    exact : bool
        True when every relabeling was enumerated.
    n_relabelings : int
        ``C(S_A + S_B, S_A)``, or ``2**S`` sign flips when matched (capped at
        ``2**63 - 1``).
    n_resamples : int
        Relabelings evaluated: all of them when exact, else the ``B`` drawn.
    alternative : {"two-sided", "less", "greater"}
        Two-sided p-values are twice the smaller one-sided one, capped at 1.
    random_state : int
        Seed (recorded even when exact).
    seeds_candidate, seeds_baseline, n_items : int
        Design.
    matched : bool
        Sign flips of matched seed pairs instead of free relabelings.
    studentized : bool
        True when the arms have different seed counts.
    estimand : {"E2"}
        The test is exact for E2; report it beside the E3 interval.
    method : str
        ``"run_swap"`` or ``"matched_sign_flip"``.
    reason : str or None
        ``"zero_variance"`` when every run is identical, else None.
    """

    statistic: float
    delta: float
    pvalue: float
    exact: bool
    n_relabelings: int
    n_resamples: int
    alternative: Alternative
    random_state: int
    seeds_candidate: int
    seeds_baseline: int
    n_items: int
    matched: bool
    studentized: bool
    estimand: Estimand = "E2"
    method: str = "run_swap"
    reason: str | None = None


@dataclass(frozen=True)
class TwoWayBootstrapResult(_Record):
    """Two-way (items x seeds) bootstrap interval of a difference of a statistic between two arms.

    Attributes
    ----------
    estimate : float
        Statistic of the candidate's pooled runs minus the baseline's.
    low, high : float
        Percentile interval.
    standard_error : float
        Standard deviation of the bootstrap distribution.
    statistic : {"mean", "quantile"}
        Mean, or quantile ``q`` (inverted CDF) of each arm's pooled run x item values.
    q : float or None
        Quantile level.
    estimand : {"E3"}
        Over retraining and items.
    method : str
        ``"percentile"``.
    seeds_candidate, seeds_baseline, n_items : int
        Design.
    matched : bool
        One seed-count vector shared by both arms.
    n_resamples : int
        Replicates ``B``.
    confidence_level : float
        Nominal coverage.
    random_state : int
        Seed; the item counts are :func:`stats.resample_counts` of ``(n_items, B, random_state)``.
    warnings : tuple of str
        ``"retraining_variance_not_covered"`` when an arm has one run.
    reason : str or None
        ``"zero_variance"`` when the bootstrap distribution is constant.
    distribution : ndarray or None
        Bootstrap differences when requested; not part of ``to_dict``.
    """

    estimate: float
    low: float
    high: float
    standard_error: float
    statistic: str
    q: float | None
    seeds_candidate: int
    seeds_baseline: int
    n_items: int
    matched: bool
    n_resamples: int
    confidence_level: float
    random_state: int
    estimand: Estimand = "E3"
    method: str = "percentile"
    warnings: tuple[str, ...] = ()
    reason: str | None = None
    distribution: np.ndarray | None = field(default=None, repr=False, compare=False)

    _omit = ("distribution",)
