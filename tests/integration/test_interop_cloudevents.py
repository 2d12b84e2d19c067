"""Events built with the official CloudEvents SDK go through the service on a real broker, and what
the service publishes parses with the SDK's Kafka binding."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from confluent_kafka import Consumer

from tests.support import count, send
from runnotary.contract import TOPICS, RunCreated, pairing_key, schema_id
from runnotary.registry.synthetic import generate

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def _sdk_message(run: RunCreated, mode: str) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """``(key, value, headers)`` of ``run``'s event as the SDK's Kafka binding writes it in ``mode``."""
    event = SdkEvent(attributes={
        "type": TOPICS["runs.created"].event_type, "source": "/training/sdk-job", "subject": run.candidate_id,
        "datacontenttype": "application/json; charset=utf-8", "traceparent": TRACEPARENT,
        "partitionkey": pairing_key(run),
    }, data=run.model_dump(mode="json"))
    to_kafka = sdk_kafka.to_binary if mode == "binary" else sdk_kafka.to_structured
    message = to_kafka(event, JSONFormat())
    return message.key, message.value, list(message.headers.items())


def test_sdk_built_binary_and_structured_events_are_processed(running_service: Any) -> None:
    """A baseline in binary mode and two candidates (binary, structured), all from the SDK, give two gate statuses."""
    svc = running_service(max_poll_interval_ms=180_000)  # registration can outlast 10 s on a loaded machine
    settings = svc.settings
    baseline, cand_a, cand_b = generate(Path(settings.artifact_root), experiment=f"/tests/{settings.topic_prefix.rstrip('.')}",
                                        n_queries=400, n_requests=4000, seed=3)
    messages = [_sdk_message(run, mode) for run, mode in ((baseline, "binary"), (cand_a, "binary"), (cand_b, "structured"))]
    assert [key for key, _, _ in messages] == [pairing_key(run) for run in (baseline, cand_a, cand_b)]
    send(settings, "runs.created", messages)

    seen = svc.wait_for(lambda s: count(s, "gates.status") == 2, timeout=180)
    assert not [e.data.error for t, e in seen if t == "deadletter"]
    statuses = {e.subject: e.data.overall for t, e in seen if t == "gates.status"}
    assert statuses == {cand_a.candidate_id: "pass", cand_b.candidate_id: "fail"}


def test_published_events_parse_with_the_sdk_on_the_wire(running_service: Any) -> None:
    """Gate statuses and alerts as read from the broker: structured-mode header, SDK from_kafka parses them."""
    svc = running_service(max_poll_interval_ms=180_000)  # registration can outlast 10 s on a loaded machine
    settings = svc.settings
    baseline, cand_a, _ = generate(Path(settings.artifact_root), experiment=f"/tests/{settings.topic_prefix.rstrip('.')}",
                                   n_queries=100, n_requests=500, seed=12)
    # The candidate first: an awaiting_baseline alert, then the gate status.
    send(settings, "runs.created", [_sdk_message(run, "structured") for run in (cand_a, baseline)])
    svc.wait_for(lambda s: any(t == "gates.status" for t, _ in s), timeout=180)

    reader = Consumer({**settings.kafka_config(), "group.id": f"{settings.group_id}-sdk", "auto.offset.reset": "earliest",
                       "enable.auto.commit": False})
    reader.subscribe([settings.topic("gates.status"), settings.topic("alerts")])
    parsed: dict[str, list[Any]] = {"gates.status": [], "alerts": []}
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and not (
                parsed["gates.status"] and any(a.get_data()["kind"] == "awaiting_baseline" for a in parsed["alerts"])):
            msg = reader.poll(0.5)
            if msg is None or msg.error() is not None:
                continue
            topic = msg.topic().removeprefix(settings.topic_prefix)
            headers = dict(msg.headers() or [])
            assert headers["content-type"] == b"application/cloudevents+json; charset=UTF-8"
            event = sdk_kafka.from_kafka(sdk_kafka.KafkaMessage(headers=headers, key=msg.key(), value=msg.value()), JSONFormat())
            assert event.get_type() == TOPICS[topic].event_type and event.get_dataschema() == schema_id(topic)
            parsed[topic].append(event)
    finally:
        reader.close()
    assert parsed["gates.status"][0].get_data()["candidate_run"]
    for alert in parsed["alerts"]:
        assert alert.get_extension("partitionkey") == alert.get_data()["run_id"]  # the SDK maps the Kafka key
