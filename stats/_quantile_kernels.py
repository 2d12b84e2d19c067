"""The bootstrap of an order statistic by inversion, behind :func:`stats.quantile_delta`;
conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit

from ._kernels import CHUNK
from .rng import next_unit, seed_state


@njit(cache=True, nogil=True)
def sample_order_statistic(
    cdf: np.ndarray,
    values: np.ndarray,
    n_resamples: int,
    random_state: np.uint64,
    stream: int,
    out: np.ndarray,
) -> None:
    """Draw ``n_resamples`` values of a bootstrap order statistic by inversion.

    Parameters
    ----------
    cdf : ndarray of float64, shape (w,)
        ``cdf[j] = P(J <= j)`` for the position ``J`` (within the window) of
        the order statistic in a bootstrap resample; non-decreasing.
    values : ndarray of float64, shape (w,)
        Sorted sample values at the window's positions.
    n_resamples : int
        Number of draws ``B``.
    stream : int
        Generator stream (one per sample, so the two arms are independent).
    """
    w = cdf.shape[0]
    n_chunks = (n_resamples + CHUNK - 1) // CHUNK
    for c in range(n_chunks):
        s0, s1, s2, s3 = seed_state(random_state, stream, c)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            s0, s1, s2, s3, u = next_unit(s0, s1, s2, s3)
            lo = 0
            hi = w - 1
            while lo < hi:  # first j with cdf[j] > u; the last position takes any rounding shortfall
                mid = (lo + hi) // 2
                if cdf[mid] > u:
                    hi = mid
                else:
                    lo = mid + 1
            out[b] = values[lo]
