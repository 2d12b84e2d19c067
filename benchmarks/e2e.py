"""End-to-end throughput: ``runnotary serve`` against a hand-written MLflow loop, on one server and broker.

Run ``python -m benchmarks.e2e`` from the repository root after ``make install`` (PostgreSQL at
127.0.0.1:5432, trust auth). One ``mlflow server`` (gunicorn, ``--workers 2 --threads 4``, a fresh
database, an access log) and one Kafka broker (``RUNNOTARY_KAFKA_BOOTSTRAP``, else the embedded Tansu)
serve every phase:

1. loop: a serial ``MlflowClient`` loop over the runs (create_run with tags, log_batch of params and
   metrics, log_artifact per file a metric cites, set_terminated);
2. service: the same runs published at once as ``runs.created`` events to one ``runnotary serve``
   (a subprocess configured by ``RUNNOTARY_*``), timed from the first publish to the last gates.status
   or alert they cause;
3. latency: publish -> gates.status of each candidate, events paced at half of the rate of phase 2;
4. two instances: phase 2 again with two ``runnotary serve`` in one consumer group;
5. lookups: the registry's search filters with the store filled to 1k, 10k and 25k registered runs,
   without and with the partial index of ``deploy/postgresql/runnotary_tag_index.sql``.

CPU seconds come from /proc per process tree (service, mlflow server and its workers, the database's
PostgreSQL backends, broker, this driver); HTTP calls from the server's access log. Every phase has its
own topics, consumer group, experiment, seed families and fresh service processes. ``--py-spy PATH``
also samples the one-instance phase and prints where the service's time goes. This is a script that
prints figures; no test asserts on them.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Kafka, profile_summary, profiled, serving, warm_up
from benchmarks.lookups import count_registered, fill_to, tag_index, time_lookups
from benchmarks.procs import CpuMeter, postgres_backends, processes, tree
from benchmarks.servers import DEFAULT_PG, throwaway_mlflow_server
from benchmarks.workload import GROUP, WORKLOADS, Workload, make_workload


# -- measuring ------------------------------------------------------------------------------------------


class AccessLog:
    """HTTP calls the mlflow server answered, from gunicorn's access log."""

    _REQUEST = re.compile(r'"([A-Z]+) ([^ ?"]+)')

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mark = 0

    def _lines(self) -> list[str]:
        return self.path.read_text().splitlines() if self.path.exists() else []

    def mark(self) -> None:
        self._mark = len(self._lines())

    def since_mark(self) -> collections.Counter[str]:
        calls: collections.Counter[str] = collections.Counter()
        for line in self._lines()[self._mark:]:
            found = self._REQUEST.search(line)
            if found:
                method, path = found.groups()
                if "/mlflow-artifacts/" in path:
                    path = path.split("/mlflow-artifacts/", 1)[0] + "/mlflow-artifacts/…"
                calls[f"{method} {path}"] += 1
        return calls


@dataclass
class Phase:
    label: str
    count: int
    seconds: float
    cpu: dict[str, float]
    calls: collections.Counter[str]
    handled: int | None = None  # input events the service instances handled, redeliveries included
    by_instance: list[int] | None = None  # input events each instance handled since it started (warm-up included)

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def measure(label: str, count: int, meter: CpuMeter, access: AccessLog, run: object) -> Phase:
    access.mark()
    meter.start()
    stop = threading.Event()

    def sampler() -> None:  # short-lived processes (PostgreSQL backends) keep their last sample
        while not stop.wait(1.0):
            meter.sample()

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    try:
        seconds = run()  # type: ignore[operator]
    finally:
        stop.set()
        thread.join()
    time.sleep(0.5)  # let the access log catch up with the last calls
    return Phase(label, count, seconds, meter.stop(), access.since_mark())


_METRIC_NAME = re.compile(r"[^\w\-. :/]")  # what MLflow accepts in a metric name


