"""Faults from outside: kill -9, a second instance dying, MLflow going away. Nothing lost, nothing doubled.

`runnotary serve` runs as a subprocess against the session's broker and a real `mlflow server`
on PostgreSQL; the tests check MLflow, the output topics and the committed offsets afterwards.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from tests.integration.harness import (
    ServeProcess, check_exactly_once, committed_lag, make_stream, publish, read_topic, run_values, serve_env, wait_until,
)
from runnotary.consumers.kafka import ensure_topics
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS, MeetingRequested, encode, envelope

from benchmarks.servers import restartable_mlflow_server
from tests.integration.conftest import PG_DSN


def _setup(settings_factory: Callable[..., Settings], tmp_path: Path, n_keys: int, per_key: int, **overrides: Any) -> tuple[Settings, str, Any]:
    settings = settings_factory(topic_partitions=3, n_resamples=200, **overrides)
    for topic, reason in ensure_topics(settings, TOPICS).items():
        raise AssertionError(f"{topic}: {reason}")
    experiment = f"/faults/{settings.topic_prefix.rstrip('.')}_evaluation"
    stream = make_stream(Path(settings.artifact_root), experiment, n_keys=n_keys, per_key=per_key)
    return settings, experiment, stream


def test_kill_9_ten_times_during_a_stream_of_a_thousand_events_loses_and_doubles_nothing(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings, experiment, stream = _setup(settings_factory, tmp_path, n_keys=int(os.environ.get("NKEYS", 125)), per_key=8)
    serve = ServeProcess(serve_env(settings), Path(os.environ.get("FAULT_LOGS", tmp_path)) / "serve.log").start()
    values = run_values(stream)
    publish(settings, stream, values[:500])
    rng = random.Random(20261126)
    candidates = [run.candidate_id for _, run, _ in stream.events if run.role == "candidate"]
    for kill in range(10):
        time.sleep(rng.uniform(2.0, 8.0))
        serve.kill9()
        serve.start()
        if kill == 4:
            publish(settings, stream, values[500:])
        if kill in (2, 6):
            meeting = MeetingRequested(meeting_id=f"m{kill}", candidates=rng.sample(candidates, 3), requested_by="harness")
            publish(settings, stream, [("meetings.requested", encode(envelope("meetings.requested", meeting,
                                                                                  subject=meeting.meeting_id)), b"m")])
    wait_until(lambda: committed_lag(settings, stream) == 0, 900, "runs.created lag back to 0")
    wait_until(lambda: committed_lag(settings, stream, "meetings.requested") == 0, 300, "meetings lag back to 0")
    assert serve.alive()
    figures = check_exactly_once(settings, stream, experiment)
    assert figures["runs"] == len(stream.events)
    emitted = {event.data.meeting_id for _, event in read_topic(settings, "bundles.emitted")}
    assert emitted == {"m2", "m6"}
    assert serve.stop() == 0
    print(f"\nkill -9 x10: {figures}")


def test_two_instances_one_killed_mid_stream_give_the_single_instance_pairings(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    settings, experiment, stream = _setup(settings_factory, tmp_path, n_keys=int(os.environ.get("NKEYS", 40)), per_key=8)
    env = serve_env(settings)
    logs = Path(os.environ.get("FAULT_LOGS", tmp_path))
    first = ServeProcess(env, logs / "first.log").start()
    second = ServeProcess(env, logs / "second.log").start()
    publish(settings, stream, run_values(stream))
    # Mid-stream: once the first instance owns partitions and has worked for a while.
    wait_until(lambda: "partitions_assigned" in (logs / "first.log").read_text(), 300, "first instance assigned")
    time.sleep(5)
    first.kill9()
    wait_until(lambda: committed_lag(settings, stream) == 0, float(os.environ.get("WAIT", 900)), "lag back to 0 on the surviving instance")
    assert second.alive()
    check_exactly_once(settings, stream, experiment)
    assert second.stop() == 0


def test_mlflow_down_for_thirty_seconds_is_waited_out_without_eviction_loss_or_doubles(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    extra = ["--workers", "2", "--gunicorn-opts", "--threads 4 --timeout 120"]
    with restartable_mlflow_server(tmp_path, extra_args=extra, pg_dsn=PG_DSN, prefix="runnotary_outage") as server:
        settings, experiment, stream = _setup(settings_factory, tmp_path, n_keys=20, per_key=6,
                                              mlflow_tracking_uri=server.url)
        serve = ServeProcess(serve_env(settings), tmp_path / "serve.log").start()
        publish(settings, stream, run_values(stream))
        time.sleep(8)
        server.stop()
        stopped = time.time()
        time.sleep(30)
        server.start()
        restarted, restarted_at = time.monotonic(), time.time()
        client = MlflowClient(server.url)

        def runs(registered: bool) -> int:
            found = client.get_experiment_by_name(experiment)
            where = "tags.`runnotary.registered` = 'true'" if registered else ""
            return 0 if found is None else len(client.search_runs([found.experiment_id], where, max_results=5000))

        assert committed_lag(settings, stream) > 0, "every event was done before the outage: nothing to measure"
        written, done = runs(False), runs(True)
        # While partitions are paused for the outage the service probes MLflow's health about once a
        # second, so it does not wait out a backoff grown to its 30 s cap: a probe that is answered ends
        # the wait. The first write is a retried registration's new run; it and the first whole
        # registration also pay the restarted server's cold start (its workers' first requests), which
        # depends on the machine's load, so they are printed, not bounded.
        wait_until(lambda: runs(False) > written, 120, "a write after MLflow's return", every=0.2)
        first_write = time.monotonic() - restarted
        answered = _first_logged(tmp_path / "serve.log", "tracking_answered", after=stopped)
        assert answered is not None, "the service never saw MLflow answer again: it waited out its backoff"
        # A probe a second, each waiting up to 1 s for an answer: about 2 s at most by design; 10 s leaves room for a loaded machine.
        assert answered - restarted_at < 10, f"the service saw MLflow answer {answered - restarted_at:.1f} s after it did"
        wait_until(lambda: runs(True) > done, 120, "a registration after MLflow's return", every=0.2)
        first_registration = time.monotonic() - restarted
        recovery = wait_until(lambda: committed_lag(settings, stream) == 0, 600, "lag back to 0 after the outage", every=0.5)
        assert serve.alive(), (tmp_path / "serve.log").read_text()[-3000:]
        check_exactly_once(settings, stream, experiment)
        assert serve.stop() == 0
        log = (tmp_path / "serve.log").read_text()
        assert "partition_paused" in log and "UNKNOWN_MEMBER_ID" not in log
        print(f"\nMLflow outage of 30 s: seen answering {answered - restarted_at:.1f} s, "
              f"first write {first_write:.1f} s, first registration {first_registration:.1f} s "
              f"and lag back to 0 {recovery:.1f} s "
              f"after the server answered again "
              f"({time.monotonic() - restarted:.1f} s including the checks)")


def _first_logged(log: Path, event: str, *, after: float) -> float | None:
    """The wall-clock time of the first ``event`` a ``runnotary serve`` logged after ``after``, if any."""
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # librdkafka writes plain lines to the same stream
            continue
        if isinstance(record, dict) and record.get("event") == event:
            at = datetime.fromisoformat(record["timestamp"]).timestamp()
            if at > after:
                return at
    return None


def _hostile_payloads(valid: dict[str, Any], rng: random.Random, n: int) -> list[bytes | None]:
    """``n`` messages a hostile or broken producer could send, each of which must be dead-lettered."""
    import copy

    text = json.dumps(valid)

    def mutated(path: list[str], value: Any) -> bytes:
        event = copy.deepcopy(valid)
        target = event
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return json.dumps(event).encode()

    makers: list[Callable[[], bytes | None]] = [
        lambda: bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000))),
        lambda: text[: rng.randint(0, len(text) - 1)].encode(),
        lambda: b"[" * (d := rng.randint(1000, 50000)) + b"]" * d,
        lambda: b'{"a":' * (d := rng.randint(1000, 20000)) + b"1" + b"}" * d,
        lambda: mutated(["data", rng.choice(["experiment", "role", "owners", "created_at", "seeds"])],
                        rng.choice([1, None, [], {}, True, "x" * 300])),
        lambda: mutated(["data", f"unknown_{rng.randint(0, 99)}"], "surprise"),
        lambda: mutated(["data", "artifacts"], [{"kind": "per_query", "path": rng.choice(
            ["../../etc/passwd", "/etc/passwd", "a/../../b.csv", "C:\\x.csv", "a\\..\\b", "x\x00y", ""])}]),
        lambda: mutated(["time"], rng.choice(["2026-11-26 14:45:00", 1795704000, "yesterday"])),
        lambda: mutated(["type"], "io.runnotary.alerts.v1"),
        lambda: rng.choice([b"", None, b"{}", b"null", b'""', b"[]"]),
        lambda: "é".encode("latin-1") + text.encode("utf-16"),
        lambda: mutated(["data", "params"], {f"k{i}": "v" * 10_000 for i in range(rng.randint(40, 50))}),
    ]
    payloads = [rng.choice(makers)() for _ in range(n)]
    payloads += [b'{"x":"' + b"y" * size + b'"}' for size in (600_000, 900_000, 980_000)]  # over the input limit
    return payloads


def test_ten_thousand_hostile_payloads_are_dead_lettered_and_every_valid_event_is_processed(
    settings_factory: Callable[..., Settings], tmp_path: Path,
) -> None:
    """The service never stops; each hostile message is dead-lettered with a reason; a symlink out of
    the artifact root is refused with an alert and the file outside is never read."""
    import json
    import os

    from runnotary.contract import ArtifactRef

    settings, experiment, stream = _setup(settings_factory, tmp_path, n_keys=25, per_key=4)
    root = Path(settings.artifact_root)
    canary = tmp_path / "outside" / "secret.csv"
    canary.parent.mkdir()
    canary.write_text("query_id,ndcg@10\nq1,0.5\n")
    os.utime(canary, (1, time.time()))  # atime older than mtime: a read would update it (relatime)
    (root / "escape.csv").symlink_to(canary)
    _, template, _ = stream.events[0]
    escapes = []
    for i in range(3):
        run = template.model_copy(update={
            "candidate_id": f"escape-{i}", "run_name": f"escape_{i}", "metrics": [],
            "artifacts": [*template.artifacts, ArtifactRef(kind="per_query", path="escape.csv")],
        })
        event = envelope("runs.created", run, subject=run.candidate_id)
        escapes.append((event.id, run, encode(event)))

    rng = random.Random(11)
    hostile = _hostile_payloads(json.loads(stream.events[0][2]), rng, 10_000)
    stream.events += escapes
    valid = run_values(stream)  # in publish order, keyed by pairing key: the pairing rule's order
    hostile_messages: list[tuple[str, Any, bytes | None]] = [("runs.created", v, rng.randbytes(8)) for v in hostile]
    total = len(hostile_messages) + len(valid)
    slots = set(rng.sample(range(total), len(valid)))  # valid events interleaved, their own order kept
    valid_left, hostile_left = iter(valid), iter(hostile_messages)
    messages = [next(valid_left) if i in slots else next(hostile_left) for i in range(total)]

    serve = ServeProcess(serve_env(settings), tmp_path / "serve.log").start()
    publish(settings, stream, messages)
    wait_until(lambda: committed_lag(settings, stream) == 0, 900, "every message committed", every=2)
    assert serve.alive(), (tmp_path / "serve.log").read_text()[-3000:]

    letters = read_topic(settings, "deadletter", timeout=60, expect=len(hostile))
    assert len(letters) == len(hostile)
    assert all(event.data.error and event.data.error_type for _, event in letters)
    assert {event.data.error_type for _, event in letters} >= {"InvalidEvent", "MessageTooLarge"}
    check_exactly_once(settings, stream, experiment)
    alerts = [event.data for _, event in read_topic(settings, "alerts")]
    assert {a.candidate_id for a in alerts if a.kind == "unsafe_artifact_path"} == {"escape-0", "escape-1", "escape-2"}
    assert canary.stat().st_atime == 1, "a file outside the artifact root was read"
    assert serve.stop() == 0
