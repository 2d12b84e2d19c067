"""Real parts for integration tests: a Kafka broker and an `mlflow server` on PostgreSQL.

Kafka, in order: RUNNOTARY_KAFKA_BOOTSTRAP (an existing broker), testcontainers' Kafka when a
Docker engine answers, else the embedded Tansu broker. MLflow: a real server subprocess over
HTTP with gunicorn workers, backed by a fresh PostgreSQL database for the session.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer

from benchmarks.servers import DEFAULT_PG, throwaway_mlflow_server
from tests.integration.harness import kill_leftovers
from runnotary.consumers.app import build_service
from runnotary.consumers.broker import EmbeddedBroker
from runnotary.consumers.service import Service
from runnotary.consumers.settings import Settings
from runnotary.contract import decode

PG_DSN = os.environ.get("RUNNOTARY_TEST_PG", DEFAULT_PG)


@pytest.fixture(autouse=True)
def _no_serve_left_running() -> Iterator[None]:
    """A test that fails before stopping its `runnotary serve` processes does not leave them consuming."""
    yield
    kill_leftovers()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    existing = os.environ.get("RUNNOTARY_KAFKA_BOOTSTRAP")
    if existing:
        yield existing
    elif _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer() as kafka:
            yield kafka.get_bootstrap_server()
    else:
        with EmbeddedBroker() as broker:
            yield broker.bootstrap


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`mlflow server` over HTTP on a fresh PostgreSQL database, run as the README recommends."""
    workdir = tmp_path_factory.mktemp("mlflow")
    extra = ["--workers", "2", "--gunicorn-opts", "--threads 4 --timeout 120"]
    with throwaway_mlflow_server(workdir, extra_args=extra, pg_dsn=PG_DSN, prefix="runnotary_test") as (url, _):
        yield url


@pytest.fixture
def settings_factory(kafka_bootstrap: str, mlflow_server: str, tmp_path: Path) -> Callable[..., Settings]:
    """Settings with a fresh topic prefix and consumer group, so tests never see each other's events."""

    def make(**overrides: Any) -> Settings:
        tag = uuid.uuid4().hex[:10]
        values: dict[str, Any] = dict(
            kafka_bootstrap=kafka_bootstrap, topic_prefix=f"t{tag}.", group_id=f"g{tag}", topic_partitions=1,
            session_timeout_ms=6000, max_poll_interval_ms=10000, mlflow_tracking_uri=mlflow_server,
            state_dir=tmp_path / "state", artifact_root=tmp_path / "artifacts", bundle_dir=tmp_path / "bundle",
            metrics_port=0, n_resamples=2000,
        )
        values.update(overrides)
        return Settings(**values)

    return make


#: The output topics the watcher of a running service reads.
WATCHED = ("gates.status", "alerts", "bundles.emitted", "deadletter", "commands.replies")


class RunningService:
    """A service on a thread, plus a watcher of its output topics."""

    def __init__(self, settings: Settings, service: Service) -> None:
        self.settings = settings
        self.service = service
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.watcher = Consumer({
            **settings.kafka_config(), "group.id": f"{settings.group_id}-watch", "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "enable.auto.commit": False,
        })
        self.watcher.subscribe([settings.topic(t) for t in WATCHED])
        self.seen: list[tuple[str, Any]] = []

    def _run(self) -> None:
        try:
            self.service.run(self.stop)
        except BaseException as exc:
            self.errors.append(exc)

    def wait_for(self, predicate: Callable[[list[tuple[str, Any]]], bool], timeout: float = 90.0) -> list[tuple[str, Any]]:
        """Collect output events until ``predicate(seen)`` holds; fail with what was seen otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.seen):
                return self.seen
            message = self.watcher.poll(0.5)
            if message is None or message.error() is not None:
                continue
            name = next(t for t in WATCHED if self.settings.topic(t) == message.topic())
            self.seen.append((name, decode(name, message.value())))
        raise AssertionError(f"timed out; saw {[(t, e.subject) for t, e in self.seen]}; errors {self.errors}")


@pytest.fixture
def running_service(settings_factory: Callable[..., Settings]) -> Iterator[Callable[..., RunningService]]:
    started: list[RunningService] = []

    def start(**overrides: Any) -> RunningService:
        settings = settings_factory(**overrides)
        running = RunningService(settings, build_service(settings, settings.kafka_bootstrap or ""))
        running.thread.start()
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop.set()
        running.thread.join(30)
        running.watcher.close()
    started.clear()
    gc.collect()  # drop the service's producer now, not after the session's broker is gone
