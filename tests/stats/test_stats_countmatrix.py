"""resample_counts: the cached count matrix, and paired_bootstrap's mean as count matrix times differences."""

from __future__ import annotations

import numpy as np
import pytest

from runnotary import stats
from runnotary.stats import _bootstrap_kernels, _count_kernels, countmatrix


@pytest.mark.parametrize("n", [1, 7, 300, 1025])
def test_count_rows_are_the_index_bootstrap_resamples(n):
    """Row b times d over n is the mean of resample b of the index bootstrap (same draws, another sum order)."""
    rng = np.random.default_rng(n)
    d = rng.normal(size=n)
    counts = stats.resample_counts(n, 500, 2024)
    assert counts.shape == (500, n) and counts.dtype == np.uint8
    assert (counts.sum(axis=1) == n).all()
    by_index = np.empty(500)
    _bootstrap_kernels.bootstrap_means(np.append(d, 0.0), 500, np.uint64(2024), by_index)
    np.testing.assert_allclose(counts.astype(np.float64) @ d / n, by_index, rtol=1e-12, atol=1e-14)


def test_matrix_is_cached_read_only_and_keyed_by_every_argument():
    countmatrix._clear_cache()
    first = stats.resample_counts(200, 300, 5)
    assert stats.resample_counts(200, 300, 5) is first
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1
    assert not np.array_equal(stats.resample_counts(200, 300, 6), first)
    assert np.array_equal(stats.resample_counts(200, 301, 5)[:300], first)  # resample b depends on (seed, b) only


def test_streamed_blocks_equal_the_whole_matrix(monkeypatch):
    whole = np.array(stats.resample_counts(130, 257, 9))
    monkeypatch.setattr(countmatrix, "CACHE_BYTES", 1000)
    monkeypatch.setattr(countmatrix, "BLOCK_BYTES", 130 * 50)
    countmatrix._clear_cache()
    blocks = list(countmatrix._count_blocks(130, 257, 9))
    assert len(blocks) == 6
    np.testing.assert_array_equal(np.hstack([b for _, b in blocks]).T, whole)
    assert stats.resample_counts(130, 257, 9) is not stats.resample_counts(130, 257, 9)  # too large to keep


def test_cache_is_bounded_least_recently_used_first(monkeypatch):
    monkeypatch.setattr(countmatrix, "CACHE_BYTES", 3 * 100 * 100)
    countmatrix._clear_cache()
    keep = stats.resample_counts(100, 100, 1)
    for seed in (2, 3):
        stats.resample_counts(100, 100, seed)
    stats.resample_counts(100, 100, 1)  # touch: now most recent
    stats.resample_counts(100, 100, 4)  # evicts seed 2
    assert sum(m.nbytes for m in countmatrix._cache.values()) <= countmatrix.CACHE_BYTES
    assert stats.resample_counts(100, 100, 1) is keep
    assert (100, 100, 2) not in countmatrix._cache


def test_a_count_above_255_widens_the_dtype():
    assert countmatrix._narrowest(255) is np.uint8
    assert countmatrix._narrowest(256) is np.uint16
    assert countmatrix._narrowest(70_000) is np.uint32
    wide = np.empty((400, 64), dtype=np.uint16)
    peak = _count_kernels.resample_counts(400, 0, np.uint64(3), wide)
    assert peak == wide.max()
    narrow = np.empty((400, 64), dtype=np.uint8)
    _count_kernels.resample_counts(400, 0, np.uint64(3), narrow)
    np.testing.assert_array_equal(narrow, wide)


def test_paired_bootstrap_mean_is_the_count_matrix_product():
    rng = np.random.default_rng(4)
    b = rng.beta(4, 3, 800)
    c = np.clip(b + rng.normal(0.01, 0.05, 800), 0, 1)
    result = stats.paired_bootstrap(c, b, n_resamples=2000, random_state=31, return_distribution=True)
    counts = stats.resample_counts(800, 2000, 31)
    np.testing.assert_allclose(result.distribution, counts.astype(np.float64) @ (c - b) / 800, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("n", "bad"), [(0, "n must be >= 1"), (5, "n_resamples")])
def test_bad_arguments_are_rejected(n, bad):
    with pytest.raises(stats.InvalidInputError, match=bad):
        stats.resample_counts(n, 0 if n else 5, 1)


def test_streamed_counts_give_the_same_bootstraps_as_the_cached_matrix(monkeypatch):
    rng = np.random.default_rng(12)
    yb, ya = rng.normal(size=(3, 90)), rng.normal(size=(2, 90))
    def run():
        return (stats.paired_bootstrap(yb[0], ya[0], n_resamples=301, random_state=4, return_distribution=True),
                stats.two_way_bootstrap(yb, ya, n_resamples=301, random_state=4, return_distribution=True),
                stats.two_way_bootstrap(yb, ya, statistic=("quantile", 0.8), n_resamples=301, random_state=4,
                                        return_distribution=True))
    cached = run()
    monkeypatch.setattr(countmatrix, "CACHE_BYTES", 1000)
    monkeypatch.setattr(countmatrix, "BLOCK_BYTES", 90 * 64)
    countmatrix._clear_cache()
    for whole, streamed in zip(cached, run()):
        np.testing.assert_array_equal(streamed.distribution, whole.distribution)
