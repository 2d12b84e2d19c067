"""A bundle built from runs registered through the service re-verifies against the real `mlflow server`,
and each kind of tampering (a source file, a number, a random_state) is caught and named."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from tests.support import RUNNOTARY, count, meeting_message, run_message, send
from runnotary.bundles.evidence import BUNDLES_EXPERIMENT
from runnotary.consumers.broker import free_port
from runnotary.contract import MeetingRequested
from runnotary.registry.synthetic import generate


def _verify(bundle: Path, uri: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "RUNNOTARY_MLFLOW_TRACKING_URI"}
    args = [RUNNOTARY, "verify-bundle", str(bundle)] + (["--tracking-uri", uri] if uri else [])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)


def _tampered(bundle: Path, target: Path, change: Any) -> Path:
    shutil.copytree(bundle, target)
    path = target / "decision_metrics.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))
    return target


def test_service_bundle_verifies_and_tampering_is_named(running_service: Any, tmp_path: Path) -> None:
    # Registration of a run can take longer than the fixture's 10 s poll interval on a loaded machine.
    svc = running_service(max_poll_interval_ms=180_000)
    settings = svc.settings
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}"
    baseline, cand_a, cand_b = generate(Path(settings.artifact_root), experiment=experiment, n_queries=300,
                                        n_requests=3000, seed=21)
    send(settings, "runs.created", [run_message(r, key=r.candidate_id) for r in (baseline, cand_a, cand_b)])
    svc.wait_for(lambda s: count(s, "gates.status") == 2, timeout=180)

    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}",
                               candidates=[cand_a.candidate_id, cand_b.candidate_id, "nobody-registered-this"],
                               requested_by="reviewer")
    send(settings, "meetings.requested", [meeting_message(meeting)])
    seen = svc.wait_for(lambda s: count(s, "bundles.emitted") == 1, timeout=180)
    emitted = next(e.data for t, e in seen if t == "bundles.emitted")
    bundle = Path(emitted.location)
    decision = json.loads((bundle / "decision_metrics.json").read_text())

    # One computation for the bundle and the event; the unknown candidate is in the bundle and fails it.
    assert emitted.candidates == {cand_a.candidate_id: "pass", cand_b.candidate_id: "fail", "nobody-registered-this": "fail"}
    assert decision["overall_gate_status"] == emitted.overall_gate_status == "fail"
    assert [u["candidate_id"] for u in decision["unknown_candidates"]] == ["nobody-registered-this"]
    assert {c["candidate_id"]: c["status"] for c in decision["candidates"]} == {
        cand_a.candidate_id: "pass", cand_b.candidate_id: "fail"}
    summary = (bundle / "ab_test_summary.md").read_text()
    assert f"`bundle/{meeting.meeting_id}/decision_metrics.json`" in summary and "nobody-registered-this" in summary

    uri = settings.mlflow_tracking_uri
    ok = _verify(bundle, uri)
    assert ok.returncode == 0, ok.stderr
    assert "reproduces" in ok.stdout

    # The bundle is logged to MLflow, one run per meeting.
    client = MlflowClient(uri)
    bundles = client.get_experiment_by_name(BUNDLES_EXPERIMENT)
    [logged] = client.search_runs([bundles.experiment_id], f"tags.`runnotary.meeting_id` = '{meeting.meeting_id}'")
    names = {f.path for f in client.list_artifacts(logged.info.run_id, "bundle")}
    assert {"bundle/decision_metrics.json", "bundle/ab_test_summary.md", "bundle/plots"} <= names

    # Re-emitting the meeting with unchanged inputs writes identical bytes.
    send(settings, "meetings.requested", [meeting_message(meeting)])
    seen = svc.wait_for(lambda s: count(s, "bundles.emitted") == 2, timeout=180)
    again = [e.data for t, e in seen if t == "bundles.emitted"][1]
    assert again.files == emitted.files

    # One number changed.
    cand_run = decision["candidates"][0]["candidate_run"]

    def bump_number(data: dict[str, Any]) -> None:
        data["candidates"][0]["metrics"][cand_run]["ndcg@10"]["value"] += 0.001

    bad = _verify(_tampered(bundle, tmp_path / "number", bump_number), uri)
    assert bad.returncode == 1
    assert f"metrics[{cand_run}][ndcg@10].value" in bad.stderr and "per_query.csv" in bad.stderr

    # One random_state changed: the recomputed interval no longer matches.
    def reseed(data: dict[str, Any]) -> None:
        data["candidates"][1]["ab"]["metrics"]["ndcg@10"]["bootstrap"]["random_state"] += 1

    bad = _verify(_tampered(bundle, tmp_path / "seed", reseed), uri)
    assert bad.returncode == 1
    assert "candidates[1]" in bad.stderr and "ab.metrics[ndcg@10].bootstrap.low" in bad.stderr

    # Without a reachable MLflow nothing passes.
    closed = _verify(bundle, f"http://127.0.0.1:{free_port()}")
    assert closed.returncode == 2 and "does not answer" in closed.stderr
    # With no flag and no environment, the store the bundle records is the one asked (the server's URI).
    assert decision["source"]["mlflow_tracking_uri"] == uri
    unset = _verify(bundle, None)
    assert unset.returncode == 0 and "reproduces" in unset.stdout, unset.stderr

    # One source file changed in MLflow (last: it alters the store for this run).
    original = Path(settings.artifact_root) / "cand-a" / "per_query.csv"
    changed_dir = tmp_path / "changed"
    changed_dir.mkdir()
    lines = original.read_text().splitlines()
    qid, ndcg, compliance = lines[1].split(",")
    lines[1] = f"{qid},{float(ndcg) / 2:.6f},{compliance}"
    (changed_dir / "per_query.csv").write_text("\n".join(lines) + "\n")
    cand_a_run = next(c["candidate_run"] for c in decision["candidates"] if c["candidate_id"] == cand_a.candidate_id)
    client.log_artifact(cand_a_run, str(changed_dir / "per_query.csv"), "evidence/cand-a")
    bad = _verify(bundle, uri)
    assert bad.returncode == 1
    assert f"runs:/{cand_a_run}/evidence/cand-a/per_query.csv" in bad.stderr and ".sha256" in bad.stderr
