"""The service end to end on a real broker and a real `mlflow server` on PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from tests.support import (
    committed, count, meeting_message, run_created_event, run_message, send, wait_committed,
)
from runnotary.contract import MeetingRequested, RunCreated, encode
from runnotary.digests import sha256_file
from runnotary.registry.synthetic import generate


def _experiment(settings: Any) -> str:
    """Each test registers into its own experiment (pairing never crosses experiments)."""
    return f"/tests/{settings.topic_prefix.rstrip('.')}_evaluation"  # seed 001: the activity ends the name


def test_runs_are_registered_paired_gated_and_bundled(running_service: Any) -> None:
    """Baseline and two candidates in, gate statuses out, then a meeting bundle whose numbers trace to files."""
    svc = running_service()
    settings = svc.settings
    runs = generate(Path(settings.artifact_root), experiment=_experiment(settings), n_queries=400, n_requests=4000, seed=3)
    baseline, cand_a, cand_b = runs
    send(settings, "runs.created", [run_message(baseline), run_message(cand_a), run_message(cand_b)])

    seen = svc.wait_for(lambda s: count(s, "gates.status") == 2)
    status = {e.subject: e.data for t, e in seen if t == "gates.status"}
    assert status[cand_a.candidate_id].overall == "pass"
    assert status[cand_b.candidate_id].overall == "fail"
    assert not [e for t, e in seen if t == "deadletter"]

    client = MlflowClient(settings.mlflow_tracking_uri)
    run = client.get_run(status[cand_a.candidate_id].candidate_run)
    tags = run.data.tags
    assert tags["runnotary.dataset_sha256"] == cand_a.dataset.sha256
    assert tags["runnotary.git_commit"] == cand_a.code.git_commit
    assert tags["runnotary.requirements_hash"] == cand_a.environment.requirements_hash
    assert tags["runnotary.baseline_run"] == status[cand_a.candidate_id].baseline_run
    assert run.data.params["seed"] == str(cand_a.seeds.value)
    claimed = next(m for m in cand_a.metrics if m.name == "latency_p95")  # claimed in seconds
    assert run.data.metrics["latency_p95_ms"] == claimed.value * 1000
    assert abs(run.data.metrics["ndcg_at_10"] - next(m.value for m in cand_a.metrics if m.name == "ndcg@10")) < 1e-9

    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", candidates=[cand_a.candidate_id, cand_b.candidate_id],
                               requested_by="reviewer")
    send(settings, "meetings.requested", [meeting_message(meeting)])
    seen = svc.wait_for(lambda s: count(s, "bundles.emitted") == 1)
    emitted = next(e.data for t, e in seen if t == "bundles.emitted")
    assert emitted.overall_gate_status == "fail"
    assert emitted.candidates == {cand_a.candidate_id: "pass", cand_b.candidate_id: "fail"}

    bundle = Path(emitted.location)
    assert bundle == (Path(settings.bundle_dir) / meeting.meeting_id).resolve()
    for name, digest in emitted.files.items():
        assert sha256_file(bundle / name)[0] == digest
    index = {(a["run_id"], a["path"]): a["sha256"] for a in json.loads((bundle / "artifact_index.json").read_text())}
    decision = json.loads((bundle / "decision_metrics.json").read_text())
    cited = 0
    for candidate in decision["candidates"]:
        for run_id, metrics in candidate["metrics"].items():
            for metric in metrics.values():
                assert index[(run_id, metric["file"])] == metric["sha256"]
                source = Path(settings.artifact_root) / metric["file"]
                assert sha256_file(source)[0] == metric["sha256"]
                cited += 1
        for evidence in candidate["ab"]["metrics"]["ndcg@10"]["evidence"]:
            assert index[(evidence["run_id"], evidence["file"])] == evidence["sha256"]
    # Each candidate entry cites every metric its run claims and every metric its baseline claims.
    assert cited == sum(len(c.metrics) + len(baseline.metrics) for c in (cand_a, cand_b))
    summary = (bundle / "ab_test_summary.md").read_text()
    assert "overall_gate_status=fail" in summary and "### 3) A/B results" in summary


def test_redelivered_event_registers_once(running_service: Any) -> None:
    """The same CloudEvent twice (same id) leaves one MLflow run."""
    svc = running_service()
    settings = svc.settings
    baseline = generate(Path(settings.artifact_root), experiment=_experiment(settings), n_queries=50, n_requests=200, seed=4)[0]
    key, raw = run_message(baseline)
    send(settings, "runs.created", [(key, raw), (key, raw)])
    wait_committed(settings, "runs.created", 2)
    client = MlflowClient(settings.mlflow_tracking_uri)
    event_id = json.loads(raw)["id"]
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              f"tags.`runnotary.event_id` = '{event_id}'")
    assert len(runs) == 1


def test_malformed_events_are_deadlettered_and_consumption_goes_on(running_service: Any) -> None:
    """Garbage and an invalid field go to deadletter with their error; the valid event after them is processed."""
    svc = running_service()
    settings = svc.settings
    baseline = generate(Path(settings.artifact_root), experiment=_experiment(settings), n_queries=50, n_requests=200, seed=5)[0]
    good_key, good = run_message(baseline)
    broken = json.loads(good)
    broken["data"]["dataset"]["sha256"] = "nope"
    send(settings, "runs.created", [("junk", b"\x00not json"), ("broken", json.dumps(broken).encode()), (good_key, good)])

    seen = svc.wait_for(lambda s: count(s, "deadletter") == 2)
    letters = [e.data for t, e in seen if t == "deadletter"]
    assert {l.key_b64 for l in letters} == {"anVuaw==", "YnJva2Vu"}  # base64 of b"junk", b"broken"
    assert any("dataset.sha256" in l.error for l in letters)
    assert all(l.source_topic == settings.topic("runs.created") and l.value_b64 for l in letters)
    wait_committed(settings, "runs.created", 3)


def test_offset_is_not_committed_when_the_deadletter_publish_is_refused(running_service: Any) -> None:
    """With a dead-letter topic the broker refuses, the service stops and leaves the bad event uncommitted."""
    svc = running_service(topic_names={"deadletter": "invalid topic name!"})
    settings = svc.settings
    send(settings, "runs.created", [("junk", b"not json")])
    svc.thread.join(60)
    assert not svc.thread.is_alive()
    assert svc.errors and "DeliveryFailed" in type(svc.errors[0]).__name__
    assert committed(settings, "runs.created") == 0


def test_claims_that_do_not_match_their_files_are_flagged_and_the_file_wins(running_service: Any) -> None:
    """A wrong claimed metric, a wrong claimed sha256 and a symlink out of the root each raise an alert;
    MLflow records the recomputed value."""
    svc = running_service()
    settings = svc.settings
    root = Path(settings.artifact_root)
    baseline = generate(root, experiment=_experiment(settings), n_queries=80, n_requests=300, seed=6)[0]
    outside = root.parent / "outside.json"
    outside.write_text("{}")
    (root / "baseline" / "escape.json").symlink_to(outside)
    data = baseline.model_dump(mode="json")
    truth = next(m["value"] for m in data["metrics"] if m["name"] == "ndcg@10")
    next(m for m in data["metrics"] if m["name"] == "ndcg@10")["value"] = 0.99
    next(a for a in data["artifacts"] if a["path"] == "baseline/metrics.json")["sha256"] = "0" * 64
    data["artifacts"].append({"kind": "other", "path": "baseline/escape.json", "sha256": None})
    tampered = RunCreated.model_validate(data)
    send(settings, "runs.created", [run_message(tampered)])

    seen = svc.wait_for(lambda s: count(s, "alerts") >= 3)
    alerts = {e.data.kind: e.data for t, e in seen if t == "alerts"}
    assert alerts["metric_mismatch"].severity == "critical" and "0.99" in alerts["metric_mismatch"].message
    assert alerts["artifact_hash_mismatch"].details["path"] == "baseline/metrics.json"
    assert alerts["unsafe_artifact_path"].details["path"] == "baseline/escape.json"
    run = MlflowClient(settings.mlflow_tracking_uri).get_run(alerts["metric_mismatch"].run_id)
    assert abs(run.data.metrics["ndcg_at_10"] - truth) < 1e-9
    assert run.data.tags["runnotary.alerts"] == "3"


def test_meeting_for_an_unknown_candidate_still_gets_a_bundle(running_service: Any) -> None:
    """One missing candidate fails the meeting's status and raises a critical alert; the bundle is still written."""
    svc = running_service()
    settings = svc.settings
    meeting = MeetingRequested(meeting_id="m-unknown", candidates=["nobody-registered-this"], requested_by="reviewer")
    send(settings, "meetings.requested", [meeting_message(meeting)])
    seen = svc.wait_for(lambda s: count(s, "bundles.emitted") == 1 and count(s, "alerts") == 1)
    emitted = next(e.data for t, e in seen if t == "bundles.emitted")
    assert emitted.overall_gate_status == "fail" and emitted.candidates == {"nobody-registered-this": "fail"}
    alert = next(e.data for t, e in seen if t == "alerts")
    assert (alert.kind, alert.severity, alert.candidate_id) == ("unknown_candidate", "critical", "nobody-registered-this")
    assert (Path(emitted.location) / "decision_metrics.json").is_file()


