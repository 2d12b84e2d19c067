"""The consume loop with fake clients: ordered commits, key lanes, pause/resume, survivable commits, stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from runnotary.consumers.errors import DeliveryFailed
from runnotary.consumers.loop import Abandoned, ConsumeLoop, TrackingSignal
from tests.support import poll_until
from tests.unit.fakes import FakeConsumer, FakeMessage


def _messages(*keys: bytes, partition: int = 0) -> list[FakeMessage]:
    return [FakeMessage(b"x", part=partition, off=i, k=key) for i, key in enumerate(keys)]


@contextmanager
def _running(run: Callable[[threading.Event], None], join: float = 10) -> Iterator[threading.Thread]:
    """``run(stop)`` on a thread for the with-block; on the way out, set ``stop`` and wait for the thread."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,))
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(join)


def _run(loop: ConsumeLoop, until: Callable[[], bool], timeout: float = 10.0) -> None:
    """Run the loop on a thread until ``until()`` holds, then stop it and wait for it."""
    errors: list[BaseException] = []

    def run(stop: threading.Event) -> None:
        try:
            loop.run(stop)
        except BaseException as exc:
            errors.append(exc)

    with _running(run, join=15) as thread:
        poll_until(lambda: until() or not thread.is_alive(), timeout)
        held = until()
    assert not thread.is_alive()
    if errors:
        raise errors[0]
    assert held, "condition never held"


def test_offsets_are_committed_only_up_to_the_highest_contiguous_finished_message() -> None:
    gate = threading.Event()
    seen: list[int] = []

    def work(message: Any, stop: threading.Event) -> None:
        seen.append(message.offset())
        if message.offset() == 0:
            gate.wait(10)

    consumer = FakeConsumer(_messages(b"a", b"b", b"c"))
    with _running(ConsumeLoop(consumer, ["t"], work, commit_interval=0.01).run):
        poll_until(lambda: len(seen) >= 3, 10)
        time.sleep(0.1)
        assert sorted(seen) == [0, 1, 2]
        assert consumer.committed_offset() is None  # 1 and 2 finished, 0 did not: nothing is committable
        gate.set()
        poll_until(lambda: consumer.committed_offset() == 3, 10)
    assert consumer.committed_offset() == 3


def test_messages_of_one_key_run_in_offset_order_while_other_keys_run_alongside() -> None:
    log: list[str] = []
    lock = threading.Lock()
    first_running = threading.Event()

    def work(message: Any, stop: threading.Event) -> None:
        with lock:
            log.append(f"start {message.offset()}")
        if message.offset() == 0:
            first_running.set()
            time.sleep(0.2)
        with lock:
            log.append(f"end {message.offset()}")

    consumer = FakeConsumer(_messages(b"same", b"same", b"other"))
    _run(ConsumeLoop(consumer, ["t"], work, commit_interval=0.01), lambda: consumer.committed_offset() == 3)
    assert log.index("start 1") > log.index("end 0")  # same key: strictly after
    assert log.index("start 2") < log.index("end 0")  # another key: did not wait


def test_a_partition_with_too_much_in_flight_is_paused_and_polling_goes_on() -> None:
    release = threading.Event()

    def work(message: Any, stop: threading.Event) -> None:
        release.wait(10)

    consumer = FakeConsumer(_messages(*[b"k"] * 10))
    with _running(ConsumeLoop(consumer, ["t"], work, max_in_flight=4, commit_interval=0.01).run):
        poll_until(lambda: "pause [0]" in consumer.events, 10)
        polls = consumer.polls
        time.sleep(0.3)
        assert consumer.polls > polls  # a paused consumer still polls (group membership)
        assert len(consumer._queue) == 6  # nothing more was fetched from the paused partition
        release.set()
        poll_until(lambda: consumer.committed_offset() == 10, 10)
    assert "resume [0]" in consumer.events
    assert consumer.committed_offset() == 10


def test_every_partition_is_paused_while_mlflow_is_down_and_resumed_when_it_answers() -> None:
    tracking = TrackingSignal()
    answered = threading.Event()

    def work(message: Any, stop: threading.Event) -> None:
        tracking.down()
        answered.wait(10)
        tracking.up()

    consumer = FakeConsumer(_messages(b"a", partition=0) + _messages(b"b", partition=1), partitions=(0, 1))
    with _running(ConsumeLoop(consumer, ["t"], work, tracking=tracking, commit_interval=0.01).run):
        poll_until(lambda: consumer.paused == {0, 1}, 10)
        assert consumer.paused == {0, 1}
        answered.set()
        poll_until(lambda: not consumer.paused, 10)
    assert consumer.paused == set()


def test_a_failed_commit_is_survived_and_the_next_one_lands() -> None:
    consumer = FakeConsumer(_messages(b"a", b"b"), fail_commits=2)
    _run(ConsumeLoop(consumer, ["t"], lambda m, s: None, commit_interval=0.01), lambda: consumer.committed_offset() == 2)


def test_a_fatal_task_error_stops_the_loop_with_that_offset_uncommitted() -> None:
    def work(message: Any, stop: threading.Event) -> None:
        if message.offset() == 1:
            raise DeliveryFailed("refused")

    consumer = FakeConsumer(_messages(b"a", b"b", b"c"))
    with pytest.raises(DeliveryFailed):
        ConsumeLoop(consumer, ["t"], work, commit_interval=0.01).run(threading.Event())
    assert consumer.committed_offset() == 1  # offset 0 is durable; 1 is not, so neither is 2
    assert consumer.closed


def test_stop_abandons_waiting_work_without_committing_it() -> None:
    def work(message: Any, stop: threading.Event) -> None:
        if message.offset() == 1:
            stop.wait()  # e.g. waiting out an MLflow outage
            raise Abandoned("stopping")

    consumer = FakeConsumer(_messages(b"a", b"b"))
    started = time.monotonic()
    _run(ConsumeLoop(consumer, ["t"], work, commit_interval=0.01, shutdown_timeout=5), lambda: consumer.committed_offset() == 1)
    assert time.monotonic() - started < 10
    assert consumer.committed_offset() == 1
    assert consumer.closed


def test_a_revoked_partition_commits_what_finished_before_it_goes() -> None:
    consumer = FakeConsumer(_messages(b"a", b"b"))
    with _running(ConsumeLoop(consumer, ["t"], lambda m, s: time.sleep(0.05), commit_interval=60).run):
        poll_until(lambda: consumer.polls >= 5, 10)
        time.sleep(0.05)
        consumer.revoke(0)  # in librdkafka this runs inside poll(); here from the test thread
    assert consumer.commits and consumer.commits[0] == {("runnotary.runs.created", 0): 2}
