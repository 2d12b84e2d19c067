"""One message through the pipeline with fake clients: dead letters that fit, retries, acks, redaction."""

from __future__ import annotations

import base64
import json
import threading
from typing import Any

import pytest

from tests.support import poll_until
from tests.unit.fakes import FakeConsumer, FakeMessage, FakeProducer
from runnotary.consumers.errors import DeliveryFailed
from runnotary.consumers.handlers import Handled, Outgoing
from runnotary.consumers.loop import Abandoned
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.consumers.service import Service
from runnotary.consumers.settings import Settings
from runnotary.contract import decode
from runnotary.registry import RegistryError, TrackingUnavailable


class ScriptedHandlers:
    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)

    def run_created(self, event: Any) -> list[Outgoing]:
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    meeting_requested = run_created


def _service(handlers: Any, producer: FakeProducer, **settings: Any) -> Service:
    return Service(Settings(**settings), handlers, FakeConsumer([]), producer, ServiceMetrics(),
                   retry_backoff=(0.001, 0.002), publish_timeout=2)


def _stopped_while_failing(error: Exception) -> FakeProducer:
    """Process one message whose handler raises ``error`` with stop already set: it must be abandoned."""
    producer = FakeProducer()
    stop = threading.Event()
    stop.set()
    service = _service(ScriptedHandlers(error), producer)
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    with pytest.raises(Abandoned):
        service.process(FakeMessage(b"x"), stop)
    return producer


def _letter(producer: FakeProducer) -> Any:
    topic, value, headers = producer.produced[-1]
    assert topic == "runnotary.deadletter"
    assert ("content-type", b"application/cloudevents+json; charset=UTF-8") in headers
    return decode("deadletter", value).data


def test_a_malformed_event_becomes_an_acknowledged_dead_letter_with_its_key_and_headers() -> None:
    producer = FakeProducer()
    message = FakeMessage(b"{broken", k=b"the-key", hdrs=[("ce_id", b"e1"), ("traceparent", b"00-ab")])
    _service(ScriptedHandlers(), producer).process(message, threading.Event())
    letter = _letter(producer)
    assert "invalid event" in letter.error and letter.error_type == "InvalidEvent"
    assert base64.b64decode(letter.key_b64) == b"the-key"
    assert base64.b64decode(letter.value_b64) == b"{broken"
    assert [(h.key, base64.b64decode(h.value_b64)) for h in letter.headers] == [("ce_id", b"e1"), ("traceparent", b"00-ab")]
    assert not letter.value_truncated


@pytest.mark.parametrize("size", [600_000, 800_000, 980_000])
def test_an_oversize_message_is_dead_lettered_unparsed_and_its_record_fits(size: int) -> None:
    producer = FakeProducer()
    raw = b"{" + b"x" * (size - 1)
    _service(ScriptedHandlers(), producer).process(FakeMessage(raw), threading.Event())
    letter = _letter(producer)
    assert letter.error_type == "MessageTooLarge" and "RUNNOTARY_MAX_EVENT_BYTES" in letter.error
    assert letter.value_truncated and letter.value_size == size
    assert len(base64.b64decode(letter.value_b64)) == 4096
    import hashlib

    assert letter.value_sha256 == hashlib.sha256(raw).hexdigest()
    assert len(producer.produced[-1][1]) < 256 * 1024


def test_an_invalid_message_under_the_input_limit_but_over_the_record_limit_keeps_a_prefix() -> None:
    producer = FakeProducer()
    raw = b"[" + b"1," * 200_000 + b"1]"  # 400 kB: parsed, invalid, too large to copy whole
    _service(ScriptedHandlers(), producer).process(FakeMessage(raw), threading.Event())
    letter = _letter(producer)
    assert letter.error_type == "InvalidEvent" and letter.value_truncated
    assert len(producer.produced[-1][1]) < 256 * 1024


def test_handler_refusals_are_dead_lettered_with_credentials_redacted() -> None:
    producer = FakeProducer()
    refusal = RegistryError("MLflow refused: API request to https://bob:hunter2@mlflow.internal/api failed, token=abc123")
    service = _service(ScriptedHandlers(refusal), producer)
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    service.process(FakeMessage(b"{}"), threading.Event())
    letter = _letter(producer)
    assert "hunter2" not in letter.error and "abc123" not in letter.error
    assert "https://***@mlflow.internal" in letter.error


def test_a_refused_publish_raises_delivery_failed() -> None:
    with pytest.raises(DeliveryFailed):
        _service(ScriptedHandlers(), FakeProducer(fail=True)).process(FakeMessage(b"{broken"), threading.Event())


def test_an_mlflow_outage_is_retried_with_the_partition_signal_down_then_up() -> None:
    producer = FakeProducer()
    out = [Outgoing("gates.status", "c", b"{}")]
    service = _service(ScriptedHandlers(TrackingUnavailable("down"), TrackingUnavailable("down"), out), producer)
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    downs: list[bool] = []
    service.tracking.down = lambda: downs.append(True)  # type: ignore[method-assign]
    service.process(FakeMessage(b"x"), threading.Event())
    assert [t for t, _, _ in producer.produced] == ["runnotary.gates.status"]
    assert len(downs) == 2 and not service.tracking.is_down
    assert service.metrics.tracking_down._value.get() == 2


