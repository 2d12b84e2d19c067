"""The loop's ordering rule, with fake clients: commit only after every publish is acknowledged."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from runnotary.consumers.errors import DeliveryFailed
from runnotary.consumers.handlers import Outgoing
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.consumers.service import Service, default_error_policy
from runnotary.consumers.settings import Settings
from runnotary.registry import RegistryError, TrackingUnavailable


@dataclass
class FakeMessage:
    raw: bytes | None
    topic_name: str = "runnotary.runs.created"

    def topic(self) -> str: return self.topic_name
    def partition(self) -> int: return 0
    def offset(self) -> int: return 41
    def key(self) -> bytes: return b"k"
    def value(self) -> bytes | None: return self.raw
    def error(self) -> None: return None


@dataclass
class FakeProducer:
    fail: bool = False
    produced: list[tuple[str, bytes]] = field(default_factory=list)
    journal: list[str] = field(default_factory=list)
    _pending: list[Any] = field(default_factory=list)

    def produce(self, topic: str, key: bytes, value: bytes, on_delivery: Any, headers: Any = None) -> None:
        self.produced.append((topic, value))
        self._pending.append(on_delivery)

    def flush(self, timeout: float) -> int:
        for callback in self._pending:
            callback("broker refused" if self.fail else None, None)
        self._pending.clear()
        self.journal.append("acked" if not self.fail else "refused")
        return 0


@dataclass
class FakeConsumer:
    journal: list[str]

    def commit(self, *, message: Any, asynchronous: bool) -> None:
        self.journal.append("commit")


class ScriptedHandlers:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)

    def run_created(self, event: Any) -> list[Outgoing]:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _service(handlers: Any, producer: FakeProducer) -> Service:
    return Service(Settings(), handlers, FakeConsumer(producer.journal), producer, ServiceMetrics(), retry_backoff=(0.001, 0.002))


def test_malformed_event_is_deadlettered_then_committed() -> None:
    producer = FakeProducer()
    service = _service(ScriptedHandlers(), producer)
    assert service.process(FakeMessage(b"{broken"))
    assert [t for t, _ in producer.produced] == ["runnotary.deadletter"]
    assert producer.journal == ["acked", "commit"]
    assert b"invalid event" in producer.produced[0][1]


def test_refused_deadletter_publish_stops_without_commit() -> None:
    producer = FakeProducer(fail=True)
    service = _service(ScriptedHandlers(), producer)
    with pytest.raises(DeliveryFailed):
        service.process(FakeMessage(b"{broken"))
    assert "commit" not in producer.journal


def test_tracking_outage_is_retried_not_deadlettered(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = FakeProducer()
    out = [Outgoing("gates.status", "c", b"{}")]
    handlers = ScriptedHandlers(TrackingUnavailable("down"), TrackingUnavailable("down"), out)
    monkeypatch.setattr("runnotary.consumers.service.decode", lambda topic, raw, headers=None: raw)
    service = _service(handlers, producer)
    assert service.process(FakeMessage(b"x"), threading.Event())
    assert [t for t, _ in producer.produced] == ["runnotary.gates.status"]
    assert service.metrics.tracking_down._value.get() == 2


def test_stop_during_outage_leaves_the_offset_uncommitted(monkeypatch: pytest.MonkeyPatch) -> None:
    producer = FakeProducer()
    monkeypatch.setattr("runnotary.consumers.service.decode", lambda topic, raw, headers=None: raw)
    stop = threading.Event()
    stop.set()
    service = _service(ScriptedHandlers(TrackingUnavailable("down")), producer)
    assert service.process(FakeMessage(b"x"), stop) is False
    assert producer.journal == []


def test_error_policy() -> None:
    assert default_error_policy(TrackingUnavailable("x")) == "retry"
    assert default_error_policy(DeliveryFailed("x")) == "stop"
    assert default_error_policy(RegistryError("x")) == "deadletter"
    assert default_error_policy(ValueError("x")) == "deadletter"
