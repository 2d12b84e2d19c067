"""A training job publishes through runnotary.client, plainly and from inside an MLflow run, and
`runnotary serve` registers the runs with the provenance the client computed."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.support import poll_until
from runnotary.client import (
    Artifact, ClientSettings, Metric, Published, current_environment, hash_dataset, publish_active_run, publish_run,
)
from runnotary.contract import RunCreated
from runnotary.registry.synthetic import generate

TAGS = {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation", "evaluation_type": "comprehensive"}
#: Registration plus pairing can outlast the fixture's 10 s poll interval on a loaded machine, and the
#: service then leaves its group; one consumer per group here, so a long interval costs nothing.
SLOW_MACHINE_POLL_MS = 180_000
#: The kinds of the files the synthetic experiment writes, as MLflow paths under eval/.
KINDS = {"eval/per_query.csv": "per_query", "eval/latency.log": "latency_log", "eval/ablation/*": "ablation",
         "eval/corr/*": "correlation", "eval/metrics.json": "metrics", "eval/attention/*": "attention_plot"}


@pytest.fixture
def job(tmp_path: Path) -> dict[str, Any]:
    """The training code's git checkout and its evaluation data set."""
    repo = tmp_path / "train-repo"
    (repo / "data" / "queries").mkdir(parents=True)
    (repo / "data" / "queries" / "part-0.csv").write_text("".join(f"q{i:05d}\n" for i in range(400)))
    (repo / "train.py").write_text("print('training')\n")
    git = ["git", "-C", str(repo), "-c", "user.email=ml@example.org", "-c", "user.name=ml"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "train"], check=True)
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    return {"repo": repo, "dataset": repo / "data" / "queries", "commit": commit, "spool": tmp_path / "spool"}


def _client_settings(service_settings: Any, spool: Path) -> ClientSettings:
    return ClientSettings(**service_settings.model_dump(), spool_dir=spool, delivery_timeout_s=30)


def _publish_plain(run: RunCreated, job: dict[str, Any], settings: ClientSettings) -> Published:
    """Publish a synthetic run's claims and files as a job would, letting the client compute the provenance."""
    return publish_run(
        experiment=run.experiment, run_name=run.run_name, candidate_id=run.candidate_id, role=run.role,
        owners=run.owners, dataset=job["dataset"], dataset_name="queries-2026q4", seed=run.seeds.value,
        seed_family=run.seeds.family, train_split_seed=11, test_split_seed=13, tags=TAGS, params=run.params,
        metrics=[Metric(m.name, m.value, m.source, m.unit) for m in run.metrics],
        artifacts=[Artifact(a.kind, a.path) for a in run.artifacts],
        artifact_root=settings.artifact_root, repo=job["repo"], settings=settings,
    )


def _registered(client: MlflowClient, event_id: str, experiment: str, timeout: float = 120.0) -> Any:
    experiment_id = client.get_experiment_by_name(experiment).experiment_id  # type: ignore[union-attr]
    found: list[Any] = []

    def registered() -> bool:
        found[:] = client.search_runs([experiment_id], f"tags.`runnotary.event_id` = '{event_id}'")
        return bool(found) and found[0].data.tags.get("runnotary.registered") == "true"

    assert poll_until(registered, timeout, every=1), f"event {event_id} was not registered within {timeout:.0f} s"
    return found[0]


def _assert_client_provenance(run: Any, job: dict[str, Any]) -> None:
    tags = run.data.tags
    assert tags["runnotary.dataset_sha256"] == hash_dataset(job["dataset"]).sha256
    assert tags["runnotary.env_hash"] == current_environment().env_hash
    assert tags["runnotary.requirements_hash"] == current_environment().requirements_hash
    assert tags["runnotary.git_commit"] == job["commit"]


