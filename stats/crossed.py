"""Closed-form interval for a candidate recipe against a baseline recipe when seeds and items are crossed.

Each arm is a matrix of per-item scores, one row per seed run, columns the same
items in both arms. The model is

    y[a, s, i] = mu_a + u[a, s] + v[i] + w[a, i] + x[a, s, i]

(seed effects ``u``, item effects ``v`` shared by the arms, item x arm
interaction ``w``, residual seed x item churn ``x``). The difference of the arm
means ``delta`` has variance ``s2_A/S_A + s2_B/S_B + var(w_B - w_A)/n``; the
item part is estimated from the per-item differences minus what the residual
mean squares already put there. One pass over the data, no random draws.

The moments are computed with numpy over the last two axes, so the same code
serves one comparison and a stack of simulated ones (the calibration tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import stdtr, stdtrit

from ._record import Alternative, Estimand
from ._seed_results import CrossedResult
from ._validation import (
    _validate_alternative,
    _validate_arms,
    _validate_choice,
    _validate_open_unit,
    _validate_real,
)

__all__ = ["crossed_interval"]


#: Level and power of the minimum detectable effect every result reports.
MDE_ALPHA = 0.05
MDE_POWER = 0.8
#: Seeds per arm below which a result carries ``"few_seeds"``.
FEW_SEEDS = 3


def crossed_interval(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    estimand: Estimand = "E3",
    matched: bool = False,
    confidence_level: float = 0.95,
    alternative: Alternative = "two-sided",
    margin: float = 0.0,
) -> CrossedResult:
    """Interval and p-value for the difference of two recipes trained with several seeds each.

    Parameters
    ----------
    candidate : array_like of real numbers, shape (S_B, n)
        Per-item scores of the candidate recipe: one row per seed run, one
        column per item. A 1-d array is one run.
    baseline : array_like of real numbers, shape (S_A, n)
        The baseline's runs on the same ``n >= 2`` items, same column order.
    estimand : {"E3", "E2", "E1"}, default "E3"
        ``"E3"``: the recipes over retraining and over the item population
        (decisions); ``"E2"``: the recipes on this fixed item set, over
        retraining only; ``"E1"``: these runs over items (the one-run paired
        t). With one run on either side the result is E1 whatever is asked,
        with the warning ``"retraining_variance_not_covered"``.
    matched : bool, default False
        Seed ``s`` drove the same randomness in both arms (declared before
        the runs): the variance comes from the run differences ``Y_B - Y_A``.
        Needs ``S_A == S_B``.
    confidence_level : float, default 0.95
        Coverage of the two-sided interval, in (0, 1).
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        Alternative of the p-value; ``"greater"`` with a negative ``margin`` is a
        non-inferiority test. The interval is two-sided in every case.
    margin : float, default 0.0
        Null value of the difference.

    Returns
    -------
    CrossedResult
        ``delta``, ``[low, high]``, ``pvalue``, the variance split, the minimum
        detectable effect and the run-level probability of improvement.
        Statistical trouble comes back as data: zero variance gives a collapsed
        interval, ``pvalue=None`` and ``reason="zero_variance"``.

    Raises
    ------
    InvalidInputError
        A :class:`ValueError` for NaN/inf, non-numeric data, a different item
        count per arm, unequal seed counts with ``matched=True`` or a bad setting.

    Notes
    -----
    With run means ``m[a, s]``, item means over seeds ``ybar[a, i]``, grand
    means ``g_a``, per-item differences ``d_i = ybar[B, i] - ybar[A, i]``:

    * ``s2_a`` = variance (ddof 1) of the run means of arm ``a``;
    * ``MS_a = sum (y - m[a, s] - ybar[a, i] + g_a)**2 / ((S_a - 1)(n - 1))``;
    * ``delta = mean(d)``, ``s2_d`` = variance (ddof 1) of ``d``;
    * ``V_A = s2_A/S_A``, ``V_B = s2_B/S_B``,
      ``V_I = max(0, s2_d - MS_A/S_A - MS_B/S_B) / n``;
    * E3: ``V = V_A + V_B + V_I`` with Satterthwaite's
      ``df = V**2 / (V_A**2/(S_A-1) + V_B**2/(S_B-1) + V_I**2/(n-1))``;
      E2: ``V_I = 0``; E1: ``V = s2_d / n``, ``df = n - 1``;
    * matched: ``D_s`` the run-mean differences, ``MS_E`` the residual mean
      square of ``Y_B - Y_A``, ``V = s2_D/S + max(0, s2_d - MS_E/S)/n`` with
      ``S - 1`` and ``n - 1`` degrees of freedom for the two terms;
    * interval ``delta +- t_{df, (1+level)/2} sqrt(V)``; p-value from the t law
      of ``(delta - margin)/sqrt(V)`` with ``df``;
    * minimum detectable effect ``(t_{df, 0.975} + t_{df, 0.8}) sqrt(V)``: the
      true difference a two-sided test at 5 % detects with 80 % power at the
      observed variance split (the normal-shift approximation with t quantiles).

    V is never below the Welch variance of the run means: retraining noise is
    always in the interval. Coverage by simulation and agreement with a REML
    mixed model are checked in the tests. See the reference note
    ``seeds_by_items`` and A. B. Owen, "The pigeonhole bootstrap", Ann. Appl.
    Stat. 1(2), 2007.
    """
    yb, ya, matched = _validate_arms(candidate, baseline, matched=matched)
    estimand = _validate_choice(estimand, "estimand", ("E1", "E2", "E3"))  # type: ignore[assignment]
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    alternative = _validate_alternative(alternative)
    margin = _validate_real(margin, "margin")

    s_b, n = yb.shape
    s_a = ya.shape[0]
    used: Estimand = "E1" if min(s_a, s_b) == 1 else estimand
    moments = _moments(yb, ya, matched=matched and used != "E1")
    v_seeds, v_items, df = _variance(moments, s_b, s_a, n, used, matched and used != "E1")
    v = float(v_seeds + v_items)
    delta = float(moments["delta"])
    se = float(np.sqrt(v))

    warnings: list[str] = []
    if used == "E1":
        warnings.append("retraining_variance_not_covered")
    elif min(s_a, s_b) < FEW_SEEDS:
        warnings.append("few_seeds")
    df_value: float | None = None
    pvalue: float | None = None
    mde: float | None = None
    if v > 0.0:
        nu = float(df)
        half = float(stdtrit(nu, 0.5 + confidence_level / 2.0)) * se
        low, high = delta - half, delta + half
        df_value = nu
        pvalue = _pvalue((delta - margin) / se, nu, alternative)
        mde = (float(stdtrit(nu, 1.0 - MDE_ALPHA / 2.0)) + float(stdtrit(nu, MDE_POWER))) * se
        reason = None
    else:
        reason = "zero_variance"
        low = high = delta

    run_b = moments["run_b"]
    run_a = moments["run_a"]
    method = "paired_t" if used == "E1" else ("matched_satterthwaite" if matched else "crossed_satterthwaite")
    return CrossedResult(
        estimand=used,
        requested_estimand=estimand,
        delta=delta,
        low=float(low),
        high=float(high),
        standard_error=se,
        df=df_value,
        pvalue=pvalue,
        alternative=alternative,
        margin=margin,
        confidence_level=confidence_level,
        matched=matched,
        seeds_candidate=s_b,
        seeds_baseline=s_a,
        n_items=n,
        run_means_candidate=tuple(float(x) for x in run_b),
        run_means_baseline=tuple(float(x) for x in run_a),
        seed_variance_candidate=_optional(moments["s2_b"]),
        seed_variance_baseline=_optional(moments["s2_a"]),
        seed_variance_difference=_optional(moments.get("s2_run_diff")),
        residual_ms_candidate=_optional(moments["ms_b"]),
        residual_ms_baseline=_optional(moments["ms_a"]),
        residual_ms_difference=_optional(moments.get("ms_e")),
        difference_variance=float(moments["s2_d"]),
        item_arm_variance=_optional(_item_arm(moments, s_b, s_a, matched and used != "E1")),
        variance_seeds=float(v_seeds),
        variance_items=float(v_items),
        mde=mde,
        mde_alpha=MDE_ALPHA,
        mde_power=MDE_POWER,
        prob_improvement=_prob_improvement(run_b, run_a),
        method=method,
        warnings=tuple(warnings),
        reason=reason,
    )


def _optional(value: Any) -> float | None:
    """A float, or None for an undefined (NaN) moment."""
    if value is None:
        return None
    number = float(value)
    return None if number != number else number


def _residual_ms(y: np.ndarray, run_means: np.ndarray, item_means: np.ndarray) -> np.ndarray:
    """Residual mean square of a two-way layout (..., S, n) without replication; NaN for S = 1."""
    s, n = y.shape[-2], y.shape[-1]
    grand = run_means.mean(axis=-1)
    resid = y - run_means[..., :, None] - item_means[..., None, :] + grand[..., None, None]
    total = np.einsum("...si,...si->...", resid, resid)
    if s < 2:
        return np.full(total.shape, np.nan)
    return total / ((s - 1) * (n - 1))


def _var(x: np.ndarray) -> np.ndarray:
    """Variance (ddof 1) over the last axis; NaN for one value."""
    if x.shape[-1] < 2:
        return np.full(x.shape[:-1], np.nan)
    return np.var(x, axis=-1, ddof=1)


def _moments(yb: np.ndarray, ya: np.ndarray, *, matched: bool) -> dict[str, np.ndarray]:
    """The sufficient moments of the crossed design, over the last two axes of (..., S, n) arrays."""
    run_b = yb.mean(axis=-1)
    run_a = ya.mean(axis=-1)
    item_b = yb.mean(axis=-2)
    item_a = ya.mean(axis=-2)
    d = item_b - item_a
    moments = {
        "run_b": run_b,
        "run_a": run_a,
        "delta": d.mean(axis=-1),
        "s2_d": np.var(d, axis=-1, ddof=1),
        "s2_b": _var(run_b),
        "s2_a": _var(run_a),
        "ms_b": _residual_ms(yb, run_b, item_b),
        "ms_a": _residual_ms(ya, run_a, item_a),
    }
    if matched:
        run_diff = run_b - run_a
        moments["s2_run_diff"] = _var(run_diff)
        moments["ms_e"] = _residual_ms(yb - ya, run_diff, d)
    return moments


def _item_arm(moments: dict[str, np.ndarray], s_b: int, s_a: int, matched: bool) -> np.ndarray:
    """Estimated variance over items of the item x arm interaction difference (>= 0)."""
    if matched:
        noise = moments["ms_e"] / s_b
    else:
        noise = moments["ms_b"] / s_b + moments["ms_a"] / s_a
    return np.maximum(0.0, moments["s2_d"] - noise)


def _variance(
    moments: dict[str, np.ndarray], s_b: int, s_a: int, n: int, estimand: str, matched: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed part and item part of V, and Satterthwaite's degrees of freedom (NaN where V is 0).

    Elementwise over any leading (replication) axes of ``moments``.
    """
    zero = np.zeros_like(moments["s2_d"])
    with np.errstate(divide="ignore", invalid="ignore"):
        if estimand == "E1":
            v_items = moments["s2_d"] / n
            df = np.where(v_items > 0, float(n - 1), np.nan)
            return zero, v_items, df
        v_items = _item_arm(moments, s_b, s_a, matched) / n if estimand == "E3" else zero
        if matched:
            v_seeds = moments["s2_run_diff"] / s_b
            denominator = v_seeds**2 / (s_b - 1) + v_items**2 / (n - 1)
        else:
            v_b = moments["s2_b"] / s_b
            v_a = moments["s2_a"] / s_a
            v_seeds = v_b + v_a
            denominator = v_b**2 / (s_b - 1) + v_a**2 / (s_a - 1) + v_items**2 / (n - 1)
        df = (v_seeds + v_items) ** 2 / denominator
    return v_seeds, v_items, df


