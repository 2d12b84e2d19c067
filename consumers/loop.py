"""The consume loop: poll on one thread, work on others, commit only what is durable, in order.

The polling thread never blocks on work. Each message becomes a task on a small thread pool;
tasks of one partition with the same message key run one after another, in offset order (the
key of ``runs.created`` is the pairing key, so a candidate and its baselines are seen in the
order they were published), while other keys and partitions run alongside. A partition's
offset is stored only up to its highest *contiguous* finished message, and stored offsets are
committed every ``commit_interval`` seconds: a crash replays exactly the unfinished suffix.

Flow control follows Kafka's rule that a consumer must keep polling: when a partition has too
many messages in flight, or MLflow is down, the loop pauses the partition and keeps calling
``poll`` (which also keeps the group membership alive); it resumes when the backlog drains or
MLflow answers again. A commit that fails after a rebalance is logged, never fatal: the new
owner replays from the last committed offset, and every effect is idempotent.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from runnotary.errors import RunnotaryError, redact

__all__ = ["Abandoned", "ConsumeLoop", "LoopConsumer", "Message", "TrackingSignal"]

log = structlog.get_logger("runnotary")

_REFRESH_S = 5.0  # every stored offset is committed again this often, in case an asynchronous commit was lost


class Message(Protocol):
    """The part of a Kafka message the service reads (confluent_kafka.Message, or a fake in unit tests)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> list[tuple[str, bytes]] | None: ...
    def error(self) -> KafkaError | None: ...


class LoopConsumer(Protocol):
    """What the loop needs of a confluent_kafka.Consumer."""

    def subscribe(self, topics: list[str], on_assign: Any = ..., on_revoke: Any = ..., on_lost: Any = ...) -> None: ...
    def poll(self, timeout: float) -> Any: ...
    def assign(self, partitions: list[TopicPartition]) -> None: ...
    def pause(self, partitions: list[TopicPartition]) -> None: ...
    def resume(self, partitions: list[TopicPartition]) -> None: ...
    def commit(self, *args: Any, **kwargs: Any) -> Any: ...  # (offsets=..., asynchronous=...)
    def get_watermark_offsets(self, partition: TopicPartition, timeout: float = ..., cached: bool = ...) -> Any: ...
    def close(self) -> None: ...


class Abandoned(RunnotaryError):
    """A task gave up because the service is stopping; its message stays uncommitted."""


class TrackingSignal:
    """Shared word between tasks and the loop: is MLflow answering, and which partitions hold a message
    that keeps failing for an unexpected reason? Tasks set it; the loop pauses on it; ``/readyz`` reads it."""

    def __init__(self) -> None:
        self._down = threading.Event()
        self._lock = threading.Lock()
        self._faults: dict[tuple[str, int], str] = {}

    def down(self) -> None:
        self._down.set()

    def up(self) -> None:
        self._down.clear()

    @property
    def is_down(self) -> bool:
        return self._down.is_set()

    def fault(self, tp: tuple[str, int], error_type: str) -> None:
        """A message of partition ``tp`` failed unexpectedly and is being retried: hold the partition."""
        with self._lock:
            self._faults[tp] = error_type

    def clear(self, tp: tuple[str, int]) -> None:
        with self._lock:
            self._faults.pop(tp, None)

    def faulted(self, tp: tuple[str, int]) -> bool:
        with self._lock:
            return tp in self._faults

    @property
    def faults(self) -> dict[tuple[str, int], str]:
        with self._lock:
            return dict(self._faults)


@dataclass(eq=False)
class _Task:
    message: Message
    lane: bytes | None
    done: bool = False


@dataclass
class _Partition:
    """In-flight state of one assigned partition."""

    tp: tuple[str, int]
    tasks: deque[_Task] = field(default_factory=deque)  # every uncommitted task, in offset order
    waiting: dict[bytes | None, deque[_Task]] = field(default_factory=dict)  # per key, behind a running task
    running: set[bytes | None] = field(default_factory=set)
    paused: bool = False
    stored: int | None = None  # next offset to commit (highest contiguous finished + 1)
    committed: int | None = None

    def topic_partition(self, offset: int = -1001) -> TopicPartition:
        return TopicPartition(self.tp[0], self.tp[1], offset)


