"""Fake Kafka clients for unit tests of the loop and the pipeline (no broker, no threads of their own)."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, TopicPartition


@dataclass
class FakeMessage:
    raw: bytes | None
    topic_name: str = "runnotary.runs.created"
    part: int = 0
    off: int = 41
    k: bytes | None = b"k"
    hdrs: list[tuple[str, bytes]] | None = None

    def topic(self) -> str: return self.topic_name
    def partition(self) -> int: return self.part
    def offset(self) -> int: return self.off
    def key(self) -> bytes | None: return self.k
    def value(self) -> bytes | None: return self.raw
    def headers(self) -> list[tuple[str, bytes]] | None: return self.hdrs
    def error(self) -> None: return None


@dataclass
class FakeProducer:
    fail: bool = False
    produced: list[tuple[str, bytes, Any]] = field(default_factory=list)
    _pending: list[Any] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any, headers: Any = None) -> None:
        with self._lock:
            self.produced.append((topic, value, headers))
            self._pending.append(on_delivery)

    def poll(self, timeout: float) -> int:
        with self._lock:
            pending, self._pending = self._pending, []
        for callback in pending:
            callback("broker refused" if self.fail else None, None)
        return len(pending)


@dataclass
class FakeConsumer:
    """Hands out scripted messages; records pauses, resumes and commits."""

    messages: list[FakeMessage]
    partitions: tuple[int, ...] = (0,)
    topic: str = "runnotary.runs.created"
    fail_commits: int = 0
    commits: list[dict[tuple[str, int], int]] = field(default_factory=list)
    paused: set[int] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    polls: int = 0
    closed: bool = False

    def __post_init__(self) -> None:
        self._queue = deque(self.messages)
        self._callbacks: dict[str, Any] = {}

    def subscribe(self, topics: list[str], on_assign: Any = None, on_revoke: Any = None, on_lost: Any = None) -> None:
        self._callbacks = {"assign": on_assign, "revoke": on_revoke}
        on_assign(self, [TopicPartition(self.topic, p) for p in self.partitions])

    def revoke(self, partition: int) -> None:
        self._callbacks["revoke"](self, [TopicPartition(self.topic, partition)])

    def poll(self, timeout: float) -> Any:
        self.polls += 1
        for i, message in enumerate(self._queue):
            if message.part not in self.paused:
                del self._queue[i]
                return message
        threading.Event().wait(min(timeout, 0.01))
        return None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.events.append(f"assign {[tp.partition for tp in partitions]}")

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused.update(tp.partition for tp in partitions)
        self.events.append(f"pause {[tp.partition for tp in partitions]}")

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update(tp.partition for tp in partitions)
        self.events.append(f"resume {[tp.partition for tp in partitions]}")

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_MEMBER_ID))
        self.commits.append({(tp.topic, tp.partition): tp.offset for tp in offsets})

    def committed_offset(self, partition: int = 0) -> int | None:
        found = [c[(self.topic, partition)] for c in self.commits if (self.topic, partition) in c]
        return found[-1] if found else None

    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = 1.0, cached: bool = False) -> tuple[int, int]:
        return 0, 100

    def close(self) -> None:
        self.closed = True
