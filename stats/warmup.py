"""Compile (or load from numba's on-disk cache) every kernel before the hot path."""

from __future__ import annotations

import time

import numpy as np

from . import _bootstrap_kernels, _count_kernels, _kernels, _permutation_kernels, _quantile_kernels
from . import _runswap_kernels, _twoway_kernels, _wholeset_kernels
from .countmatrix import _matrix as _count_matrix
from .rng import STREAM_QUANTILE_CANDIDATE, STREAM_SEEDS_CANDIDATE

__all__ = ["warmup"]


def warmup() -> float:
    """Compile or load every kernel on tiny inputs, with the hot path's argument types.

    The service calls this once at start-up so that no request pays for JIT
    compilation. With numba's on-disk cache warm (``cache=True`` writes it to
    ``stats/__pycache__``) this takes well under a second; from a cold cache
    it compiles, which takes seconds.

    Returns
    -------
    float
        Seconds spent.
    """
    start = time.perf_counter()
    _kernels.use_threadsafe_layer()
    d = np.array([0.5, -1.0, 2.0, 0.25])
    out = np.empty(3)
    seed = np.uint64(0)
    _bootstrap_kernels.bootstrap_means(np.append(d, 0.0), 3, seed, out)
    _bootstrap_kernels.bootstrap_medians(d, np.argsort(np.argsort(d)), 3, seed, out)
    _bootstrap_kernels.multinomial_cdf(np.zeros(2), np.zeros(1), np.zeros(2), np.empty(2))
    _bootstrap_kernels.bootstrap_means_from_counts(
        np.array([0.5, 1.0]), 1, 0, 0, 2, np.array([0.0, 0.0, 1.0]), 3, seed, out
    )
    jack = np.empty(d.shape[0])
    _bootstrap_kernels.jackknife_means(d, jack)
    _bootstrap_kernels.jackknife_medians(np.sort(d), jack)
    padded = np.zeros(64)
    padded[: d.shape[0]] = d
    _permutation_kernels.sign_flip_sums(padded, float(d.sum()), 3, seed, out)
    _permutation_kernels.sign_flip_exact_sums(d, np.empty(2 ** d.shape[0]))
    _quantile_kernels.sample_order_statistic(
        np.array([0.5, 1.0]), np.array([1.0, 2.0]), 3, seed, STREAM_QUANTILE_CANDIDATE, out
    )
    _count_kernels.resample_counts(d.shape[0], 0, seed, np.empty((d.shape[0], 3), dtype=np.uint8))
    counts = _count_matrix(d.shape[0], 3, 0).T  # read-only and item-major, as the hot path passes it
    _count_kernels.count_means(counts, d, out)
    runs = np.vstack([d, d])
    totals = np.empty((2, 3))
    _count_kernels.count_products(counts, runs, totals)
    seeds = np.empty((3, 2), dtype=np.int64)
    _twoway_kernels.seed_counts(2, 3, seed, STREAM_SEEDS_CANDIDATE, seeds)
    _twoway_kernels.crossed_resample_means(totals, totals, seeds, seeds, d.shape[0], out)
    flat = np.zeros(2 * d.shape[0], dtype=np.int64)
    _twoway_kernels.count_quantile_differences(
        counts, runs.ravel(), flat, flat, seeds, runs.ravel(), flat, flat, seeds, 0.5, out
    )
    masks = np.empty(3, dtype=np.int64)
    _runswap_kernels.random_relabelings(2, 2, False, 3, seed, masks)
    _runswap_kernels.run_swap_statistics(
        runs @ runs.T, np.zeros(2), np.array([1], dtype=np.int64), d.shape[0], True, np.empty(1)
    )
    binary = np.array([1, 0, 1, 0], dtype=np.int8)
    _wholeset_kernels.count_f1(counts, binary, binary, out)
    _wholeset_kernels.count_auc(counts, np.argsort(d), np.ones(d.shape[0], dtype=np.bool_), binary, out)
    return time.perf_counter() - start
