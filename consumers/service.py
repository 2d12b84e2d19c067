"""The service's pipeline for one message: guard, decode, handle, publish, wait for acks.

``Service.process`` makes one message's effects durable or raises; the consume loop
(``consumers/loop.py``) runs it on worker threads and commits an offset only once every
message up to it has been processed. A crash anywhere before the commit replays the message;
registration is keyed by the event id and published events carry deterministic ids, so a
replay neither doubles runs nor hides a result.

What a message becomes:

- effects durable, every caused event acknowledged -> done (a handling in steps, such as a
  registration's look after its mark, publishes each step's events before the next step runs);
- over the input size limit, undecodable, invalid, or refused by a handler for good -> a
  dead-letter record (size-guarded, redacted) acknowledged -> done;
- MLflow not answering -> retried, the loop pausing the partitions meanwhile, as soon as
  MLflow's health endpoint answers again (at the latest after the backoff); never dead-lettered;
- any other exception (a bug, an unclassified outage) -> kept uncommitted, its partition paused,
  retried with backoff, logged with its traceback, counted, and ``/readyz`` not ready; never
  dead-lettered;
- a publish the broker refuses -> ``DeliveryFailed``: the service stops, message uncommitted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from runnotary.consumers.commands import Commands
from runnotary.consumers.deadletter import DeadLetterPolicy
from runnotary.consumers.errors import DeliveryFailed
from runnotary.consumers.handlers import Handled, Handlers, Outgoing
from runnotary.consumers.loop import Abandoned, ConsumeLoop, LoopConsumer, Message, TrackingSignal
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.consumers.settings import Settings
from runnotary.contract import INPUT_TOPICS, InvalidEvent, Outbound, decode, envelope, produce_and_wait
from runnotary.contract.delivery import Producer
from runnotary.errors import RunnotaryError, redact
from runnotary.registry.errors import TrackingUnavailable
from runnotary.stats import StatsError

__all__ = ["REFUSALS", "MessageTooLarge", "Service"]

#: What an input can be refused for, and so dead-lettered: it does not decode, validate or satisfy the
#: contract, or a handler refuses it for a documented reason (runnotary's own errors; the numerics'
#: refusal of the data). Anything else is a bug or an outage: the message is kept and retried.
REFUSALS: tuple[type[Exception], ...] = (RunnotaryError, StatsError)

log = structlog.get_logger("runnotary")


class MessageTooLarge(InvalidEvent):
    """A message above the input size limit; it is dead-lettered before anything parses it."""


@dataclass
class Service:
    settings: Settings
    handlers: Handlers
    consumer: LoopConsumer
    producer: Producer
    metrics: ServiceMetrics
    retry_backoff: tuple[float, float] = (0.5, 30.0)
    publish_timeout: float = 30.0
    tracking: TrackingSignal = field(default_factory=TrackingSignal)
    deadletters: DeadLetterPolicy | None = None
    #: Answers whether MLflow is back (e.g. ``GET /health``); while it is down the retry waits on it.
    probe: Callable[[], bool] | None = None
    probe_interval: float = 1.0
    _topics: dict[str, str] = field(default_factory=dict, init=False)
    _dispatch: dict[str, Callable[[Message], Handled | list[Outgoing]]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._topics = {self.settings.topic(name): name for name in INPUT_TOPICS}
        commands = Commands(self.handlers)
        self._dispatch = {
            "runs.created": lambda m: self.handlers.run_created(self._decode("runs.created", m)),
            "meetings.requested": lambda m: self.handlers.meeting_requested(self._decode("meetings.requested", m)),
            # A command whose id can be read is answered with an error reply rather than dead-lettered.
            "commands": lambda m: commands.handle_message(self._raw(m), m.headers()),
        }
        if self.deadletters is None:
            self.deadletters = DeadLetterPolicy(self.settings.group_id, max_record_bytes=self.settings.deadletter_max_bytes)

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; the consumer is closed on the way out."""
        loop = ConsumeLoop(
            self.consumer, list(self._topics), self.process, tracking=self.tracking, workers=self.settings.workers,
            max_in_flight=self.settings.max_in_flight, commit_interval=self.settings.commit_interval_s,
            shutdown_timeout=self.settings.shutdown_timeout_s, on_lag=self.metrics.set_lag,
            on_poll=self.metrics.polled, on_forget=self.metrics.forget_partition,
        )
        log.info("service_started", topics=list(self._topics), group_id=self.settings.group_id)
        try:
            loop.run(stop)
        finally:
            log.info("service_stopped")

    def process(self, message: Message, stop: threading.Event) -> None:
        """Make one message's effects durable; raise ``Abandoned`` if ``stop`` is set while MLflow is down.

        The events a step decides are published before the step that follows it runs (``Handled.then``,
        e.g. a look after a registration's mark), so a gate status is not held back by that look."""
        topic = self._topics.get(message.topic() or "", "")
        started = time.monotonic()
        handled, outcome = self._handle(topic, message, stop, lambda: self._dispatched(topic, message))
        self.publish(handled.outgoing)
        if handled.then is not None:
            then = handled.then
            handled, outcome = self._handle(topic, message, stop, lambda: Handled(then()))
            self.publish(handled.outgoing)
        self.metrics.observe_event(topic, outcome, time.monotonic() - started)

    def _dispatched(self, topic: str, message: Message) -> Handled:
        if topic not in self._dispatch:
            raise InvalidEvent(f"no handler for topic {message.topic()!r}")
        result = self._dispatch[topic](message)
        return result if isinstance(result, Handled) else Handled(list(result))

    def _handle(self, topic: str, message: Message, stop: threading.Event,
                step: Callable[[], Handled]) -> tuple[Handled, str]:
        """Run one step of a message's handling until it succeeds, is refused (a dead letter) or ``stop`` is set."""
        delay = self.retry_backoff[0]
        tp = (message.topic() or "", message.partition() or 0)
        while True:
            try:
                handled = step()
            except TrackingUnavailable as exc:
                self.tracking.down()
                self.metrics.tracking_down.inc()
                log.warning("tracking_unavailable_retrying", topic=topic, partition=message.partition(),
                            offset=message.offset(), delay_s=delay, error=redact(str(exc))[:500])
                if self._wait_for_tracking(stop, delay):
                    raise Abandoned(f"stopped while MLflow was unavailable ({topic} offset {message.offset()})") from exc
                delay = min(delay * 2, self.retry_backoff[1])
                continue
            except (Abandoned, DeliveryFailed):
                raise
            except REFUSALS as exc:  # the input is refused, for a documented reason: set aside with it
                self.tracking.clear(tp)
                return Handled([self._deadletter(topic, message, exc)]), "deadlettered"
            except Exception as exc:  # a bug or an outage nobody classified: keep the message and hold its partition
                error_type = type(exc).__name__
                self.tracking.fault(tp, error_type)
                self.metrics.unexpected_errors.labels(topic).inc()
                log.exception("event_failed_unexpectedly", topic=topic, partition=message.partition(),
                              offset=message.offset(), error_type=error_type, retry_in_s=delay)
                if stop.wait(delay):
                    raise Abandoned(f"stopped while {topic} offset {message.offset()} kept failing ({error_type})") from exc
                delay = min(delay * 2, self.retry_backoff[1])
                continue
            self.tracking.up()
            self.tracking.clear(tp)
            return handled, "processed"

    def _wait_for_tracking(self, stop: threading.Event, delay: float) -> bool:
        """Wait up to ``delay`` before the next attempt, probing MLflow about once a second: back as soon
        as it answers, so recovery does not wait out a long backoff. True when ``stop`` was set."""
        if self.probe is None:
            return stop.wait(delay)
        started = time.monotonic()
        deadline = started + delay
        while (left := deadline - time.monotonic()) > 0:
            if stop.wait(min(self.probe_interval, left)):
                return True
            if self.probe():
                log.info("tracking_answered", waited_s=round(time.monotonic() - started, 3))
                return False
        return stop.is_set()

    def _raw(self, message: Message) -> bytes | None:
        raw = message.value()
        if raw is not None and len(raw) > self.settings.max_event_bytes:
            raise MessageTooLarge(f"message of {len(raw)} bytes is over the input limit of "
                                  f"{self.settings.max_event_bytes} bytes (RUNNOTARY_MAX_EVENT_BYTES); not parsed")
        return raw

    def _decode(self, topic: str, message: Message) -> Any:
        return decode(topic, self._raw(message), message.headers())

    def _deadletter(self, topic: str, message: Message, exc: Exception) -> Outgoing:
        error_type = type(exc).__name__
        self.metrics.deadletters.labels(topic, error_type).inc()
        error = redact(str(exc))
        log.warning("event_deadlettered", topic=message.topic(), partition=message.partition(), offset=message.offset(),
                    error_type=error_type, error=error[:2000])
        assert self.deadletters is not None
        record = self.deadletters.record(message, error, error_type)
        subject = f"{message.topic()}:{message.partition()}:{message.offset()}"
        return Outgoing.of("deadletter", subject, envelope("deadletter", record, subject=subject, caused_by=subject))

    def publish(self, outgoing: Sequence[Outgoing]) -> None:
        """Produce and wait until the broker acknowledged every message, or raise DeliveryFailed."""
        if not outgoing:
            return
        messages = [Outbound(self.settings.topic(item.topic), item.key.encode(), item.value, item.headers, label=item.topic)
                    for item in outgoing]
        deliveries = produce_and_wait(self.producer, messages, self.publish_timeout)
        if not deliveries.ok:
            raise DeliveryFailed(deliveries.summary("publish(es)"))
