"""A fault harness: `runnotary serve` as a subprocess, a stream of events, and checks of what it left.

The checks read only what a user could read: the MLflow runs, the output topics, and the
consumer group's committed offsets against the offsets the test itself produced (Tansu's high
watermark lags, so lag is measured against produced offsets).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition
from mlflow.tracking import MlflowClient

from tests.support import RUNNOTARY, poll_until, run_created_event
from runnotary.consumers.settings import Settings
from runnotary.contract import RunCreated, decode, encode, pairing_key
from runnotary.registry.synthetic import generate


def serve_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The RUNNOTARY_* environment of ``settings`` for a `runnotary serve` subprocess."""
    env = {**os.environ, **extra}
    env.update({
        "RUNNOTARY_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "", "RUNNOTARY_MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri or "",
        "RUNNOTARY_TOPIC_PREFIX": settings.topic_prefix, "RUNNOTARY_GROUP_ID": settings.group_id,
        "RUNNOTARY_TOPIC_PARTITIONS": str(settings.topic_partitions), "RUNNOTARY_SESSION_TIMEOUT_MS": "6000",
        "RUNNOTARY_MAX_POLL_INTERVAL_MS": "10000", "RUNNOTARY_STATE_DIR": str(settings.state_dir),
        "RUNNOTARY_ARTIFACT_ROOT": str(settings.artifact_root), "RUNNOTARY_BUNDLE_DIR": str(settings.bundle_dir),
        "RUNNOTARY_METRICS_PORT": "0", "RUNNOTARY_N_RESAMPLES": str(settings.n_resamples), "RUNNOTARY_LOG_LEVEL": "INFO",
    })
    return env


#: Every `runnotary serve` a test started: the ones still running when it ends are killed (``kill_leftovers``).
_STARTED: list[ServeProcess] = []


def kill_leftovers() -> list[str]:
    """Kill the `runnotary serve` processes a test left running (it failed before stopping them); their logs."""
    left = [p for p in _STARTED if p.alive()]
    for serve in left:
        serve.kill9()
    _STARTED.clear()
    return [str(p.log) for p in left]


@dataclass
class ServeProcess:
    """One `runnotary serve`; ``kill9`` and ``start`` may be called any number of times."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    exits: list[int] = field(default_factory=list)

    def start(self) -> ServeProcess:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([RUNNOTARY, "serve"], env=self.env, stdout=out, stderr=subprocess.STDOUT)
        _STARTED.append(self)
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None:
            return 0
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.exits.append(code)
        self.process = None
        return code


@dataclass
class Stream:
    """The events a test publishes, in order, with what the service should make of them."""

    events: list[tuple[str, RunCreated, bytes]] = field(default_factory=list)  # (event id, run, message value)
    produced: dict[tuple[str, int], int] = field(default_factory=dict)  # (topic, partition) -> next offset

    def add(self, run: RunCreated) -> bytes:
        """Append ``run``'s runs.created event; returns the message value."""
        event = run_created_event(run)
        self.events.append((event.id, run, encode(event)))
        return self.events[-1][2]

    def expected_pairs(self) -> dict[str, str]:
        """candidate_id -> baseline candidate_id under the pairing rule, from the publish order per key:
        the newest baseline published before the candidate, else the first one published after it."""
        by_key: dict[str, list[RunCreated]] = defaultdict(list)
        for _, run, _ in self.events:
            by_key[pairing_key(run)].append(run)
        pairs = {}
        for runs in by_key.values():
            for i, run in enumerate(runs):
                if run.role != "candidate":
                    continue
                before = [r for r in runs[:i] if r.role == "baseline"]
                after = [r for r in runs[i:] if r.role == "baseline"]
                chosen = before[-1] if before else (after[0] if after else None)
                if chosen is not None:
                    pairs[run.candidate_id] = chosen.candidate_id
        return pairs


def make_stream(root: Path, experiment: str, n_keys: int, per_key: int, seed: int = 1) -> Stream:
    """``n_keys`` pairing keys with ``per_key`` events each (two baselines, the rest candidates), the
    keys interleaved at random and some candidates before their first baseline."""
    rng = random.Random(seed)
    base, cand_a, cand_b = generate(root, experiment=experiment, n_queries=60, n_requests=300, seed=seed)
    keep = {"per_query", "latency_log", "ablation", "correlation"}

    def variant(template: RunCreated, key: int, index: int) -> RunCreated:
        artifacts = [a for a in template.artifacts if a.kind in keep]
        paths = {a.path for a in artifacts}
        run_tag = uuid.uuid4().hex[:8]
        return template.model_copy(update={
            "candidate_id": f"{template.role[:4]}-{key:04d}-{index:02d}-{run_tag}",
            "run_name": f"eval_stream_{key:04d}_{index:02d}_{run_tag}",
            "dataset": template.dataset.model_copy(update={"sha256": f"{key:08x}".rjust(64, "0")}),
            "artifacts": artifacts,
            "metrics": [m.model_copy(update={"uuid": uuid.uuid4()}) for m in template.metrics if m.source in paths],
        })

    queues = []
    for key in range(n_keys):
        roles = ["baseline", "baseline"] + ["candidate"] * (per_key - 2)
        rng.shuffle(roles)
        queues.append([variant(base if role == "baseline" else rng.choice([cand_a, cand_b]), key, i)
                       for i, role in enumerate(roles)])
    stream = Stream()
    started = datetime.now(timezone.utc) - timedelta(hours=1)
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        # Jobs finish one after another: "newest baseline" follows the publish order.
        stream.add(queue.pop(0).model_copy(update={"created_at": started + timedelta(seconds=len(stream.events))}))
    return stream


