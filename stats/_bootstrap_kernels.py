"""Bootstrap and jackknife kernels of the paired statistics (mean, median), and the bootstrap of the
mean drawn as multinomial counts; conventions in :mod:`stats._kernels`."""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from ._kernels import BLOCK, CHUNK, M32, S32, fill_index_pairs, redraw
from .rng import (
    STREAM_BOOTSTRAP,
    STREAM_BOOTSTRAP_COUNTS,
    STREAM_BOOTSTRAP_REDRAW,
    lemire_threshold,
    resample_key,
    splitmix_word,
)


@njit(cache=True, parallel=True, nogil=True)
def bootstrap_means(d_ext: np.ndarray, n_resamples: int, random_state: np.uint64, out: np.ndarray) -> None:
    """Fill ``out`` with the means of ``n_resamples`` bootstrap resamples.

    Parameters
    ----------
    d_ext : ndarray of float64, shape (n + 1,)
        Paired differences followed by one 0.0 (the slot of rejected draws),
        ``1 <= n < 2**31 - 1``.

    Notes
    -----
    Resample ``b`` draws its ``n`` indices from the SplitMix64 sequence keyed
    by ``(random_state, b)``, two 32-bit draws per word, unbiased by Lemire's
    rejection rule; rejected draws (probability ``(2**32 mod n) / 2**32``
    each, below 3e-6 for ``n = 10**4``) are replaced from a second keyed
    sequence. Indices are generated in a vectorised pass, packed two per
    64-bit word, then gathered into four accumulators in a fixed order;
    replacements are added last. The resample's value therefore depends only
    on ``(random_state, b)``.
    """
    n = d_ext.shape[0] - 1
    threshold = lemire_threshold(n)
    n_words = (n + 1) // 2
    n_chunks = (n_resamples + CHUNK - 1) // CHUNK
    for c in prange(n_chunks):
        block = np.empty(BLOCK, dtype=np.uint64)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            key = resample_key(random_state, STREAM_BOOTSTRAP, b)
            rejected = 0
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for start in range(0, n_words, BLOCK):
                rejected += fill_index_pairs(key, n, threshold, start, block)
                size = min(BLOCK, n_words - start)
                for j in range(0, size - 1, 2):
                    w = block[j]
                    v = block[j + 1]
                    a0 += d_ext[w & M32]
                    a1 += d_ext[w >> S32]
                    a2 += d_ext[v & M32]
                    a3 += d_ext[v >> S32]
                if size % 2 == 1:
                    w = block[size - 1]
                    a0 += d_ext[w & M32]
                    a1 += d_ext[w >> S32]
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    i, t = redraw(key, t, n, threshold)
                    a0 += d_ext[i]
            out[b] = ((a0 + a1) + (a2 + a3)) / n


@njit(cache=True, parallel=True, nogil=True)
def bootstrap_medians(
    d: np.ndarray, rank: np.ndarray, n_resamples: int, random_state: np.uint64, out: np.ndarray
) -> None:
    """Fill ``out`` with the medians of bootstrap resamples of ``d``.

    Parameters
    ----------
    d : ndarray of float64, shape (n,)
        Differences in their original order.
    rank : ndarray of int64, shape (n,)
        ``rank[i]`` is the position of ``d[i]`` in ``d`` sorted ascending
        (any order among ties); ``n < 2**31 - 1``.

    Notes
    -----
    Resample ``b`` draws exactly the indices :func:`bootstrap_means` draws
    for it, so a mean and a median with the same ``random_state`` come from
    the same resamples. A resample is summarised by how often it drew each
    sorted position; the median is found by a cumulative scan of those
    counts, O(n) per resample with no sort. For even ``n`` it is the mean of
    the two middle order statistics, as in :func:`numpy.median`. Indices
    refer to the original order, so negating ``d`` negates every resample
    median exactly.
    """
    n = d.shape[0]
    threshold = lemire_threshold(n)
    sorted_d = np.empty(n)
    rank_ext = np.empty(n + 1, dtype=np.int32)
    for i in range(n):
        sorted_d[rank[i]] = d[i]
        rank_ext[i] = rank[i]
    rank_ext[n] = n  # rejected draws land in the ignored slot n
    lo_rank = (n - 1) // 2
    hi_rank = n // 2
    n_chunks = (n_resamples + CHUNK - 1) // CHUNK
    n_pairs = (n + 1) // 2
    for c in prange(n_chunks):
        block = np.empty(BLOCK, dtype=np.uint64)
        counts = np.zeros(n + 1, dtype=np.int32)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            key = resample_key(random_state, STREAM_BOOTSTRAP, b)
            rejected = 0
            counts[:] = 0
            for start in range(0, n_pairs, BLOCK):
                rejected += fill_index_pairs(key, n, threshold, start, block)
                for j in range(min(BLOCK, n_pairs - start)):
                    w = block[j]
                    counts[rank_ext[w & M32]] += 1
                    counts[rank_ext[w >> S32]] += 1
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    j, t = redraw(key, t, n, threshold)
                    counts[rank_ext[j]] += 1
            cumulative = 0
            j = 0
            while cumulative <= lo_rank:
                cumulative += counts[j]
                j += 1
            lo_value = sorted_d[j - 1]
            while cumulative <= hi_rank:
                cumulative += counts[j]
                j += 1
            out[b] = 0.5 * (lo_value + sorted_d[j - 1])


