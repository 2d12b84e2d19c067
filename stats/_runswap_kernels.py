"""Kernels of the run-swap permutation test (whole runs exchanged between the arms);
conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from ._kernels import CHUNK
from .rng import STREAM_RUN_SWAP, next_u64, next_unit, seed_state


@njit(cache=True, nogil=True)
def random_relabelings(
    n_candidate: int, n_baseline: int, matched: bool, n_resamples: int, random_state: np.uint64, out: np.ndarray
) -> None:
    """Fill ``out[b]`` with a random bit mask of the runs labelled candidate.

    Parameters
    ----------
    n_candidate, n_baseline : int
        Runs per arm; the pooled runs are candidate's then baseline's,
        ``n_candidate + n_baseline <= 62``.
    matched : bool
        Flip matched pairs: run ``s`` of the candidate and run ``s`` of the
        baseline trade labels with probability 1/2, independently per ``s``.
        Otherwise a uniform subset of ``n_candidate`` of the pooled runs
        (partial Fisher-Yates).
    n_resamples : int
        Number of masks ``B``.
    out : ndarray of int64, shape (B,)
        Output; mask ``b`` depends only on ``(random_state, b // CHUNK, b)``.
    """
    total = n_candidate + n_baseline
    pool = np.empty(total, dtype=np.int64)
    n_chunks = (n_resamples + CHUNK - 1) // CHUNK
    for c in range(n_chunks):
        s0, s1, s2, s3 = seed_state(random_state, STREAM_RUN_SWAP, c)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            mask = 0
            if matched:
                s0, s1, s2, s3, w = next_u64(s0, s1, s2, s3)
                for s in range(n_candidate):
                    if (w >> uint64(s)) & uint64(1):
                        mask |= 1 << (n_candidate + s)
                    else:
                        mask |= 1 << s
            else:
                for j in range(total):
                    pool[j] = j
                for j in range(n_candidate):
                    s0, s1, s2, s3, u = next_unit(s0, s1, s2, s3)
                    pick = j + int(u * (total - j))
                    pool[j], pool[pick] = pool[pick], pool[j]
                    mask |= 1 << pool[j]
            out[b] = mask


@njit(cache=True, parallel=True, nogil=True)
def run_swap_statistics(
    gram: np.ndarray, run_means: np.ndarray, masks: np.ndarray, n_items: int, studentized: bool, out: np.ndarray
) -> None:
    """Fill ``out[k]`` with the run-swap statistic of relabeling ``masks[k]``.

    Parameters
    ----------
    gram : ndarray of float64, shape (N, N)
        ``H = Yc Yc^T`` of the pooled runs centred on their own means.
    run_means : ndarray of float64, shape (N,)
        Pooled run means.
    masks : ndarray of int64, shape (M,)
        Bit ``r`` set: run ``r`` is labelled candidate.
    n_items : int
        Items ``n``.
    studentized : bool
        Divide ``delta`` by the square root of the E3 variance ``V``.
    out : ndarray of float64, shape (M,)
        Output.

    Notes
    -----
    Every moment of the interval is a function of ``H`` and the run means:
    ``(n-1) s2_d = c^T H c`` with ``c_r = 1/S_B`` (candidate) or ``-1/S_A``,
    and ``(S-1)(n-1) MS = sum_{r in arm} H_rr - (1/S) sum_{r,q in arm} H_rq``;
    so a relabeling costs O(N**2), not O(N n).
    """
    total = run_means.shape[0]
    for k in prange(masks.shape[0]):
        mask = masks[k]
        s_b = 0
        sum_b = 0.0
        sum_a = 0.0
        for r in range(total):
            if (mask >> r) & 1:
                s_b += 1
                sum_b += run_means[r]
            else:
                sum_a += run_means[r]
        s_a = total - s_b
        mean_b = sum_b / s_b
        mean_a = sum_a / s_a
        delta = mean_b - mean_a
        if not studentized:
            out[k] = delta
            continue
        ss_b = 0.0
        ss_a = 0.0
        diag_b = 0.0
        diag_a = 0.0
        block_b = 0.0
        block_a = 0.0
        cross = 0.0
        for r in range(total):
            in_b = (mask >> r) & 1
            if in_b:
                ss_b += (run_means[r] - mean_b) ** 2
                diag_b += gram[r, r]
            else:
                ss_a += (run_means[r] - mean_a) ** 2
                diag_a += gram[r, r]
            for q in range(total):
                in_q = (mask >> q) & 1
                if in_b and in_q:
                    block_b += gram[r, q]
                elif not in_b and not in_q:
                    block_a += gram[r, q]
                elif in_b:
                    cross += gram[r, q]
        n1 = n_items - 1.0
        s2_d = (block_b / (s_b * s_b) + block_a / (s_a * s_a) - 2.0 * cross / (s_b * s_a)) / n1
        ms_b = (diag_b - block_b / s_b) / ((s_b - 1) * n1)
        ms_a = (diag_a - block_a / s_a) / ((s_a - 1) * n1)
        v = ss_b / (s_b - 1) / s_b + ss_a / (s_a - 1) / s_a + max(0.0, s2_d - ms_a / s_a - ms_b / s_b) / n_items
        if v > 0.0:
            out[k] = delta / np.sqrt(v)
        elif delta == 0.0:
            out[k] = 0.0
        else:
            out[k] = 1e300 if delta > 0.0 else -1e300