def test_plain_publishes_are_registered_paired_and_gated_with_the_clients_provenance(
    running_service: Any, job: dict[str, Any]
) -> None:
    svc = running_service(max_poll_interval_ms=SLOW_MACHINE_POLL_MS)
    settings = _client_settings(svc.settings, job["spool"])
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}"
    baseline, cand_a, _ = generate(Path(settings.artifact_root), experiment=experiment, n_queries=400, n_requests=2000)

    published = [_publish_plain(run, job, settings) for run in (baseline, cand_a)]
    assert [p.status for p in published] == ["delivered", "delivered"]
    assert not list(job["spool"].glob("*.event.json"))

    seen = svc.wait_for(lambda s: any(t == "gates.status" for t, _ in s), timeout=180)
    status = next(e.data for t, e in seen if t == "gates.status")
    assert status.overall == "pass"
    client = MlflowClient(svc.settings.mlflow_tracking_uri)
    candidate_run = client.get_run(status.candidate_run)
    assert candidate_run.data.tags["runnotary.event_id"] == published[1].event_id
    assert candidate_run.data.tags["runnotary.candidate_id"] == cand_a.candidate_id
    _assert_client_provenance(candidate_run, job)
    assert status.baseline_run == _registered(client, published[0].event_id, experiment).info.run_id


def test_a_run_published_from_inside_mlflow_is_adopted_and_registered_with_the_clients_provenance(
    running_service: Any, job: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = running_service(max_poll_interval_ms=SLOW_MACHINE_POLL_MS)
    settings = _client_settings(svc.settings, job["spool"])
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}"
    generated = Path(settings.artifact_root).parent / f"job-{uuid.uuid4().hex[:6]}"
    baseline, cand_a, _ = generate(generated, experiment=experiment, n_queries=400, n_requests=2000)
    units = {"compliance_at_1": "ratio", "visual_ablation_drop_pct": "pct", "latency_p95_ms": "ms"}
    claimed = {m.name.replace("@", "_at_"): m for m in baseline.metrics}

    monkeypatch.setenv("MLFLOW_TRACKING_URI", str(svc.settings.mlflow_tracking_uri))
    client = MlflowClient(svc.settings.mlflow_tracking_uri)
    with mlflow.start_run(experiment_id=client.create_experiment(experiment), run_name="baseline-from-mlflow") as active:
        # What a team that already logs to MLflow does, plus the one runnotary line.
        mlflow.log_params({k: v for k, v in baseline.params.items()})
        mlflow.log_metrics({key: m.value for key, m in claimed.items()})
        mlflow.log_artifacts(str(generated / "baseline"), "eval")
        mlflow_published = publish_active_run(
            candidate_id="retrieval-baseline", role="baseline", owners=baseline.owners, dataset=job["dataset"],
            seed=baseline.seeds.value, seed_family=baseline.seeds.family, tags=TAGS,
            metric_sources={key: "eval/" + m.source.split("/", 1)[1] for key, m in claimed.items()},
            metric_units=units, artifact_kinds=KINDS, settings=settings, repo=job["repo"],
        )
    assert mlflow_published.status == "delivered"

    adopted = _registered(client, mlflow_published.event_id, experiment)
    assert adopted.info.run_id == active.info.run_id  # registered onto the job's own run, not a new one
    _assert_client_provenance(adopted, job)
    assert adopted.data.params["model"] == "bi-encoder"
    staged = Path(settings.artifact_root) / "mlflow" / active.info.run_id / "eval" / "per_query.csv"
    assert staged.read_bytes() == (generated / "baseline" / "per_query.csv").read_bytes()
    assert abs(adopted.data.metrics["ndcg_at_10"] - claimed["ndcg_at_10"].value) < 1e-9

    # A candidate published the plain way pairs with the baseline that came through MLflow.
    for path in (generated / "cand-a").rglob("*"):
        target = Path(settings.artifact_root) / "cand-a" / path.relative_to(generated / "cand-a")
        if path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    _publish_plain(cand_a, job, settings)
    seen = svc.wait_for(lambda s: any(t == "gates.status" for t, _ in s), timeout=180)
    status = next(e.data for t, e in seen if t == "gates.status")
    assert status.baseline_run == active.info.run_id
    assert status.overall == "pass"
