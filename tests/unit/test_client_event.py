"""Building a run's event: the job's statements validated first, the provenance computed by the client."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runnotary.client import (
    Artifact, InvalidRun, Metric, ProvenanceError, build_run_event, current_environment, git_code, hash_dataset,
    job_source,
)
from runnotary.consumers.cli import main

TAGS = {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation", "evaluation_type": "smoke"}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def job(tmp_path: Path) -> dict[str, Any]:
    """A training job's checkout: code under git, a data set, and the artifacts it wrote."""
    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    (repo / "data" / "queries.csv").write_text("q1\nq2\n")
    (repo / "train.py").write_text("print('train')\n")
    _git(repo, "init", "-q")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "init")
    artifacts = tmp_path / "artifacts"
    (artifacts / "run1").mkdir(parents=True)
    (artifacts / "run1" / "per_query.csv").write_text("query_id,ndcg@10\nq1,0.5\nq2,0.7\n")
    return dict(
        experiment="/Shared/unit", run_name="run1", candidate_id="cand-1", role="candidate", owners=["ml@example.org"],
        dataset=repo / "data", seed=7, seed_family="fam-1", tags=TAGS, artifact_root=artifacts, repo=repo,
        metrics=[Metric("ndcg@10", 0.6, "run1/per_query.csv")], artifacts=[Artifact("per_query", "run1/per_query.csv")],
        params={"lr": 0.1},
    )


def test_the_event_carries_the_provenance_the_client_computed(job: dict[str, Any]) -> None:
    event = build_run_event(**job, splits={"test": [job["dataset"] / "queries.csv"]})
    repo: Path = job["repo"]
    assert event.dataset.sha256 == hash_dataset(job["dataset"]).sha256
    assert event.dataset.name == "data"
    assert event.dataset.splits["test"] == hash_dataset(job["dataset"] / "queries.csv").sha256
    assert event.code.git_commit == _git(repo, "rev-parse", "HEAD") and event.code.dirty is False
    assert event.environment == current_environment()
    assert event.environment.python_version == ".".join(map(str, sys.version_info[:3]))
    artifact = (job["artifact_root"] / "run1" / "per_query.csv").read_bytes()
    assert event.artifacts[0].sha256 == hashlib.sha256(artifact).hexdigest()
    assert event.metrics[0].name == "ndcg@10" and event.metrics[0].source == "run1/per_query.csv"
    assert event.created_at.tzinfo is not None


def test_each_metric_gets_its_own_uuid(job: dict[str, Any]) -> None:
    job["metrics"] = [Metric("ndcg@10", 0.6, "run1/per_query.csv"), Metric("compliance@1", 0.9, "run1/per_query.csv")]
    first, second = build_run_event(**job), build_run_event(**job)
    uuids = [m.uuid for m in first.metrics + second.metrics]
    assert len(set(uuids)) == 4


def test_a_modified_tracked_file_marks_the_code_dirty(job: dict[str, Any]) -> None:
    (job["repo"] / "untracked.log").write_text("outputs do not count")
    assert git_code(job["repo"]).dirty is False
    (job["repo"] / "train.py").write_text("print('changed')\n")
    assert build_run_event(**job).code.dirty is True


def test_the_remote_url_is_kept_without_credentials(job: dict[str, Any]) -> None:
    _git(job["repo"], "remote", "add", "origin", "https://user:s3cret-token@git.example.org/ml/retrieval.git")
    code = git_code(job["repo"])
    assert code.repository is not None and "s3cret" not in code.repository
    assert code.repository.endswith("git.example.org/ml/retrieval.git")


def test_outside_a_repository_the_commit_must_be_given(job: dict[str, Any], tmp_path: Path) -> None:
    job["repo"] = tmp_path / "not-a-repo"
    job["repo"].mkdir()
    with pytest.raises(ProvenanceError, match="not inside a git repository.*git_commit"):
        build_run_event(**job)
    event = build_run_event(**job, git_commit="ab" * 20)
    assert event.code.git_commit == "ab" * 20 and event.code.dirty is False


