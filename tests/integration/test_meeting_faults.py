"""A meeting against a real `mlflow server` when part of it fails: a candidate whose evidence is gone."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from runnotary.bundles import ComparisonSettings
from runnotary.consumers.events import MeetingRequested, decode, envelope
from runnotary.consumers.handlers import Handlers
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate
from runnotary.registry.tracking import PROVENANCE_PATH


def _handlers(tracking_uri: str, tmp_path: Path, cache: str) -> Handlers:
    registry = Registry(client=MlflowClient(tracking_uri), artifact_root=tmp_path / "artifacts", cache_dir=tmp_path / cache)
    return Handlers(registry, ComparisonSettings(n_resamples=500), tmp_path / "bundle", ServiceMetrics())


def test_a_candidate_whose_evidence_is_gone_is_a_row_with_its_reason_and_the_others_are_evaluated(
        mlflow_server: str, tmp_path: Path) -> None:
    """Before: one unreadable candidate raised out of the meeting and no bundle was written for anyone."""
    (tmp_path / "artifacts").mkdir()
    experiment = f"/tests/meeting_{uuid.uuid4().hex[:8]}_evaluation"
    baseline, cand_a, cand_b = generate(tmp_path / "artifacts", experiment=experiment, n_queries=200, n_requests=2000, seed=5)
    pairing = _handlers(mlflow_server, tmp_path, "cache-pairing")
    for run in (baseline, cand_a, cand_b):
        pairing.run_created(envelope("runs.created", run, subject=run.candidate_id))
    client = MlflowClient(mlflow_server)
    [(gone, _)] = pairing.registry.search({"candidate_id": cand_b.candidate_id, "role": "candidate"},
                                          pairing.registry.experiment_ids(), max_results=1)
    repo = get_artifact_repository(client.get_run(gone).info.artifact_uri, tracking_uri=mlflow_server)
    repo.delete_artifacts(PROVENANCE_PATH)  # the candidate's registered evidence is no longer in MLflow

    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", requested_by="r",
                               candidates=[cand_a.candidate_id, cand_b.candidate_id])
    out = _handlers(mlflow_server, tmp_path, "cache-meeting").meeting_requested(
        envelope("meetings.requested", meeting, subject=meeting.meeting_id))

    events = [(o.topic, decode(o.topic, o.value)) for o in out]
    [emitted] = [e.data for t, e in events if t == "bundles.emitted"]
    assert emitted.candidates[cand_b.candidate_id] == "fail" and emitted.overall_gate_status == "fail"
    assert cand_a.candidate_id in emitted.candidates
    decision = json.loads((Path(emitted.location) / "decision_metrics.json").read_text())
    [evaluated] = decision["candidates"]
    assert evaluated["candidate_id"] == cand_a.candidate_id and evaluated["ab"]["metrics"]["ndcg@10"]["ci95"]
    assert evaluated["gate_status"]["baseline_run"] == evaluated["baseline_run"] is not None
    [row] = decision["unknown_candidates"]
    assert row["candidate_id"] == cand_b.candidate_id and row["reason"].startswith("evidence_unavailable: ")
    assert "provenance.json" in row["reason"]
    summary = (Path(emitted.location) / "ab_test_summary.md").read_text()
    assert f"| {cand_b.candidate_id} |" in summary and "not evaluated: evidence_unavailable" in summary
    alerts = [e.data for t, e in events if t == "alerts" and e.data.kind == "candidate_not_evaluated"]
    assert [(a.candidate_id, a.run_id) for a in alerts] == [(cand_b.candidate_id, gone)]