@njit(cache=True, nogil=True)
def multinomial_cdf(log_a: np.ndarray, log_b: np.ndarray, log_rest: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out`` with the unnormalised cumulative probabilities of a three-cell multinomial's cells.

    Parameters
    ----------
    log_a : ndarray of float64, shape (w_a,)
        ``log(p_a**m / m!)`` for the table's first count ``m = lo_a + r``.
    log_b : ndarray of float64, shape (w_b,)
        The same for the second count ``j = lo_b + c``.
    log_rest : ndarray of float64, shape (w_a + w_b - 1,)
        The same for the third count ``n - m - j``, indexed by ``r + c``;
        ``-inf`` where it would be negative.
    out : ndarray of float64, shape (w_a * w_b,)
        Row-major cumulative sums of ``exp(log pmf - max)``, in cell order.
    """
    w_a = log_a.shape[0]
    w_b = log_b.shape[0]
    top = -np.inf
    for r in range(w_a):
        for c in range(w_b):
            top = max(top, log_a[r] + log_b[c] + log_rest[r + c])
    acc = 0.0
    for r in range(w_a):
        for c in range(w_b):
            acc += np.exp(log_a[r] + log_b[c] + log_rest[r + c] - top)
            out[r * w_b + c] = acc


@njit(cache=True, nogil=True)
def bootstrap_means_from_counts(
    cdf: np.ndarray, width: int, first_a: int, first_b: int, n: int, values: np.ndarray, n_resamples: int,
    random_state: np.uint64, out: np.ndarray,
) -> None:
    """Fill ``out`` with bootstrap means of data that take at most three values, drawn as counts.

    Parameters
    ----------
    cdf : ndarray of float64, shape (w_a * width,)
        Unnormalised cumulative probabilities of the cells ``(N_a, N_b)`` of
        the multinomial resampling law (:func:`multinomial_cdf`): cell ``i``
        is ``N_a = first_a + i // width``, ``N_b = first_b + i % width``.
        Non-decreasing, with a positive last entry.
    width : int
        Number of ``N_b`` values per row.
    first_a, first_b : int
        Smallest ``N_a`` and ``N_b`` of the table.
    n : int
        Sample size; the third count is ``n - N_a - N_b``.
    values : ndarray of float64, shape (3,)
        Values counted by ``N_a``, ``N_b`` and the rest.

    Notes
    -----
    Resample ``b`` takes one double uniform ``u_b`` (the top 53 bits of word
    0 of the SplitMix64 sequence keyed by ``(random_state, b)``) and gets
    the first cell whose cumulative probability exceeds ``u_b`` times the
    total: inversion. The targets are visited in sorted order in one sweep of
    the table, O(cells + B log B) and sequential in memory, instead of ``n``
    index draws per resample. Resample ``b`` depends only on
    ``(random_state, b)``.
    """
    total = cdf[cdf.shape[0] - 1]
    targets = np.empty(n_resamples)
    for b in range(n_resamples):
        key = resample_key(random_state, STREAM_BOOTSTRAP_COUNTS, b)
        targets[b] = float(splitmix_word(key, 0) >> uint64(11)) * (1.0 / 9007199254740992.0) * total
    order = np.argsort(targets)
    cell = 0
    for k in range(n_resamples):
        b = order[k]
        while cdf[cell] <= targets[b]:
            cell += 1
        count_a = first_a + cell // width
        count_b = first_b + cell % width
        rest = n - count_a - count_b
        out[b] = ((values[0] * count_a + values[1] * count_b) + values[2] * rest) / n


@njit(cache=True, nogil=True)
def jackknife_means(d: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[i]`` with the mean of ``d`` without element ``i``, in O(n)."""
    n = d.shape[0]
    total = 0.0
    for i in range(n):
        total += d[i]
    for i in range(n):
        out[i] = (total - d[i]) / (n - 1)


@njit(cache=True, nogil=True)
def jackknife_medians(sorted_d: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[i]`` with the median of ``sorted_d`` without position ``i``.

    Removing position ``i`` shifts every later order statistic down by one, so
    each leave-one-out median is read off in O(1): O(n) in all.
    """
    n = sorted_d.shape[0]
    m = n - 1
    lo_rank = (m - 1) // 2
    hi_rank = m // 2
    for i in range(n):
        lo = lo_rank if lo_rank < i else lo_rank + 1
        hi = hi_rank if hi_rank < i else hi_rank + 1
        out[i] = 0.5 * (sorted_d[lo] + sorted_d[hi])
