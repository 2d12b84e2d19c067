"""Benchmark: ``Registry.register`` against ``mlflow server`` on PostgreSQL, run several ways.

Run ``python -m benchmarks.registry`` from the repository root (PostgreSQL at 127.0.0.1:5432, trust auth).
Each server gets a fresh database and artifact directory and is left to go idle after ``/health`` (its job
runners keep importing for several seconds). After ``--warmup`` untimed registrations of synthetic runs
(small artifacts, so the figures are about MLflow calls, not hashing) it registers ``--runs`` sequentially
from one client, as one service process does, then ``--runs`` more from ``--clients`` threads, as several
processes of one consumer group do (threads share this process's GIL; everything shares the machine's
cores). It prints runs/s, p50/p95 of one sequential ``register``, the mean wall time of one tracking API
call and of one artifact upload, the server's real worker count, and the HTTP calls of one registration.
This is a script that prints figures; no test asserts on wall-clock time.
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from mlflow.tracking import MlflowClient

from benchmarks.servers import throwaway_mlflow_server
from runnotary.contract import RunCreated
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate

_GUNICORN = "--threads 4 --timeout 120"
# Label and extra `mlflow server` arguments. Workers are set with mlflow's own --workers: mlflow
# appends `-w <--workers, default 4>` after --gunicorn-opts, so a "--workers" inside those is overridden.
DEFAULT = "default (uvicorn, 4 workers)"
SERVERS: dict[str, list[str]] = {
    DEFAULT: [],
    "gunicorn, 2 workers x 4 threads": ["--workers", "2", "--gunicorn-opts", _GUNICORN],
    "gunicorn, 4 workers x 4 threads": ["--workers", "4", "--gunicorn-opts", _GUNICORN],
}
_calls: collections.Counter[str] = collections.Counter()  # HTTP requests by endpoint
_spent: collections.defaultdict[str, float] = collections.defaultdict(float)  # and their wall time, in s
_send = requests.Session.request


def _counting_request(self: requests.Session, method: str, url: str, *args: object, **kwargs: object) -> requests.Response:
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    key = f"{method} /{path.split('/artifacts/', 1)[0]}/artifacts/…" if "mlflow-artifacts/" in path else f"{method} /{path}"
    start = time.perf_counter()
    try:
        return _send(self, method, url, *args, **kwargs)  # type: ignore[arg-type]
    finally:
        _calls[key] += 1
        _spent[key] += time.perf_counter() - start


def _processes() -> list[tuple[int, int, int, int, str]]:
    """``(pid, ppid, pgid, cpu ticks, cmdline)`` of every process, from /proc."""
    found = []
    for entry in (e for e in Path("/proc").iterdir() if e.name.isdigit()):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (ValueError, OSError):
            continue
        found.append((int(entry.name), int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]), cmdline))
    return found


def _wait_quiet(pgid: int, timeout: float = 60.0) -> None:
    """Wait until the server's processes stop importing: its job runners keep both cores busy after /health."""
    deadline = time.monotonic() + timeout
    before = sum(p[3] for p in _processes() if p[2] == pgid)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sum(p[3] for p in _processes() if p[2] == pgid)
        if now - before < 0.05 * os.sysconf("SC_CLK_TCK"):
            return
        before = now


def _web_workers(pid: int) -> int:
    """Worker processes under the gunicorn/uvicorn master that ``mlflow server`` (``pid``) started."""
    procs = _processes()
    masters = [p[0] for p in procs if p[1] == pid and ("gunicorn" in p[4] or "uvicorn" in p[4])]
    return sum(1 for p in procs if p[1] in masters and "resource_tracker" not in p[4])


@contextmanager
def mlflow_server(extra: list[str], workdir: Path) -> Iterator[tuple[str, int]]:
    """A fresh database and ``mlflow server`` on it, gone idle; yields its URL and worker count."""
    with throwaway_mlflow_server(workdir, extra_args=extra, prefix="runnotary_bench") as (url, pid):
        _wait_quiet(pid)
        yield url, _web_workers(pid)


@dataclass(frozen=True)
class Result:
    workers: int
    sequential: float  # runs/s from one client
    p50_ms: float
    p95_ms: float
    api_ms: float  # mean wall time of one tracking API call (everything but artifact uploads)
    put_ms: float  # mean wall time of one artifact upload
    parallel: float  # runs/s from ``--clients`` threads
    calls: str  # HTTP calls of one registration, by endpoint


