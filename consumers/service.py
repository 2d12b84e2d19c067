"""The consume loop: decode, handle, publish, wait for acks, then commit. At-least-once, nothing lost.

An input's offset is committed only after every event it caused (or its dead-letter record)
is acknowledged by the broker, and after its MLflow writes returned. A crash anywhere before
the commit replays the input; registration is keyed by the event id and published events
carry deterministic ids, so a replay neither doubles runs nor hides a result.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException

from runnotary.consumers.errors import DeliveryFailed, InvalidEvent
from runnotary.consumers.events import DeadLetter, b64, decode, encode, envelope
from runnotary.consumers.handlers import Handlers, Outgoing
from runnotary.consumers.health import report_lag
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.consumers.settings import Settings
from runnotary.registry.errors import RunnotaryError, TrackingUnavailable

__all__ = ["Consumer", "Message", "Producer", "Service", "ErrorAction", "default_error_policy", "INPUT_TOPICS"]

INPUT_TOPICS = ("runs.created", "meetings.requested")

log = structlog.get_logger("runnotary")

ErrorAction = Literal["deadletter", "retry", "stop"]


class Message(Protocol):
    """The part of a Kafka message the service reads (a fake in unit tests, confluent_kafka.Message in service)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def error(self) -> KafkaError | None: ...


class Consumer(Protocol):
    """What the loop needs of a confluent_kafka.Consumer."""

    def subscribe(self, topics: list[str]) -> None: ...
    def poll(self, timeout: float) -> Any: ...
    def commit(self, *, message: Any, asynchronous: Literal[False]) -> Any: ...
    def close(self) -> None: ...


class Producer(Protocol):
    """What the loop needs of a confluent_kafka.Producer."""

    def produce(self, topic: str, *, key: bytes, value: bytes, headers: Any, on_delivery: Callable[[Any, Any], None]) -> None: ...
    def flush(self, timeout: float) -> int: ...


def default_error_policy(exc: Exception) -> ErrorAction:
    """An unreachable MLflow is retried; bad input and anything a handler cannot do is dead-lettered."""
    if isinstance(exc, TrackingUnavailable):
        return "retry"
    if isinstance(exc, DeliveryFailed):
        return "stop"
    return "deadletter"


@dataclass
class Service:
    settings: Settings
    handlers: Handlers
    consumer: Consumer
    producer: Producer
    metrics: ServiceMetrics
    error_policy: Callable[[Exception], ErrorAction] = default_error_policy
    retry_backoff: tuple[float, float] = (0.5, 30.0)
    _topics: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._topics = {self.settings.topic(name): name for name in INPUT_TOPICS}

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; the consumer is closed on the way out."""
        consumer = self.consumer
        consumer.subscribe(list(self._topics))
        log.info("service_started", topics=list(self._topics), group_id=self.settings.group_id)
        try:
            lag_due = 0.0
            while not stop.is_set():
                message = consumer.poll(1.0)
                self.metrics.polled()
                if time.monotonic() >= lag_due:
                    report_lag(consumer, self.metrics)
                    lag_due = time.monotonic() + 5.0
                if message is None:
                    continue
                if message.error() is not None:
                    self._consumer_error(message.error())
                    continue
                self.process(message, stop)
        finally:
            consumer.close()
            log.info("service_stopped")

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise RunnotaryError(f"fatal consumer error: {error}")
        log.warning("consumer_error", error=str(error))

    def process(self, message: Message, stop: threading.Event | None = None) -> bool:
        """Handle one message and commit it; False when stopped before its effects were durable."""
        topic = self._topics.get(message.topic() or "", "")
        started = time.monotonic()
        delay = self.retry_backoff[0]
        while True:
            try:
                outgoing = self._dispatch(topic, message)
                outcome = "processed"
                break
            except Exception as exc:
                action = self.error_policy(exc)
                if action == "retry":
                    self.metrics.tracking_down.inc()
                    log.warning("tracking_unavailable_retrying", topic=topic, offset=message.offset(), delay_s=delay, error=str(exc))
                    if stop is not None and stop.wait(delay):
                        return False
                    if stop is None:
                        time.sleep(delay)
                    delay = min(delay * 2, self.retry_backoff[1])
                    continue
                if action == "stop":
                    raise
                outgoing = [self._deadletter(topic, message, exc)]
                outcome = "deadlettered"
                break
        self.publish(outgoing)
        self.consumer.commit(message=message, asynchronous=False)
        self.metrics.observe_event(topic, outcome, time.monotonic() - started)
        return True

    def _dispatch(self, topic: str, message: Message) -> list[Outgoing]:
        if topic == "runs.created":
            return self.handlers.run_created(decode(topic, message.value()))
        if topic == "meetings.requested":
            return self.handlers.meeting_requested(decode(topic, message.value()))
        raise InvalidEvent(f"no handler for topic {message.topic()!r}")

    def _deadletter(self, topic: str, message: Message, exc: Exception) -> Outgoing:
        error_type = type(exc).__name__
        self.metrics.deadletters.labels(topic, error_type).inc()
        log.warning("event_deadlettered", topic=message.topic(), partition=message.partition(), offset=message.offset(),
                    error_type=error_type, error=str(exc)[:2000])
        record = DeadLetter(
            source_topic=message.topic() or "", partition=message.partition() or 0, offset=message.offset() or 0,
            key_b64=b64(message.key()), value_b64=b64(message.value()), error=str(exc)[:10_000], error_type=error_type,
            group_id=self.settings.group_id,
        )
        subject = f"{message.topic()}:{message.partition()}:{message.offset()}"
        return Outgoing.of("deadletter", subject, envelope("deadletter", record, subject=subject, caused_by=subject))

    def publish(self, outgoing: Sequence[Outgoing], timeout: float = 30.0) -> None:
        """Produce and wait until the broker acknowledged every message, or raise DeliveryFailed."""
        if not outgoing:
            return
        failures: list[str] = []

        def on_delivery(err: KafkaError | None, msg: object) -> None:
            if err is not None:
                failures.append(str(err))

        for item in outgoing:
            try:
                self.producer.produce(self.settings.topic(item.topic), key=item.key.encode(), value=item.value,
                                      headers=item.headers, on_delivery=on_delivery)
            except (KafkaException, BufferError) as exc:
                failures.append(f"{item.topic}: {exc}")
        remaining = self.producer.flush(timeout)
        if failures or remaining:
            raise DeliveryFailed(f"{len(failures)} publish(es) failed, {remaining} unacknowledged: {failures[:3]}")
