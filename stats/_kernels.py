"""Numba kernels behind the public resampling functions.

Conventions shared by every kernel:

* inputs are clean, contiguous ``float64`` arrays (validation happens once,
  in the public function that calls the kernel);
* outputs are preallocated by the caller and filled in place;
* randomness comes only from :mod:`stats.rng`, keyed by
  ``(random_state, stream, resample)`` or, for sequential generators, by
  ``(random_state, stream, chunk)`` with a fixed ``CHUNK`` of resamples, so
  the output is bit-identical for a given ``random_state`` at any thread
  count;
* every floating-point reduction has a fixed association order written out in
  the code (several accumulators for instruction-level parallelism), never
  left to ``fastmath``;
* every kernel releases the GIL (``nogil``): the service's other threads go on
  with their I/O while one computes, so kernels may run from several threads at
  once, and the parallel ones need a thread-safe threading layer (TBB or
  OpenMP, not numba's workqueue), which is required here.
"""

from __future__ import annotations

import os

import numpy as np
from numba import config, njit, prange, uint64

from .rng import (
    STREAM_BOOTSTRAP,
    STREAM_BOOTSTRAP_COUNTS,
    STREAM_BOOTSTRAP_REDRAW,
    STREAM_PERMUTATION,
    STREAM_RUN_SWAP,
    lemire_threshold,
    next_u64,
    next_unit,
    resample_key,
    seed_state,
    splitmix_word,
)

__all__ = [
    "CHUNK",
    "bootstrap_means",
    "bootstrap_means_from_counts",
    "multinomial_cdf",
    "resample_counts",
    "random_relabelings",
    "run_swap_statistics",
    "seed_counts",
    "bootstrap_medians",
    "count_means",
    "count_products",
    "count_quantile_differences",
    "crossed_resample_means",
    "jackknife_means",
    "jackknife_medians",
    "sample_order_statistic",
    "sign_flip_exact_sums",
    "sign_flip_sums",
]


def use_threadsafe_layer() -> None:
    """Ask numba for a thread-safe threading layer (TBB or OpenMP) before the first parallel launch.

    numba's own workqueue aborts when two threads launch parallel kernels at once. An explicit
    ``NUMBA_THREADING_LAYER`` is the operator's choice and stays. Called by :func:`stats.warmup`
    (the entry point's first use of the kernels), never at import.
    """
    if "NUMBA_THREADING_LAYER" not in os.environ:
        config.THREADING_LAYER = "threadsafe"  # type: ignore[attr-defined]  # numba.config reads it from the environment

#: Resamples per unit of parallel work, and per independently seeded
#: xoshiro256++ generator in the kernels that use one (sign flips, order
#: statistics): there, changing it changes results, so it is part of the
#: reproducibility contract together with ``random_state``. The bootstrap
#: kernels key every resample separately and do not depend on it.
CHUNK = 64

# Packed index words generated per pass: small enough to stay in L1 next to the data.
_BLOCK = 512  # even, so accumulator assignment does not depend on the block boundaries

_M32 = np.uint64(0xFFFFFFFF)
_S32 = np.uint64(32)


