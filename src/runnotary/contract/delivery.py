"""Produce and wait: send messages, then poll until the broker has reported on every one of them.

The one rule every publisher of runnotary follows (the service, the command line, the dead-letter
replay, a training job's client): a message counts as sent only once the broker acknowledged it.
Waiting polls rather than flushes, so a producer shared by several threads waits for its own
messages only. A poll serves whatever reports are ready, on whichever thread calls it, and blocks
for its whole timeout when it serves nothing: a thread whose report another thread served learns of
it only when its own poll returns. Polls are therefore short (5 ms), which lets concurrent publishers
scale (`python -m benchmarks.publish`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import KafkaException

__all__ = ["Deliveries", "Outbound", "Producer", "produce_and_wait"]


class Producer(Protocol):
    """What sending needs of a ``confluent_kafka.Producer``."""

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Any,
                on_delivery: Callable[[Any, Any], None]) -> None: ...
    def poll(self, timeout: float) -> int: ...


@dataclass(frozen=True)
class Outbound:
    """One message to produce, as it goes on the wire. ``label`` names it in a refusal (default: none)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, str | bytes | None]] = ()
    label: str | None = None


@dataclass(frozen=True)
class Deliveries:
    """What the broker said about each message, by its position in what was sent."""

    #: The broker's error, or why ``produce`` refused the message at once.
    failed: dict[int, str]
    #: Messages with no report by the deadline.
    unacknowledged: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.unacknowledged

    def summary(self, what: str) -> str:
        """``"<n> <what> failed, <m> unacknowledged: [first three errors]"``."""
        return f"{len(self.failed)} {what} failed, {len(self.unacknowledged)} unacknowledged: {list(self.failed.values())[:3]}"


class _Reports:
    """Delivery reports of one send (callbacks may run on any thread polling the producer)."""

    def __init__(self, expected: int) -> None:
        self._lock = threading.Lock()
        self.expected = expected
        self.acked: set[int] = set()
        self.failed: dict[int, str] = {}

    def callback(self, index: int) -> Callable[[Any, Any], None]:
        def report(err: Any, msg: Any) -> None:
            with self._lock:
                if err is None:
                    self.acked.add(index)
                else:
                    self.failed[index] = str(err.str() if hasattr(err, "str") else err)
        return report

    def refuse(self, index: int, reason: str) -> None:
        with self._lock:
            self.failed[index] = reason

    @property
    def settled(self) -> bool:
        with self._lock:
            return len(self.acked) + len(self.failed) >= self.expected


def produce_and_wait(producer: Producer, messages: Sequence[Outbound], timeout: float,
                     poll_interval: float = 0.005) -> Deliveries:
    """Produce ``messages`` in order and poll until each is acknowledged or failed, or ``timeout`` s passed."""
    reports = _Reports(len(messages))
    for index, message in enumerate(messages):
        try:
            producer.produce(message.topic, key=message.key, value=message.value, headers=list(message.headers),
                             on_delivery=reports.callback(index))
        except (KafkaException, BufferError) as exc:
            reports.refuse(index, f"{message.label}: {exc}" if message.label else str(exc))
    deadline = time.monotonic() + timeout
    while not reports.settled and (left := deadline - time.monotonic()) > 0:
        producer.poll(min(poll_interval, left))
    failed = dict(sorted(reports.failed.items()))
    pending = tuple(i for i in range(len(messages)) if i not in reports.acked and i not in failed)
    return Deliveries(failed, pending)
