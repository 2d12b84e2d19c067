"""Standardised effect sizes of paired differences."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy.special import gammaln, ndtri

from ._paired_results import EffectSizeResult
from ._tdist import nct_sf
from ._validation import _validate_differences, _validate_open_unit, _validate_sample

__all__ = ["effect_sizes"]


def effect_sizes(
    candidate: ArrayLike, baseline: ArrayLike, *, confidence_level: float = 0.95
) -> EffectSizeResult:
    """Mean delta, relative lift, Cohen's d_z, Hedges' g_z and a CI for d_z.

    Parameters
    ----------
    candidate, baseline : array_like of real numbers, shape (n,)
        Per-example metric of each arm on the same ``n >= 2`` examples.
    confidence_level : float, default 0.95
        Level of the interval for d_z, in (0, 1).

    Returns
    -------
    EffectSizeResult
        With ``d = candidate - baseline``: ``mean_delta = mean(d)``,
        ``relative_lift_pct = 100 * mean(d) / mean(baseline)``,
        ``cohens_dz = mean(d) / std(d, ddof=1)``, ``hedges_g = J(n-1) d_z``
        with the exact correction ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``
        [1]_, and ``[dz_low, dz_high]`` from inverting the noncentral t
        distribution of ``sqrt(n) d_z`` [2]_. Undefined fields are None with a
        ``reason``.

    References
    ----------
    .. [1] L. V. Hedges, "Distribution theory for Glass's estimator of effect
       size and related estimators", J. Educ. Stat. 6(2), 1981.
    .. [2] G. Cumming and S. Finch, "A primer on the understanding, use, and
       calculation of confidence intervals that are based on central and
       noncentral distributions", Educ. Psychol. Meas. 61(4), 2001.
    """
    d = _validate_differences(candidate, baseline)
    b = _validate_sample(baseline, "baseline")
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    n = d.shape[0]
    mean_delta = float(np.mean(d))
    reasons = []

    baseline_mean = float(np.mean(b))
    lift = None
    if baseline_mean == 0.0:
        reasons.append("zero_baseline_mean")
    else:
        lift = 100.0 * mean_delta / baseline_mean

    sd = float(np.std(d, ddof=1))
    dz = gz = low = high = None
    if sd == 0.0:
        reasons.append("zero_variance")
    else:
        dz = mean_delta / sd
        gz = _hedges_correction(n - 1) * dz
        low, high = _dz_interval(dz, n, confidence_level)
    return EffectSizeResult(
        n=n,
        mean_delta=mean_delta,
        relative_lift_pct=lift,
        cohens_dz=dz,
        hedges_g=gz,
        dz_low=low,
        dz_high=high,
        confidence_level=confidence_level,
        reason=",".join(reasons) or None,
    )


def _hedges_correction(df: int) -> float:
    """Exact small-sample bias correction J(df) of a standardised mean."""
    if df <= 1:
        return 0.0 if df == 1 else 1.0
    return math.exp(gammaln(df / 2.0) - 0.5 * math.log(df / 2.0) - gammaln((df - 1) / 2.0))


def _dz_interval(dz: float, n: int, confidence_level: float) -> tuple[float, float]:
    """CI for d_z: the noncentrality values whose t distribution puts sqrt(n) d_z at each tail."""
    df = n - 1
    t_obs = dz * math.sqrt(n)
    alpha = (1.0 - confidence_level) / 2.0

    def tail(nc: float, target: float) -> float:
        # P(T <= t_obs; nc) - target, through nct.sf (scipy's nct.cdf has NaN holes)
        return (1.0 - target) - nct_sf(t_obs, df, nc)

    bounds = []
    for target in (1.0 - alpha, alpha):
        # nct.cdf(t_obs) falls from 1 to 0 as the noncentrality grows; widen until it brackets
        step = 10.0 + abs(t_obs)
        lo, hi = t_obs - step, t_obs + step
        for _ in range(60):
            if tail(lo, target) > 0.0 > tail(hi, target):
                break
            step *= 2.0
            lo, hi = t_obs - step, t_obs + step
        try:
            root = optimize.brentq(tail, lo, hi, args=(target,), xtol=1e-12)
        except ValueError:  # no bracket or NaN (extreme t): the large-sample normal limit
            se = math.sqrt(1.0 / n + dz * dz / (2.0 * n))
            root = (dz - float(ndtri(target)) * se) * math.sqrt(n)
        bounds.append(root / math.sqrt(n))
    return bounds[0], bounds[1]