@njit(cache=True, inline="always")
def _fill_index_pairs(key: np.uint64, n: int, threshold: np.uint64, start: int, pairs: np.ndarray) -> int:
    """Fill ``pairs`` with words ``start ..`` of a resample's packed indices; return the rejected count.

    A resample's ``n`` uniform indices in ``[0, n)`` are packed two per
    64-bit word: draws ``2j`` and ``2j + 1`` are the low and high halves of
    SplitMix64 word ``j`` of ``key`` mapped by Lemire's multiply-shift, and
    are stored as the low and high halves of packed word ``j`` (one load
    later yields two indices). A draw that Lemire's rule rejects, and the
    unused high half of the last word when ``n`` is odd, hold the sentinel
    ``n``, whose slot is 0 (or ignored); rejected draws are replaced
    afterwards by :func:`_redraw`. The loop has no branch and vectorises.
    """
    un = uint64(n)
    rejected = 0
    stop = min(start + pairs.shape[0], n // 2)
    for j in range(start, stop):
        w = splitmix_word(key, j)
        m0 = (w & _M32) * un
        m1 = (w >> _S32) * un
        bad0 = (m0 & _M32) < threshold
        bad1 = (m1 & _M32) < threshold
        i0 = un if bad0 else m0 >> _S32
        i1 = un if bad1 else m1 >> _S32
        pairs[j - start] = i0 | (i1 << _S32)
        rejected += int(bad0) + int(bad1)
    if n % 2 == 1 and start <= n // 2 < start + pairs.shape[0]:
        m0 = (splitmix_word(key, n // 2) & _M32) * un
        bad0 = (m0 & _M32) < threshold
        i0 = un if bad0 else m0 >> _S32
        pairs[n // 2 - start] = i0 | (un << _S32)
        rejected += int(bad0)
    return rejected


@njit(cache=True, inline="always")
def _redraw(key: np.uint64, t: int, n: int, threshold: np.uint64) -> tuple[int, int]:
    """Next accepted index from the redraw sequence ``key``, starting at 32-bit value ``t``.

    Returns ``(index, next t)``.
    """
    un = uint64(n)
    while True:
        w = splitmix_word(key, t // 2)
        x = (w & _M32) if t % 2 == 0 else (w >> _S32)
        t += 1
        m = x * un
        if (m & _M32) >= threshold:
            return int(m >> _S32), t


@njit(cache=True, parallel=True, nogil=True)
def bootstrap_means(d_ext: np.ndarray, n_resamples: int, random_state: np.uint64, out: np.ndarray) -> None:
    """Fill ``out`` with the means of ``n_resamples`` bootstrap resamples.

    Parameters
    ----------
    d_ext : ndarray of float64, shape (n + 1,)
        Paired differences followed by one 0.0 (the slot of rejected draws),
        ``1 <= n < 2**31 - 1``.
    n_resamples : int
        Number of resamples ``B``.
    random_state : uint64
        Seed.
    out : ndarray of float64, shape (B,)
        Output, overwritten.

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
        block = np.empty(_BLOCK, dtype=np.uint64)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            key = resample_key(random_state, STREAM_BOOTSTRAP, b)
            rejected = 0
            a0 = 0.0
            a1 = 0.0
            a2 = 0.0
            a3 = 0.0
            for start in range(0, n_words, _BLOCK):
                rejected += _fill_index_pairs(key, n, threshold, start, block)
                size = min(_BLOCK, n_words - start)
                for j in range(0, size - 1, 2):
                    w = block[j]
                    v = block[j + 1]
                    a0 += d_ext[w & _M32]
                    a1 += d_ext[w >> _S32]
                    a2 += d_ext[v & _M32]
                    a3 += d_ext[v >> _S32]
                if size % 2 == 1:
                    w = block[size - 1]
                    a0 += d_ext[w & _M32]
                    a1 += d_ext[w >> _S32]
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    i, t = _redraw(key, t, n, threshold)
                    a0 += d_ext[i]
            out[b] = ((a0 + a1) + (a2 + a3)) / n


@njit(cache=True, parallel=True, nogil=True)
def resample_counts(n: int, start: int, random_state: np.uint64, out: np.ndarray) -> int:
    """Fill column ``r`` of ``out`` with how often bootstrap resample ``start + r`` drew each index; return the peak.

    Parameters
    ----------
    n : int
        Sample size, ``1 <= n < 2**31 - 1``.
    start : int
        Index of the first resample of this block.
    random_state : uint64
        Seed.
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
        block = np.empty(_BLOCK, dtype=np.uint64)
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
            for first in range(0, n_pairs, _BLOCK):
                rejected += _fill_index_pairs(key, n, threshold, first, block)
                for j in range(min(_BLOCK, n_pairs - first)):
                    w = block[j]
                    counts[w & _M32] += 1
                    counts[w >> _S32] += 1
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    i, t = _redraw(key, t, n, threshold)
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


# Resamples per unit of work of the products with a count matrix: the accumulators stay in L1.
_LANES = 64


@njit(cache=True, parallel=True, nogil=True)
def count_means(counts: np.ndarray, d: np.ndarray, out: np.ndarray) -> None:
    """Fill ``out[b] = sum_i counts[i, b] * d[i] / n``: bootstrap means from an item-major count matrix.

    Parameters
    ----------
    counts : ndarray of unsigned ints, shape (n, B)
        Resample counts (:func:`resample_counts`), item-major.
    d : ndarray of float64, shape (n,)
        Values.
    out : ndarray of float64, shape (B,)
        Output, overwritten.

    Notes
    -----
    Each resample's sum runs over ``i = 0 .. n-1`` in order, in its own lane:
    the loop vectorises across resamples without reassociating any sum, so a
    value does not depend on the thread or the block that computes it. Four
    items per pass keep a lane's partial sum in a register.
    """
    n, columns = counts.shape
    body = n - n % 4
    for c in prange((columns + _LANES - 1) // _LANES):
        lo = c * _LANES
        width = min(_LANES, columns - lo)
        acc = np.zeros(_LANES)
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
    n_resamples : int
        Number of resamples ``B``.
    random_state : uint64
        Seed.
    out : ndarray of float64, shape (B,)
        Output, overwritten.

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
    n_resamples : int
        Number of resamples ``B``.
    random_state : uint64
        Seed.
    out : ndarray of float64, shape (B,)
        Output, overwritten.

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
        block = np.empty(_BLOCK, dtype=np.uint64)
        counts = np.zeros(n + 1, dtype=np.int32)
        for b in range(c * CHUNK, min(c * CHUNK + CHUNK, n_resamples)):
            key = resample_key(random_state, STREAM_BOOTSTRAP, b)
            rejected = 0
            counts[:] = 0
            for start in range(0, n_pairs, _BLOCK):
                rejected += _fill_index_pairs(key, n, threshold, start, block)
                for j in range(min(_BLOCK, n_pairs - start)):
                    w = block[j]
                    counts[rank_ext[w & _M32]] += 1
                    counts[rank_ext[w >> _S32]] += 1
            if rejected:
                key = resample_key(random_state, STREAM_BOOTSTRAP_REDRAW, b)
                t = 0
                for _ in range(rejected):
                    j, t = _redraw(key, t, n, threshold)
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
    n_resamples : int
        Number of resamples ``B``.
    random_state : uint64
        Seed.
    out : ndarray of float64, shape (B,)
        Output, overwritten.

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
    random_state : uint64
        Seed.
    stream : int
        Generator stream (one per sample, so the two arms are independent).
    out : ndarray of float64, shape (B,)
        Output, overwritten.
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


@njit(cache=True, nogil=True)
def seed_counts(n_seeds: int, n_resamples: int, random_state: np.uint64, stream: int, out: np.ndarray) -> None:
    """Fill ``out[b]`` with the multinomial counts of ``n_seeds`` draws of a seed index, for each resample ``b``.

    Parameters
    ----------
    n_seeds : int
        Runs in the arm, ``S >= 1``.
    n_resamples : int
        Number of resamples ``B``.
    random_state : uint64
        Seed.
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
            i, t = _redraw(key, t, n_seeds, threshold)
            out[b, i] += 1


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
    for c in prange((columns + _LANES - 1) // _LANES):
        lo = c * _LANES
        hi = min(lo + _LANES, columns)
        width = hi - lo
        acc = np.zeros((runs, _LANES))
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
    random_state : uint64
        Seed.
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
