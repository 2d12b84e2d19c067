"""Numba kernels for whole-set statistics (F1, ROC AUC) recomputed on bootstrap resamples.

The conventions of :mod:`stats._kernels`: clean contiguous inputs, outputs preallocated, the
counts of an item-major resample matrix as the only randomness, integer accumulators (exact, so a
value does not depend on the thread or the block of resamples that computes it), GIL released.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._count_kernels import LANES


@njit(cache=True, parallel=True, nogil=True)
def count_f1(counts: np.ndarray, labels: np.ndarray, predicted: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[b]`` with the F1 of the positive class on resample ``b`` (0 when it has no positive
    label and no positive prediction, as scikit-learn's ``zero_division=0``).

    counts : (n, B) unsigned ints, item-major; labels, predicted : (n,) int8 in {0, 1}; out : (B,) float64.
    """
    n, columns = counts.shape
    for c in prange((columns + LANES - 1) // LANES):
        lo = c * LANES
        width = min(LANES, columns - lo)
        tp = np.zeros(LANES, dtype=np.int64)
        both = np.zeros(LANES, dtype=np.int64)  # predicted positives + actual positives
        for i in range(n):
            weight = np.int64(labels[i]) + np.int64(predicted[i])
            if weight == 0:
                continue
            hit = np.int64(labels[i] & predicted[i])
            for j in range(width):
                k = np.int64(counts[i, lo + j])
                tp[j] += k * hit
                both[j] += k * weight
        for j in range(width):
            out[lo + j] = 2.0 * tp[j] / both[j] if both[j] > 0 else 0.0


@njit(cache=True, parallel=True, nogil=True)
def count_auc(counts: np.ndarray, order: np.ndarray, last_of_tie: np.ndarray, labels: np.ndarray,
              out: np.ndarray) -> None:
    """Fill ``out[b]`` with the ROC AUC (ties count half) on resample ``b``; NaN when the resample
    holds one class only.

    counts : (n, B) item-major; order : (n,) int64, the items by ascending score; last_of_tie : (n,)
    bool, ``order[i]`` ends a run of equal scores; labels : (n,) int8 in {0, 1}; out : (B,) float64.
    Twice the Mann-Whitney count, ``sum over tie groups of pos * (2 * negatives below + negatives
    tied)``, is summed in int64: exact for any n this package accepts.
    """
    n, columns = counts.shape
    for c in prange((columns + LANES - 1) // LANES):
        lo = c * LANES
        width = min(LANES, columns - lo)
        below = np.zeros(LANES, dtype=np.int64)
        pos = np.zeros(LANES, dtype=np.int64)
        neg = np.zeros(LANES, dtype=np.int64)
        total_pos = np.zeros(LANES, dtype=np.int64)
        twice = np.zeros(LANES, dtype=np.int64)
        for r in range(n):
            i = order[r]
            if labels[i] == 1:
                for j in range(width):
                    pos[j] += np.int64(counts[i, lo + j])
            else:
                for j in range(width):
                    neg[j] += np.int64(counts[i, lo + j])
            if last_of_tie[r]:
                for j in range(width):
                    twice[j] += pos[j] * (2 * below[j] + neg[j])
                    below[j] += neg[j]
                    total_pos[j] += pos[j]
                    pos[j] = 0
                    neg[j] = 0
        for j in range(width):
            p, q = total_pos[j], below[j]
            out[lo + j] = twice[j] / (2.0 * p * q) if p > 0 and q > 0 else np.nan