@pytest.mark.parametrize(("change", "field"), [
    ({"role": "champion"}, "role"),
    ({"candidate_id": "has space"}, "candidate_id"),
    ({"tags": {**TAGS, "dataset_type": "made-up"}}, "tags.dataset_type"),
    ({"owners": []}, "owners"),
    ({"metrics": [Metric("ndcg@10", float("nan"), "run1/per_query.csv")]}, "metrics.0"),
    ({"metrics": [Metric("ndcg@10", 0.6, "run1/elsewhere.csv")]}, "cites 'run1/elsewhere.csv'"),
    ({"artifacts": [Artifact("per_query", "../escape.csv")]}, "artifacts.0.path"),
])
def test_a_contract_violation_names_the_field_before_any_hashing(
    job: dict[str, Any], change: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runnotary.client.run as run

    def no_hashing(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("hashed before validating")

    monkeypatch.setattr(run, "hash_dataset", no_hashing)
    with pytest.raises(InvalidRun, match=field.replace(".", r"\.")):
        build_run_event(**{**job, **change})


def test_a_missing_or_escaping_artifact_is_refused(job: dict[str, Any], tmp_path: Path) -> None:
    job["artifacts"] = [Artifact("per_query", "run1/per_query.csv"), Artifact("other", "run1/missing.json")]
    with pytest.raises(InvalidRun, match=r"artifacts\.1\.path: .*missing"):
        build_run_event(**job)
    (tmp_path / "outside.txt").write_text("x")
    (job["artifact_root"] / "run1" / "link.txt").symlink_to(tmp_path / "outside.txt")
    job["artifacts"] = [Artifact("per_query", "run1/per_query.csv"), Artifact("other", "run1/link.txt")]
    with pytest.raises(InvalidRun, match="outside the artifact root"):
        build_run_event(**job)


def test_the_job_source_names_host_experiment_and_run() -> None:
    assert job_source("/Shared/exp 1", "run/1", host="gpu-7") == "urn:runnotary:job:gpu-7/%2FShared%2Fexp%201/run%2F1"


def test_cli_dry_run_prints_the_event_and_needs_no_broker(
    job: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNNOTARY_KAFKA_BOOTSTRAP", raising=False)
    argv = ["publish-run", "--experiment", "/Shared/unit", "--run-name", "run1", "--candidate-id", "cand-1",
            "--role", "baseline", "--owner", "ml@example.org", "--dataset", str(job["dataset"]), "--seed", "7",
            "--seed-family", "fam-1", "--metric", "latency_p95", "0.031", "run1/per_query.csv", "s",
            "--artifact", "per_query", "run1/per_query.csv", "--param", "lr=0.1", "--param", "model=bi",
            "--artifact-root", str(job["artifact_root"]), "--repo", str(job["repo"]), "--dirty", "--dry-run",
            *[f"--tag={k}={v}" for k, v in TAGS.items()]]
    assert main(argv) == 0
    out = capsys.readouterr().out
    import json

    doc = json.loads(out)
    assert doc["role"] == "baseline" and doc["code"]["dirty"] is True
    assert doc["params"] == {"lr": 0.1, "model": "bi"}
    assert doc["metrics"][0]["unit"] == "s" and doc["metrics"][0]["value"] == 0.031


def test_cli_publish_without_a_bootstrap_is_a_clear_error(
    job: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNNOTARY_KAFKA_BOOTSTRAP", raising=False)
    assert main(["flush", "--spool-dir", str(job["artifact_root"] / "spool")]) == 2
    assert "RUNNOTARY_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_cli_names_a_bad_setting_without_echoing_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNNOTARY_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("RUNNOTARY_DELIVERY_TIMEOUT_S", "-5")
    monkeypatch.setenv("RUNNOTARY_KAFKA_SASL_PASSWORD", "hunter2-secret")
    assert main(["flush", "--spool-dir", str(tmp_path / "spool")]) == 2
    err = capsys.readouterr().err
    assert "RUNNOTARY_DELIVERY_TIMEOUT_S" in err and "hunter2" not in err


def test_service_commands_in_a_light_install_ask_for_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "install runnotary[service]" in err and "mlflow" in err


def test_publish_active_run_outside_an_mlflow_run_is_a_clear_error(job: dict[str, Any]) -> None:
    from runnotary.client import ClientError, publish_active_run

    with pytest.raises(ClientError, match="no active MLflow run"):
        publish_active_run(candidate_id="c", role="baseline", owners=["o"], dataset=job["dataset"], seed=1,
                           seed_family="f", tags=TAGS, metric_sources={})


def test_a_metric_from_a_trec_run_and_qrels_is_validated_before_sending(job: dict[str, Any]) -> None:
    """A claim from a trec_run is accepted with the run's qrels, and refused (nothing sent) without them."""
    root: Path = job["artifact_root"]
    (root / "run1" / "run.trec").write_text("q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\n")
    (root / "run1" / "qrels.txt").write_text("q1 0 d1 1\n")
    claim = Metric("ndcg@10", 1.0, "run1/run.trec")
    run_only = [Artifact("trec_run", "run1/run.trec")]
    with pytest.raises(InvalidRun, match="needs the judgments"):
        build_run_event(**{**job, "metrics": [claim], "artifacts": run_only})
    event = build_run_event(**{**job, "metrics": [Metric("ndcg@10", 1.0, "run1/run.trec", qrels="run1/qrels.txt")],
                               "artifacts": run_only + [Artifact("trec_qrels", "run1/qrels.txt")]})
    assert event.qrels_for(event.metrics[0]) == "run1/qrels.txt"
    assert [a.kind for a in event.artifacts] == ["trec_run", "trec_qrels"]


def test_cli_publishes_a_trec_run_and_qrels_claim(
    job: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's shell example: a metric from a TREC run, scored against the run's only trec_qrels."""
    import json

    monkeypatch.delenv("RUNNOTARY_KAFKA_BOOTSTRAP", raising=False)
    root: Path = job["artifact_root"]
    (root / "run1" / "run.trec").write_text("q1 Q0 d1 1 2.0 bm25\nq1 Q0 d2 2 1.0 bm25\n")
    (root / "run1" / "qrels.txt").write_text("q1 0 d1 1\n")
    argv = ["publish-run", "--experiment", "/Shared/unit", "--run-name", "run1", "--candidate-id", "cand-1",
            "--role", "candidate", "--owner", "ml@example.org", "--dataset", str(job["dataset"]), "--seed", "7",
            "--seed-family", "fam-1", "--metric", "ndcg@10", "1.0", "run1/run.trec", "--metric", "map", "1.0", "run1/run.trec",
            "--artifact", "trec_run", "run1/run.trec", "--artifact", "trec_qrels", "run1/qrels.txt",
            "--artifact-root", str(root), "--repo", str(job["repo"]), "--dry-run", *[f"--tag={k}={v}" for k, v in TAGS.items()]]
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in doc["metrics"]] == ["ndcg@10", "map"]
    assert {a["kind"] for a in doc["artifacts"]} == {"trec_run", "trec_qrels"}
    at = argv.index("trec_qrels")
    assert main(argv[: at - 1] + argv[at + 2:]) != 0  # no qrels: refused before anything is sent
    assert "needs the judgments" in capsys.readouterr().err
