"""Gates through the service: a policy file, a shipped-but-unclaimed metric, a metric uuid claimed with
two values across runs (quarantine), all visible in gates.status, alerts and the bundle."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.support import count, meeting_message, run_message, send
from runnotary.contract import MeetingRequested, RunCreated
from runnotary.registry.synthetic import generate

POLICY = """
version: 1
gates:
  - name: visual_ablation_drop_pct
    rules: [{source: metric, metric: visual_ablation_drop_pct, op: ">=", threshold: 5}]
  - name: latency_p95_ms
    rules:
      - {source: metric, metric: latency_p95_ms, op: "<", threshold: 50}
      - {source: delta_ci95_upper, metric: latency_p95_ms, op: "<=", threshold: 5}
  - name: ndcg10_holm
    rules: [{source: pvalue_holm, metric: "ndcg@10", op: "<", threshold: 0.05}]
"""


def test_policy_not_claimed_and_quarantine_through_the_service(running_service: Any, tmp_path: Path) -> None:
    policy = tmp_path / "gates.yaml"
    policy.write_text(POLICY)
    svc = running_service(gate_policy=policy, max_poll_interval_ms=180_000)
    settings = svc.settings
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}_evaluation"
    baseline, cand_a, _ = generate(Path(settings.artifact_root), experiment=experiment, n_queries=200, n_requests=2000, seed=31)

    # The candidate ships its ablation file but does not claim the metric, and reuses the baseline's
    # latency claim uuid with its own (different) value.
    base_latency = next(m for m in baseline.metrics if m.name.startswith("latency"))
    data = cand_a.model_dump(mode="json")
    data["metrics"] = [m for m in data["metrics"] if m["name"] != "visual_ablation_drop_pct"]
    next(m for m in data["metrics"] if m["name"].startswith("latency"))["uuid"] = str(base_latency.uuid)
    candidate = RunCreated.model_validate(data)
    send(settings, "runs.created", [run_message(baseline), run_message(candidate)])

    def kinds(s: list[tuple[str, Any]]) -> list[str]:
        return [e.data.kind for t, e in s if t == "alerts"]

    # Topics are read independently: wait for the status and for every alert the assertions name.
    seen = svc.wait_for(lambda s: count(s, "gates.status") == 1 and "gate_input_not_claimed" in kinds(s)
                        and kinds(s).count("quarantined_metric") >= 2, timeout=240)
    status = next(e.data for t, e in seen if t == "gates.status")
    assert list(status.gates) == ["visual_ablation_drop_pct", "latency_p95_ms", "ndcg10_holm"]
    ablation, latency, holm = status.gates["visual_ablation_drop_pct"], status.gates["latency_p95_ms"], status.gates["ndcg10_holm"]
    assert (ablation.pass_, ablation.obs, ablation.reason) == (False, None, "not_claimed")
    assert (latency.pass_, latency.reason) == (False, "quarantined")
    assert holm.rule == "pvalue_holm(ndcg@10) < 0.05" and holm.reason is None
    assert status.overall == "fail"
    alerts = {(e.data.kind, e.data.run_id) for t, e in seen if t == "alerts"}
    assert ("gate_input_not_claimed", status.candidate_run) in alerts
    assert {("quarantined_metric", status.candidate_run), ("quarantined_metric", status.baseline_run)} <= alerts

    meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", candidates=[candidate.candidate_id], requested_by="r")
    send(settings, "meetings.requested", [meeting_message(meeting)])
    seen = svc.wait_for(lambda s: count(s, "bundles.emitted") == 1, timeout=240)
    emitted = next(e.data for t, e in seen if t == "bundles.emitted")
    decision = json.loads((Path(emitted.location) / "decision_metrics.json").read_text())
    [entry] = decision["candidates"]
    marked = {(run, name) for run, metrics in entry["metrics"].items() for name, m in metrics.items() if m["quarantined"]}
    assert marked == {(status.candidate_run, "latency_p95_ms"), (status.baseline_run, "latency_p95_ms")}
    assert entry["gate_status"]["gates"]["latency_p95_ms"]["reason"] == "quarantined"
    assert {a["kind"] for a in entry["hygiene"]} == {"quarantined_metric"}
    assert "quarantined latency_p95_ms" in (Path(emitted.location) / "ab_test_summary.md").read_text()
