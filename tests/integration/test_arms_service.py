"""Seed-run arms through the real service: 3 seed runs per arm, keyed any way, give an E3 gate status.

The candidate's and the baseline's seed runs are published interleaved to a 3-partition topic, the
Kafka key in rotation (candidate id, none, pairing key), and consumed by one `runnotary serve`. The
gate status of the full 3 + 3 comparison must carry the E3 interval ``stats.crossed_interval`` gives
on the per-query files the jobs wrote.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.integration.harness import (
    ServeProcess, Stream, committed_lag, publish, read_topic, rotated_key, serve_env, wait_until,
)
from runnotary import stats
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS, RunCreated
from runnotary.registry.synthetic import generate


def _matrix(root: Path, runs: list[RunCreated]) -> np.ndarray:
    """ndcg@10 of each run (rows in seed order) by query id, read from the CSV files themselves."""
    rows = []
    for run in sorted(runs, key=lambda r: r.seeds.value):
        path = next(a.path for a in run.artifacts if a.kind == "per_query")
        with (root / path).open() as fh:
            rows.append([v for _, v in sorted((r["query_id"], float(r["ndcg@10"])) for r in csv.DictReader(fh))])
    return np.array(rows)


def test_three_seed_runs_per_arm_give_a_gate_status_with_the_crossed_e3_interval(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = settings_factory(topic_partitions=3, n_resamples=200)
    for topic, reason in ensure_topics(settings, TOPICS).items():
        raise AssertionError(f"{topic}: {reason}")
    root = Path(settings.artifact_root)
    experiment = f"/arms/{settings.topic_prefix.rstrip('.')}"
    events = generate(root, experiment=experiment, n_queries=120, n_requests=300, seed=9, seeds_per_arm=3)
    baseline = [e for e in events if e.candidate_id == "retrieval-baseline"]
    candidate = [e for e in events if e.candidate_id == "retrieval-cand-a"]
    stream, messages = Stream(), []
    for i, run in enumerate(r for pair in zip(candidate, baseline) for r in pair):  # C1 B1 C2 B2 C3 B3
        messages.append(("runs.created", stream.add(run), rotated_key(run, i)))

    serve = ServeProcess(serve_env(settings, RUNNOTARY_RECONCILE_INTERVAL_S="0"), tmp_path / "serve.log").start()
    try:
        wait_until(lambda: "partitions_assigned" in (tmp_path / "serve.log").read_text(), 180, "partitions assigned")
        publish(settings, stream, messages)
        wait_until(lambda: committed_lag(settings, stream) == 0, 300, "every run committed", every=0.5)
        statuses = [e for _, e in read_topic(settings, "gates.status", expect=1, timeout=10)]
        assert serve.alive()
    finally:
        assert serve.stop() == 0
    assert read_topic(settings, "deadletter", timeout=3) == []

    full = [s for s in statuses if s.data.arms is not None and len(s.data.arms.candidate.runs) == 3
            and len(s.data.arms.baseline.runs) == 3]
    assert full, f"no gate status of the 3 + 3 arms among {len(statuses)}"
    assert len({s.id for s in full}) == 1, "one comparison of the full arms, one gate-status id"
    arms = full[0].data.arms
    assert arms.estimand == "E3"
    assert sorted(arms.candidate.seeds) == sorted(e.seeds.value for e in candidate)
    expected = stats.crossed_interval(_matrix(root, candidate), _matrix(root, baseline), estimand="E3")
    got = arms.metrics["ndcg@10"]
    assert got.estimand == "E3"
    assert got.delta == pytest.approx(expected.delta, rel=1e-12)
    assert got.ci95 == pytest.approx([expected.low, expected.high], rel=1e-12)
    assert full[0].data.gates["ndcg10_ci95_lower"].obs == pytest.approx(expected.low, rel=1e-12)
    print(f"\n{len(statuses)} gate statuses; 3 + 3 E3: delta {got.delta:.4f} CI [{got.ci95[0]:.4f}, {got.ci95[1]:.4f}] "
          f"df {got.df:.1f}, run-swap p {got.run_swap_pvalue:.3f}")
