"""The `runnotary` command as a user runs it: `serve` under SIGTERM, and `demo` from an empty directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from runnotary.consumers.broker import free_port
from tests.support import RUNNOTARY


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return None
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values) if values else 0.0


def test_serve_exposes_metrics_keeps_secrets_and_stops_on_sigterm(
    kafka_bootstrap: str, mlflow_server: str, tmp_path: Path
) -> None:
    port = free_port()
    prefix = f"cli{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "RUNNOTARY_KAFKA_BOOTSTRAP": kafka_bootstrap, "RUNNOTARY_MLFLOW_TRACKING_URI": mlflow_server,
        "RUNNOTARY_TOPIC_PREFIX": prefix, "RUNNOTARY_GROUP_ID": f"g-{prefix}", "RUNNOTARY_METRICS_PORT": str(port),
        "RUNNOTARY_STATE_DIR": str(tmp_path / "state"), "RUNNOTARY_SESSION_TIMEOUT_MS": "6000",
        "RUNNOTARY_MAX_POLL_INTERVAL_MS": "10000", "RUNNOTARY_KAFKA_SASL_USERNAME": "svc",
        "RUNNOTARY_KAFKA_SASL_PASSWORD": "pw-that-must-not-leak",
    }
    process = subprocess.Popen([RUNNOTARY, "serve"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while _metric(port, "runnotary_events_total") is None:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "metrics endpoint never answered"
            time.sleep(0.5)
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        producer.produce(f"{prefix}runs.created", value=b'{"not": "an event"}')
        assert producer.flush(10) == 0
        while not _metric(port, "runnotary_deadletter_total"):
            assert time.monotonic() < deadline, "the malformed event was never dead-lettered"
            time.sleep(0.5)
        assert _metric(port, 'runnotary_events_total{outcome="deadlettered"') == 1.0
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    out, err = process.communicate()
    logs = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    events = [entry["event"] for entry in logs]
    assert "service_started" in events and "event_deadlettered" in events and events[-1] == "service_stopped"
    assert b"pw-that-must-not-leak" not in out + err


def test_demo_from_an_empty_directory(tmp_path: Path) -> None:
    """The README's main job: exits 0, prints the closing line, leaves bundle/<meeting_id>/."""
    result = subprocess.run([RUNNOTARY, "demo", "--meeting-id", "review-1"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=240, env={k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    closing = result.stdout.strip().splitlines()[-1]
    assert closing == ("runnotary: bundle emitted for meeting_id=review-1 — all metrics trace to artifacts via run_id. "
                       "overall_gate_status=fail")
    bundle = tmp_path / "bundle" / "review-1"
    decision: dict[str, Any] = json.loads((bundle / "decision_metrics.json").read_text())
    assert {c["candidate_id"]: c["gate_status"]["overall"] for c in decision["candidates"]} == {
        "retrieval-cand-a": "pass", "retrieval-cand-b": "fail"}
    assert (bundle / "ab_test_summary.md").read_text().count("| ---") >= 4
    assert (bundle / "plots" / "ablation_bars.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_broker_command_prints_a_bootstrap_that_answers(tmp_path: Path) -> None:
    """`runnotary broker` runs Tansu in the foreground, prints its address, and stops on SIGTERM."""
    from confluent_kafka.admin import AdminClient

    process = subprocess.Popen([RUNNOTARY, "broker"], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = process.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("Tansu broker ready: RUNNOTARY_KAFKA_BOOTSTRAP=127.0.0.1:")
        bootstrap = line.strip().rsplit("=", 1)[1]
        metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
        assert metadata.brokers
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
