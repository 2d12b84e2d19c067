"""Replay dead letters: put the inputs the dead-letter topic holds back on a topic, as they came.

Each dead-letter record keeps the input's key, value and headers (base64), so the replayed
message is byte for byte the one that failed: a binary-mode CloudEvent keeps its ``ce_*``
headers. A record whose value was truncated by the size guard is completed from the source
topic (partition and offset) and checked against the recorded sha256 before it is replayed.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from runnotary.consumers.kafka import make_producer
from runnotary.contract import DeadLetter, InvalidEvent, Outbound, decode, produce_and_wait
from runnotary.contract.delivery import Producer
from runnotary.consumers.settings import Settings
from runnotary.errors import RunnotaryError

__all__ = ["DeadLetterFilter", "Replayable", "ReplayError", "read_deadletters", "replay_deadletters"]


class ReplayError(RunnotaryError):
    """A dead letter could not be read back or replayed."""


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to replay; ``None`` matches everything. Offsets are the input's, inclusive."""

    source_topic: str | None = None
    error_type: str | None = None
    min_offset: int | None = None
    max_offset: int | None = None

    def __call__(self, record: DeadLetter) -> bool:
        return ((self.source_topic is None or record.source_topic == self.source_topic)
                and (self.error_type is None or record.error_type == self.error_type)
                and (self.min_offset is None or record.offset >= self.min_offset)
                and (self.max_offset is None or record.offset <= self.max_offset))


@dataclass(frozen=True)
class Replayable:
    """One dead letter and where it sits on the dead-letter topic."""

    partition: int
    offset: int
    record: DeadLetter

    def describe(self) -> str:
        r = self.record
        size = r.value_size if r.value_size is not None else len(_b64decode(r.value_b64) or b"")
        return (f"deadletter {self.partition}:{self.offset} <- {r.source_topic} {r.partition}:{r.offset} "
                f"{r.error_type} key={_b64decode(r.key_b64)!r} value={size} bytes headers={len(r.headers)}"
                f"{' truncated' if r.value_truncated else ''}")


def _b64decode(text: str | None) -> bytes | None:
    return base64.b64decode(text) if text is not None else None


def _reader(settings: Settings) -> Consumer:
    # A throwaway group that never commits: reading dead letters must not move anyone's offsets.
    return Consumer({**settings.kafka_config(), "group.id": f"{settings.group_id}-replay-{time.time_ns()}",
                     "enable.auto.commit": False, "enable.auto.offset.store": False, "client.id": "runnotary-replay"})


def read_deadletters(settings: Settings, keep: Callable[[DeadLetter], bool] = DeadLetterFilter(),
                     timeout: float = 30.0, idle: float = 3.0) -> Iterator[Replayable]:
    """Every dead letter on ``settings``' dead-letter topic that ``keep`` accepts, up to the topic's end.

    The end is where every partition's high watermark was reached and nothing came for ``idle``
    seconds (the embedded broker under-reports high watermarks, so they are only a lower bound).
    """
    topic = settings.topic("deadletter")
    consumer = _reader(settings)
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if metadata is None or metadata.error is not None:
            raise ReplayError(f"dead-letter topic {topic!r} cannot be read: {metadata.error if metadata else 'missing'}")
        ends: dict[int, int] = {}
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout, cached=False)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while ends or time.monotonic() - last < idle:
            if ends and time.monotonic() > deadline:
                raise ReplayError(f"timed out reading {topic!r}; partitions not read to their end: {sorted(ends)}")
            message = _polled(consumer, 0.2, f"reading {topic!r}")
            if message is None:
                continue
            last = time.monotonic()
            partition, offset = message.partition() or 0, message.offset() or 0
            if offset >= ends.get(partition, 0) - 1:
                ends.pop(partition, None)
            try:
                record = decode("deadletter", message.value(), message.headers()).data
            except InvalidEvent as exc:
                raise ReplayError(f"{topic} {partition}:{offset} is not a dead-letter record: {exc}") from exc
            if keep(record):
                yield Replayable(partition, offset, record)
    finally:
        consumer.close()


def _polled(consumer: Consumer, timeout: float, what: str) -> Message | None:
    """The next message, or None when there is none yet (or a partition's end); a broker error raises ``ReplayError``."""
    message = consumer.poll(timeout)
    if message is None:
        return None
    error = message.error()
    if error is not None:
        if error.code() == KafkaError._PARTITION_EOF:
            return None
        raise ReplayError(f"{what}: {error}")
    return message


def _original_value(settings: Settings, record: DeadLetter, timeout: float) -> bytes | None:
    """The value to replay: the recorded one, or the source message's when the record holds a prefix only."""
    if not record.value_truncated:
        return _b64decode(record.value_b64)
    consumer = _reader(settings)
    try:
        consumer.assign([TopicPartition(record.source_topic, record.partition, record.offset)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = _polled(consumer, 0.5, f"fetching {record.source_topic} {record.partition}:{record.offset}")
            if message is None:
                continue
            if message.offset() != record.offset:
                raise ReplayError(f"{record.source_topic} {record.partition}:{record.offset} is gone (retention or "
                                  f"compaction; the first offset left is {message.offset()}): the value cannot be completed")
            value: bytes | None = message.value()
            if record.value_sha256 is not None and hashlib.sha256(value or b"").hexdigest() != record.value_sha256:
                raise ReplayError(f"{record.source_topic} {record.partition}:{record.offset} does not match the "
                                  "recorded sha256 of the dead-lettered value")
            return value
        raise ReplayError(f"timed out fetching {record.source_topic} {record.partition}:{record.offset}")
    finally:
        consumer.close()


def replay_deadletters(settings: Settings, items: list[Replayable], *, to: str | None = None,
                       producer: Producer | None = None, timeout: float = 30.0) -> int:
    """Produce each dead letter's original key, value and headers to its source topic (or ``to``).

    Returns how many were acknowledged by the broker; raises ReplayError if any was not.
    """
    producer = producer or make_producer(settings)
    # Complete every value first, so a record that cannot be completed stops the replay before anything is sent.
    messages = []
    for item in items:
        record = item.record
        headers = [(h.key, _b64decode(h.value_b64)) for h in record.headers]
        messages.append(Outbound(to or record.source_topic, _b64decode(record.key_b64),
                                 _original_value(settings, record, timeout), headers, label=item.describe()))
    deliveries = produce_and_wait(producer, messages, timeout)
    if not deliveries.ok:
        raise ReplayError(deliveries.summary("replay(s)"))
    return len(items)