def test_half_finished_registration_is_resumed_on_the_same_run(running_service: Any) -> None:
    """A run left by a crash after it was opened (event id tagged, not registered) is completed, not duplicated:
    the redelivery's own new run loses to it (the earlier start) and is deleted."""
    svc = running_service()
    settings = svc.settings
    baseline = generate(Path(settings.artifact_root), experiment=_experiment(settings), n_queries=50, n_requests=200, seed=8)[0]
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(baseline.experiment)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(baseline.experiment)
    event = run_created_event(baseline)
    started = int(baseline.created_at.timestamp() * 1000) - 1
    orphan = client.create_run(experiment_id, start_time=started, tags={"runnotary.event_id": event.id}).info.run_id

    send(settings, "runs.created", [(baseline.candidate_id, encode(event))])
    wait_committed(settings, "runs.created", 1)
    runs = client.search_runs([experiment_id], f"tags.`runnotary.event_id` = '{event.id}'")
    assert [r.info.run_id for r in runs] == [orphan]
    assert runs[0].data.tags["runnotary.registered"] == "true"
    assert runs[0].data.tags["runnotary.dataset_sha256"] == baseline.dataset.sha256
    everything = client.search_runs([experiment_id], f"tags.`runnotary.event_id` = '{event.id}'", run_view_type=ViewType.ALL)
    assert {r.info.lifecycle_stage for r in everything if r.info.run_id != orphan} <= {"deleted"}


def test_replayed_inputs_republish_the_same_gate_status(running_service: Any) -> None:
    """Redelivering a candidate or its baseline re-publishes its gate status with the same id and content
    (nothing lost if the first publish never landed; a duplicate is recognisable)."""
    svc = running_service()
    settings = svc.settings
    baseline, cand_a, _ = generate(Path(settings.artifact_root), experiment=_experiment(settings), n_queries=120, n_requests=500, seed=9)
    first = [run_message(baseline), run_message(cand_a)]
    send(settings, "runs.created", first)
    svc.wait_for(lambda s: count(s, "gates.status") == 1)
    send(settings, "runs.created", first[::-1])  # the same bytes, same CloudEvent ids
    seen = svc.wait_for(lambda s: count(s, "gates.status") == 3)
    statuses = [e for t, e in seen if t == "gates.status"]
    assert len({s.id for s in statuses}) == 1
    assert all(s.data == statuses[0].data for s in statuses)
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(_experiment(settings))
    assert len(client.search_runs([experiment.experiment_id], f"tags.`runnotary.candidate_id` = '{cand_a.candidate_id}'")) == 1
