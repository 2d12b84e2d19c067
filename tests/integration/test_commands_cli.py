"""The five command subcommands as a person runs them: a subprocess against the real mlflow server, publishing
to the real broker what the service would publish."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer

from tests.support import RUNNOTARY, run_created_event
from runnotary.contract import decode, encode
from runnotary.registry.synthetic import generate


def _run(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, str, str]:
    done = subprocess.run([RUNNOTARY, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def _json(env: dict[str, str], cwd: Path, *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, err = _run(env, cwd, *argv, "--json")
    assert out, err
    return code, json.loads(out)


def _published(kafka_bootstrap: str, prefix: str, topics: tuple[str, ...], expected: int) -> list[tuple[str, Any]]:
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"w-{prefix}", "auto.offset.reset": "earliest",
                         "session.timeout.ms": 6000})
    consumer.subscribe([f"{prefix}{t}" for t in topics])
    seen: list[tuple[str, Any]] = []
    deadline = time.monotonic() + 60
    try:
        while len(seen) < expected and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                continue
            name = message.topic()[len(prefix):]
            seen.append((name, decode(name, message.value())))
        time.sleep(1)  # and nothing more than expected arrives
        while (message := consumer.poll(0.5)) is not None:
            if message.error() is None:
                name = message.topic()[len(prefix):]
                seen.append((name, decode(name, message.value())))
    finally:
        consumer.close()
    return seen


def test_the_five_subcommands_against_mlflow_and_kafka(kafka_bootstrap: str, mlflow_server: str, tmp_path: Path) -> None:
    """register-run, pair-ab, compute-stats, gate-check and emit-bundle work in-process, print tables or JSON,
    exit 0 / 1 on a failed gate / 2 on bad input, and publish gates.status and bundles.emitted to Kafka."""
    prefix = f"clicmd{uuid.uuid4().hex[:8]}."
    artifacts = tmp_path / "artifacts"
    env = {
        **os.environ,
        "RUNNOTARY_KAFKA_BOOTSTRAP": kafka_bootstrap, "RUNNOTARY_TOPIC_PREFIX": prefix, "RUNNOTARY_TOPIC_PARTITIONS": "1",
        "RUNNOTARY_STATE_DIR": str(tmp_path / "state"), "RUNNOTARY_ARTIFACT_ROOT": str(artifacts),
        "RUNNOTARY_BUNDLE_DIR": str(tmp_path / "bundle"), "RUNNOTARY_N_RESAMPLES": "2000",
    }
    baseline, cand_a, cand_b = generate(artifacts, experiment=f"/tests/{prefix.rstrip('.')}", n_queries=300, n_requests=2000, seed=31)
    (tmp_path / "baseline.json").write_text(baseline.model_dump_json())
    cand_a_event = run_created_event(cand_a)
    (tmp_path / "cand_a.json").write_bytes(encode(cand_a_event))  # a whole CloudEvent: its id keys the registration
    (tmp_path / "cand_b.json").write_text(cand_b.model_dump_json())
    uri = ["--tracking-uri", mlflow_server]

    code, reply = _json(env, tmp_path, "register-run", "baseline.json", *uri)
    assert code == 0 and reply["status"] == "ok" and reply["result"]["role"] == "baseline", reply
    base_run = reply["result"]["run_id"]
    code, reply = _json(env, tmp_path, "register-run", "cand_a.json", *uri)
    assert code == 0 and reply["result"]["gate_status"][0]["overall"] == "pass", reply
    cand_a_run = reply["result"]["run_id"]
    code, again = _json(env, tmp_path, "register-run", "cand_a.json", *uri)  # the same event again: the same run
    assert code == 0 and again["result"]["run_id"] == cand_a_run
    code, out, err = _run(env, tmp_path, "register-run", "cand_b.json", *uri)
    assert code == 0, err
    assert "recomputed" in out and "latency_p95_ms" in out and "overall: fail" in out
    assert "working" in err  # progress goes to stderr, the tables to stdout
    cand_b_run = out.splitlines()[2].split()[0]  # first row of the run table

    code, out, err = _run(env, tmp_path, "pair-ab", cand_a_run, "--baseline-run-id", base_run, *uri)
    assert code == 0, err
    assert "ndcg10_ci95_lower" in out and "overall: pass" in out and base_run in out

    code, stats = _json(env, tmp_path, "compute-stats", cand_a_run, base_run, "--metric", "ndcg@10",
                        "--method", "permutation", "--n-resamples", "500", "--random-state", "3", *uri)
    assert code == 0 and stats["command"] == "compute_stats"
    assert (stats["result"]["method"], stats["result"]["n_resamples"], stats["result"]["random_state"]) == ("permutation", 500, 3)
    assert 0 < stats["result"]["metrics"]["ndcg@10"]["pvalue"] <= 1
    # Any catalog metric, by alias too: MAP is reproduced from the runs' TREC files; F1 has no predictions here.
    code, stats = _json(env, tmp_path, "compute-stats", cand_a_run, base_run, "--metric", "mean_average_precision",
                        "--metric", "f1", "--n-resamples", "500", *uri)
    assert code == 0 and set(stats["result"]["metrics"]) == {"map"}
    assert stats["result"]["metrics"]["map"]["bootstrap"]["statistic"] == "mean"
    assert set(stats["result"]["not_computed"]) == {"f1"}

    code, status = _json(env, tmp_path, "gate-check", cand_b_run, *uri)
    assert code == 1 and status["result"]["gate_status"]["overall"] == "fail"  # exit 1: a gate failed
    assert status["result"]["candidate_run"] == cand_b_run and status["result"]["baseline_run"] == base_run

    code, out, err = _run(env, tmp_path, "emit-bundle", "cli-review", cand_a.candidate_id, cand_b.candidate_id, *uri)
    assert code == 1, err
    assert "overall_gate_status=fail" in out and (tmp_path / "bundle" / "cli-review" / "artifact_index.json").is_file()
    assert "verify it: runnotary verify-bundle bundle/cli-review" in out  # the exact command, from where it ran
    assert out.strip().splitlines()[-1].endswith("overall_gate_status=fail")

    code, out, err = _run(env, tmp_path, "compute-stats", cand_a_run, base_run, "--metric", "bleu", *uri)
    assert code == 2 and "unknown_metric" in out and "bleu" in out
    code, out, err = _run(env, tmp_path, "gate-check", base_run, *uri)
    assert code == 2 and "not_a_candidate" in out
    code, out, err = _run(env, tmp_path, "pair-ab", uuid.uuid4().hex, *uri)
    assert code == 2 and "unknown_run" in out

    seen = _published(kafka_bootstrap, prefix, ("gates.status", "bundles.emitted", "commands.replies"), expected=6)
    statuses = [e.data for t, e in seen if t == "gates.status"]
    # cand_a on registration and its replay (one id), cand_b on registration, pair-ab, gate-check
    assert [s.overall for s in statuses].count("pass") == 3 and [s.overall for s in statuses].count("fail") == 2
    assert [e.data.meeting_id for t, e in seen if t == "bundles.emitted"] == ["cli-review"]
    assert not [t for t, _ in seen if t == "commands.replies"]  # a person reads the reply; nothing is sent for it

