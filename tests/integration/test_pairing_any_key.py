"""Pairing whatever key, order, partition or instance a candidate and its baseline come with.

Experiments of one baseline and two candidates each are published back to back to a 3-partition
topic, the Kafka key in rotation (the candidate id, no key, the pairing key) and the baseline first,
in the middle or last, and consumed by one or two `runnotary serve` processes in one group. The
periodic reconciliation is off, so every pairing is the registration's own.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.integration.harness import (
    ServeProcess, Stream, committed_lag, publish, read_topic, rotated_key, serve_env, wait_until,
)
from tests.support import RUNNOTARY
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS, RunCreated
from runnotary.registry.synthetic import generate

EXPERIMENTS = int(os.environ.get("PAIRING_EXPERIMENTS", 30))


def _experiments(root: Path, experiment: str, n: int) -> tuple[Stream, list[tuple[str, bytes, bytes | None]], dict[str, str]]:
    """``n`` experiments (baseline + two candidates), their messages in publish order, and candidate -> baseline."""
    base, cand_a, cand_b = generate(root, experiment=experiment, n_queries=60, n_requests=300, seed=5)
    stream, messages, expected = Stream(), [], {}
    started = datetime.now(timezone.utc) - timedelta(hours=1)
    for i in range(n):
        dataset = base.dataset.model_copy(update={"sha256": f"{i:08x}".rjust(64, "a")})

        def variant(template: RunCreated, name: str) -> RunCreated:
            return template.model_copy(update={"candidate_id": f"{name}-{i:03d}", "run_name": f"eval_{name}_{i:03d}",
                                               "dataset": dataset, "created_at": started + timedelta(seconds=i)})

        runs = [variant(cand_a, "cand-a"), variant(cand_b, "cand-b")]
        runs.insert(i % 3, variant(base, "base"))  # the baseline first, in the middle, last
        for j, run in enumerate(runs):
            messages.append(("runs.created", stream.add(run), rotated_key(run, i + j)))
            if run.role == "candidate":
                expected[run.candidate_id] = f"base-{i:03d}"
    return stream, messages, expected


@pytest.mark.parametrize("instances", [1, 2])
def test_every_candidate_is_gated_against_its_baseline_whatever_the_key_order_or_instance(
    instances: int, settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings = settings_factory(topic_partitions=3, n_resamples=200)
    for topic, reason in ensure_topics(settings, TOPICS).items():
        raise AssertionError(f"{topic}: {reason}")
    experiment = f"/pairing/{settings.topic_prefix.rstrip('.')}_evaluation"
    stream, messages, expected = _experiments(Path(settings.artifact_root), experiment, EXPERIMENTS)
    env = serve_env(settings, RUNNOTARY_RECONCILE_INTERVAL_S="0")
    logs = [tmp_path / f"serve{i}.log" for i in range(instances)]
    serves = [ServeProcess(env, log).start() for log in logs]
    try:
        wait_until(lambda: all("partitions_assigned" in log.read_text() for log in logs) if instances == 1 else
                   sum(log.read_text().count("partitions_assigned") for log in logs) >= 2, 180, "partitions assigned")
        publish(settings, stream, messages)
        wait_until(lambda: committed_lag(settings, stream) == 0, 600, "every run committed", every=0.5)
        statuses = read_topic(settings, "gates.status", expect=len(expected), timeout=30)
        for serve in serves:
            assert serve.alive()
    finally:
        codes = [serve.stop() for serve in serves]
    assert codes == [0] * instances

    client = MlflowClient(settings.mlflow_tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    runs = client.search_runs([found.experiment_id], "tags.`runnotary.registered` = 'true'", max_results=1000)
    candidate_of = {r.info.run_id: r.data.tags["runnotary.candidate_id"] for r in runs}
    assert len(candidate_of) == len(stream.events)
    ids: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for _, event in statuses:
        ids[(event.data.candidate_run, event.data.baseline_run, json.dumps(event.data.model_dump(mode="json"), sort_keys=True))].add(event.id)
    assert all(len(v) == 1 for v in ids.values()), "one pair and content, two gate-status ids"
    paired: dict[str, set[str]] = defaultdict(set)
    for candidate_run, baseline_run, _ in ids:
        paired[candidate_of[candidate_run]].add(candidate_of[baseline_run])
    assert {c: sorted(b) for c, b in paired.items()} == {c: [b] for c, b in expected.items()}
    assert read_topic(settings, "deadletter", timeout=5) == []
    text = "".join(log.read_text() for log in logs)
    assert "candidates_reconciled" not in text, "a pairing came from the reconciliation, not the registration"
    print(f"\n{instances} instance(s): {len(expected)} candidates of {EXPERIMENTS} experiments gated, "
          f"{len(statuses)} gate statuses ({len(ids)} distinct)")


def test_reconcile_command_pairs_a_candidate_whose_gate_status_was_lost_and_a_second_pass_adds_nothing(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    """`runnotary reconcile` against the mlflow server, after a candidate's pairing was removed from MLflow."""
    settings = settings_factory(topic_partitions=1, n_resamples=200)
    experiment = f"/pairing/{settings.topic_prefix.rstrip('.')}_reconcile"
    stream, messages, _ = _experiments(Path(settings.artifact_root), experiment, 1)
    for topic, reason in ensure_topics(settings, TOPICS).items():
        raise AssertionError(f"{topic}: {reason}")
    serve = ServeProcess(serve_env(settings, RUNNOTARY_RECONCILE_INTERVAL_S="0"), tmp_path / "serve.log").start()
    try:
        publish(settings, stream, messages)
        wait_until(lambda: committed_lag(settings, stream) == 0, 300, "every run committed", every=0.5)
    finally:
        assert serve.stop() == 0
    client = MlflowClient(settings.mlflow_tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    [lost] = client.search_runs([found.experiment_id], "tags.`runnotary.candidate_id` = 'cand-a-000'")
    for key in ("gate_overall", "baseline_run"):
        client.delete_tag(lost.info.run_id, f"runnotary.{key}")

    env = {**serve_env(settings), "RUNNOTARY_LOG_LEVEL": "WARNING"}

    def reconcile() -> dict[str, Any]:
        done = subprocess.run([RUNNOTARY, "reconcile", "--json"], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(json.loads(done.stdout)["result"])

    first = reconcile()
    assert (first["examined"], first["paired"], first["complete"]) == (1, [lost.info.run_id], True)
    tags = client.get_run(lost.info.run_id).data.tags
    assert tags["runnotary.baseline_run"] and tags["runnotary.gate_overall"] in ("pass", "fail")
    statuses = [e.data for _, e in read_topic(settings, "gates.status", expect=3, timeout=30)]
    assert sum(1 for s in statuses if s.candidate_run == lost.info.run_id) >= 2  # registration's, then the reconcile's
    second = reconcile()
    assert (second["examined"], second["paired"]) == (0, [])
