"""Kernels of the two-way (seeds x items) bootstrap; the item counts come from
:mod:`stats._count_kernels`; conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels import redraw
from .rng import lemire_threshold, resample_key


@njit(cache=True, nogil=True)
def seed_counts(n_seeds: int, n_resamples: int, random_state: np.uint64, stream: int, out: np.ndarray) -> None:
    """Fill ``out[b]`` with the multinomial counts of ``n_seeds`` draws of a seed index, for each resample ``b``.

    Parameters
    ----------
    n_seeds : int
        Runs in the arm, ``S >= 1``.
    stream : int
        Generator stream (one per arm; the matched design shares one).
    out : ndarray of int64, shape (B, S)
        Output, overwritten. Row ``b`` depends only on ``(random_state, stream, b)``.
    """
    threshold = lemire_threshold(n_seeds)
    for b in range(n_resamples):
        key = resample_key(random_state, stream, b)
        for s in range(n_seeds):
            out[b, s] = 0
        t = 0
        for _ in range(n_seeds):
            i, t = redraw(key, t, n_seeds, threshold)
            out[b, i] += 1


@njit(cache=True, nogil=True)
def crossed_resample_means(
    totals_b: np.ndarray, totals_a: np.ndarray, rb: np.ndarray, ra: np.ndarray, n: int, out: np.ndarray
) -> None:
    """Two-way bootstrap of the difference of arm means from the runs' resampled item totals.

    Parameters
    ----------
    totals_b, totals_a : ndarray of float64, shapes (S_B, B) and (S_A, B)
        :func:`count_products` of each arm (item counts shared by both arms).
    rb, ra : ndarray of int64, shapes (B, S_B) and (B, S_A)
        Seed counts of each replicate.
    n : int
        Items.
    out : ndarray of float64, shape (B,)
        ``sum_s rb[b, s] totals_b[s, b] / (S_B n) - (the same for A)``, seeds summed in order.
    """
    s_b = totals_b.shape[0]
    s_a = totals_a.shape[0]
    for b in range(out.shape[0]):
        total_b = 0.0
        for s in range(s_b):
            total_b += rb[b, s] * totals_b[s, b]
        total_a = 0.0
        for s in range(s_a):
            total_a += ra[b, s] * totals_a[s, b]
        out[b] = total_b / (s_b * n) - total_a / (s_a * n)


@njit(cache=True, inline="always")
def _weighted_order_statistic(
    counts: np.ndarray, r: int, values: np.ndarray, seeds: np.ndarray, items: np.ndarray, weights: np.ndarray,
    k: int, total: int,
) -> float:
    """The ``k``-th smallest (from 1) of sorted ``values`` repeated ``weights[r, seed] * counts[r, item]`` times.

    Scans from the nearer end: upper quantiles from the top.
    """
    m = values.shape[0]
    if 2 * k <= total:
        acc = 0
        for j in range(m):
            acc += weights[r, seeds[j]] * counts[items[j], r]
            if acc >= k:
                return values[j]
        return values[m - 1]
    need = total - k + 1
    acc = 0
    for j in range(m - 1, -1, -1):
        acc += weights[r, seeds[j]] * counts[items[j], r]
        if acc >= need:
            return values[j]
    return values[0]


@njit(cache=True, parallel=True, nogil=True)
def count_quantile_differences(
    counts: np.ndarray, values_b: np.ndarray, seeds_b: np.ndarray, items_b: np.ndarray, rb: np.ndarray,
    values_a: np.ndarray, seeds_a: np.ndarray, items_a: np.ndarray, ra: np.ndarray, q: float, out: np.ndarray,
) -> None:
    """Two-way bootstrap of the difference of a quantile (inverted CDF) of each arm's pooled run x item values.

    Parameters
    ----------
    counts : ndarray of unsigned ints, shape (n, rows)
        Item-major item counts of each replicate.
    values_b, values_a : ndarray of float64, shape (S n,)
        Each arm's values sorted ascending.
    seeds_b, items_b, seeds_a, items_a : ndarray of int64, shape (S n,)
        Run and item of each sorted value.
    rb, ra : ndarray of int64, shapes (rows, S_B) and (rows, S_A)
        Seed counts of each replicate.
    q : float
        Quantile level in (0, 1).
    out : ndarray of float64, shape (rows,)
        Output: quantile of B minus quantile of A, per replicate.

    Notes
    -----
    Each replicate's weights sum to ``S n`` (seed counts sum to ``S``, item
    counts to ``n``), so the order statistic is ``k = ceil(q S n)`` as in
    ``np.quantile(..., method="inverted_cdf")`` of the expanded sample.
    """
    rows = counts.shape[1]
    total_b = values_b.shape[0]
    total_a = values_a.shape[0]
    k_b = min(max(int(np.ceil(q * total_b)), 1), total_b)
    k_a = min(max(int(np.ceil(q * total_a)), 1), total_a)
    for r in prange(rows):
        high = _weighted_order_statistic(counts, r, values_b, seeds_b, items_b, rb, k_b, total_b)
        low = _weighted_order_statistic(counts, r, values_a, seeds_a, items_a, ra, k_a, total_a)
        out[r] = high - low
