"""Benchmark: one seeds x items comparison beside today's one-run comparison, and the count-matrix bootstrap.

Run ``python -m benchmarks.crossed`` from the repository root. Each figure is the
best of ``--repeats`` warm calls (after one untimed call that compiles or fills
caches), as wall time and as CPU time of the process (all threads), on

* one comparison of 5 + 5 seed runs x 5,000 items (ndcg-like scores): the
  closed-form E3 interval, the exact run-swap test (252 relabelings), the
  two-way bootstrap of the mean and of a p95, 10,000 replicates;
* today's one-run comparison on one pair of those runs: the paired bootstrap
  (BCa), the sign-flip permutation test and the effect sizes;
* the one-run paired bootstrap of the mean at n = 5,000, B = 10,000 before (n
  index draws per resample, the kernel ``paired_bootstrap`` used until now)
  and after (the cached count matrix times the differences), and the one-off
  cost of drawing that matrix (shared by every metric and candidate scored on
  the same items).

Set ``NUMBA_NUM_THREADS=1`` for one-core figures. No test asserts on these times.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from runnotary import stats
from runnotary.stats import _bootstrap_kernels, _count_kernels, countmatrix

_SEED = 20240601
_N = 5000
_B = 10_000
_SEEDS = 5


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of the best of ``repeats`` timed calls, after one untimed call."""
    fn()
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def _data() -> tuple[np.ndarray, np.ndarray]:
    """5 + 5 seed runs of an ndcg-like per-item score on 5,000 items, with seed and item x arm effects."""
    rng = np.random.default_rng(_SEED)
    item = rng.beta(4.0, 3.0, _N)
    baseline = np.clip(item + rng.normal(0, 0.01, (_SEEDS, 1)) + rng.normal(0, 0.05, (_SEEDS, _N)), 0, 1)
    candidate = np.clip(item + 0.012 + rng.normal(0, 0.01, (_SEEDS, 1)) + rng.normal(0, 0.02, _N)
                        + rng.normal(0, 0.05, (_SEEDS, _N)), 0, 1)
    return candidate, baseline


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crossed", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="timed warm calls per figure (best is kept)")
    args = parser.parse_args(argv)
    stats.warmup()

    candidate, baseline = _data()
    latency_c = np.random.default_rng(1).lognormal(np.log(24.5), 0.38, (_SEEDS, _N))
    latency_b = np.random.default_rng(2).lognormal(np.log(24.0), 0.38, (_SEEDS, _N))
    print(f"numba {numba.__version__}, threads {numba.get_num_threads()}, cpus {os.cpu_count()}; "
          f"{_SEEDS} + {_SEEDS} runs x {_N} items, B = {_B}; best of {args.repeats} warm calls (wall / CPU)")

    def row(name: str, fn: Callable[[], Any]) -> float:
        wall, cpu = _best_of(fn, args.repeats)
        print(f"  {name:<52}{wall * 1e3:>9.2f} ms {cpu * 1e3:>9.2f} ms")
        return cpu

    print("one seeds x items comparison")
    crossed = [
        row("crossed_interval (E3, closed form)", lambda: stats.crossed_interval(candidate, baseline)),
        row("run_swap_permutation (exact, 252 relabelings)",
            lambda: stats.run_swap_permutation(candidate, baseline, random_state=_SEED)),
        row("two_way_bootstrap mean", lambda: stats.two_way_bootstrap(
            candidate, baseline, n_resamples=_B, random_state=_SEED)),
        row("two_way_bootstrap p95 (latency)", lambda: stats.two_way_bootstrap(
            latency_c, latency_b, statistic=("quantile", 0.95), n_resamples=_B, random_state=_SEED)),
    ]
    print(f"  {'total':<52}{'':>12} {sum(crossed) * 1e3:>9.2f} ms")

    c1, b1 = candidate[0], baseline[0]
    print("today's one-run comparison (run 0 of each arm)")
    one_run = [
        row("paired_bootstrap mean bca", lambda: stats.paired_bootstrap(
            c1, b1, n_resamples=_B, method="bca", random_state=_SEED)),
        row("paired_permutation_test", lambda: stats.paired_permutation_test(
            c1, b1, n_resamples=_B, random_state=_SEED)),
        row("effect_sizes", lambda: stats.effect_sizes(c1, b1)),
    ]
    print(f"  {'total':<52}{'':>12} {sum(one_run) * 1e3:>9.2f} ms")
    print(f"  seeds x items / one-run CPU: {sum(crossed) / sum(one_run):.2f}x")

    d = c1 - b1
    d_ext = np.append(d, 0.0)
    print(f"one-run paired bootstrap of the mean, n = {_N}, B = {_B}")
    before = row("before: index draws (_bootstrap_kernels.bootstrap_means)", lambda: _bootstrap_kernels.bootstrap_means(
        d_ext, _B, np.uint64(_SEED), np.empty(_B)))
    after = row("after: paired_bootstrap, count matrix cached", lambda: stats.paired_bootstrap(
        c1, b1, n_resamples=_B, random_state=_SEED))
    row("  of which count matrix x differences", lambda: _count_kernels.count_means(
        stats.resample_counts(_N, _B, _SEED).T, d, np.empty(_B)))

    def cold() -> None:
        countmatrix._clear_cache()
        stats.resample_counts(_N, _B, _SEED)

    draw = row("count matrix draw (once per n, B, random_state)", cold)
    print(f"  before / after CPU: {before / after:.2f}x; the draw is {draw / before:.2f}x one index-draw bootstrap "
          f"and is shared by every metric and candidate on the same {_N} items")


if __name__ == "__main__":
    main()