def publish(settings: Settings, stream: Stream, values: Iterable[tuple[str, bytes, bytes | None]]) -> None:
    """Produce ``(logical topic, value, key)`` in order; record each message's partition and offset."""
    producer = Producer({**settings.kafka_config(), "enable.idempotence": True, "acks": "all", "linger.ms": 20})

    def delivered(err: Any, msg: Any) -> None:
        assert err is None, err
        tp = (msg.topic(), msg.partition())
        stream.produced[tp] = max(stream.produced.get(tp, 0), msg.offset() + 1)

    for topic, value, key in values:
        while True:
            try:
                producer.produce(settings.topic(topic), key=key, value=value, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0


def run_values(stream: Stream) -> list[tuple[str, bytes, bytes | None]]:
    return [("runs.created", value, pairing_key(run).encode()) for _, run, value in stream.events]


def rotated_key(run: RunCreated, i: int) -> bytes | None:
    """The ``i``-th Kafka key in rotation: the candidate id, no key, the pairing key (pairing must not depend on it)."""
    return [run.candidate_id.encode(), None, pairing_key(run).encode()][i % 3]


def committed_lag(settings: Settings, stream: Stream, topic: str = "runs.created") -> int:
    """Messages produced to ``topic`` that the service's group has not committed yet."""
    name = settings.topic(topic)
    parts = [tp for tp in stream.produced if tp[0] == name]
    consumer = Consumer({**settings.kafka_config(), "group.id": settings.group_id})
    try:
        offsets = consumer.committed([TopicPartition(t, p) for t, p in parts], timeout=10)
    finally:
        consumer.close()
    return sum(stream.produced[(o.topic, o.partition)] - max(o.offset, 0) for o in offsets)


def wait_until(condition: Any, timeout: float, what: str, every: float = 1.0) -> float:
    """Seconds until ``condition()`` held; fails naming ``what`` if it did not within ``timeout``."""
    started = time.monotonic()
    if not poll_until(condition, timeout, every):
        raise AssertionError(f"{what}: not reached within {timeout:.0f} s")
    return time.monotonic() - started


def read_topic(settings: Settings, topic: str, timeout: float = 20.0, expect: int = 0) -> list[tuple[Any, Any]]:
    """Every message of an output topic so far: ``(message, decoded event)``; with ``expect``, reads
    until that many arrived (or ``timeout`` passes with none), however long a pause there is."""
    consumer = Consumer({**settings.kafka_config(), "group.id": f"read-{uuid.uuid4().hex}", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000})
    consumer.subscribe([settings.topic(topic)])
    out = []
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < timeout:
            message = consumer.poll(0.5)
            if message is None or message.error() is not None:
                if out and len(out) >= expect and time.monotonic() - idle_since > 3:
                    break
                continue
            idle_since = time.monotonic()
            out.append((message, decode(topic, message.value(), message.headers())))
    finally:
        consumer.close()
    return out


def runs_by_event(client: MlflowClient, experiment: str) -> dict[str, list[Any]]:
    """Live runs of ``experiment`` grouped by their event id (every page)."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None
    grouped: dict[str, list[Any]] = defaultdict(list)
    token = None
    while True:
        page = client.search_runs([found.experiment_id], max_results=1000, page_token=token)
        for run in page:
            if run.info.status != "FAILED":  # an event refused for good leaves its run FAILED, not live
                grouped[run.data.tags.get("runnotary.event_id", "")].append(run)
        token = page.token
        if not token:
            return grouped


def check_exactly_once(settings: Settings, stream: Stream, experiment: str) -> dict[str, Any]:
    """Every event one run; every paired candidate one gate-status id for its pair, with the expected baseline."""
    client = MlflowClient(settings.mlflow_tracking_uri)
    grouped = runs_by_event(client, experiment)
    ids = {event_id for event_id, _, _ in stream.events}
    assert set(grouped) == ids, f"{len(set(grouped) - ids)} unexpected, {len(ids - set(grouped))} missing runs"
    doubled = {k: len(v) for k, v in grouped.items() if len(v) != 1}
    assert not doubled, f"events with more than one run: {doubled}"
    run_of = {e: runs[0].info.run_id for e, runs in grouped.items()}
    candidate_of_run = {run_of[e]: run.candidate_id for e, run, _ in stream.events}

    statuses = read_topic(settings, "gates.status")
    ids_per_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, event in statuses:
        ids_per_pair[(event.data.candidate_run, event.data.baseline_run)].add(event.id)
    assert all(len(v) == 1 for v in ids_per_pair.values()), {k: v for k, v in ids_per_pair.items() if len(v) > 1}
    paired = {candidate_of_run[c]: candidate_of_run[b] for c, b in ids_per_pair}
    expected = stream.expected_pairs()
    assert paired == expected, {c: (paired.get(c), expected.get(c)) for c in set(paired) | set(expected)
                                if paired.get(c) != expected.get(c)}
    return {"runs": len(run_of), "pairs": len(paired), "statuses": len(statuses)}
