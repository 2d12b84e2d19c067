"""Kernels against a pure-Python replay of the generator and index mapping.

The replay is written from the definitions (xoshiro256++ [Blackman & Vigna],
SplitMix64 finaliser, Lemire's bounded draw) with Python integers, so it
catches silent uint64 -> float64 promotion, off-by-one index mapping and
biased draws in the numba code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from runnotary.stats import _bootstrap_kernels, _kernels, _permutation_kernels, _quantile_kernels, rng

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class Xoshiro256pp:
    """Reference xoshiro256++ seeded like :func:`stats.rng.seed_state`."""

    def __init__(self, random_state: int, stream: int, chunk: int) -> None:
        key = _mix64(random_state ^ _mix64((stream * GOLDEN) & MASK64))
        key = _mix64((key + chunk * GOLDEN + GOLDEN) & MASK64)
        self.s = [_mix64((key + i * GOLDEN) & MASK64) for i in (1, 2, 3, 4)]

    def next(self) -> int:
        s = self.s
        t = (s[0] + s[3]) & MASK64
        result = ((((t << 23) | (t >> 41)) & MASK64) + s[0]) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & MASK64
        return result


def _resample_key(random_state: int, stream: int, position: int) -> int:
    key = _mix64(random_state ^ _mix64((stream * GOLDEN) & MASK64))
    return _mix64((key + position * GOLDEN + GOLDEN) & MASK64)


def _splitmix_halves(key: int):
    """32-bit draws of the SplitMix64 sequence at ``key``: low then high half of each word."""
    i = 0
    while True:
        w = _mix64((key + (i + 1) * GOLDEN) & MASK64)
        yield w & 0xFFFFFFFF
        yield w >> 32
        i += 1


def _replay_resample_indices(n: int, n_resamples: int, seed: int) -> list[list[int]]:
    """Indices of each bootstrap resample: Lemire-mapped draws, rejected ones replaced from the redraw stream."""
    threshold = 2**32 % n
    out = []
    for b in range(n_resamples):
        draws = _splitmix_halves(_resample_key(seed, rng.STREAM_BOOTSTRAP, b))
        kept, rejected = [], 0
        for _ in range(n):
            m = next(draws) * n
            if m & 0xFFFFFFFF < threshold:
                rejected += 1
            else:
                kept.append(m >> 32)
        redraws = _splitmix_halves(_resample_key(seed, rng.STREAM_BOOTSTRAP_REDRAW, b))
        while rejected:
            m = next(redraws) * n
            if m & 0xFFFFFFFF >= threshold:
                kept.append(m >> 32)
                rejected -= 1
        out.append(kept)
    return out


def test_xoshiro_words_equal_the_reference_definition():
    from numba import njit

    @njit
    def first_words(seed, stream, chunk, k):
        s0, s1, s2, s3 = rng.seed_state(seed, stream, chunk)
        out = np.empty(k, dtype=np.uint64)
        for i in range(k):
            s0, s1, s2, s3, w = rng.next_u64(s0, s1, s2, s3)
            out[i] = w
        return out

    for seed, stream, chunk in [(0, 1, 0), (2**64 - 1, 2, 7), (123456789, 4, 1000)]:
        ref = Xoshiro256pp(seed, stream, chunk)
        expected = [ref.next() for _ in range(50)]
        assert [int(w) for w in first_words(np.uint64(seed), stream, chunk, 50)] == expected


@pytest.mark.parametrize("n", [2, 5, 37, 64, 1025])
def test_bootstrap_means_equal_replayed_resample_means(n):
    d = np.random.default_rng(n).normal(size=n)
    out = np.empty(150)
    _bootstrap_kernels.bootstrap_means(np.append(d, 0.0), 150, np.uint64(2024), out)
    expected = [d[idx].mean() for idx in _replay_resample_indices(n, 150, 2024)]
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n", [2, 3, 10, 11])
def test_bootstrap_medians_equal_numpy_median_of_replayed_resamples(n):
    d = np.random.default_rng(n).lognormal(size=n)
    rank = np.argsort(np.argsort(d))
    out = np.empty(150)
    _bootstrap_kernels.bootstrap_medians(d, rank, 150, np.uint64(99), out)
    expected = [np.median(d[idx]) for idx in _replay_resample_indices(n, 150, 99)]
    np.testing.assert_array_equal(out, expected)


def test_bounded_draw_is_uniform_over_indices():
    """Chi-square goodness of fit of 1,000,000 drawn indices over n = 1000 cells."""
    n = 1000
    d = np.zeros(n + 1)  # trailing 0 is the kernel's slot for rejected draws
    d[0] = float(n)  # resample mean = (count of index 0)
    out = np.empty(1000)
    _bootstrap_kernels.bootstrap_means(d, 1000, np.uint64(5), out)
    counts_of_zero = np.rint(out).astype(int)  # per-resample count of index 0 ~ Binomial(1000, 1/1000)
    # mean 1, variance 0.999: the total over 1000 resamples is 1000 +- 3.2 per sd
    assert abs(counts_of_zero.sum() - 1000) < 5 * np.sqrt(999)
    # the distribution of counts follows Binomial(1000, 1e-3) (~Poisson(1))
    observed = np.bincount(np.minimum(counts_of_zero, 4), minlength=5)
    probs = scipy_stats.binom.pmf(np.arange(4), n, 1 / n)
    expected = 1000 * np.append(probs, 1 - probs.sum())
    assert scipy_stats.chisquare(observed, expected).pvalue > 1e-4


def test_rejected_draws_are_replaced_exactly_as_the_replay_does():
    """n = 130_562 rejects ~3e-5 of draws (about 4 per resample): the redraw path must match the replay."""
    n = 130_562
    threshold = 2**32 % n
    assert threshold / 2**32 > 2.5e-5
    d = np.random.default_rng(0).normal(size=n)
    out = np.empty(4)
    _bootstrap_kernels.bootstrap_means(np.append(d, 0.0), 4, np.uint64(77), out)
    replay = _replay_resample_indices(n, 4, 77)
    np.testing.assert_allclose(out, [d[idx].mean() for idx in replay], rtol=1e-12)
    # the same resamples, scanned for rejections, really did exercise the redraw path
    rejected = 0
    for b in range(4):
        draws = _splitmix_halves(_resample_key(77, rng.STREAM_BOOTSTRAP, b))
        rejected += sum((next(draws) * n) & 0xFFFFFFFF < threshold for _ in range(n))
    assert rejected > 0


def test_lemire_threshold_is_two_to_32_mod_n():
    for n in (1, 2, 3, 10_000, 2**31 + 11, 2**32 - 1):
        assert int(rng.lemire_threshold(n)) == 2**32 % n


def test_sign_flip_sums_equal_replayed_sign_patterns():
    n = 70
    d = np.random.default_rng(3).normal(size=n)
    padded = np.zeros(128)
    padded[:n] = d
    out = np.empty(70)
    _permutation_kernels.sign_flip_sums(padded, float(padded.sum()), 70, np.uint64(17), out)
    for b in range(70):
        if b % _kernels.CHUNK == 0:
            gen = Xoshiro256pp(17, rng.STREAM_PERMUTATION, b // _kernels.CHUNK)
        words = [gen.next(), gen.next()]
        signs = np.array([-1.0 if (words[i // 64] >> (i % 64)) & 1 else 1.0 for i in range(128)])
        assert out[b] == pytest.approx(float(np.sum(signs * padded)), abs=1e-12)


def test_exact_sign_flip_enumerates_every_pattern_once():
    d = np.array([1.0, 2.0, 4.0, 8.0])
    out = np.empty(16)
    _permutation_kernels.sign_flip_exact_sums(d, out)
    assert sorted(out) == sorted(float(s) for s in range(-15, 16, 2))
    assert out[0] == 15.0


def test_order_statistic_sampler_inverts_the_cdf():
    cdf = np.array([0.25, 0.5, 1.0])
    values = np.array([10.0, 20.0, 30.0])
    out = np.empty(40_000)
    _quantile_kernels.sample_order_statistic(cdf, values, 40_000, np.uint64(1), rng.STREAM_QUANTILE_CANDIDATE, out)
    freq = np.array([(out == v).mean() for v in values])
    # each frequency has sd <= sqrt(.25 * .75 / 40000) = 0.0022
    np.testing.assert_allclose(freq, [0.25, 0.25, 0.5], atol=0.011)


def test_kernels_release_the_gil_and_agree_when_run_from_several_threads() -> None:
    """The service computes comparisons on worker threads: parallel kernels launched from two threads at
    once must neither abort nor mix their results, and a kernel must let other Python threads run."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from runnotary import stats

    stats.warmup()  # as the service does first: it picks a thread-safe threading layer

    data = np.random.default_rng(7).normal(size=(4, 3000))
    serial = [stats.paired_bootstrap(a, b, random_state=11, n_resamples=4000).to_dict()
              for a, b in (data[:2], data[2:])]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(
            lambda i: stats.paired_bootstrap(*((data[:2], data[2:])[i % 2]), random_state=11, n_resamples=4000).to_dict(),
            range(8)))
    assert together == [serial[i % 2] for i in range(8)]

    ticks = 0
    done = threading.Event()

    def count() -> None:  # Python code that only runs while the kernel does not hold the GIL
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0)

    cdf = np.linspace(1e-3, 1.0, 4096)
    values = np.arange(4096.0)
    out = np.empty(8_000_000)
    _quantile_kernels.sample_order_statistic(cdf, values, 10, np.uint64(1), 0, out)  # compiled before timing
    thread = threading.Thread(target=count)
    thread.start()
    try:
        before = ticks
        _quantile_kernels.sample_order_statistic(cdf, values, out.shape[0], np.uint64(1), 0, out)  # serial, ~0.5 s
        during = ticks - before
    finally:
        done.set()
        thread.join()
    assert during > 100, f"other threads advanced {during} times while a kernel ran: it holds the GIL"


def test_importing_stats_leaves_numbas_threading_layer_alone_and_warmup_picks_a_threadsafe_one() -> None:
    """The threading-layer choice is made by warmup() (the entry point), not as a side effect of an import."""
    import os
    import subprocess
    import sys

    code = ("import numba; before = numba.config.THREADING_LAYER; from runnotary import stats; "
            "imported = numba.config.THREADING_LAYER; stats.warmup(); print(before, imported, numba.config.THREADING_LAYER)")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_THREADING_LAYER"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    before, imported, warmed = done.stdout.split()
    assert imported == before and warmed == "threadsafe"
