"""Benchmark: the service's comparison of seed-run arms beside its one-run comparison, on the demo's data.

Run ``python -m benchmarks.arms`` from the repository root. It writes the demo's synthetic experiment
with ``--seeds`` seed runs per recipe (3,000 queries, ``--requests`` requests per run), registers it
on a SQLite MLflow store in a temporary directory, and prints the CPU time of the process (best of
``--repeats`` warm calls, after one untimed call that compiles and fills the caches) of

* ``bundles.compare_arms`` of candidate ``a``'s arm against the baseline's arm (per-query metrics:
  crossed intervals E1/E2/E3 and the run-swap test; latency: the two-way bootstrap of the p95);
* its per-query part alone and its latency part alone;
* ``bundles.compare`` of the two arms' newest runs (the one-run comparison: BCa bootstrap, sign-flip
  test, effect sizes, drift, power, quantile_delta).

The first call also draws the count matrix of the latency bootstrap ((requests, B) uint8, kept in the
256 MiB cache of ``stats.countmatrix``): its time is printed as the cold call. Set
``NUMBA_NUM_THREADS=1`` for one-core figures. No test asserts on these times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from runnotary import stats
from runnotary.bundles import ComparisonSettings, arm_of, compare, compare_arms
from runnotary.bundles import arms as arms_module
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate


def _cpu(call: Callable[[], Any], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        call()
        best = min(best, time.process_time() - start)
    return best * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    settings = ComparisonSettings()
    stats.warmup()
    with tempfile.TemporaryDirectory(prefix="runnotary-bench-arms-") as tmp:
        root = Path(tmp)
        client = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlflow.db'}")
        registry = Registry(client=client, artifact_root=root / "jobs", cache_dir=root / "cache",
                            artifact_location=(root / "mlartifacts").as_uri())
        events = generate(root / "jobs", seeds_per_arm=args.seeds, n_requests=args.requests)
        runs = [registry.register(event, f"bench-{i}") for i, event in enumerate(events)]
        cand = arm_of([r for r in runs if r.event.candidate_id == "retrieval-cand-a"])
        base = arm_of([r for r in runs if r.event.candidate_id == "retrieval-baseline"])

        start = time.process_time()
        compare_arms(registry, cand, base, settings)
        cold = (time.process_time() - start) * 1000.0
        compare(registry, cand.head, base.head, settings)
        notes: list[str] = []
        tables = arms_module._tables(registry, cand, base, notes, {})
        assert tables is not None, notes
        headline, allowed = arms_module.estimands(len(cand.runs), len(base.runs))
        figures = {
            f"compare_arms, {len(cand.runs)} + {len(base.runs)} seed runs": lambda: compare_arms(registry, cand, base, settings),
            "  its per-query metrics (crossed E1/E2/E3, run-swap)": lambda: [
                arms_module._per_item_metric(name, tables, cand, base, settings, headline, allowed)
                for name in arms_module.PAIRED_METRICS],
            "  its latency p95 (two-way bootstrap)": lambda: arms_module._latency(registry, cand, base, settings, []),
            "compare, one run each (today's path)": lambda: compare(registry, cand.head, base.head, settings),
        }
        print(f"3,000 queries, {args.requests:,} requests per run, B = {settings.n_resamples:,}; CPU ms, best of "
              f"{args.repeats}")
        print(f"{'cold compare_arms (draws the latency count matrix)':58s} {cold:9.1f}")
        for name, call in figures.items():
            print(f"{name:58s} {_cpu(call, args.repeats):9.1f}")


if __name__ == "__main__":
    main()
