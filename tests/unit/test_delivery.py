"""produce_and_wait with a producer shared by threads, as the service's workers share theirs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from runnotary.contract.delivery import Outbound, produce_and_wait


class QueueProducer:
    """librdkafka's reporting, in small: a report is ready ``ack_delay`` s after its produce; ``poll``
    serves every ready report on the calling thread, whoever produced it, and when none is ready it
    blocks until one is or its timeout passes. Values starting with ``bad`` are refused by the broker."""

    def __init__(self, ack_delay: float = 0.002, ack: bool = True) -> None:
        self.ack_delay, self.ack = ack_delay, ack
        self._ready = threading.Condition()
        self._pending: list[tuple[float, Callable[[Any, Any], None], bytes | None, int]] = []
        self.served_by_other_thread = 0
        self.timeouts: list[float] = []

    def produce(self, topic: str, *, key: bytes | None, value: bytes | None, headers: Any,
                on_delivery: Callable[[Any, Any], None]) -> None:
        with self._ready:
            self._pending.append((time.monotonic() + self.ack_delay, on_delivery, value, threading.get_ident()))
            self._ready.notify_all()

    def poll(self, timeout: float) -> int:
        self.timeouts.append(timeout)
        end = time.monotonic() + timeout
        with self._ready:
            while True:
                now = time.monotonic()
                due = [p for p in self._pending if p[0] <= now] if self.ack else []
                if due or now >= end:
                    break
                self._ready.wait(min(end, min((p[0] for p in self._pending), default=end)) - now)
            self._pending = [p for p in self._pending if p not in due]
        for _, callback, value, producer_thread in due:
            if producer_thread != threading.get_ident():
                self.served_by_other_thread += 1
            callback("MSG_SIZE_TOO_LARGE" if (value or b"").startswith(b"bad") else None, None)
        return len(due)


def test_each_thread_gets_its_own_reports_when_another_thread_serves_them() -> None:
    producer = QueueProducer()
    results: dict[tuple[int, int], Any] = {}

    def send(worker: int) -> None:
        for round_ in range(40):
            values = [f"{worker}-{round_}-0".encode(), b"bad" if (worker + round_) % 3 == 0 else b"good",
                      f"{worker}-{round_}-2".encode()]
            results[worker, round_] = produce_and_wait(producer, [Outbound("t", None, v, label=f"m{i}")
                                                                  for i, v in enumerate(values)], timeout=10)

    threads = [threading.Thread(target=send, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert producer.served_by_other_thread > 0, "no report crossed threads: the case under test never happened"
    for (worker, round_), deliveries in results.items():
        if (worker + round_) % 3 == 0:
            assert deliveries.failed == {1: "MSG_SIZE_TOO_LARGE"} and not deliveries.unacknowledged
        else:
            assert deliveries.ok


def test_unacknowledged_messages_are_reported_at_the_deadline_and_no_poll_outlasts_it() -> None:
    producer = QueueProducer(ack=False)
    started = time.monotonic()
    deliveries = produce_and_wait(producer, [Outbound("t", None, b"a"), Outbound("t", None, b"b")], timeout=0.05)
    assert time.monotonic() - started >= 0.05
    assert deliveries.unacknowledged == (0, 1) and not deliveries.failed and not deliveries.ok
    assert producer.timeouts and max(producer.timeouts) <= 0.005
