"""Publishing from threads that share one producer, as the service's workers do: messages per second
and the median time to an acknowledgement, with the poll interval of ``produce_and_wait`` (5 ms) beside
the 50 ms it had, for one publisher and for four, in one run.

The broker is ``RUNNOTARY_KAFKA_BOOTSTRAP`` when set, else the embedded one. Each publisher sends one
200-byte message at a time and waits for its acknowledgement (what a dead letter or a gate status
costs the service), ``--messages`` per publisher.

    .venv/bin/python -m benchmarks.publish [--messages 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from runnotary.consumers.broker import EmbeddedBroker
from runnotary.consumers.kafka import make_producer
from runnotary.consumers.settings import Settings
from runnotary.contract.delivery import Outbound, produce_and_wait

INTERVALS = {"50 ms (before)": 0.05, "5 ms (now)": 0.005}


def _round(producer: Producer, topic: str, publishers: int, messages: int, interval: float) -> tuple[float, float]:
    """Messages per second and median seconds to an acknowledgement."""
    latencies: list[float] = []

    def publish(worker: int) -> None:
        for i in range(messages):
            started = time.perf_counter()
            deliveries = produce_and_wait(producer, [Outbound(topic, f"{worker}-{i}".encode(), b"x" * 200)], 10,
                                          poll_interval=interval)
            if not deliveries.ok:
                raise RuntimeError(deliveries.summary("publish(es)"))
            latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(publishers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200, help="messages per publisher and round")
    args = parser.parse_args()
    configured = os.environ.get("RUNNOTARY_KAFKA_BOOTSTRAP")
    broker = None if configured else EmbeddedBroker().start()
    try:
        bootstrap = broker.bootstrap if broker is not None else str(configured)
        topic = f"bench-publish-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": bootstrap})
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result()
        producer = make_producer(Settings(), bootstrap)  # the service's own producer configuration
        produce_and_wait(producer, [Outbound(topic, b"warm", b"up")], 30)
        print(f"{'publishers':>10}  {'poll interval':<15} {'msg/s':>7} {'median ack':>11}")
        for publishers in (1, 4):
            rates: dict[str, float] = {}
            for name, interval in [*INTERVALS.items(), *INTERVALS.items()]:  # each twice, alternating
                rate, median = _round(producer, topic, publishers, args.messages, interval)
                rates[name] = max(rate, rates.get(name, 0.0))
                print(f"{publishers:>10}  {name:<15} {rate:>7.0f} {median * 1e3:>8.1f} ms")
            before, now = rates.values()
            print(f"{publishers:>10}  best msg/s, now / before: {now / before:.2f}x")
        admin.delete_topics([topic])
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
