"""Results of the comparisons of recipes over seed runs x items: the closed-form interval, the run-swap test
and the two-way bootstrap; the records' conventions are in :mod:`stats._record`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._record import Alternative, Estimand, Record, unserialised


@dataclass(frozen=True)
class CrossedResult(Record):
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
class RunSwapResult(Record):
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
class TwoWayBootstrapResult(Record):
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
    distribution: np.ndarray | None = unserialised()
