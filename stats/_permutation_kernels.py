"""Sign-flip kernels of the paired permutation test; conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from ._kernels import CHUNK
from .rng import STREAM_PERMUTATION, next_u64, seed_state


@njit(cache=True, nogil=True)
def _nibble_tables(d: np.ndarray) -> np.ndarray:
    """Partial sums of every subset of each aligned group of four values.

    ``table[g, m]`` is the sum of ``d[4 * g + j]`` over the set bits ``j`` of
    ``m``; ``d`` must have a length that is a multiple of 64.
    """
    n_groups = d.shape[0] // 4
    table = np.zeros((n_groups, 16))
    for g in range(n_groups):
        for m in range(16):
            acc = 0.0
            for j in range(4):
                if (m >> j) & 1:
                    acc += d[4 * g + j]
            table[g, m] = acc
    return table


@njit(cache=True, parallel=True, nogil=True)
def sign_flip_sums(
    padded_d: np.ndarray, total: float, n_resamples: int, random_state: np.uint64, out: np.ndarray
) -> None:
    """Fill ``out`` with sums of randomly sign-flipped differences.

    Parameters
    ----------
    padded_d : ndarray of float64, shape (64 * k,)
        Differences padded with zeros to a multiple of 64 (a zero contributes
        nothing whatever its sign).
    total : float
        ``sum(padded_d)``, the unflipped sum.

    Notes
    -----
    Bit ``j`` of random word ``k`` flips the sign of ``padded_d[64 k + j]``,
    so one word gives 64 flips. With ``S`` the sum of the flipped values the
    statistic is ``total - 2 S``; ``S`` is accumulated four bits at a time
    from precomputed subset sums (32 bytes of table per pair). When no value
    is flipped, or only zeros are, ``S`` is exactly 0 and the resample ties
    the observed sum exactly.
    """
    table = _nibble_tables(padded_d)
    n_words = padded_d.shape[0] // 64
    n_chunks = (n_resamples + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        s0, s1, s2, s3 = seed_state(random_state, STREAM_PERMUTATION, c)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for k in range(n_words):
                s0, s1, s2, s3, w = next_u64(s0, s1, s2, s3)
                g = 16 * k
                for q in range(0, 16, 4):
                    x = w >> uint64(4 * q)
                    a0 += table[g + q, x & uint64(15)]
                    a1 += table[g + q + 1, (x >> uint64(4)) & uint64(15)]
                    a2 += table[g + q + 2, (x >> uint64(8)) & uint64(15)]
                    a3 += table[g + q + 3, (x >> uint64(12)) & uint64(15)]
            out[b] = total - 2.0 * ((a0 + a1) + (a2 + a3))


@njit(cache=True, parallel=True, nogil=True)
def sign_flip_exact_sums(d: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[m]`` with ``sum_i s_i d[i]`` for every sign pattern ``m``.

    Parameters
    ----------
    d : ndarray of float64, shape (n,)
        Differences, ``n <= 30``.
    out : ndarray of float64, shape (2**n,)
        Output; bit ``i`` of ``m`` set means ``s_i = -1``. ``out[0]`` is the
        unflipped sum, accumulated in the same order as every other entry.
    """
    n = d.shape[0]
    for m in prange(out.shape[0]):
        acc = 0.0
        for i in range(n):
            if (m >> i) & 1:
                acc -= d[i]
            else:
                acc += d[i]
        out[m] = acc
