"""`runnotary status` answers "what happened to my run" from what runnotary recorded on MLflow: an awaiting
candidate, a paired candidate with failed gates, and one whose claim is quarantined (one uuid, two values)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import RUNNOTARY
from runnotary.contract import RunCreated
from runnotary.registry.synthetic import generate


@pytest.fixture
def store(tmp_path: Path) -> dict[str, Any]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")},
           "RUNNOTARY_STATE_DIR": str(tmp_path / "state"), "RUNNOTARY_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
           "RUNNOTARY_N_RESAMPLES": "1000", "RUNNOTARY_MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    return {"env": env, "tmp": tmp_path}


def _cli(store: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([RUNNOTARY, *args], env=store["env"], cwd=store["tmp"], capture_output=True, text=True,
                          timeout=600)


def _register(store: dict[str, Any], run: RunCreated) -> str:
    path = store["tmp"] / f"{run.candidate_id}.json"
    path.write_text(run.model_dump_json())
    done = _cli(store, "register-run", str(path), "--no-publish", "--json")
    assert done.returncode in (0, 1), done.stderr
    return str(json.loads(done.stdout)["result"]["run_id"])


def _status(store: dict[str, Any], ident: str) -> tuple[int, dict[str, Any]]:
    done = _cli(store, "status", ident, "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_status_of_awaiting_failed_and_quarantined_candidates(store: dict[str, Any]) -> None:
    baseline, cand_a, cand_b = generate(store["tmp"] / "artifacts", n_queries=300, n_requests=2000, seed=3)
    base_ndcg = next(m for m in baseline.metrics if m.name == "ndcg@10")
    # A third candidate re-uses the baseline's ndcg@10 uuid with its own value: both claims are quarantined.
    quarantined = cand_a.model_copy(update={
        "candidate_id": "retrieval-cand-q", "run_name": "eval_cand_q",
        "metrics": [m.model_copy(update={"uuid": base_ndcg.uuid}) if m.name == "ndcg@10" else m for m in cand_a.metrics]})

    # A candidate published before any baseline awaits one.
    cand_a_run = _register(store, cand_a)
    code, awaiting = _status(store, cand_a.candidate_id)
    assert awaiting["found_by"] == "candidate_id" and awaiting["run"]["run_id"] == cand_a_run
    assert awaiting["baseline"]["state"] == "awaiting" and awaiting["baseline"]["dataset_sha256"] == cand_a.dataset.sha256
    assert awaiting["gates"]["gates"]["ndcg10_ci95_lower"]["reason"] == "no_baseline"
    assert code == 1  # a gate that cannot pass yet fails
    table = _cli(store, "status", cand_a.candidate_id)
    assert "baseline: awaiting" in table.stdout and "no_baseline" in table.stdout

    # The baseline arrives: the candidate is paired; a candidate with failed gates says which and why.
    base_run = _register(store, baseline)
    code, paired = _status(store, cand_a_run)
    assert paired["found_by"] == "run_id" and paired["baseline"] == {
        "run_id": base_run, "state": "paired", "candidate_id": baseline.candidate_id, "run_name": baseline.run_name}
    assert code == 0 and paired["gates"]["overall"] == "pass"

    cand_b_run = _register(store, cand_b)
    code, failed = _status(store, cand_b_run)
    assert code == 1 and failed["gates"]["overall"] == "fail"
    latency = failed["gates"]["gates"]["latency_p95_ms"]
    claimed_p95 = next(m for m in cand_b.metrics if m.name == "latency_p95_ms").value
    assert latency["pass"] is False and latency["threshold"] == 50.0 and latency["rule"] == "metric(latency_p95_ms) < 50"
    assert latency["obs"] == pytest.approx(claimed_p95, rel=1e-6)
    assert {m["metric"]: m["status"] for m in failed["metrics"]}["latency_p95_ms"] == "verified"
    assert failed["ab"]["ndcg@10"]["ci95"][0] <= failed["ab"]["ndcg@10"]["delta"] <= failed["ab"]["ndcg@10"]["ci95"][1]
    table = _cli(store, "status", cand_b_run)
    assert table.returncode == 1 and "FAIL" in table.stdout and "metric(latency_p95_ms) < 50" in table.stdout

    # Found by its event id too; a quarantined claim says why, and the gate reading it fails for that reason.
    q_run = _register(store, quarantined)
    event_id = _cli(store, "status", q_run, "--json")
    q_event = json.loads(event_id.stdout)["run"]["event_id"]
    code, q = _status(store, q_event)
    assert q["found_by"] == "event_id" and q["run"]["run_id"] == q_run
    ndcg = next(m for m in q["metrics"] if m["metric"] == "ndcg@10")
    assert ndcg["status"] == "quarantined" and "different values" in ndcg["reason"]
    assert any(a["kind"] == "quarantined_metric" for a in q["alerts"])
    assert code == 1 and q["gates"]["gates"]["ndcg10_ci95_lower"]["reason"] == "quarantined"

    unknown = _cli(store, "status", "nobody-published-this")
    assert unknown.returncode == 2 and "nobody-published-this" in unknown.stderr
