"""Numba kernels behind the public resampling functions: what they share.

The kernels live in one private module per job (``_bootstrap_kernels``,
``_count_kernels``, ``_permutation_kernels``, ``_quantile_kernels``,
``_twoway_kernels``, ``_runswap_kernels``, ``_wholeset_kernels``); this module
holds what they share: the threading layer, ``CHUNK`` and the packed index
draws of the bootstrap. Conventions shared by every kernel:

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

Parameters that mean the same in every kernel are not repeated in their
docstrings: ``n_resamples`` is the number of resamples ``B``; ``random_state``
(uint64) the seed; ``out`` the preallocated output, overwritten (float64 of
shape (B,) unless a kernel says otherwise).
"""

from __future__ import annotations

import os

import numpy as np
from numba import config, njit, uint64

from .rng import splitmix_word


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

#: Packed index words generated per pass: small enough to stay in L1 next to the data.
BLOCK = 512  # even, so accumulator assignment does not depend on the block boundaries

M32 = np.uint64(0xFFFFFFFF)
S32 = np.uint64(32)


@njit(cache=True, inline="always")
def fill_index_pairs(key: np.uint64, n: int, threshold: np.uint64, start: int, pairs: np.ndarray) -> int:
    """Fill ``pairs`` with words ``start ..`` of a resample's packed indices; return the rejected count.

    A resample's ``n`` uniform indices in ``[0, n)`` are packed two per
    64-bit word: draws ``2j`` and ``2j + 1`` are the low and high halves of
    SplitMix64 word ``j`` of ``key`` mapped by Lemire's multiply-shift, and
    are stored as the low and high halves of packed word ``j`` (one load
    later yields two indices). A draw that Lemire's rule rejects, and the
    unused high half of the last word when ``n`` is odd, hold the sentinel
    ``n``, whose slot is 0 (or ignored); rejected draws are replaced
    afterwards by :func:`redraw`. The loop has no branch and vectorises.
    """
    un = uint64(n)
    rejected = 0
    stop = min(start + pairs.shape[0], n // 2)
    for j in range(start, stop):
        w = splitmix_word(key, j)
        m0 = (w & M32) * un
        m1 = (w >> S32) * un
        bad0 = (m0 & M32) < threshold
        bad1 = (m1 & M32) < threshold
        i0 = un if bad0 else m0 >> S32
        i1 = un if bad1 else m1 >> S32
        pairs[j - start] = i0 | (i1 << S32)
        rejected += int(bad0) + int(bad1)
    if n % 2 == 1 and start <= n // 2 < start + pairs.shape[0]:
        m0 = (splitmix_word(key, n // 2) & M32) * un
        bad0 = (m0 & M32) < threshold
        i0 = un if bad0 else m0 >> S32
        pairs[n // 2 - start] = i0 | (un << S32)
        rejected += int(bad0)
    return rejected


@njit(cache=True, inline="always")
def redraw(key: np.uint64, t: int, n: int, threshold: np.uint64) -> tuple[int, int]:
    """Next accepted index from the redraw sequence ``key``, starting at 32-bit value ``t``.

    Returns ``(index, next t)``.
    """
    un = uint64(n)
    while True:
        w = splitmix_word(key, t // 2)
        x = (w & M32) if t % 2 == 0 else (w >> S32)
        t += 1
        m = x * un
        if (m & M32) >= threshold:
            return int(m >> S32), t
