"""A broker outage during publish: the event waits in the spool and `runnotary flush` delivers it once, as it was."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Message

from tests.support import RUNNOTARY, read_messages
from runnotary.client import Artifact, ClientSettings, Metric, Spool, SpooledEvent, flush, publish_run
from runnotary.consumers.broker import EmbeddedBroker, free_port
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import decode
TAGS = {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation", "evaluation_type": "smoke"}


@pytest.fixture
def outage(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fixed port for a broker the test starts and stops, settings pointing at it, and a job's files."""
    port = free_port()
    settings = ClientSettings(kafka_bootstrap=f"127.0.0.1:{port}", topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
                              spool_dir=tmp_path / "spool", delivery_timeout_s=3)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "queries.csv").write_text("q1\nq2\n")
    (tmp_path / "artifacts" / "r").mkdir(parents=True)
    (tmp_path / "artifacts" / "r" / "per_query.csv").write_text("query_id,ndcg@10\nq1,0.5\nq2,0.7\n")
    brokers: list[EmbeddedBroker] = []

    def start() -> EmbeddedBroker:
        broker = EmbeddedBroker(port=port).start()
        brokers.append(broker)
        # A memory-only broker forgets its topics.
        assert not ensure_topics(Settings(**settings.model_dump(), topic_partitions=1), ["runs.created"])
        return broker

    yield {"settings": settings, "start": start, "tmp": tmp_path}
    for broker in brokers:
        broker.stop()


def _publish(outage: dict[str, Any], run_name: str) -> Any:
    tmp: Path = outage["tmp"]
    return publish_run(
        experiment="/tests/spool", run_name=run_name, candidate_id="cand-spool", role="candidate",
        owners=["ml@example.org"], dataset=tmp / "data", seed=1, seed_family="fam", tags=TAGS,
        metrics=[Metric("ndcg@10", 0.6, "r/per_query.csv")], artifacts=[Artifact("per_query", "r/per_query.csv")],
        artifact_root=tmp / "artifacts", git_commit="ab" * 20, settings=outage["settings"],
    )


def _read_topic(settings: ClientSettings, expect: int, timeout: float = 20.0) -> list[Message]:
    """runs.created so far, read a little past ``expect`` so that a duplicate would be seen."""
    return read_messages(settings, "runs.created", expect, timeout, linger=timeout / 2)


def _flush_cli(settings: ClientSettings) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNNOTARY_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
           "RUNNOTARY_TOPIC_PREFIX": settings.topic_prefix, "RUNNOTARY_SPOOL_DIR": str(settings.spool_dir),
           "RUNNOTARY_DELIVERY_TIMEOUT_S": "3"}
    return subprocess.run([RUNNOTARY, "flush"], capture_output=True, text=True, env=env, timeout=120)


def test_an_outage_spools_the_event_and_flush_delivers_it_once_byte_for_byte(outage: dict[str, Any]) -> None:
    settings: ClientSettings = outage["settings"]
    broker = outage["start"]()
    first = _publish(outage, "before-outage")
    assert first.status == "delivered"
    broker.stop()

    during = _publish(outage, "during-outage")
    assert during.status == "spooled" and during.error
    spool = Spool(settings.spool_dir)
    [path] = spool.paths()
    spooled = SpooledEvent.from_file(path)
    assert spooled.event_id == during.event_id

    still_down = _flush_cli(settings)
    assert still_down.returncode == 1 and f"{during.event_id} not delivered" in still_down.stderr
    assert spool.paths() == [path]

    outage["start"]()  # the broker is back (empty: the memory store lost the first event)
    back = _flush_cli(settings)
    assert back.returncode == 0, back.stderr
    assert back.stdout.split() == [during.event_id, "delivered"]
    assert not spool.paths()

    again = _flush_cli(settings)
    assert again.returncode == 0 and again.stdout == "" and "0 delivered" in again.stderr

    [message] = _read_topic(settings, expect=1)
    assert message.value() == spooled.value  # the spooled bytes, as they were
    assert message.key() == spooled.key
    assert dict(message.headers() or [])["content-type"] == b"application/cloudevents+json; charset=UTF-8"
    event = decode("runs.created", message.value())
    assert event.id == during.event_id and event.data.run_name == "during-outage"
    assert event.source.startswith("urn:runnotary:job:") and event.source.endswith("/%2Ftests%2Fspool/during-outage")


def test_the_next_publish_delivers_what_an_outage_left_first(outage: dict[str, Any]) -> None:
    settings: ClientSettings = outage["settings"]
    spooled = _publish(outage, "first")
    assert spooled.status == "spooled"
    outage["start"]()
    delivered = _publish(outage, "second")
    assert delivered.status == "delivered" and delivered.flushed == [spooled.event_id]
    assert not Spool(settings.spool_dir).paths()
    ids = [json.loads(m.value())["id"] for m in _read_topic(settings, expect=2)]
    assert ids == [spooled.event_id, delivered.event_id]  # in publish order
    assert flush(settings).delivered == []


def test_a_torn_spool_file_from_a_crash_is_ignored_by_flush(outage: dict[str, Any]) -> None:
    settings: ClientSettings = outage["settings"]
    spooled = _publish(outage, "whole")
    torn = Path(settings.spool_dir) / f".tmp-1-00000000000000000002-{uuid.uuid4()}.event.json"
    torn.write_bytes(b'{"version": 1, "event_id": "x", "topic"')
    outage["start"]()
    result = flush(settings)
    assert result.delivered == [spooled.event_id] and not result.failed and not result.unreadable
    assert [json.loads(m.value())["id"] for m in _read_topic(settings, expect=1)] == [spooled.event_id]
