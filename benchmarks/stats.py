"""Benchmark: scipy.stats and runnotary's kernels side by side.

Run ``python -m benchmarks.stats`` from the repository root. Each procedure runs
in this one process as the best of ``--repeats`` warm calls (after one
untimed call that compiles or warms caches), on n = 10,000 pairs with 10,000
resamples, and quantile_delta on 100,000 vs 100,000 latency samples. JIT
compile time is measured separately, in child processes with a fresh and then
a warm numba cache. This is a script that prints figures; no test asserts on
wall-clock time.

It ends with the statistics of one candidate as ``bundles.compare`` runs them (two per-query
metrics on 5,000 queries, the latency p95 on 20,000 requests), and what the 0/1 metric cost with
the general kernels before it was drawn by counts.
"""

from __future__ import annotations

import argparse
import functools
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import scipy
from scipy import stats as scipy_stats

from runnotary import stats

_N_PAIRS = 10_000
_N_LATENCY = 100_000
_N_RESAMPLES = 10_000
_SEED = 20240601


def _best_of(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Run ``fn`` once untimed, then return the best of ``repeats`` timed calls."""
    result = fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def _mean_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def _median_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.median(x - y, axis=axis)


def _p95_diff(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.quantile(x, 0.95, axis=axis, method="inverted_cdf") - np.quantile(
        y, 0.95, axis=axis, method="inverted_cdf"
    )


def _compile_seconds() -> list[tuple[float, float]]:
    """``(import runnotary.stats, stats.warmup())`` seconds in fresh processes: cold numba cache, then warm."""
    code = (
        "import time; t0 = time.perf_counter(); from runnotary import stats; t1 = time.perf_counter(); "
        "stats.warmup(); print(t1 - t0, time.perf_counter() - t1)"
    )
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        command = [sys.executable, "-c", code]
        timings = []
        for _ in range(2):
            out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout.split()
            timings.append((float(out[0]), float(out[1])))
    return timings


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stats", description=__doc__)
    parser.add_argument("--repeats", type=int, default=3, help="timed warm calls per procedure (best is kept)")
    parser.add_argument(
        "--skip-quantile-scipy", action="store_true", help="skip scipy's slow (~20-40 s per call) p95 bootstrap"
    )
    args = parser.parse_args(argv)

    rng = np.random.default_rng(_SEED)
    baseline = rng.beta(2.0, 5.0, _N_PAIRS)  # ndcg-like per-example scores
    candidate = np.clip(baseline + rng.normal(0.01, 0.1, _N_PAIRS), 0.0, 1.0)
    latency_b = rng.lognormal(3.0, 0.6, _N_LATENCY)
    latency_c = rng.lognormal(3.02, 0.6, _N_LATENCY)

    print(f"numpy {np.__version__}, scipy {scipy.__version__}, "
          f"numba {numba.__version__}, threads {numba.get_num_threads()}, cpus {os.cpu_count()}")
    (import_cold, cold), (import_warm, warm) = _compile_seconds()
    print(f"JIT: stats.warmup() = {cold:.2f} s with a cold numba cache (compiles every kernel), "
          f"{warm:.2f} s with a warm one; import runnotary.stats = {import_cold:.2f} s / {import_warm:.2f} s")
    print(f"n = {_N_PAIRS} pairs, {_N_RESAMPLES} resamples; quantile_delta on {_N_LATENCY} vs {_N_LATENCY}; "
          f"best of {args.repeats} warm calls")
    print(f"{'procedure':<34}{'scipy':>11}{'runnotary':>13}{'ratio':>10}   intervals / p-values (scipy | runnotary)")

    rows: list[tuple[str, Callable[[], Any] | None, Callable[[], Any]]] = []
    for method in ("percentile", "bca"):
        rows.append((
            f"paired_bootstrap mean {method}",
            functools.partial(
                scipy_stats.bootstrap, (candidate, baseline), _mean_diff, paired=True, vectorized=True,
                n_resamples=_N_RESAMPLES, method=method, rng=_SEED),
            functools.partial(
                stats.paired_bootstrap, candidate, baseline, n_resamples=_N_RESAMPLES, method=method,
                random_state=_SEED),
        ))
    rows.append((
        "paired_bootstrap median percentile",
        lambda: scipy_stats.bootstrap(
            (candidate, baseline), _median_diff, paired=True, vectorized=True,
            n_resamples=_N_RESAMPLES, method="percentile", rng=_SEED),
        lambda: stats.paired_bootstrap(
            candidate, baseline, statistic="median", n_resamples=_N_RESAMPLES, random_state=_SEED),
    ))
    rows.append((
        "paired_permutation_test",
        lambda: scipy_stats.permutation_test(
            (candidate, baseline), _mean_diff, permutation_type="samples", vectorized=True,
            n_resamples=_N_RESAMPLES, rng=_SEED),
        lambda: stats.paired_permutation_test(
            candidate, baseline, n_resamples=_N_RESAMPLES, random_state=_SEED),
    ))
    rows.append((
        "quantile_delta p95",
        None if args.skip_quantile_scipy else lambda: scipy_stats.bootstrap(
            (latency_c, latency_b), _p95_diff, vectorized=True, n_resamples=_N_RESAMPLES,
            method="percentile", batch=100, rng=_SEED),
        lambda: stats.quantile_delta(
            latency_c, latency_b, q=0.95, n_resamples=_N_RESAMPLES, random_state=_SEED),
    ))

    binary_b = (rng.random(_N_PAIRS) < 0.90).astype(float)  # a 0/1 metric such as compliance@1
    binary_c = (rng.random(_N_PAIRS) < 0.92).astype(float)
    rows.append((
        "0/1 metric: bootstrap mean bca",
        functools.partial(
            scipy_stats.bootstrap, (binary_c, binary_b), _mean_diff, paired=True, vectorized=True,
            n_resamples=_N_RESAMPLES, method="bca", rng=_SEED),
        functools.partial(
            stats.paired_bootstrap, binary_c, binary_b, n_resamples=_N_RESAMPLES, method="bca", random_state=_SEED),
    ))
    rows.append((
        "0/1 metric: permutation test",
        lambda: scipy_stats.permutation_test(
            (binary_c, binary_b), _mean_diff, permutation_type="samples", vectorized=True,
            n_resamples=_N_RESAMPLES, rng=_SEED),
        lambda: stats.paired_permutation_test(binary_c, binary_b, n_resamples=_N_RESAMPLES, random_state=_SEED),
    ))

    for name, reference, ours in rows:
        ours_s, ours_res = _best_of(ours, args.repeats)
        if reference is None:
            print(f"{name:<34}{'skipped':>11}{ours_s * 1e3:>10.2f} ms")
            continue
        ref_s, ref_res = _best_of(reference, args.repeats)
        if hasattr(ref_res, "confidence_interval"):
            ci = ref_res.confidence_interval
            detail = f"[{ci.low:.5f}, {ci.high:.5f}] | [{ours_res.low:.5f}, {ours_res.high:.5f}]"
        else:
            detail = f"p={ref_res.pvalue:.4f} | p={ours_res.pvalue:.4f}"
        print(f"{name:<34}{ref_s:>9.3f} s{ours_s * 1e3:>10.2f} ms{ref_s / ours_s:>9.0f}x   {detail}")
    _per_candidate(args.repeats)


def _per_candidate(repeats: int) -> None:
    """The statistics ``bundles.compare`` runs for one candidate, with the general kernels and as called."""
    from runnotary.stats import _bootstrap_kernels, _permutation_kernels

    rng = np.random.default_rng(_SEED)
    n, b = 5000, 10_000
    ndcg_b = rng.beta(4.0, 3.0, n)
    ndcg_c = np.clip(ndcg_b + rng.normal(0.012, 0.05, n), 0.0, 1.0)
    comp_b, comp_c = (rng.random(n) < 0.92).astype(float), (rng.random(n) < 0.92).astype(float)
    lat_b, lat_c = rng.lognormal(np.log(24.0), 0.38, 20_000), rng.lognormal(np.log(24.5), 0.38, 20_000)
    d = comp_c - comp_b
    padded = np.zeros(-(-n // 64) * 64)
    padded[:n] = d
    parts: list[tuple[str, Callable[[], Any]]] = [
        ("ndcg@10 bootstrap mean bca", lambda: stats.paired_bootstrap(ndcg_c, ndcg_b, n_resamples=b, method="bca",
                                                                      random_state=_SEED)),
        ("ndcg@10 permutation test", lambda: stats.paired_permutation_test(ndcg_c, ndcg_b, n_resamples=b,
                                                                           random_state=_SEED)),
        ("ndcg@10 effect sizes", lambda: stats.effect_sizes(ndcg_c, ndcg_b)),
        ("compliance@1 bootstrap bca (counts)", lambda: stats.paired_bootstrap(
            comp_c, comp_b, n_resamples=b, method="bca", random_state=_SEED)),
        ("compliance@1 permutation (binomial)", lambda: stats.paired_permutation_test(
            comp_c, comp_b, n_resamples=b, random_state=_SEED)),
        ("compliance@1 effect sizes", lambda: stats.effect_sizes(comp_c, comp_b)),
        ("latency p95 quantile_delta", lambda: stats.quantile_delta(lat_c, lat_b, q=0.95, n_resamples=b,
                                                                    random_state=_SEED)),
    ]
    general = [
        ("compliance@1 index bootstrap kernel", lambda: _bootstrap_kernels.bootstrap_means(
            np.append(d, 0.0), b, np.uint64(_SEED), np.empty(b))),
        ("compliance@1 Monte Carlo sign flips", lambda: _permutation_kernels.sign_flip_sums(
            padded, float(padded.sum()), b, np.uint64(_SEED), np.empty(b))),
    ]
    print(f"\nstatistics of one candidate as bundles.compare runs them ({n} queries, 20,000 latency lines, "
          f"{b} resamples; best of {repeats})")
    total = 0.0
    for name, call in parts:
        seconds, _ = _best_of(call, repeats)
        total += seconds
        print(f"  {name:<40}{seconds * 1e3:>9.2f} ms")
    print(f"  {'total':<40}{total * 1e3:>9.2f} ms")
    for name, call in general:
        seconds, _ = _best_of(call, repeats)
        print(f"  {name + ' (before)':<40}{seconds * 1e3:>9.2f} ms")


if __name__ == "__main__":
    main()