def _pvalue(t: float, df: float, alternative: str) -> float:
    """p-value of a t statistic with ``df`` degrees of freedom."""
    below = float(stdtr(df, t))
    above = float(stdtr(df, -t))
    if alternative == "less":
        return below
    if alternative == "greater":
        return above
    return min(1.0, 2.0 * min(below, above))


def _prob_improvement(run_b: np.ndarray, run_a: np.ndarray) -> float:
    """Mann-Whitney ``U / (S_A S_B)`` of the candidate's run means over the baseline's, ties one half."""
    wins = np.count_nonzero(run_b[:, None] > run_a[None, :])
    ties = np.count_nonzero(run_b[:, None] == run_a[None, :])
    return float((wins + 0.5 * ties) / (run_b.shape[0] * run_a.shape[0]))


def _batch_intervals(
    yb: np.ndarray, ya: np.ndarray, *, estimand: str = "E3", matched: bool = False, confidence_level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(delta, V, df, half_width)`` for a stack of comparisons (R, S, n), as :func:`crossed_interval` computes them.

    For simulations: the same moments and variance, vectorised over replications, no validation.
    """
    s_b, n = yb.shape[-2:]
    s_a = ya.shape[-2]
    moments = _moments(yb, ya, matched=matched)
    v_seeds, v_items, df = _variance(moments, s_b, s_a, n, estimand, matched)
    v = v_seeds + v_items
    with np.errstate(invalid="ignore"):
        half = stdtrit(df, 0.5 + confidence_level / 2.0) * np.sqrt(v)
    return moments["delta"], v, df, half
