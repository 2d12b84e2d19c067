"""Bootstrap resample counts as a matrix, drawn once per (n, B, random_state) and reused.

Resample ``b`` of the bootstrap of ``n`` items is summarised by how often it
drew each item: a row of multinomial(n, 1/n) counts. The matrix depends only on
``(n, B, random_state)``, not on the data, so one draw serves every metric,
candidate and seed run scored on the same items; a bootstrap of the mean is then
a matrix-vector product. Rows are the resamples :func:`paired_bootstrap`'s index
draws would make (same keys), so switching to the matrix changes rounding only.

A small least-recently-used cache keeps matrices up to ``CACHE_BYTES`` in all;
larger ones are streamed in blocks of rows and not kept. Cached matrices are
read-only.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator

import numpy as np

from . import _count_kernels as kernels
from ._validation import _MAX_N, _validate_int, _validate_n_resamples, _validate_random_state
from .errors import InvalidInputError

__all__ = ["CACHE_BYTES", "resample_counts"]

#: Total bytes of count matrices kept between calls.
CACHE_BYTES = 256 * 2**20
#: Bytes per block when a matrix is too large to keep and is streamed instead.
BLOCK_BYTES = 16 * 2**20

_DTYPES = (np.uint8, np.uint16, np.uint32)
_lock = threading.Lock()
_cache: OrderedDict[tuple[int, int, int], np.ndarray] = OrderedDict()


def resample_counts(n: int, n_resamples: int, random_state: int) -> np.ndarray:
    """The ``B x n`` matrix of bootstrap resample counts for ``(n, B, random_state)``.

    Parameters
    ----------
    n : int
        Items per resample, ``n >= 1``.
    n_resamples : int
        Resamples ``B >= 1``.
    random_state : int
        Seed, ``0 <= random_state < 2**64``.

    Returns
    -------
    ndarray of uint8, shape (B, n), read-only
        ``counts[b, i]``: how often resample ``b`` drew item ``i``; each row
        sums to ``n``. The memory is item-major (the array is Fortran-ordered,
        ``counts.T`` is C-contiguous), so a product with per-item values runs
        along contiguous resamples and vectorises. uint8 holds every count in practice; when a count
        exceeds 255 the matrix is uint16 (uint32 beyond 65,535). Matrices up to
        ``CACHE_BYTES`` (with the others kept) are cached and the same object
        is returned again.

    Notes
    -----
    Row ``b`` is a function of ``(random_state, b)`` only: the same at any
    thread count and in any block of rows.
    """
    n = _validate_int(n, "n", minimum=1)
    if n > _MAX_N:
        raise InvalidInputError(f"n must be <= {_MAX_N}, got {n}")
    n_resamples = _validate_n_resamples(n_resamples)
    seed = _validate_random_state(random_state)
    return _matrix(n, n_resamples, seed)


def _matrix(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """Cached (or fresh, when too large to keep) count matrix of validated arguments."""
    key = (n, n_resamples, seed)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    matrix = _draw(n, seed, 0, n_resamples)
    matrix.flags.writeable = False
    if matrix.nbytes <= CACHE_BYTES:
        with _lock:
            _cache[key] = matrix
            _cache.move_to_end(key)
            while sum(m.nbytes for m in _cache.values()) > CACHE_BYTES:
                _cache.popitem(last=False)
    return matrix


def _count_blocks(n: int, n_resamples: int, seed: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(first resample, block)`` pairs covering the matrix, item-major (``n x rows``): the cached whole
    when it fits, else streamed blocks of resamples that are not kept."""
    if n * n_resamples <= CACHE_BYTES:
        yield 0, _matrix(n, n_resamples, seed).T
        return
    rows = max(1, BLOCK_BYTES // n)
    for start in range(0, n_resamples, rows):
        block = _draw(n, seed, start, min(n_resamples, start + rows))
        block.flags.writeable = False  # one kernel signature for cached and streamed counts
        yield start, block.T


def _narrowest(peak: int) -> type[np.unsignedinteger]:
    """The smallest unsigned dtype of ``_DTYPES`` that holds ``peak``."""
    for dtype in _DTYPES:
        if peak <= np.iinfo(dtype).max:
            return dtype
    raise InvalidInputError(f"a resample count of {peak} exceeds uint32")  # pragma: no cover - n < 2**31


def _draw(n: int, seed: int, start: int, stop: int) -> np.ndarray:
    """Rows ``start .. stop - 1`` of the count matrix (a ``(rows, n)`` view of item-major memory),
    uint8 unless a count needs more."""
    out = np.empty((n, stop - start), dtype=np.uint8)
    peak = int(kernels.resample_counts(n, start, np.uint64(seed), out))
    dtype = _narrowest(peak)
    if dtype is not np.uint8:  # a count above 255: redo the block wide enough (vanishingly rare)
        out = np.empty((n, stop - start), dtype=dtype)
        kernels.resample_counts(n, start, np.uint64(seed), out)
    return out.T


def _clear_cache() -> None:
    """Forget every cached matrix (tests and benchmarks measure a cold draw with it)."""
    with _lock:
        _cache.clear()
