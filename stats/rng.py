"""Random words for the numba kernels: xoshiro256++ per chunk, SplitMix64 per counter.

Two generators, both keyed by ``random_state`` only through pure functions of
``(random_state, stream, position)``, so the words a resample sees do not
depend on which thread runs it; results are bit-identical for a given
``random_state`` at any thread count.

* xoshiro256++ [1]_, seeded per chunk of resamples: a sequential generator
  whose state lives in four ``uint64`` scalars threaded through the inline
  step function, so LLVM keeps it in registers.
* SplitMix64 [3]_ used counter-based: word ``i`` of a key is
  ``mix64(key + (i + 1) * golden)``, exactly the SplitMix64 sequence started
  at ``key``. Words are independent of each other given the key, so a loop
  that fills a buffer of words vectorises (AVX2/AVX-512).

References
----------
.. [1] D. Blackman and S. Vigna, "Scrambled linear pseudorandom number
   generators", ACM Trans. Math. Softw. 47(4), 2021.
.. [2] D. Lemire, "Fast random integer generation in an interval",
   ACM Trans. Model. Comput. Simul. 29(1), 2019.
.. [3] G. L. Steele, D. Lea and C. H. Flood, "Fast splittable pseudorandom
   number generators", OOPSLA 2014.
"""

from __future__ import annotations

import numpy as np
from numba import njit, uint64

__all__ = [
    "STREAM_BOOTSTRAP",
    "STREAM_BOOTSTRAP_COUNTS",
    "STREAM_BOOTSTRAP_REDRAW",
    "STREAM_PERMUTATION",
    "STREAM_QUANTILE_BASELINE",
    "STREAM_QUANTILE_CANDIDATE",
    "STREAM_RUN_SWAP",
    "STREAM_SEEDS_BASELINE",
    "STREAM_SEEDS_CANDIDATE",
    "lemire_threshold",
    "next_u64",
    "next_unit",
    "resample_key",
    "seed_state",
    "splitmix_word",
]

# Distinct streams keep different procedures from sharing random words when
# they are given the same random_state.
STREAM_BOOTSTRAP = 1
STREAM_PERMUTATION = 2
STREAM_QUANTILE_CANDIDATE = 3
STREAM_QUANTILE_BASELINE = 4
STREAM_BOOTSTRAP_REDRAW = 5
STREAM_BOOTSTRAP_COUNTS = 6
STREAM_RUN_SWAP = 7
STREAM_SEEDS_CANDIDATE = 8
STREAM_SEEDS_BASELINE = 9

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TWO32 = np.uint64(1) << np.uint64(32)


@njit(uint64(uint64), cache=True, inline="always")
def _mix64(z: np.uint64) -> np.uint64:
    """SplitMix64 finaliser: a bijective avalanche of one 64-bit word."""
    z = (z ^ (z >> uint64(30))) * _MIX1
    z = (z ^ (z >> uint64(27))) * _MIX2
    return z ^ (z >> uint64(31))


@njit(cache=True, inline="always")
def seed_state(
    random_state: np.uint64, stream: int, chunk: int
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Return the xoshiro256++ state of one chunk.

    Parameters
    ----------
    random_state : int
        User seed, ``0 <= random_state < 2**64``.
    stream : int
        Procedure identifier (one of the ``STREAM_*`` constants).
    chunk : int
        Chunk index within the procedure.

    Returns
    -------
    tuple of four uint64
        A state that is never all zero.
    """
    key = _mix64(uint64(random_state) ^ _mix64(uint64(stream) * _GOLDEN))
    key = _mix64(key + uint64(chunk) * _GOLDEN + _GOLDEN)
    s0 = _mix64(key + _GOLDEN)
    s1 = _mix64(key + uint64(2) * _GOLDEN)
    s2 = _mix64(key + uint64(3) * _GOLDEN)
    s3 = _mix64(key + uint64(4) * _GOLDEN)
    if (s0 | s1 | s2 | s3) == uint64(0):  # pragma: no cover - probability 2**-256
        s0 = _GOLDEN
    return s0, s1, s2, s3


@njit(cache=True, inline="always")
def next_u64(
    s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, np.uint64]:
    """Advance xoshiro256++ by one step.

    Returns
    -------
    tuple
        ``(s0, s1, s2, s3, word)``: the new state and a uniform 64-bit word.
    """
    t = s0 + s3
    word = ((t << uint64(23)) | (t >> uint64(41))) + s0
    t = s1 << uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << uint64(45)) | (s3 >> uint64(19))
    return s0, s1, s2, s3, word


@njit(cache=True, inline="always")
def next_unit(
    s0: np.uint64, s1: np.uint64, s2: np.uint64, s3: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64, float]:
    """Advance by one step and return a double uniform on ``[0, 1)``.

    Uses the top 53 bits of the word, so every value is a multiple of 2**-53.
    """
    s0, s1, s2, s3, word = next_u64(s0, s1, s2, s3)
    return s0, s1, s2, s3, float(word >> uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def lemire_threshold(n: int) -> np.uint64:
    """Rejection threshold ``2**32 mod n`` of Lemire's unbiased bounded draw.

    A 32-bit draw ``x`` maps to ``(x * n) >> 32``; it is rejected when the low
    half of ``x * n`` is below this threshold, which makes every index in
    ``[0, n)`` exactly equally likely. For ``n = 10_000`` a draw is rejected
    with probability below 3e-6, so the branch is almost never taken.
    """
    un = uint64(n)
    return (_TWO32 - un) % un


@njit(cache=True, inline="always")
def resample_key(random_state: np.uint64, stream: int, position: int) -> np.uint64:
    """Key of the SplitMix64 sequence of one resample (or any counter position)."""
    key = _mix64(uint64(random_state) ^ _mix64(uint64(stream) * _GOLDEN))
    return _mix64(key + uint64(position) * _GOLDEN + _GOLDEN)


@njit(cache=True, inline="always")
def splitmix_word(key: np.uint64, i: int) -> np.uint64:
    """Word ``i`` of the SplitMix64 sequence that starts at ``key``."""
    return _mix64(key + (uint64(i) + uint64(1)) * _GOLDEN)
