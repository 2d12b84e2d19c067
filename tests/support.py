"""Helpers the test tiers share: the events tests publish, sending and reading them on a broker,
committed offsets, and waiting for a condition.

Nothing here starts a process or connects at import. The Kafka helpers take any settings object with
``kafka_config()`` and ``topic()`` (the service's ``Settings`` or the light client's ``ClientSettings``)
and name topics by their logical name.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition

from runnotary.contract import Command, MeetingRequested, RunCreated, decode, encode, envelope, pairing_key

#: The `runnotary` command of the environment running the tests.
RUNNOTARY = str(Path(sys.executable).with_name("runnotary"))

Seen = list[tuple[str, Any]]  # (logical topic, decoded event), as a running service's watcher collects them
Key = str | bytes | None
Headers = Sequence[tuple[str, bytes]]


def sha256_text(text: str) -> str:
    """A well-formed sha256 for a test payload's digest fields."""
    return hashlib.sha256(text.encode()).hexdigest()


def run_created_event(run: RunCreated) -> Any:
    """The runs.created event of ``run``, its subject the candidate id."""
    return envelope("runs.created", run, subject=run.candidate_id)


def meeting_requested_event(meeting: MeetingRequested) -> Any:
    return envelope("meetings.requested", meeting, subject=meeting.meeting_id)


def run_message(run: RunCreated, key: str | None = None) -> tuple[str, bytes]:
    """``(Kafka key, value)`` of ``run``'s event; the key is the pairing key unless given."""
    return key if key is not None else pairing_key(run), encode(run_created_event(run))


def meeting_message(meeting: MeetingRequested) -> tuple[str, bytes]:
    return meeting.meeting_id, encode(meeting_requested_event(meeting))


def command_message(body: dict[str, Any]) -> tuple[str, bytes]:
    """``(event id, value)`` of the command event of a JSON body (its subject the candidate run it names, if
    any); the id is what its reply is correlated by."""
    event = envelope("commands", Command.model_validate(body), subject=body.get("candidate_run_id"))
    return event.id, encode(event)


def register(handlers: Any, run: RunCreated) -> Any:
    """``(registration, outgoing)`` of delivering ``run``'s event to the service's handlers."""
    return handlers.register_run(run_created_event(run))


def decoded(outgoing: Iterable[Any]) -> Seen:
    """What handlers returned to publish, decoded: ``(logical topic, event)``."""
    return [(o.topic, decode(o.topic, o.value)) for o in outgoing]


def count(seen: Seen, topic: str) -> int:
    return sum(1 for t, _ in seen if t == topic)


def events_of(seen: Seen, topic: str) -> list[Any]:
    return [e for t, e in seen if t == topic]


def poll_until(condition: Callable[[], bool], timeout: float, every: float = 0.01) -> bool:
    """Check ``condition`` every ``every`` seconds until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(every)
    return True


def send(settings: Any, topic: str, messages: Iterable[tuple[Key, bytes] | tuple[Key, bytes, Headers]]) -> None:
    """Produce ``(key, value)`` or ``(key, value, headers)`` to a logical topic, in order, and wait for the acks."""
    producer = Producer(settings.kafka_config())
    for key, value, *headers in messages:
        producer.produce(settings.topic(topic), key=key.encode() if isinstance(key, str) else key, value=value,
                         headers=list(headers[0]) if headers else None)
    assert producer.flush(15) == 0


def committed(settings: Any, topic: str) -> int:
    """The offset the settings' consumer group committed on partition 0 of a logical topic (0 for none)."""
    consumer = Consumer({**settings.kafka_config(), "group.id": settings.group_id})
    try:
        offsets = consumer.committed([TopicPartition(settings.topic(topic), 0)], timeout=10)
        return max(offsets[0].offset, 0)
    finally:
        consumer.close()


def wait_committed(settings: Any, topic: str, expected: int, timeout: float = 60) -> None:
    """Wait until the group's committed offset of a logical topic reaches ``expected``."""
    if not poll_until(lambda: committed(settings, topic) >= expected, timeout, every=0.5):
        raise AssertionError(f"committed offset of {topic} stayed at {committed(settings, topic)} < {expected}")


def read_messages(settings: Any, topic: str, expect: int, timeout: float, linger: float = 0.0) -> list[Message]:
    """The messages of a one-partition logical topic from its start: read until ``expect`` arrived and
    ``linger`` seconds passed (so that one more than expected would be seen too), or ``timeout`` passes."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False})
    # By assignment, not subscription: reading needs no consumer-group round trips.
    consumer.assign([TopicPartition(settings.topic(topic), 0, OFFSET_BEGINNING)])
    messages: list[Message] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout and (len(messages) < expect or time.monotonic() - started < linger):
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
    finally:
        consumer.close()
    return messages


def stop_process(process: subprocess.Popen[Any], timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still running after ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
