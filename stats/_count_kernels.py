"""Kernels of the item-major bootstrap count matrix: drawing it, and its products with the data;
conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._kernels import BLOCK, CHUNK, M32, S32, fill_index_pairs, redraw
from .rng import STREAM_BOOTSTRAP, STREAM_BOOTSTRAP_REDRAW, lemire_threshold, resample_key


#: Resamples per unit of work of the products with a count matrix: the accumulators stay in L1.
LANES = 64


@njit(cache=True, parallel=True, nogil=True)
def resample_counts(n: int, start: int, random_state: np.uint64, out: np.ndarray) -> int:
    """Fill column ``r`` of ``out`` with how often bootstrap resample ``start + r`` drew each index; return the peak.

    Parameters
    ----------
    n : int
        Sample size, ``1 <= n < 2**31 - 1``.
    start : int
        Index of the first resample of this block.
    out : ndarray of uint8, uint16 or uint32, shape (n, columns)
        Output, overwritten: item-major, so that products with the data run
        along contiguous resamples. A count above the dtype's range wraps; the
        returned peak tells the caller to redo the block with a wider dtype.

    Returns
    -------
    int
        Largest count in the block.

    Notes
    -----
    Resample ``b`` draws exactly the indices :func:`bootstrap_means` draws for
    it (same key, same rejection and redraw rule), so the counts times ``d``
    over ``n`` are the same bootstrap distribution of the mean, summed in
    another order. Column ``r`` depends only on ``(random_state, start + r)``:
    any block split and any thread count give the same matrix.
    """
    threshold = lemire_threshold(n)
    columns = out.shape[1]
    n_pairs = (n + 1) // 2
    peaks = np.zeros(columns, dtype=np.int64)
    n_chunks = (columns + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        block = np.empty(BLOCK, dtype=np.uint64)
        counts = np.zeros(n + 1, dtype=np.int64)
        first_column = c * CHUNK
        width = min(CHUNK, columns - first_column)
        # The chunk's columns are built resample-major, then written out in 64 x 64 tiles: a resample
        # written straight into item-major memory would touch one cache line per item.
        local = np.empty((CHUNK, n), dtype=out.dtype)
        for r in range(first_column, first_column + width):
            b = start + r
            key = resample_key(random_state, STREAM_BOOTSTRAP, b)
            counts[:] = 0
            rejected = 0
            for first in range(0, n_pairs, BLOCK):
                rejected += fill_index_pairs(key, n, threshold, first, block)
                for j in range(min(BLOCK, n_pairs - first)):
                    w = block[j]
                    counts[w & M32] += 1
                    counts[w >> S32] += 1
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    i, t = redraw(key, t, n, threshold)
                    counts[i] += 1
            peak = 0
            row = local[r - first_column]
            for i in range(n):
                peak = max(peak, counts[i])
                row[i] = counts[i]
            peaks[r] = peak
        for first_item in range(0, n, 64):
            last_item = min(first_item + 64, n)
            for k in range(width):
                for i in range(first_item, last_item):
                    out[i, first_column + k] = local[k, i]
    top = 0
    for r in range(columns):
        top = max(top, peaks[r])
    return top


@njit(cache=True, parallel=True, nogil=True)
def count_means(counts: np.ndarray, d: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[b] = sum_i counts[i, b] * d[i] / n``: bootstrap means from an item-major count matrix.

    Parameters
    ----------
    counts : ndarray of unsigned ints, shape (n, B)
        Resample counts (:func:`resample_counts`), item-major.
    d : ndarray of float64, shape (n,)
        Values.

    Notes
    -----
    Each resample's sum runs over ``i = 0 .. n-1`` in order, in its own lane:
    the loop vectorises across resamples without reassociating any sum, so a
    value does not depend on the thread or the block that computes it. Four
    items per pass keep a lane's partial sum in a register.
    """
    n, columns = counts.shape
    body = n - n % 4
    for c in prange((columns + LANES - 1) // LANES):
        lo = c * LANES
        width = min(LANES, columns - lo)
        acc = np.zeros(LANES)
        for i in range(0, body, 4):
            d0 = d[i]
            d1 = d[i + 1]
            d2 = d[i + 2]
            d3 = d[i + 3]
            r0 = counts[i, lo : lo + width]
            r1 = counts[i + 1, lo : lo + width]
            r2 = counts[i + 2, lo : lo + width]
            r3 = counts[i + 3, lo : lo + width]
            for k in range(width):
                a = acc[k]
                a += r0[k] * d0
                a += r1[k] * d1
                a += r2[k] * d2
                a += r3[k] * d3
                acc[k] = a
        for i in range(body, n):
            di = d[i]
            for k in range(width):
                acc[k] += counts[i, lo + k] * di
        for k in range(width):
            out[lo + k] = acc[k] / n


@njit(cache=True, parallel=True, nogil=True)
def count_products(counts: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[s, b] = sum_i counts[i, b] * y[s, i]``: every run's resampled item total.

    Parameters
    ----------
    counts : ndarray of unsigned ints, shape (n, B)
        Item-major resample counts.
    y : ndarray of float64, shape (S, n)
        Runs.
    out : ndarray of float64, shape (S, B)
        Output, overwritten; each sum runs over ``i`` in order, in its own lane.
    """
    n, columns = counts.shape
    runs = y.shape[0]
    body = n - n % 4
    for c in prange((columns + LANES - 1) // LANES):
        lo = c * LANES
        hi = min(lo + LANES, columns)
        width = hi - lo
        acc = np.zeros((runs, LANES))
        for i in range(0, body, 4):
            r0 = counts[i, lo:hi]
            r1 = counts[i + 1, lo:hi]
            r2 = counts[i + 2, lo:hi]
            r3 = counts[i + 3, lo:hi]
            for s in range(runs):
                y0 = y[s, i]
                y1 = y[s, i + 1]
                y2 = y[s, i + 2]
                y3 = y[s, i + 3]
                for k in range(width):
                    a = acc[s, k]
                    a += r0[k] * y0
                    a += r1[k] * y1
                    a += r2[k] * y2
                    a += r3[k] * y3
                    acc[s, k] = a
        for i in range(body, n):
            for s in range(runs):
                ys = y[s, i]
                for k in range(width):
                    acc[s, k] += counts[i, lo + k] * ys
        for s in range(runs):
            for k in range(width):
                out[s, lo + k] = acc[s, k]
