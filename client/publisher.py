"""Publish a run-created event: write it ahead to the spool, send the spool, keep what the broker refused.

Every event is first written to the spool, then the spool is sent oldest first in one producer
session (``acks=all``, idempotent producer) and each record is deleted once the broker
acknowledged it. So a publish also delivers what earlier publishes left behind, a job killed
while waiting for the broker leaves its event spooled rather than lost, and a record is always
resent byte for byte under its own id (the service drops a duplicate by id).
"""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from confluent_kafka import Producer

from runnotary.client.errors import ClientError, SpoolError
from runnotary.client.settings import ClientSettings
from runnotary.client.spool import Spool, SpooledEvent
from runnotary.contract import (
    CloudEvent, Outbound, RunCreated, encode, envelope, kafka_headers, pairing_key, produce_and_wait,
)
from runnotary.errors import redact

__all__ = ["FlushResult", "Published", "deliver", "flush", "job_source", "publish_event"]


@dataclass(frozen=True)
class FlushResult:
    """What one pass over the spool did."""

    delivered: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)
    pending: int = 0


@dataclass(frozen=True)
class Published:
    """The outcome of a publish: ``delivered`` (acknowledged by the broker) or spooled for a later flush."""

    event_id: str
    topic: str
    key: str
    delivered: bool
    error: str | None = None
    spooled_at: Path | None = None
    flushed: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "delivered" if self.delivered else "spooled"


def job_source(experiment: str, run_name: str, host: str | None = None) -> str:
    """The CloudEvents ``source`` of a training job: ``urn:runnotary:job:<host>/<experiment>/<run_name>``."""
    parts = (host or socket.gethostname() or "unknown-host", experiment, run_name)
    return "urn:runnotary:job:" + "/".join(quote(p, safe="") for p in parts)


def publish_event(event: RunCreated, settings: ClientSettings | None = None, *, source: str | None = None) -> Published:
    """Send a validated run-created event keyed by its pairing key; spool it when the broker does not acknowledge."""
    settings = settings or ClientSettings()
    _require_bootstrap(settings)
    envelope_ = envelope("runs.created", event, subject=event.candidate_id,
                         source=source or job_source(event.experiment, event.run_name))
    return deliver("runs.created", envelope_, pairing_key(event), settings)


def deliver(topic: str, envelope_: CloudEvent[Any], key: str, settings: ClientSettings) -> Published:
    """Write ``envelope_`` ahead to the spool, then send the spool; the event is delivered or stays spooled.

    ``topic`` is the logical topic (e.g. ``meetings.requested``); every publish of the client goes through here.
    """
    _require_bootstrap(settings)
    message = SpooledEvent(event_id=envelope_.id, topic=settings.topic(topic), key=key.encode(), value=encode(envelope_),
                           headers=list(kafka_headers(envelope_)))
    spool = Spool(settings.spool_dir)
    try:
        spooled_at: Path | None = spool.put(message)
    except SpoolError as exc:
        # Without a writable spool the event can still go straight to the broker.
        print(f"runnotary: {exc}; sending without a spool", file=sys.stderr)
        errors = _send(settings, [message])
        if errors:
            raise ClientError(f"event {message.event_id} was not delivered ({errors[message.event_id]}) "
                              f"and cannot be spooled: {exc}") from exc
        return Published(message.event_id, message.topic, key, delivered=True)
    result = flush(settings)
    if message.event_id in result.delivered:
        return Published(message.event_id, message.topic, key, delivered=True,
                         flushed=[e for e in result.delivered if e != message.event_id])
    return Published(message.event_id, message.topic, key, delivered=False, error=result.failed.get(message.event_id),
                     spooled_at=spool.find(message.event_id) or spooled_at, flushed=result.delivered)


def flush(settings: ClientSettings | None = None) -> FlushResult:
    """Send every spooled event, oldest first; delete each one the broker acknowledged."""
    settings = settings or ClientSettings()
    _require_bootstrap(settings)
    spool = Spool(settings.spool_dir)
    with spool.locked():
        spool.clean_temporary()
        records: list[SpooledEvent] = []
        unreadable: list[str] = []
        for path in spool.paths():
            try:
                records.append(SpooledEvent.from_file(path))
            except SpoolError as exc:
                unreadable.append(str(exc))
        if not records:
            return FlushResult(unreadable=unreadable)
        errors = _send(settings, records)
        delivered = []
        for record in records:
            if record.event_id not in errors:
                spool.remove(record)
                delivered.append(record.event_id)
        return FlushResult(delivered=delivered, failed=errors, unreadable=unreadable, pending=len(spool))


def _require_bootstrap(settings: ClientSettings) -> None:
    if not settings.kafka_bootstrap:
        raise ClientError("no Kafka bootstrap servers: set RUNNOTARY_KAFKA_BOOTSTRAP (e.g. broker1:9092)")


def _send(settings: ClientSettings, records: list[SpooledEvent]) -> dict[str, str]:
    """Produce ``records`` in order and wait for the broker; return ``{event_id: error}`` of those not acknowledged."""
    timeout_ms = int(settings.delivery_timeout_s * 1000)
    producer = Producer({
        **settings.kafka_config(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": timeout_ms,
        "socket.connection.setup.timeout.ms": max(1000, min(timeout_ms, 30_000)),
        "client.id": "runnotary-client",
        # An unreachable broker is reported as an undelivered event, not as a stream of librdkafka log lines.
        "log_level": 0,
        "error_cb": lambda err: None,
    })
    messages = [Outbound(r.topic, r.key, r.value, r.headers) for r in records]
    deliveries = produce_and_wait(producer, messages, settings.delivery_timeout_s + 5)
    errors = {records[i].event_id: redact(error) for i, error in deliveries.failed.items()}
    for i in deliveries.unacknowledged:
        errors[records[i].event_id] = f"no acknowledgement within {settings.delivery_timeout_s:g} s"
    return errors
