"""A reviewer requests a meeting in one call of the light client (or one command): `runnotary serve` writes
the bundle, which verifies with no flag; with the broker down the request waits in the spool and is flushed."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from runnotary.bundles.description import run_route
from runnotary.bundles.evidence import BUNDLES_EXPERIMENT
from runnotary.client import ClientSettings, InvalidMeeting, request_meeting
from runnotary.consumers.broker import EmbeddedBroker, free_port
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import decode
from runnotary.registry.synthetic import generate

from tests.integration.browser import load
from tests.integration.harness import ServeProcess, Stream, publish, read_topic, run_values, serve_env
from tests.support import RUNNOTARY, read_messages


def test_a_meeting_requested_through_the_light_client_is_bundled_by_runnotary_serve(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    experiment = f"/tests/{settings.topic_prefix.rstrip('.')}"
    baseline, cand_a, cand_b = generate(Path(settings.artifact_root), experiment=experiment, n_queries=300,
                                        n_requests=2000, seed=5)
    # The output topics exist before anyone subscribes (a consumer looks for a missing topic only every 5 min).
    assert not ensure_topics(settings, ["gates.status", "bundles.emitted", "meetings.requested"])
    env = serve_env(settings)
    env["RUNNOTARY_MAX_POLL_INTERVAL_MS"] = "180000"  # registration outlasts 10 s on a loaded machine
    env["RUNNOTARY_MLFLOW_UI_URL"] = str(settings.mlflow_tracking_uri)  # the server serves its UI too
    serve = ServeProcess(env, tmp_path / "serve.log").start()
    try:
        stream = Stream()
        for run in (baseline, cand_a, cand_b):
            stream.add(run)
        publish(settings, stream, run_values(stream))
        assert len(read_topic(settings, "gates.status", timeout=240, expect=2)) == 2  # both candidates gated

        client_settings = ClientSettings(**settings.model_dump(), spool_dir=tmp_path / "spool", delivery_timeout_s=30)
        meeting_id = f"review-{uuid.uuid4().hex[:6]}"
        requested = request_meeting(meeting_id, [cand_a.candidate_id, cand_b.candidate_id], requested_by="ana",
                                    settings=client_settings)
        assert requested.status == "delivered" and requested.key == meeting_id
        assert not list((tmp_path / "spool").glob("*.event.json"))

        [(message, sent)] = read_topic(settings, "meetings.requested", expect=1)
        assert message.key() == meeting_id.encode() and sent.id == requested.event_id
        assert sent.data.requested_by == "ana" and sent.source.startswith("urn:runnotary:reviewer:")

        emitted = [e for _, e in read_topic(settings, "bundles.emitted", timeout=240, expect=1)]
        bundle = Path(emitted[0].data.location)
        assert emitted[0].data.meeting_id == meeting_id and (bundle / "decision_metrics.json").is_file()
        assert set(emitted[0].data.candidates) == {cand_a.candidate_id, cand_b.candidate_id}
    finally:
        assert serve.stop() == 0, (tmp_path / "serve.log").read_text()[-3000:]

    # MLflow as a reviewer sees it: each candidate's run page describes the decision, names its job, and the
    # experiments open on runs; the meeting's run is finished.
    client = MlflowClient(settings.mlflow_tracking_uri)
    decision = json.loads((bundle / "decision_metrics.json").read_text())
    for candidate, event in zip(decision["candidates"], (cand_a, cand_b)):
        run = client.get_run(candidate["candidate_run"])
        note = run.data.tags["mlflow.note.content"]
        status = candidate["gate_status"]
        assert f"runnotary: gates {status['overall'].upper()}" in note and f"`{candidate['baseline_run']}`" in note
        for name, gate in status["gates"].items():
            assert f"| {name} |" in note and f"`{gate['rule']}`" in note
        ndcg = candidate["ab"]["metrics"]["ndcg@10"]
        assert "mean of per-query differences (candidate − baseline), paired on query_id" in note
        assert f"{ndcg['ci95'][0]:.4g}, {ndcg['ci95'][1]:.4g}" in note
        # Evidence links are the UI's own routes, opening on model training (MLflow 3.17 picks GenAI otherwise).
        assert f"[`runs:/{candidate['candidate_run']}/runnotary/ab_result.json`](#/experiments/{run.info.experiment_id}/runs/" \
               f"{candidate['candidate_run']}/artifactPath/runnotary/ab_result.json?workflowType=machine_learning)" in note
        source = run.data.tags["mlflow.source.name"]
        assert source.endswith("@" + event.code.git_commit[:12]) and run.data.tags["mlflow.source.type"] == "JOB"
        assert "runnotary.mlflow.note.content" not in run.data.tags
        assert client.get_experiment(run.info.experiment_id).tags["mlflow.experimentKind"] == "custom_model_development"
        # The bundle page links each run to its page in the MLflow UI.
        link = (f'href="{settings.mlflow_tracking_uri}/#/experiments/{run.info.experiment_id}/runs/'
                f'{candidate["candidate_run"]}?workflowType=machine_learning"')
        assert link in (bundle / "index.html").read_text()
    # And the MLflow UI itself shows the decision as the run's Description.
    shown = load(f"{settings.mlflow_tracking_uri}/{run_route(run.info.experiment_id, run.info.run_id)}",
                 tmp_path / "profile", viewport_only=True, wait_for_text="runnotary: gates")
    (tmp_path / "mlflow-run-page.png").write_bytes(shown.screenshot)
    assert f"runnotary: gates {status['overall'].upper()}" in shown.dom and "Description" in shown.dom
    bundles = client.get_experiment_by_name(BUNDLES_EXPERIMENT)
    assert bundles is not None and bundles.tags["mlflow.experimentKind"] == "custom_model_development"
    [meeting_run] = client.search_runs([bundles.experiment_id], f"tags.`runnotary.meeting_id` = '{meeting_id}'")
    assert meeting_run.info.status == "FINISHED"

    # The bundle `runnotary serve` wrote on the mlflow server verifies with no flag: it records its store.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")}
    done = subprocess.run([RUNNOTARY, "verify-bundle", str(bundle)], env=clean, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "reproduces" in done.stdout and settings.mlflow_tracking_uri in done.stderr


def test_an_invalid_request_names_the_field_and_sends_nothing(tmp_path: Path) -> None:
    settings = ClientSettings(kafka_bootstrap="127.0.0.1:1", spool_dir=tmp_path / "spool")
    with pytest.raises(InvalidMeeting, match="meeting_id"):
        request_meeting("../etc", ["cand-a"], settings=settings)
    with pytest.raises(InvalidMeeting, match="candidates"):
        request_meeting("weekly", [], settings=settings)
    assert not (tmp_path / "spool").exists() or not list((tmp_path / "spool").iterdir())
    done = subprocess.run([RUNNOTARY, "request-meeting", "bad id", "cand-a"], capture_output=True, text=True,
                          env={**os.environ, "RUNNOTARY_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, timeout=60)
    assert done.returncode == 2 and "meeting_id" in done.stderr


def test_with_the_broker_down_the_request_is_spooled_then_flushed(tmp_path: Path) -> None:
    port = free_port()
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = ClientSettings(kafka_bootstrap=f"127.0.0.1:{port}", topic_prefix=prefix,
                              spool_dir=tmp_path / "spool", delivery_timeout_s=3)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")},
           "RUNNOTARY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "", "RUNNOTARY_TOPIC_PREFIX": prefix,
           "RUNNOTARY_SPOOL_DIR": str(settings.spool_dir), "RUNNOTARY_DELIVERY_TIMEOUT_S": "3"}
    broker = EmbeddedBroker(port=port).start()
    broker.stop()  # the broker is stopped when the reviewer asks

    done = subprocess.run([RUNNOTARY, "request-meeting", "weekly-review", "cand-a", "cand-b", "--requested-by", "ana"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    event_id, status = done.stdout.split()
    assert status == "spooled" and "runnotary flush" in done.stderr
    [spooled] = list(settings.spool_dir.glob("*.event.json"))
    assert event_id in spooled.name

    broker = EmbeddedBroker(port=port).start()
    try:
        assert not ensure_topics(Settings(**settings.model_dump(), topic_partitions=1), ["meetings.requested"])
        flushed = subprocess.run([RUNNOTARY, "flush"], env=env, capture_output=True, text=True, timeout=120)
        assert flushed.returncode == 0, flushed.stderr
        assert f"{event_id} delivered" in flushed.stdout
        assert not list(settings.spool_dir.glob("*.event.json"))
        [message] = read_messages(settings, "meetings.requested", expect=1, timeout=30)
        event = decode("meetings.requested", message.value(), message.headers())
        assert message.key() == b"weekly-review" and event.id == event_id
        assert event.data.candidates == ["cand-a", "cand-b"] and event.data.requested_by == "ana"
    finally:
        broker.stop()
