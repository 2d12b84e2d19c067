"""Sample size and minimum detectable effect of a paired evaluation."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy.special import ndtri

from ._paired_results import PowerResult
from ._record import Alternative
from ._tdist import nct_sf, t_ppf
from ._validation import (
    _validate_alternative,
    _validate_differences,
    _validate_int,
    _validate_open_unit,
    _validate_real,
)
from .errors import InvalidInputError

__all__ = ["difference_sd", "paired_mde", "paired_power", "paired_sample_size"]



def difference_sd(candidate: ArrayLike, baseline: ArrayLike) -> float:
    """Sample standard deviation (ddof=1) of the paired differences of a pilot.

    Parameters
    ----------
    candidate, baseline : array_like of real numbers, shape (n,)
        Per-example metric of each arm on the same ``n >= 2`` examples.

    Returns
    -------
    float
        ``std(candidate - baseline, ddof=1)``, the ``sd_diff`` that
        :func:`paired_sample_size` and :func:`paired_mde` need.
    """
    return float(np.std(_validate_differences(candidate, baseline), ddof=1))


def paired_power(
    n: int, delta: float, *, sd_diff: float, alpha: float = 0.05, alternative: Alternative = "two-sided"
) -> float:
    """Power of the paired t-test with ``n`` pairs when the true mean difference is ``delta``.

    Parameters
    ----------
    n : int
        Number of pairs, ``>= 2``.
    delta : float
        True mean difference candidate - baseline.
    sd_diff : float
        Standard deviation of the differences, ``> 0``.
    alpha : float, default 0.05
        Significance level in (0, 1).
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        Sidedness of the test.

    Returns
    -------
    float
        Rejection probability under the noncentral t distribution with
        ``n - 1`` degrees of freedom and noncentrality ``sqrt(n) delta / sd_diff``.
    """
    n = _validate_int(n, "n", minimum=2)
    delta = _validate_real(delta, "delta")
    sd_diff = _validate_real(sd_diff, "sd_diff")
    if sd_diff <= 0.0:
        raise InvalidInputError(f"sd_diff must be > 0, got {sd_diff!r}")
    alpha = _validate_open_unit(alpha, "alpha")
    alternative = _validate_alternative(alternative)
    return _power(n, delta / sd_diff, alpha, alternative)


def paired_sample_size(
    delta: float, *, sd_diff: float, alpha: float = 0.05, power: float = 0.8, alternative: Alternative = "two-sided"
) -> PowerResult:
    """Smallest number of pairs at which a paired t-test detects ``delta`` with ``power``.

    Parameters
    ----------
    delta : float
        Mean difference candidate - baseline to detect, nonzero (its sign must
        agree with a one-sided ``alternative``).
    sd_diff : float
        Standard deviation of the differences, ``>= 0`` (e.g. from
        :func:`difference_sd` on a pilot evaluation).
    alpha : float, default 0.05
        Significance level in (0, 1).
    power : float, default 0.8
        Target power in (0, 1).
    alternative : {"two-sided", "less", "greater"}, default "two-sided"
        Sidedness of the planned test.

    Returns
    -------
    PowerResult
        ``n`` is exact for the t-test (noncentral t), not the normal
        approximation, which underestimates it for small ``n``. With
        ``sd_diff == 0`` any nonzero delta is certain to be seen: ``n = 2``,
        ``reason="zero_variance"``.
    """
    delta = _validate_real(delta, "delta")
    if delta == 0.0:
        raise InvalidInputError("delta must be nonzero: a zero effect cannot be detected")
    sd_diff, alpha, power, alternative = _validate_plan(sd_diff, alpha, power, alternative)
    if (alternative == "greater" and delta < 0) or (alternative == "less" and delta > 0):
        raise InvalidInputError(f"delta={delta!r} points away from alternative={alternative!r}")
    common = {"delta": delta, "sd_diff": sd_diff, "alpha": alpha, "power": power, "alternative": alternative}
    if sd_diff == 0.0:
        return PowerResult(n=2, achieved_power=1.0, reason="zero_variance", **common)  # type: ignore[arg-type]

    effect = delta / sd_diff
    z = ndtri(1.0 - alpha / 2.0) if alternative == "two-sided" else ndtri(1.0 - alpha)
    guess = max(2, int(((z + ndtri(power)) / abs(effect)) ** 2))
    hi = guess
    while _power(hi, effect, alpha, alternative) < power:
        hi *= 2
    lo = 1  # invariant: power(lo) < target <= power(hi), power(1) := 0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if mid >= 2 and _power(mid, effect, alpha, alternative) >= power:
            hi = mid
        else:
            lo = mid
    return PowerResult(n=hi, achieved_power=_power(hi, effect, alpha, alternative), **common)  # type: ignore[arg-type]


def paired_mde(
    n: int, *, sd_diff: float, alpha: float = 0.05, power: float = 0.8, alternative: Alternative = "two-sided"
) -> PowerResult:
    """Minimum detectable mean difference of a paired t-test with ``n`` pairs.

    Parameters
    ----------
    n : int
        Number of pairs, ``>= 2``.
    sd_diff : float
        Standard deviation of the differences, ``>= 0``.
    alpha, power, alternative
        As in :func:`paired_sample_size`.

    Returns
    -------
    PowerResult
        ``delta`` is the smallest ``|mean difference|`` detected with the
        target power (negative for ``alternative="less"``). With
        ``sd_diff == 0`` it is 0 with ``reason="zero_variance"``.
    """
    n = _validate_int(n, "n", minimum=2)
    sd_diff, alpha, power, alternative = _validate_plan(sd_diff, alpha, power, alternative)
    sign = -1.0 if alternative == "less" else 1.0
    common = {"n": n, "sd_diff": sd_diff, "alpha": alpha, "power": power, "alternative": alternative}
    if sd_diff == 0.0:
        return PowerResult(delta=0.0, achieved_power=1.0, reason="zero_variance", **common)  # type: ignore[arg-type]

    def shortfall(effect: float) -> float:
        return _power(n, sign * effect, alpha, alternative) - power

    hi = 1.0
    while shortfall(hi) < 0.0:
        hi *= 2.0
    effect = optimize.brentq(shortfall, 0.0, hi, xtol=1e-12, rtol=1e-12)
    delta = sign * effect * sd_diff
    return PowerResult(delta=delta, achieved_power=_power(n, sign * effect, alpha, alternative), **common)  # type: ignore[arg-type]


def _validate_plan(
    sd_diff: object, alpha: object, power: object, alternative: object
) -> tuple[float, float, float, Alternative]:
    """The settings of a planned test, validated: ``sd_diff >= 0``, ``alpha`` and ``power`` in (0, 1), the sidedness."""
    sd = _validate_real(sd_diff, "sd_diff")
    if sd < 0.0:
        raise InvalidInputError(f"sd_diff must be >= 0, got {sd!r}")
    alpha, power = _validate_open_unit(alpha, "alpha"), _validate_open_unit(power, "power")
    return sd, alpha, power, _validate_alternative(alternative)


def _power(n: int, effect: float, alpha: float, alternative: str) -> float:
    """Power of the paired t-test at standardised effect ``delta / sd_diff``."""
    df = n - 1
    nc = effect * math.sqrt(n)
    # Only nct.sf is used: P(T < -c; nc) = P(T > c; -nc), and scipy's nct.cdf
    # returns NaN in parts of the lower tail where sf stays accurate.
    if alternative == "two-sided":
        crit = t_ppf(1.0 - alpha / 2.0, df)
        return nct_sf(crit, df, nc) + nct_sf(crit, df, -nc)
    crit = t_ppf(1.0 - alpha, df)
    if alternative == "greater":
        return nct_sf(crit, df, nc)
    return nct_sf(crit, df, -nc)

