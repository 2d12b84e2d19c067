"""Kafka clients configured for at-least-once processing with offsets committed after the effect."""

from __future__ import annotations

import re
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from runnotary.consumers.settings import Settings

__all__ = ["make_consumer", "make_producer", "ensure_topics", "LEGAL_TOPIC"]

#: Kafka's rule for topic names (some Kafka-compatible brokers are laxer; runnotary is not).
LEGAL_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


def make_producer(settings: Settings, bootstrap: str | None = None) -> Producer:
    return Producer({
        **settings.kafka_config(bootstrap),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "client.id": "runnotary",
    })


def make_consumer(settings: Settings, bootstrap: str | None = None) -> Consumer:
    config: dict[str, str | int | float | bool] = {
        **settings.kafka_config(bootstrap),
        "group.id": settings.group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.session_timeout_ms,
        "max.poll.interval.ms": settings.max_poll_interval_ms,
        "client.id": "runnotary",
    }
    if settings.kafka_fetch_wait_max_ms is not None:
        config["fetch.wait.max.ms"] = settings.kafka_fetch_wait_max_ms
    return Consumer(config)


def ensure_topics(settings: Settings, names: Iterable[str], bootstrap: str | None = None) -> dict[str, str]:
    """Create the topics that do not exist yet; return the ones that could not be created, with why.

    An existing topic is left as it is. A cluster that forbids creation (ACLs) is not fatal here:
    the service then relies on topics its operators made.
    """
    topics = [settings.topic(n) for n in names]
    failed = {t: "illegal topic name (letters, digits, '.', '_', '-'; at most 249)" for t in topics if not LEGAL_TOPIC.match(t)}
    admin = AdminClient(settings.kafka_config(bootstrap))
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=settings.topic_partitions, replication_factor=-1) for t in topics if t not in failed],
        operation_timeout=10,
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=15)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                failed[topic] = str(exc.args[0])
    return failed