def hand_written_loop(url: str, workload: Workload, runs: int) -> float:
    """What a team writes without runnotary: one client, one run after another; returns seconds."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment("/runnotary-bench/loop")
    with contextlib.redirect_stdout(io.StringIO()):  # set_terminated prints a link to every run
        return _loop(client, experiment, workload, runs)


def _loop(client: Any, experiment: str, workload: Workload, runs: int) -> float:
    from mlflow.entities import Metric, Param

    events = workload.events("loop", 0, runs)
    start = time.perf_counter()
    for event in events:
        tags = {"candidate_id": event.candidate_id, "role": event.role, "dataset_sha256": event.dataset.sha256,
                "seed_family": event.seeds.family, "git_commit": event.code.git_commit,
                "env_hash": event.environment.env_hash, "owners": ",".join(event.owners), **event.tags.model_dump()}
        run = client.create_run(experiment, start_time=int(event.created_at.timestamp() * 1000), tags=tags,
                                run_name=event.run_name)
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(_METRIC_NAME.sub("_", m.name), m.value, now, 0) for m in event.metrics],
                         params=[Param(k, str(v)) for k, v in {**event.params, "seed": event.seeds.value}.items()])
        cited = [m.source for m in event.metrics] + [a.path for a in event.artifacts if a.kind == "trec_qrels"]
        for path in dict.fromkeys(cited):  # each cited file once, and the qrels a ranking claim is scored against
            client.log_artifact(run_id, str(workload.root / path), "evidence/" + path.rsplit("/", 1)[0])
        client.set_terminated(run_id)
    return time.perf_counter() - start


def service_throughput(n: int, kafka: Kafka, workload: Workload, phase: str, runs: int, timeout: float,
                       spawn: object, meter: CpuMeter, access: AccessLog, py_spy: str | None = None,
                       profile: Path | None = None) -> Phase:
    with spawn(n, kafka, group=f"{kafka.prefix}{phase}") as instances:  # type: ignore[operator]
        meter.groups["service"] = lambda procs: [p for i in instances for p in tree(i.process.pid, procs)]
        warm_up(kafka, instances, workload, phase, timeout=300)
        events = workload.events(phase, 0, runs)
        expected = sum(e.role == "candidate" for e in events)

        def run() -> float:
            sent = kafka.publish(events)
            first = min(sent.values())
            kafka.wait_gates(phase, expected, timeout)
            time.sleep(1.0)  # trailing alerts of the last candidates
            with kafka.seen.lock:
                return kafka.seen.last[phase] - first

        label = f"runnotary serve x{n}"
        handled_before = sum(i.events_handled() for i in instances)
        with profiled(instances[0].process.pid, py_spy, profile or Path(os.devnull)):
            phase_result = measure(label, len(events), meter, access, run)
        phase_result.handled = int(sum(i.events_handled() for i in instances) - handled_before)
        phase_result.by_instance = [int(i.events_handled()) for i in instances]
        return phase_result


def latency(kafka: Kafka, workload: Workload, runs: int, rate: float, spawn: object, timeout: float) -> list[float]:
    """Publish -> gates.status of each candidate, in ms, with events paced at ``rate`` per second."""
    with spawn(1, kafka, group=f"{kafka.prefix}latency") as instances:  # type: ignore[operator]
        warm_up(kafka, instances, workload, "latency", timeout=300)
        events = workload.events("latency", 0, runs)
        sent = kafka.publish(events, rate=rate)
        candidates = [e.candidate_id for e in events if e.role == "candidate"]
        kafka.wait_gates("latency", len(candidates), timeout)
        with kafka.seen.lock:
            return sorted(1000 * (kafka.seen.gates["latency"][c] - sent[c]) for c in candidates)


def _pct(sorted_ms: list[float], q: float) -> float:
    return sorted_ms[min(len(sorted_ms) - 1, max(0, round(q * (len(sorted_ms) - 1))))]


# -- the report -----------------------------------------------------------------------------------------


_CPU_ORDER = ("service", "driver", "mlflow server", "postgresql", "broker")


def print_phases(phases: list[Phase], loop: Phase) -> None:
    print(f"\n{'phase':<24}{'runs':>6}{'s':>8}{'runs/s':>9}{'x loop':>8}{'HTTP/run':>10}{'CPU ms/run':>12}  "
          + "  ".join(f"{k:>13}" for k in _CPU_ORDER))
    for p in [loop, *phases]:
        cpu = "  ".join(f"{1000 * p.cpu.get(k, float('nan')) / p.count:>13.0f}" for k in _CPU_ORDER)
        total = sum(v for v in p.cpu.values()) / p.count
        print(f"{p.label:<24}{p.count:>6}{p.seconds:>8.1f}{p.rate:>9.2f}{p.rate / loop.rate:>8.2f}"
              f"{sum(p.calls.values()) / p.count:>10.1f}{1000 * total:>12.0f}  {cpu}")
    print("  (CPU ms per run of each process tree; 'driver' is this script: the loop's client, or the publisher)")
    print(f"\n{'cores busy (CPU s / wall s)':<30}" + "  ".join(f"{k:>13}" for k in _CPU_ORDER))
    for p in [loop, *phases]:
        print(f"{p.label:<30}" + "  ".join(f"{p.cpu.get(k, float('nan')) / p.seconds:>13.2f}" for k in _CPU_ORDER))
    for p in phases:
        if p.by_instance and len(p.by_instance) > 1:
            print(f"{p.label}: input events handled per instance, warm-up included: {p.by_instance} "
                  f"(partitions split by pairing key)")
        if p.handled is not None and p.handled != p.count:
            print(f"{p.label}: handled {p.handled} input events for {p.count} published: a rebalance redelivered "
                  f"{p.handled - p.count} (a redelivered baseline re-pairs its candidates)")
    for p in [loop, *phases]:
        top = ", ".join(f"{n / p.count:.2g} {k}" for k, n in p.calls.most_common(8))
        print(f"HTTP calls per run, {p.label}: {top}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=120, help="runs of the loop and of each throughput phase")
    parser.add_argument("--latency-runs", type=int, default=48, help="runs published at half the rate")
    parser.add_argument("--workload", choices=WORKLOADS, default="csv",
                        help="csv: per-query CSV claims; trec: a TREC run (--queries x 100 documents) and qrels instead")
    parser.add_argument("--queries", type=int, default=5000, help="rows of each per-query CSV (queries of each TREC run)")
    parser.add_argument("--requests", type=int, default=20000, help="lines of each latency log")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of every topic")
    parser.add_argument("--fill", type=int, nargs="*", default=[1000, 10000, 25000],
                        help="registered runs in the store for the lookup timings (none: skip)")
    parser.add_argument("--lookups", type=int, default=100, help="timed calls per lookup and store size")
    parser.add_argument("--skip-two", action="store_true", help="leave out the two-instance phase")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up on a phase after this many seconds")
    parser.add_argument("--workdir", default=None,
                        help="keep files, service logs and the access log under this directory (default: a temporary one)")
    parser.add_argument("--py-spy", metavar="PATH", default=None,
                        help="py-spy executable: profile the one-instance phase and print where the service's CPU goes")
    args = parser.parse_args(argv)
    if args.runs < GROUP or args.latency_runs < 2:
        parser.error(f"--runs needs at least one group of {GROUP}; --latency-runs at least 2")

    def say(message: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    load = os.getloadavg()
    with ExitStack() as stack:
        if args.workdir:
            work = Path(args.workdir) / f"e2e-{time.strftime('%Y%m%d-%H%M%S')}"
            work.mkdir(parents=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="runnotary-e2e-")))
        say(f"writing {args.runs} runs' files ({args.queries} queries, {args.requests} requests each)")
        total = -(-max(args.runs, args.latency_runs) // GROUP) * GROUP + 2 * GROUP  # + two warm-up groups
        workload = make_workload(work / "jobs", total, n_queries=args.queries, n_requests=args.requests,
                                 workload=args.workload)

        bootstrap = os.environ.get("RUNNOTARY_KAFKA_BOOTSTRAP")
        broker_procs = None
        fetch_wait_ms: int | None = None  # a real broker answers a waiting fetch as soon as data arrives
        if not bootstrap:
            from runnotary.consumers.broker import EMBEDDED_FETCH_WAIT_MS, EmbeddedBroker

            fetch_wait_ms = EMBEDDED_FETCH_WAIT_MS  # as runnotary serve and demo set it for their embedded broker

            broker = stack.enter_context(EmbeddedBroker())
            bootstrap = broker.bootstrap
            broker_procs = lambda procs: [p for p in procs if f"tcp://{broker.bootstrap}" in p.cmdline]  # noqa: E731
        say(f"broker {bootstrap}; starting mlflow server (gunicorn, 2 workers x 4 threads) on a fresh database")
        access_path = work / "access.log"
        gunicorn = f"--threads 4 --timeout 120 --access-logfile {access_path}"
        url, server_pid = stack.enter_context(throwaway_mlflow_server(
            work, extra_args=["--workers", "2", "--gunicorn-opts", gunicorn], prefix="runnotary_e2e"))
        database = next(p.cmdline for p in processes() if p.pid == server_pid).split("--backend-store-uri ", 1)[1].split()[0]
        dsn = f"{DEFAULT_PG.rsplit('/', 1)[0]}/{database.rsplit('/', 1)[1]}"
        groups = {
            "service": lambda procs: [],
            "driver": lambda procs: [p for p in procs if p.pid == os.getpid()],
            "mlflow server": lambda procs: [p for p in procs if p.pgid == server_pid],
            "postgresql": postgres_backends(dsn.rsplit("/", 1)[1]),
        }
        if broker_procs is not None:
            groups["broker"] = broker_procs
        meter = CpuMeter(groups)
        access = AccessLog(access_path)
        _wait_idle(server_pid)

        base = f"e2e{uuid.uuid4().hex[:8]}"
        opened: list[Kafka] = []

        def topics(phase: str) -> Kafka:
            """Topics of one phase: a new consumer group reads its input topic from the start, so no phase
            may inherit another's events."""
            opened.append(Kafka(bootstrap, f"{base}.{phase}.", args.partitions, fetch_wait_ms))
            stack.callback(opened[-1].close)
            return opened[-1]

        def spawn(n: int, kafka: Kafka, group: str):  # noqa: ANN202
            return serving(n, kafka=kafka, url=url, root=workload.root, work=work, group=group)

        say(f"phase 1: the hand-written MlflowClient loop, {args.runs} runs")
        loop = measure("hand-written loop", args.runs, meter, access,
                       lambda: hand_written_loop(url, workload, args.runs))
        say(f"  {loop.rate:.2f} runs/s")
        say(f"phase 2: runnotary serve x1, {args.runs} runs.created published at once")
        profile = work / "profile.txt"
        one = service_throughput(1, topics("one"), workload, "one", args.runs, args.timeout, spawn, meter, access,
                                 args.py_spy, profile)
        profile_lines = profile_summary(profile) if args.py_spy and profile.exists() else []
        say(f"  {one.rate:.2f} events/s")
        rate = one.rate / 2
        say(f"phase 3: publish -> gates.status, {args.latency_runs} events at {rate:.2f}/s")
        lat = latency(topics("latency"), workload, args.latency_runs, rate, spawn, args.timeout)
        phases = [one]
        if not args.skip_two:
            say(f"phase 4: runnotary serve x2 in one group, {args.runs} runs.created")
            two = service_throughput(2, topics("two"), workload, "two", args.runs, args.timeout, spawn, meter, access)
            say(f"  {two.rate:.2f} events/s")
            phases.append(two)
        for kafka in opened:  # the broker's part is over
            kafka.close()
        if broker_procs is not None and broker._process is not None and broker._process.poll() is not None:
            say(f"note: the embedded broker exited after the last phase: {broker.output()[-800:]}")
        lookups = []
        if args.fill:
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri=url)
            template = client.search_runs(
                [client.get_experiment_by_name("/runnotary-bench/one").experiment_id],
                "tags.`runnotary.role` = 'candidate' AND tags.`runnotary.registered` = 'true'", max_results=1)[0]
            for target in sorted(args.fill):
                filled, seconds = fill_to(dsn, template.info.run_id, template.info.experiment_id, target)
                say(f"phase 5: store filled to {count_registered(dsn)} registered runs ({seconds:.1f} s); timing lookups")
                row = []
                for indexed in (False, True):
                    tag_index(dsn, indexed)
                    row.append(time_lookups(client, template.info.experiment_id, args.lookups, filled // GROUP))
                tag_index(dsn, False)
                lookups.append((count_registered(dsn), row))

    files = (f"{args.queries}-row per-query CSV" if args.workload == "csv" else
             f"TREC run of {args.queries} queries x 100 documents and its qrels, no per-query CSV")
    print(f"\nrunnotary end-to-end benchmark, {args.workload} workload: {args.runs} runs ({files}, {args.requests}-line "
          f"latency log, ablation + correlation JSON; 1 baseline per {GROUP - 1} candidates), mlflow "
          f"{__import__('mlflow').__version__} server (gunicorn --workers 2 --threads 4) on PostgreSQL, broker "
          f"{'Tansu (embedded)' if broker_procs else bootstrap}, {args.partitions} partitions, {os.cpu_count()} cores, "
          f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end")
    print_phases(phases, loop)
    if profile_lines:
        print("\nwhere runnotary serve x1 spends its time (py-spy, share of samples, inclusive):")
        print("\n".join(profile_lines))
    cpu_loop, cpu_one = sum(loop.cpu.values()) / loop.count, sum(one.cpu.values()) / one.count
    print(f"\nservice / loop: {one.rate / loop.rate:.2f}x (target >= 1.0); by CPU per run, all processes: "
          f"{cpu_loop / cpu_one:.2f}x (what a dedicated CPU-bound machine would show; wall-clock rates move with "
          f"the machine's other load)")
    if len(phases) > 1:
        print(f"two instances / one: {phases[1].rate / one.rate:.2f}x (target >= 1.6)")
    print(f"publish -> gates.status at {rate:.2f} events/s ({len(lat)} candidates): p50 {_pct(lat, .5):.0f} ms, "
          f"p95 {_pct(lat, .95):.0f} ms, p99 {_pct(lat, .99):.0f} ms (target p95 <= 250 ms)")
    if lookups:
        print(f"\nlookup p50/p95 ms over HTTP ({args.lookups} calls each){'':>8}without index"
              f"{'':>22}with runnotary_tag_index.sql")
        names = ("event id, all experiments", "event id, one experiment", "pairing: baseline", "pairing: candidates")
        print(f"{'registered runs':<16}" + "".join(f"{n:>28}" for n in names))
        for runs, (plain, indexed) in lookups:
            for label, fig in (("", plain), ("+index", indexed)):
                cells = (fig.event_all, fig.event_scoped, fig.baseline, fig.candidates)
                print(f"{runs:>9} {label:<6}" + "".join(f"{f'{a:.1f} / {b:.1f}':>28}" for a, b in cells))
        first, last = lookups[0][1], lookups[-1][1]
        for label, i in (("without index", 0), ("with index", 1)):
            ratios = [b[1] / a[1] for a, b in zip(
                (first[i].event_all, first[i].event_scoped, first[i].baseline, first[i].candidates),
                (last[i].event_all, last[i].event_scoped, last[i].baseline, last[i].candidates))]
            print(f"p95 at {lookups[-1][0]} / at {lookups[0][0]}, {label}: "
                  + ", ".join(f"{r:.2f}x" for r in ratios) + " (target <= 1.5x)")


def _wait_idle(pgid: int, timeout: float = 60.0) -> None:
    """The server's job runners keep importing for a while after /health; wait until they settle."""
    tick = os.sysconf("SC_CLK_TCK")
    deadline = time.monotonic() + timeout

    def ticks() -> int:
        return sum(p.ticks for p in processes() if p.pgid == pgid)

    before = ticks()
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = ticks()
        if now - before < 0.05 * tick:
            return
        before = now


if __name__ == "__main__":
    main()
