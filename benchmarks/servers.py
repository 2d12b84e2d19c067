"""A throwaway ``mlflow server`` on a fresh PostgreSQL database, for integration tests and benchmarks.

Needs the ``test`` extra (psycopg). The database and the server's process group are removed on
exit, whatever happened inside the block.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from runnotary.consumers.broker import free_port

__all__ = ["DEFAULT_PG", "MlflowServer", "free_port", "restartable_mlflow_server", "throwaway_mlflow_server"]

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def throwaway_mlflow_server(
    workdir: Path, *, extra_args: Sequence[str] = (), pg_dsn: str = DEFAULT_PG, prefix: str = "runnotary",
    startup_timeout: float = 180.0,
) -> Iterator[tuple[str, int]]:
    """Yield ``(url, pid)`` of an ``mlflow server`` whose backend is a database made for it alone."""
    with restartable_mlflow_server(workdir, extra_args=extra_args, pg_dsn=pg_dsn, prefix=prefix,
                                   startup_timeout=startup_timeout) as server:
        assert server.process is not None
        yield server.url, server.process.pid


class MlflowServer:
    """An ``mlflow server`` process on a fixed port and backend, which a test can stop and start again."""

    def __init__(self, backend_uri: str, artifacts: Path, log_path: Path, extra_args: Sequence[str] = ()) -> None:
        self.backend_uri, self.artifacts, self.log_path, self.extra_args = backend_uri, artifacts, log_path, extra_args
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 180.0) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("mlflow")), "server", "--backend-store-uri", self.backend_uri,
                 "--artifacts-destination", str(self.artifacts), "--host", "127.0.0.1", "--port", str(self.port),
                 *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
        self.process = None


@contextmanager
def restartable_mlflow_server(
    workdir: Path, *, extra_args: Sequence[str] = (), pg_dsn: str = DEFAULT_PG, prefix: str = "runnotary",
    startup_timeout: float = 180.0,
) -> Iterator[MlflowServer]:
    """A started ``MlflowServer`` on a database made for it alone; stopped and dropped on exit."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = pg_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    server = MlflowServer(f"{base}/{name}", workdir / name, workdir / f"{name}.log", extra_args)
    try:
        server.start(startup_timeout)
        yield server
    finally:
        server.stop()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