def test_a_step_after_the_first_runs_once_its_events_are_acknowledged_and_is_retried_alone() -> None:
    """A registration's gate status goes out before the look after its mark; an outage in that look
    retries the look only, and its events follow."""
    producer = FakeProducer()
    decided = [Outgoing("gates.status", "c", b"{}")]
    looks: list[list[str]] = []

    def look() -> list[Outgoing]:
        looks.append([topic for topic, _, _ in producer.produced])  # what was published (and acknowledged) by then
        if len(looks) < 3:
            raise TrackingUnavailable("down")
        return [Outgoing("alerts", "c", b"{}")]

    service = _service(ScriptedHandlers(Handled(decided, look)), producer)
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    service.process(FakeMessage(b"x"), threading.Event())
    assert looks == [["runnotary.gates.status"]] * 3  # the first step ran once; its event was out before each look
    assert [t for t, _, _ in producer.produced] == ["runnotary.gates.status", "runnotary.alerts"]
    assert producer._pending == [] and not service.tracking.is_down


def test_stop_during_an_outage_abandons_the_message_without_publishing() -> None:
    assert _stopped_while_failing(TrackingUnavailable("down")).produced == []


def test_every_dead_letter_of_hostile_bytes_fits_and_names_a_reason() -> None:
    """Random bytes, deep nesting, non-UTF-8 and empty values all end as dead letters, never a crash."""
    import random

    rng = random.Random(7)
    producer = FakeProducer()
    service = _service(ScriptedHandlers(), producer)
    payloads = [b"", b"\xff\xfe\x00", b"[" * 100_000 + b"]" * 100_000, json.dumps({"specversion": "1.0"}).encode(), None]
    payloads += [bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000))) for _ in range(200)]
    for i, raw in enumerate(payloads):
        service.process(FakeMessage(raw, off=i), threading.Event())
        letter = _letter(producer)
        assert letter.offset == i and letter.error
        assert len(producer.produced[-1][1]) < 256 * 1024


def test_an_unexpected_error_keeps_the_message_holds_its_partition_and_is_retried_not_deadlettered() -> None:
    """A bug (AttributeError) is not the input's fault: no dead letter, partition held, /readyz not ready."""
    from runnotary.consumers.health import ServiceReadiness

    producer = FakeProducer()
    out = [Outgoing("gates.status", "c", b"{}")]
    service = _service(ScriptedHandlers(AttributeError("'NoneType' object has no attribute 'run_id'"), out), producer)
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    readiness = ServiceReadiness(service.metrics, "sqlite:///x.db", tracking=service.tracking)
    service.metrics.polled()
    seen: list[tuple[bool, tuple[bool, str]]] = []

    class Watching(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            seen.append((service.tracking.faulted(("runnotary.runs.created", 0)), readiness()))
            return False

    service.process(FakeMessage(b"x"), Watching())
    [(held, (ready, reason))] = seen
    assert held and not ready and "AttributeError" in reason
    assert [t for t, _, _ in producer.produced] == ["runnotary.gates.status"]  # retried, then processed: no dead letter
    assert service.metrics.unexpected_errors.labels("runs.created")._value.get() == 1
    assert not service.tracking.faulted(("runnotary.runs.created", 0)) and readiness()[0]


def test_stop_while_a_message_keeps_failing_unexpectedly_abandons_it_uncommitted() -> None:
    assert _stopped_while_failing(KeyError("x")).produced == []


def test_during_an_outage_the_retry_waits_on_the_health_probe_not_the_backoff() -> None:
    """With a 30 s backoff, the event is retried as soon as the probe says MLflow answers again."""
    producer = FakeProducer()
    out = [Outgoing("gates.status", "c", b"{}")]
    service = _service(ScriptedHandlers(TrackingUnavailable("down"), out), producer)
    service.retry_backoff, service.probe_interval = (30.0, 30.0), 0.001
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    answers = iter([False, False, True])
    probes: list[bool] = []
    service.probe = lambda: probes.append(next(answers)) or probes[-1]
    service.process(FakeMessage(b"x"), threading.Event())
    assert probes == [False, False, True]
    assert [t for t, _, _ in producer.produced] == ["runnotary.gates.status"]


def test_a_handler_bug_through_the_loop_dead_letters_nothing_commits_nothing_and_pauses_the_partition() -> None:
    from runnotary.consumers.health import ServiceReadiness

    class Broken:
        def run_created(self, event: Any) -> list[Outgoing]:
            raise AttributeError("'Registration' object has no attribute 'run'")

    producer = FakeProducer()
    consumer = FakeConsumer([FakeMessage(b"x", off=0)])
    service = Service(Settings(shutdown_timeout_s=1), Broken(), consumer, producer, ServiceMetrics(), retry_backoff=(0.01, 0.05), publish_timeout=2)  # type: ignore[arg-type]
    service._decode = lambda topic, message: None  # type: ignore[method-assign]
    readiness = ServiceReadiness(service.metrics, "sqlite:///x.db", tracking=service.tracking)
    stop = threading.Event()
    thread = threading.Thread(target=service.run, args=(stop,))
    thread.start()
    poll_until(lambda: 0 in consumer.paused and service.metrics.unexpected_errors.labels("runs.created")._value.get() >= 3, 20)
    ready, reason = readiness()
    stop.set()
    thread.join(30)
    assert not thread.is_alive()
    assert 0 in consumer.paused
    assert not ready and "partition 0 keeps failing (AttributeError)" in reason
    assert service.metrics.unexpected_errors.labels("runs.created")._value.get() >= 3
    assert producer.produced == [] and consumer.committed_offset() is None