@dataclass
class ConsumeLoop:
    """Poll ``topics`` and run ``work(message)`` for each message on ``workers`` threads.

    ``work(message, stop)`` makes the message's effects durable and returns, or raises
    ``Abandoned`` (``stop`` was set) or another exception, which stops the service with that
    message uncommitted.
    """

    consumer: LoopConsumer
    topics: list[str]
    work: Callable[[Message, threading.Event], None]
    tracking: TrackingSignal = field(default_factory=TrackingSignal)
    workers: int = 4
    max_in_flight: int = 16
    commit_interval: float = 1.0
    shutdown_timeout: float = 20.0
    on_lag: Callable[[str, int, int], None] | None = None
    on_poll: Callable[[], None] | None = None  # liveness: the loop just returned from poll
    on_forget: Callable[[str, int], None] | None = None  # a partition this instance no longer owns

    _partitions: dict[tuple[str, int], _Partition] = field(default_factory=dict, init=False)
    _finished: queue.SimpleQueue[tuple[_Task, Future[None]]] = field(default_factory=queue.SimpleQueue, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False)
    _fatal: BaseException | None = field(default=None, init=False)
    _last_commit: float = field(default=0.0, init=False)
    _last_refresh: float = field(default=0.0, init=False)
    _running: int = field(default=0, init=False)  # submitted tasks not yet reaped
    _stop: threading.Event = field(default_factory=threading.Event, init=False)

    # -- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set or a task fails fatally (re-raised here); closes the consumer."""
        self._stop = stop
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="runnotary-work")
        self.consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost)
        log.info("consuming", topics=self.topics, workers=self.workers)
        try:
            while not stop.is_set() and self._fatal is None:
                message = self.consumer.poll(0.05 if self._running else 0.5)
                if self.on_poll is not None:
                    self.on_poll()
                if message is not None:
                    if message.error() is not None:
                        self._consumer_error(message.error())
                    else:
                        self._accept(message)
                self._reap()
                self._flow_control()
                if time.monotonic() - self._last_commit >= self.commit_interval:
                    self._commit()
        finally:
            self._shutdown(stop)
        if self._fatal is not None:
            raise self._fatal

    def _consumer_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise RunnotaryError(f"fatal consumer error: {error}")
        log.warning("consumer_error", error=str(error))

    def _accept(self, message: Message) -> None:
        tp = (message.topic() or "", message.partition() or 0)
        state = self._partitions.setdefault(tp, _Partition(tp))
        task = _Task(message, message.key())
        state.tasks.append(task)
        if task.lane in state.running:
            state.waiting.setdefault(task.lane, deque()).append(task)
        else:
            self._submit(state, task)

    def _submit(self, state: _Partition, task: _Task) -> None:
        assert self._pool is not None
        state.running.add(task.lane)
        self._running += 1
        future = self._pool.submit(self.work, task.message, self._stop)
        future.add_done_callback(functools.partial(self._done, task))

    def _done(self, task: _Task, future: Future[None]) -> None:  # on the worker thread
        self._finished.put((task, future))

    def _reap(self) -> None:
        """Take finished tasks: start the next of their key, advance the partition's stored offset."""
        while True:
            try:
                task, future = self._finished.get_nowait()
            except queue.Empty:
                return
            self._running -= 1
            state = self._partitions.get((task.message.topic() or "", task.message.partition() or 0))
            exc = future.exception()
            if exc is not None and not isinstance(exc, Abandoned) and self._fatal is None:
                self._fatal = exc
            if state is None or task not in state.tasks:
                continue  # its partition was revoked meanwhile; the new owner replays it
            if exc is not None:
                continue  # stays undone: nothing at or after it is committed
            task.done = True
            lane = state.waiting.get(task.lane)
            if lane:
                self._submit(state, lane.popleft())
            else:
                state.running.discard(task.lane)
                state.waiting.pop(task.lane, None)
            while state.tasks and state.tasks[0].done:
                head = state.tasks.popleft()
                state.stored = (head.message.offset() or 0) + 1

    def _flow_control(self) -> None:
        """Pause a partition with too much in flight or a failing message, or every partition while MLflow is down."""
        down = self.tracking.is_down
        for state in self._partitions.values():
            backlog = len(state.tasks)
            held = down or self.tracking.faulted(state.tp)
            if not state.paused and (held or backlog >= self.max_in_flight):
                self.consumer.pause([state.topic_partition()])
                state.paused = True
                log.info("partition_paused", topic=state.tp[0], partition=state.tp[1], backlog=backlog, mlflow_down=down,
                         failing=not down and held)
            elif state.paused and not held and backlog <= self.max_in_flight // 2:
                self.consumer.resume([state.topic_partition()])
                state.paused = False
                log.info("partition_resumed", topic=state.tp[0], partition=state.tp[1], backlog=backlog)

    def _commit(self, states: Iterable[_Partition] | None = None, *, wait: bool = False) -> None:
        """Commit stored offsets that moved (and, every few seconds, all of them again).

        Commits are asynchronous so the polling thread never waits on the group coordinator
        (which may hold a commit during a rebalance); a commit that fails is simply sent again
        on the next refresh, and one lost for good only means the new owner replays a little.
        ``wait`` (at shutdown) commits synchronously and checks each partition's answer.
        """
        now = time.monotonic()
        refresh = now - self._last_refresh >= _REFRESH_S
        self._last_commit = now
        chosen = list(self._partitions.values() if states is None else states)
        due = [s for s in chosen if s.stored is not None and (refresh or wait or s.stored != s.committed)]
        if refresh:
            self._last_refresh = now
        if due:
            offsets = [s.topic_partition(s.stored or 0) for s in due]
            try:
                answer = self.consumer.commit(offsets=offsets, asynchronous=not wait)
            except KafkaException as exc:
                log.warning("commit_failed", error=redact(str(exc)), partitions=[s.tp for s in due])
            else:
                refused = {(tp.topic, tp.partition): str(tp.error) for tp in answer or [] if getattr(tp, "error", None)}
                if refused:
                    log.warning("commit_failed", partitions=refused)
                for s in due:
                    if s.tp not in refused:
                        s.committed = s.stored
        if self.on_lag is not None:
            self._report_lag(chosen)

    def _report_lag(self, states: Iterable[_Partition]) -> None:
        assert self.on_lag is not None
        for state in states:
            try:
                _, high = self.consumer.get_watermark_offsets(state.topic_partition(), cached=True)
            except KafkaException:
                continue
            position = state.committed if state.committed is not None else state.stored
            if high is not None and high >= 0 and position is not None:
                self.on_lag(state.tp[0], state.tp[1], max(high - position, 0))

    # -- rebalances -------------------------------------------------------------------------

    def _assigned(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        # Take the assignment ourselves and resume it: librdkafka may keep a partition's pause flag
        # across a revoke and a new assignment, which would leave a re-assigned partition silent.
        # The next _flow_control pauses again what must stay paused (e.g. MLflow still down).
        self.consumer.assign(partitions)
        try:
            self.consumer.resume(partitions)
        except KafkaException as exc:
            log.warning("resume_failed", error=str(exc))
        for tp in partitions:
            self._partitions[(tp.topic, tp.partition)] = _Partition((tp.topic, tp.partition))
        log.info("partitions_assigned", partitions=[(tp.topic, tp.partition) for tp in partitions])

    def _revoked(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        """Give finishing work a bounded moment, commit what is durable, then let the partitions go."""
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._drain(keys, deadline=time.monotonic() + min(self.shutdown_timeout, 3.0))  # inside poll(): keep it short
        self._commit([self._partitions[k] for k in keys if k in self._partitions])
        self._forget(keys)
        log.info("partitions_revoked", partitions=keys)

    def _lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = [(tp.topic, tp.partition) for tp in partitions]
        self._forget(keys)
        log.warning("partitions_lost", partitions=keys)

    def _forget(self, keys: list[tuple[str, int]]) -> None:
        for key in keys:
            # Tasks still running finish on their own and _reap ignores them: the new owner replays them.
            self._partitions.pop(key, None)
            if self.on_forget is not None:
                self.on_forget(*key)

    def _drain(self, keys: list[tuple[str, int]] | None, deadline: float) -> None:
        def busy() -> bool:
            states = self._partitions.values() if keys is None else [self._partitions[k] for k in keys if k in self._partitions]
            return any(s.running for s in states)

        while busy() and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        self._reap()

    def _shutdown(self, stop: threading.Event) -> None:
        """Stop fetching, let running work finish for a bounded time, commit what finished, close."""
        stop.set()  # tasks waiting out an MLflow outage give up now
        try:
            self._drain(None, deadline=time.monotonic() + self.shutdown_timeout)
            self._commit(wait=True)
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            self.consumer.close()
            log.info("consumer_closed")
