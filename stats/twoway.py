"""Two-way bootstrap over items and seeds, for statistics that are not per-item means (quantiles, latency)."""

from __future__ import annotations

from typing import Literal, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _twoway_kernels as kernels
from ._count_kernels import count_products
from ._seed_results import TwoWayBootstrapResult
from ._validation import (
    _validate_arms,
    _validate_n_resamples,
    _validate_open_unit,
    _validate_random_state,
)
from .countmatrix import _count_blocks
from .errors import InvalidInputError
from .rng import STREAM_SEEDS_BASELINE, STREAM_SEEDS_CANDIDATE

__all__ = ["two_way_bootstrap"]

Statistic = Union[Literal["mean"], tuple[Literal["quantile"], float]]


def two_way_bootstrap(
    candidate: ArrayLike,
    baseline: ArrayLike,
    *,
    statistic: Statistic = "mean",
    n_resamples: int = 10_000,
    random_state: int,
    matched: bool = False,
    confidence_level: float = 0.95,
    return_distribution: bool = False,
) -> TwoWayBootstrapResult:
    """Percentile interval of a difference between two recipes, resampling items and seed runs.

    Each replicate draws one item-count vector ``c ~ Multinomial(n, 1/n)``,
    shared by both arms and every run (the item pairing is kept), and seed
    counts ``r ~ Multinomial(S, 1/S)`` per arm (one shared vector when
    matched); the statistic is recomputed on the data weighted by
    ``r_s * c_i``.

    Parameters
    ----------
    candidate : array_like of real numbers, shape (S_B, n)
        Candidate runs (rows) on ``n >= 2`` items (columns), e.g. per-query
        scores, or per-request latencies when every run served the same requests.
    baseline : array_like of real numbers, shape (S_A, n)
        Baseline runs on the same items.
    statistic : "mean" or ("quantile", q), default "mean"
        The mean of each arm's runs x items, or their ``q`` quantile (inverted
        CDF, as :func:`quantile_delta` and the bundle's latency tables), with
        ``0 < q < 1``. The difference is candidate minus baseline.
    n_resamples : int, default 10_000
        Replicates ``B``.
    random_state : int
        Required seed. The item counts are :func:`resample_counts` of
        ``(n, B, random_state)``: one cached draw shared with every other
        metric, candidate and :func:`paired_bootstrap` on the same items.
    matched : bool, default False
        One seed-count vector for both arms (seed ``s`` drove the same
        randomness in both). Needs ``S_A == S_B``.
    confidence_level : float, default 0.95
        Two-sided coverage, in (0, 1).
    return_distribution : bool, default False
        Attach the ``B`` replicate differences as ``result.distribution``.

    Returns
    -------
    TwoWayBootstrapResult
        ``estimate`` (on the original data), the percentile interval, the
        standard error and the settings. With one run in an arm its seed
        counts are always 1: the result carries
        ``"retraining_variance_not_covered"``.

    Notes
    -----
    For the mean the replicate variance is
    ``(S_A-1)/S_A V_A + (S_B-1)/S_B V_B + (n-1)/n s2_d/n`` plus the seed x item
    terms ``SG_a/(S_a n)``: mildly conservative for the items and shrunk by
    ``(S-1)/S`` for the seeds (Owen 2007, "The pigeonhole bootstrap"). For a
    per-item mean prefer :func:`crossed_interval`; this is for statistics
    that are not per-item means. Items are never resampled within a seed, per
    arm, or stratified by seed: each of those breaks the crossed structure.
    """
    yb, ya, matched = _validate_arms(candidate, baseline, matched=matched)
    kind, q = _validate_statistic(statistic)
    n_resamples = _validate_n_resamples(n_resamples)
    seed = _validate_random_state(random_state)
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    s_b, n = yb.shape
    s_a = ya.shape[0]

    rb = np.empty((n_resamples, s_b), dtype=np.int64)
    kernels.seed_counts(s_b, n_resamples, np.uint64(seed), STREAM_SEEDS_CANDIDATE, rb)
    if matched:
        ra = rb
    else:
        ra = np.empty((n_resamples, s_a), dtype=np.int64)
        kernels.seed_counts(s_a, n_resamples, np.uint64(seed), STREAM_SEEDS_BASELINE, ra)

    distribution = np.empty(n_resamples)
    if kind == "mean":
        estimate = float(yb.mean() - ya.mean())
        for start, counts in _count_blocks(n, n_resamples, seed):
            stop = start + counts.shape[1]
            totals_b = np.empty((s_b, counts.shape[1]))
            totals_a = np.empty((s_a, counts.shape[1]))
            count_products(counts, yb, totals_b)
            count_products(counts, ya, totals_a)
            kernels.crossed_resample_means(
                totals_b, totals_a, rb[start:stop], ra[start:stop], n, distribution[start:stop]
            )
    else:
        assert q is not None
        estimate = float(
            np.quantile(yb, q, method="inverted_cdf") - np.quantile(ya, q, method="inverted_cdf")
        )
        sorted_b = _sorted_cells(yb)
        sorted_a = _sorted_cells(ya)
        for start, counts in _count_blocks(n, n_resamples, seed):
            stop = start + counts.shape[1]
            kernels.count_quantile_differences(
                counts, *sorted_b, rb[start:stop], *sorted_a, ra[start:stop], q, distribution[start:stop]
            )

    alpha = (1.0 - confidence_level) / 2.0
    low, high = np.quantile(distribution, (alpha, 1.0 - alpha))
    se = float(np.std(distribution, ddof=1)) if n_resamples > 1 else 0.0
    warnings = ("retraining_variance_not_covered",) if min(s_a, s_b) == 1 else ()
    return TwoWayBootstrapResult(
        estimate=estimate,
        low=float(low),
        high=float(high),
        standard_error=se,
        statistic=kind,
        q=q,
        seeds_candidate=s_b,
        seeds_baseline=s_a,
        n_items=n,
        matched=matched,
        n_resamples=n_resamples,
        confidence_level=confidence_level,
        random_state=seed,
        warnings=warnings,
        reason="zero_variance" if distribution.min() == distribution.max() else None,
        distribution=distribution if return_distribution else None,
    )


def _validate_statistic(statistic: object) -> tuple[str, float | None]:
    """``("mean", None)`` or ``("quantile", q)``."""
    if statistic == "mean":
        return "mean", None
    if isinstance(statistic, tuple) and len(statistic) == 2 and statistic[0] == "quantile":
        return "quantile", _validate_open_unit(statistic[1], "statistic quantile level q")
    raise InvalidInputError(f"statistic must be 'mean' or ('quantile', q) with 0 < q < 1; got {statistic!r}")


def _sorted_cells(y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An arm's values sorted ascending, with the run and the item of each."""
    flat = y.ravel()
    order = np.argsort(flat, kind="stable")
    runs, items = np.divmod(order, y.shape[1])
    return flat[order], runs.astype(np.int64), items.astype(np.int64)
