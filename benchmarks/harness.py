"""The end-to-end benchmark's harness: topics, a publisher and output watcher, ``runnotary serve``
subprocesses, and a py-spy profile of one of them.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.servers import free_port
from benchmarks.workload import GROUP, Workload, message_key

__all__ = ["Instance", "Kafka", "Seen", "profile_summary", "profiled", "serving", "warm_up"]

_OUTPUTS = ("gates.status", "alerts", "deadletter")
_TOPICS = ("runs.created", "meetings.requested", "commands", *_OUTPUTS, "bundles.emitted")


# -- the broker side: topics, a publisher and a watcher of the outputs ------------------------------------


@dataclass
class Seen:
    """Output events by phase (the phase is the candidate id's second field)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    gates: dict[str, dict[str, float]] = field(default_factory=lambda: collections.defaultdict(dict))
    last: dict[str, float] = field(default_factory=dict)  # phase -> receive time of its latest output
    deadletters: list[str] = field(default_factory=list)


class Kafka:
    """Topics of one prefix, a producer, and a thread that reads every output from the beginning."""

    def __init__(self, bootstrap: str, prefix: str, partitions: int, fetch_wait_ms: int | None = None) -> None:
        """``fetch_wait_ms``: fetch.wait.max.ms of the watcher and of the services (the embedded broker needs a short one)."""
        from confluent_kafka import Consumer, Producer, TopicPartition
        from confluent_kafka.admin import AdminClient, NewTopic

        self.bootstrap, self.prefix, self.fetch_wait_ms = bootstrap, prefix, fetch_wait_ms
        quiet = {"bootstrap.servers": bootstrap, "log.connection.close": False}
        admin = AdminClient(quiet)
        for future in admin.create_topics([NewTopic(prefix + t, partitions, replication_factor=-1) for t in _TOPICS],
                                          operation_timeout=10).values():
            future.result(timeout=30)
        self.producer = Producer({**quiet, "acks": "all", "enable.idempotence": True,
                                  "linger.ms": 5})
        self.seen = Seen()
        self._stop = threading.Event()
        waits = {"fetch.wait.max.ms": fetch_wait_ms} if fetch_wait_ms is not None else {}
        self._consumer = Consumer({**quiet, **waits, "group.id": f"{prefix}watch",
                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"})
        self._consumer.assign([TopicPartition(prefix + t, p, -2) for t in _OUTPUTS for p in range(partitions)])
        self._thread = threading.Thread(target=self._watch, name="watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            message = self._consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            now = time.time()
            topic = (message.topic() or "").removeprefix(self.prefix)
            data = json.loads(message.value())
            candidate = (data.get("subject") if topic == "gates.status" else data["data"].get("candidate_id")) or ""
            phase = candidate.split("-")[1] if candidate.startswith("bench-") else "?"
            with self.seen.lock:
                if topic == "gates.status":
                    self.seen.gates[phase][candidate] = now
                if topic == "deadletter":
                    self.seen.deadletters.append(str(data["data"].get("error"))[:300])
                self.seen.last[phase] = now

    def publish(self, events: list, rate: float | None = None) -> dict[str, float]:
        """Produce ``events`` (all at once, or ``rate`` per second); returns each candidate id's publish time."""
        from runnotary.contract import encode, envelope

        sent: dict[str, float] = {}
        start = time.time()
        for i, event in enumerate(events):
            if rate:
                time.sleep(max(0.0, start + i / rate - time.time()))
            sent[event.candidate_id] = time.time()
            self.producer.produce(self.prefix + "runs.created", key=message_key(event),
                                  value=encode(envelope("runs.created", event, subject=event.candidate_id)))
            self.producer.poll(0)
        if self.producer.flush(60):
            raise RuntimeError("the broker did not acknowledge every runs.created event")
        return sent

    def wait_gates(self, phase: str, expected: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.seen.lock:
                if self.seen.deadletters:
                    raise RuntimeError(f"an event was dead-lettered: {self.seen.deadletters[0]}")
                if len(self.seen.gates[phase]) >= expected:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"phase {phase}: {len(self.seen.gates[phase])} of {expected} gate statuses within {timeout:.0f} s")

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(5)
        self._consumer.close()
        self.producer.flush(5)
        del self.producer  # librdkafka keeps reconnecting until the producer is gone


# -- runnotary serve as subprocesses ---------------------------------------------------------------------


@dataclass
class Instance:
    process: subprocess.Popen[bytes]
    metrics_port: int

    def events_handled(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return 0.0
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("runnotary_events_total{"))


@contextmanager
def serving(n: int, *, kafka: Kafka, url: str, root: Path, work: Path, group: str) -> Iterator[list[Instance]]:
    """``n`` ``runnotary serve`` processes in one consumer group, stopped with SIGTERM on exit."""
    binary = str(Path(sys.executable).with_name("runnotary"))
    instances: list[Instance] = []
    try:
        for i in range(n):
            port = free_port()
            state = work / f"{group}-{i}"
            state.mkdir(parents=True)
            env = {**os.environ, "RUNNOTARY_KAFKA_BOOTSTRAP": kafka.bootstrap, "RUNNOTARY_TOPIC_PREFIX": kafka.prefix,
                   "RUNNOTARY_GROUP_ID": group, "RUNNOTARY_SESSION_TIMEOUT_MS": "6000",
                   "RUNNOTARY_MAX_POLL_INTERVAL_MS": "30000", "RUNNOTARY_MLFLOW_TRACKING_URI": url,
                   "RUNNOTARY_STATE_DIR": str(state), "RUNNOTARY_ARTIFACT_ROOT": str(root),
                   "RUNNOTARY_BUNDLE_DIR": str(state / "bundle"), "RUNNOTARY_METRICS_PORT": str(port)}
            if kafka.fetch_wait_ms is not None:
                env["RUNNOTARY_KAFKA_FETCH_WAIT_MAX_MS"] = str(kafka.fetch_wait_ms)
            with (state / "serve.log").open("wb") as log:
                process = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            instances.append(Instance(process, port))
        yield instances
    finally:
        for instance in instances:
            if instance.process.poll() is None:
                os.killpg(instance.process.pid, signal.SIGTERM)
        for instance in instances:
            try:
                instance.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(instance.process.pid, signal.SIGKILL)
                instance.process.wait()


def warm_up(kafka: Kafka, instances: list[Instance], workload: Workload, phase: str, timeout: float) -> None:
    """Wait until every instance has handled events (consumer assigned, kernels and clients warm)."""
    deadline = time.monotonic() + timeout
    start = len(workload.runs) - 2 * GROUP  # the workload's last two groups are kept for warming up
    rounds = 0
    while True:
        events = workload.events(f"{phase}w{rounds}", start, 2 * GROUP)
        kafka.publish(events)
        kafka.wait_gates(f"{phase}w{rounds}", sum(e.role == "candidate" for e in events), deadline - time.monotonic())
        if all(i.events_handled() > 0 for i in instances):
            return
        for i in instances:
            if i.process.poll() is not None:
                raise RuntimeError(f"runnotary serve exited with code {i.process.returncode}")
        rounds += 1
        if time.monotonic() > deadline:
            raise RuntimeError("not every runnotary serve instance got partitions to consume")


@contextmanager
def profiled(pid: int, py_spy: str | None, out: Path) -> Iterator[None]:
    """Sample ``pid`` with py-spy (collapsed stacks in ``out``) while the block runs, if ``py_spy`` is given."""
    if py_spy is None:
        yield
        return
    spy = subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "100", "--nonblocking",
                            "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            spy.wait(60)
        except subprocess.TimeoutExpired:
            spy.kill()
            spy.wait()


def profile_summary(path: Path, top: int = 14) -> list[str]:
    """Inclusive share of samples by function, from py-spy's collapsed stacks (runnotary's own frames and
    the libraries they spend in)."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = [_frame(f) for f in stack.split(";")]
        for frame in dict.fromkeys(frames):
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not total:
        return ["  (no samples)"]
    lines = [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common()
             if "runnotary/" in name and not name.startswith(("run ", "main ", "<module>", "serve ", "_serve "))][:top]
    lines.append("  self time, top functions:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(8)]
    return lines


def _frame(raw: str) -> str:
    """``name (path/to/site-packages/pkg/mod.py:line)`` -> ``name (pkg/mod.py)``."""
    name, _, where = raw.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    where = where.split("site-packages/", 1)[-1]
    return f"{name} ({where})"
