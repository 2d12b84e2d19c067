"""``runnotary demo``: the whole path on the embedded broker and a local MLflow store.

Each recipe (the baseline and two candidates) is trained with 3 seeds by default: 3 seed runs per
arm, so the gate statuses and the bundle are about recipes (estimand E3), with every seed run shown.
Candidates are published before their baseline, so the demo also shows a late baseline being paired
and each baseline seed run re-evaluating the candidates' arms; then a meeting asks for the bundle,
and the seed's tables are printed.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

from runnotary.bundles.verify import verify_command
from runnotary.consumers.broker import EMBEDDED_FETCH_WAIT_MS, EmbeddedBroker
from runnotary.consumers.errors import DeliveryFailed
from runnotary.consumers.kafka import make_consumer, make_producer
from runnotary.consumers.logs import configure_logging
from runnotary.consumers.settings import Settings
from runnotary.contract import MeetingRequested, Outbound, decode, encode, envelope, pairing_key, produce_and_wait
from runnotary.contract.delivery import Producer

__all__ = ["run_demo"]


def _say(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def run_demo(workdir: Path, meeting_id: str = "demo-review", timeout: float = 170.0, seeds: int = 3) -> int:
    started = time.monotonic()
    configure_logging("WARNING")
    state = workdir / ".runnotary" / "demo"
    shutil.rmtree(state, ignore_errors=True)
    artifacts = state / "artifacts"

    from runnotary.registry.synthetic import generate

    _say(f"generating a synthetic experiment: 1 baseline + 2 candidates, {seeds} seed run(s) each, 3,000 queries, "
         "20,000 requests per run")
    events = generate(artifacts, seeds_per_arm=seeds)

    with EmbeddedBroker() as broker:
        _say(f"embedded Kafka (Tansu) ready on {broker.bootstrap}")
        settings = Settings(
            kafka_bootstrap=broker.bootstrap, state_dir=state, artifact_root=artifacts, bundle_dir=workdir / "bundle",
            group_id=f"runnotary-demo-{uuid.uuid4().hex[:8]}", session_timeout_ms=6000, max_poll_interval_ms=10000,
            metrics_port=0, mlflow_tracking_uri=None, kafka_fetch_wait_max_ms=EMBEDDED_FETCH_WAIT_MS,
        )
        from runnotary.consumers.app import build_service

        _say(f"compiling statistics kernels and opening MLflow at {settings.tracking_uri()}")
        service = build_service(settings, broker.bootstrap)
        stop = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            try:
                service.run(stop)
            except BaseException as exc:  # surfaced to the main thread below
                failure.append(exc)
                stop.set()

        thread = threading.Thread(target=serve, name="runnotary-service", daemon=True)
        thread.start()
        _say("service consuming runnotary.runs.created and runnotary.meetings.requested")
        try:
            return _drive(settings, broker.bootstrap, events, meeting_id, started, timeout, stop, failure, seeds)
        except DeliveryFailed as exc:
            _say(f"the broker did not acknowledge the demo's events, the demo cannot finish: {exc}")
            return 1
        finally:
            stop.set()
            thread.join(15)


def _send(producer: Producer, messages: list[Outbound]) -> None:
    """Publish and wait for the broker's acknowledgements; a refusal ends the demo with the broker's reason."""
    deliveries = produce_and_wait(producer, messages, 10)
    if not deliveries.ok:
        raise DeliveryFailed(deliveries.summary("publish(es)"))


def _drive(settings: Settings, bootstrap: str, events: list, meeting_id: str, started: float, timeout: float,
           stop: threading.Event, failure: list[BaseException], seeds: int) -> int:
    watch_settings = settings.model_copy(update={"group_id": f"{settings.group_id}-watch"})
    watcher = make_consumer(watch_settings, bootstrap)
    watcher.subscribe([settings.topic(t) for t in ("gates.status", "alerts", "bundles.emitted", "deadletter")])
    producer = make_producer(settings, bootstrap)
    ordered = [e for e in events if e.role == "candidate"] + [e for e in events if e.role == "baseline"]
    _send(producer, [Outbound(settings.topic("runs.created"), pairing_key(event).encode(),
                              encode(envelope("runs.created", event, subject=event.candidate_id))) for event in ordered])
    for event in ordered:
        _say(f"published runs.created for {event.candidate_id} ({event.role}, seed {event.seeds.value})")
    candidates = list(dict.fromkeys(e.candidate_id for e in events if e.role == "candidate"))
    full: set[str] = set()  # candidates whose gate status compares every seed run of both arms
    meeting_sent = False
    try:
        while time.monotonic() - started < timeout:
            if failure:
                raise failure[0]
            message = watcher.poll(0.5)
            if message is None or message.error() is not None:
                continue
            topic = (message.topic() or "").removeprefix(settings.topic_prefix)
            event = decode(topic, message.value())
            if topic == "alerts":
                _say(f"alert [{event.data.severity}] {event.data.kind}: {event.data.message}")
            elif topic == "deadletter":
                _say(f"an event was dead-lettered, the demo cannot finish: {event.data.error}")
                return 1
            elif topic == "gates.status":
                arms = event.data.arms
                sizes = (len(arms.candidate.runs), len(arms.baseline.runs)) if arms is not None else (1, 1)
                if sizes == (seeds, seeds):
                    full.add(event.subject or "")
                gates = ", ".join(f"{k}={'pass' if v.pass_ else 'FAIL'}" for k, v in event.data.gates.items())
                estimand = f", {arms.estimand} over {sizes[0]} + {sizes[1]} seed runs" if arms is not None else ""
                _say(f"gate status {event.subject}: {event.data.overall} ({gates}{estimand})")
            elif topic == "bundles.emitted" and event.data.meeting_id == meeting_id:
                return _report(Path(event.data.location), meeting_id, event.data.overall_gate_status, started)
            if not meeting_sent and all(c in full for c in candidates):
                request = MeetingRequested(meeting_id=meeting_id, candidates=candidates, requested_by="demo-reviewer")
                _send(producer, [Outbound(settings.topic("meetings.requested"), meeting_id.encode(),
                                          encode(envelope("meetings.requested", request, subject=meeting_id)))])
                meeting_sent = True
                _say(f"published meetings.requested for meeting_id={meeting_id}")
        _say(f"no bundle within {timeout:.0f} s; giving up")
        return 1
    finally:
        watcher.close()


def _report(location: Path, meeting_id: str, overall: str, started: float) -> int:
    summary = (location / "ab_test_summary.md").read_text()
    decision = json.loads((location / "decision_metrics.json").read_text())
    print()
    print(summary.rsplit("\n", 2)[0])
    print()
    _say(f"bundle at {location} ({len(decision['candidates'])} candidates); finished in {time.monotonic() - started:.1f} s")
    # The closing line stays last (the seed's contract); the command that proves it comes just before.
    _say(f"verify it (re-fetches every source from the store the bundle records): {verify_command(location)}")
    print(f"runnotary: bundle emitted for meeting_id={meeting_id} — all metrics trace to artifacts via run_id. "
          f"overall_gate_status={overall}")
    return 0