def _registry(url: str, artifact_root: Path, cache: Path) -> Registry:
    return Registry(client=MlflowClient(tracking_uri=url), artifact_root=artifact_root, cache_dir=cache)


def _timed_register(registry: Registry, event: RunCreated) -> float:
    start = time.perf_counter()
    registry.register(event, str(uuid.uuid4()))
    return time.perf_counter() - start


def bench_server(url: str, workers: int, events: list[RunCreated], root: Path, cache: Path, runs: int,
                 warmup: int, clients: int) -> Result:
    """Sequential runs/s with p50/p95 of one call, HTTP calls per run, then runs/s from ``clients`` threads."""
    registry = _registry(url, root, cache / "seq")
    for i in range(warmup):
        _timed_register(registry, events[i % len(events)])
    _calls.clear()
    _spent.clear()
    start = time.perf_counter()
    walls = [_timed_register(registry, events[i % len(events)]) for i in range(runs)]
    sequential = time.perf_counter() - start
    calls = f"{sum(_calls.values()) / runs:g} (" + ", ".join(f"{n / runs:g}x {k}" for k, n in _calls.most_common()) + ")"
    put = [k for k in _calls if k.endswith("/artifacts/…")]
    api = [k for k in _calls if k not in put]
    api_ms = 1000 * sum(_spent[k] for k in api) / max(1, sum(_calls[k] for k in api))
    put_ms = 1000 * sum(_spent[k] for k in put) / max(1, sum(_calls[k] for k in put))

    local = threading.local()

    def one(i: int) -> float:
        if not hasattr(local, "registry"):  # one client per thread, like one per service process
            local.registry = _registry(url, root, cache / f"thread-{threading.get_ident()}")
        return _timed_register(local.registry, events[i % len(events)])

    pool = ThreadPoolExecutor(clients)
    try:
        start = time.perf_counter()
        list(pool.map(one, range(runs)))
        parallel = time.perf_counter() - start
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C, drop the queued registrations
    return Result(
        workers, runs / sequential, 1000 * statistics.median(walls),
        1000 * statistics.quantiles(walls, n=20, method="inclusive")[18], api_ms, put_ms, runs / parallel, calls,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=60, help="timed registrations per server and mode")
    parser.add_argument("--warmup", type=int, default=5, help="untimed registrations first")
    parser.add_argument("--clients", type=int, default=4, help="client threads of the parallel mode")
    parser.add_argument("--servers", nargs="+", choices=list(SERVERS), default=list(SERVERS), metavar="LABEL")
    args = parser.parse_args(argv)

    requests.Session.request = _counting_request  # type: ignore[method-assign, assignment]
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="runnotary-bench-") as tmp:
        work = Path(tmp)
        events = generate(work / "jobs", n_queries=200, n_requests=1000)
        for label in args.servers:
            with mlflow_server(SERVERS[label], work) as (url, workers):
                print(f"  {label}: {workers} workers, measuring…", file=sys.stderr, flush=True)
                results[label] = bench_server(url, workers, events, work / "jobs", work / "cache" / label,
                                              args.runs, args.warmup, args.clients)

    print(f"mlflow {__import__('mlflow').__version__} server on PostgreSQL, Registry.register, "
          f"{args.runs} runs after {args.warmup} warm-up, {os.cpu_count()} cores")
    print(f"{'server':<42}{'workers':>8}{'1 client runs/s':>17}{'p50 ms':>9}{'p95 ms':>9}{'ms/API call':>13}"
          f"{'ms/PUT':>8}{f'{args.clients} clients runs/s':>19}")
    for label, r in results.items():
        print(f"{label:<42}{r.workers:>8}{r.sequential:>17.1f}{r.p50_ms:>9.0f}{r.p95_ms:>9.0f}{r.api_ms:>13.1f}"
              f"{r.put_ms:>8.1f}{r.parallel:>19.1f}")
    base = results.get(DEFAULT)
    for label, r in results.items():
        if base is not None and r is not base:
            print(f"{f'ratio {label} / default':<50}{r.sequential / base.sequential:>16.2f}x"
                  f"{r.parallel / base.parallel:>57.2f}x")
    print(f"HTTP calls per registration: {next(iter(results.values())).calls}")


if __name__ == "__main__":
    main()
