"""Prometheus metrics of the service, on a registry of their own (one per service instance).

Counters and histograms are ordinary prometheus_client families. Per-candidate series (drift,
comparison deltas, run ages) come from a collector that renders the *active* candidates at
scrape time: at most ``active_candidates`` of them, each dropped once idle for
``candidate_idle_seconds``, so label cardinality stays bounded however many candidates pass
through. Ages are computed at scrape time, so they grow between events as they should.
"""

from __future__ import annotations

import math
import platform
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

import runnotary
from runnotary.bundles import Comparison
from runnotary.contract import INPUT_TOPICS
from runnotary.registry.hygiene import STALE_AFTER

__all__ = ["ServiceMetrics", "MetricsServer", "Readiness", "DEFAULT_STALE_AFTER_SECONDS"]

DEFAULT_STALE_AFTER_SECONDS = STALE_AFTER.total_seconds()

#: ``ready()`` answers (ok, reason); ``/readyz`` is 200 when ok, 503 with the reason otherwise.
Readiness = Callable[[], tuple[bool, str]]

_LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_MLFLOW_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_DRIFT_KEYS = (("psi", "runnotary_drift_psi", "Population stability index of per-query scores, candidate vs baseline"),
               ("ks_statistic", "runnotary_drift_ks_statistic", "Two-sample KS statistic of per-query scores, candidate vs baseline"),
               ("ks_pvalue", "runnotary_drift_ks_pvalue", "p-value of the two-sample KS test, candidate vs baseline"))
_MAX_ERROR_LABEL = 64


def _number(value: Any) -> float | None:
    """A finite float, or None for anything missing or not a number (a gauge is then not set)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _bounds(value: Any) -> tuple[float | None, float | None]:
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return _number(value[0]), _number(value[1])
    return None, None


@dataclass
class _Candidate:
    """What the gauges show of one active candidate."""

    seen: float
    run_created: float | None = None
    baseline_created: float | None = None
    comparison: Comparison | None = None


class _ActiveCandidates(Collector):
    """Renders per-candidate gauges and staleness figures at scrape time, expiring idle candidates."""

    def __init__(self, limit: int, idle_seconds: float, stale_after: float, clock: Callable[[], float]) -> None:
        self.limit, self.idle_seconds, self.stale_after, self.clock = limit, idle_seconds, stale_after, clock
        self._lock = threading.Lock()
        self._candidates: OrderedDict[str, _Candidate] = OrderedDict()
        self._last_event: dict[str, float] = {}

    def touch(self, candidate_id: str) -> _Candidate:
        """The candidate's entry, marked as just seen; the least recently seen goes when over the limit."""
        now = self.clock()
        entry = self._candidates.pop(candidate_id, None) or _Candidate(seen=now)
        entry.seen = now
        self._candidates[candidate_id] = entry
        while len(self._candidates) > self.limit:
            self._candidates.popitem(last=False)
        return entry

    def update(self, candidate_id: str, change: Callable[[_Candidate], None]) -> None:
        with self._lock:
            change(self.touch(candidate_id))

    def event_seen(self, topic: str) -> None:
        with self._lock:
            self._last_event[topic] = self.clock()

    def active(self) -> list[str]:
        with self._lock:
            self._expire(self.clock())
            return list(self._candidates)

    def _expire(self, now: float) -> None:
        for candidate_id in [c for c, e in self._candidates.items() if now - e.seen > self.idle_seconds]:
            del self._candidates[candidate_id]

    def describe(self) -> Iterable[Metric]:
        return list(self._families())

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            now = self.clock()
            self._expire(now)
            return list(self._families(now, list(self._candidates.items()), dict(self._last_event)))

    def _families(self, now: float = 0.0, candidates: list[tuple[str, _Candidate]] | None = None,
                  last_event: dict[str, float] | None = None) -> Iterator[Metric]:
        candidates = candidates or []
        cm = ["candidate_id", "metric"]
        delta = GaugeMetricFamily("runnotary_comparison_delta", "Latest paired difference candidate - baseline of a metric", labels=cm)
        ci = GaugeMetricFamily("runnotary_comparison_delta_ci95", "Bounds of the 95% CI of that difference", labels=cm + ["bound"])
        pvalue = GaugeMetricFamily("runnotary_comparison_pvalue", "Permutation p-value of that difference", labels=cm)
        drift = {key: GaugeMetricFamily(name, doc, labels=cm) for key, name, doc in _DRIFT_KEYS}
        lat = GaugeMetricFamily("runnotary_comparison_latency_p95_delta_seconds",
                                "Latest latency p95 difference candidate - baseline", labels=["candidate_id"])
        lat_ci = GaugeMetricFamily("runnotary_comparison_latency_p95_delta_ci95_seconds",
                                   "Bounds of the 95% CI of the latency p95 difference", labels=["candidate_id", "bound"])
        run_age = GaugeMetricFamily("runnotary_candidate_run_age_seconds",
                                    "Age of the newest run of an active candidate (from its created_at)", labels=["candidate_id"])
        base_age = GaugeMetricFamily("runnotary_baseline_run_age_seconds",
                                     "Age of the baseline run an active candidate was last compared with", labels=["candidate_id"])
        stale = GaugeMetricFamily("runnotary_stale_baselines",
                                  "Active candidates whose baseline run is older than the stale threshold")
        threshold = GaugeMetricFamily("runnotary_stale_threshold_seconds", "Age from which a run counts as stale")
        active = GaugeMetricFamily("runnotary_active_candidates", "Candidates with per-candidate series right now")
        topic_age = GaugeMetricFamily("runnotary_last_event_age_seconds",
                                      "Seconds since this instance last handled an event of the input topic", labels=["topic"])
        n_stale = 0
        for candidate_id, entry in candidates:
            comparison = entry.comparison
            for metric, m in (comparison.metrics if comparison is not None else {}).items():
                labels = [candidate_id, metric]
                if (value := _number(m.delta)) is not None:
                    delta.add_metric(labels, value)
                for bound, value in zip(("low", "high"), _bounds(m.ci95)):
                    if value is not None:
                        ci.add_metric(labels + [bound], value)
                if (value := _number(m.pvalue)) is not None:
                    pvalue.add_metric(labels, value)
                found = m.statistics.get("drift") or {}  # none for a whole-set statistic or seed-run arms
                for key in drift:
                    if (value := _number(found.get(key))) is not None:
                        drift[key].add_metric(labels, value)
            if comparison is not None and comparison.latency is not None:
                latency = comparison.latency
                if (value := _number(latency.delta)) is not None:
                    lat.add_metric([candidate_id], value / 1000)
                for bound, value in zip(("low", "high"), _bounds(latency.ci95)):
                    if value is not None:
                        lat_ci.add_metric([candidate_id, bound], value / 1000)
            if entry.run_created is not None:
                run_age.add_metric([candidate_id], now - entry.run_created)
            if entry.baseline_created is not None:
                base_age.add_metric([candidate_id], now - entry.baseline_created)
                n_stale += now - entry.baseline_created > self.stale_after
        stale.add_metric([], n_stale)
        threshold.add_metric([], self.stale_after)
        active.add_metric([], len(candidates))
        for topic, at in sorted((last_event or {}).items()):
            topic_age.add_metric([topic], now - at)
        yield from (delta, ci, pvalue, *drift.values(), lat, lat_ci, run_age, base_age, stale, threshold, active, topic_age)


class ServiceMetrics:
    """Every series the service exposes, and the calls that update them.

    ``active_candidates`` and ``candidate_idle_seconds`` bound the per-candidate series;
    ``stale_after_seconds`` is the age from which a run used as a baseline or in a meeting
    counts as stale. ``clock`` is the wall clock (injectable for tests).
    """

    def __init__(self, *, active_candidates: int = 100, candidate_idle_seconds: float = 24 * 3600.0,
                 stale_after_seconds: float = DEFAULT_STALE_AFTER_SECONDS, awaiting_alert_after_seconds: float = 3600.0,
                 clock: Callable[[], float] = time.time) -> None:
        if active_candidates < 1:
            raise ValueError(f"active_candidates must be at least 1, got {active_candidates}")
        if candidate_idle_seconds <= 0 or stale_after_seconds <= 0:
            raise ValueError("candidate_idle_seconds and stale_after_seconds must be positive")
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter("runnotary_events_total", "Input events handled, by outcome (processed, deadlettered)",
                              ["topic", "outcome"], registry=r)
        self.seconds = Histogram("runnotary_event_processing_seconds", "Time to make an input event's effects durable",
                                 ["topic"], registry=r, buckets=_LATENCY_BUCKETS)
        self.deadletters = Counter("runnotary_deadletter_total", "Events sent to the dead-letter topic, by error type",
                                   ["topic", "error_type"], registry=r)
        self.runs = Counter("runnotary_runs_registered_total", "Runs registered in MLflow", ["role"], registry=r)
        self.gates = Counter("runnotary_gate_evaluations_total", "Gate statuses published, by overall status",
                             ["status"], registry=r)
        self.alerts = Counter("runnotary_alerts_total", "Alerts published", ["kind", "severity"], registry=r)
        self.bundles = Counter("runnotary_bundles_emitted_total", "Evidence bundles written", registry=r)
        self.tracking_down = Counter("runnotary_tracking_unavailable_total",
                                     "Times MLflow did not answer and an event was retried", registry=r)
        self.last_event = Gauge("runnotary_last_event_timestamp_seconds",
                                "Unix time of the last input event handled", ["topic"], registry=r)
        self.lag = Gauge("runnotary_consumer_lag_messages",
                         "Messages between the group's position and the partition's high watermark",
                         ["topic", "partition"], registry=r)
        self.mlflow_seconds = Histogram("runnotary_mlflow_request_duration_seconds", "Duration of MLflow calls",
                                        ["operation"], registry=r, buckets=_MLFLOW_BUCKETS)
        self.mlflow_requests = Counter("runnotary_mlflow_requests_total", "MLflow calls, by outcome (ok, error)",
                                       ["operation", "outcome"], registry=r)
        self.mlflow_errors = Counter("runnotary_mlflow_errors_total", "Failed MLflow calls, by error",
                                     ["operation", "error"], registry=r)
        self.stale_runs = Counter("runnotary_stale_runs_used_total",
                                  "Runs older than the stale threshold used as a baseline or in a meeting",
                                  ["usage"], registry=r)
        self.unexpected_errors = Counter(
            "runnotary_unexpected_errors_total",
            "Events whose handling raised an unexpected error (a bug or an outage): kept, retried, never dead-lettered; "
            "the error type and traceback are in the log", ["topic"], registry=r)
        self.awaiting = Gauge("runnotary_candidates_awaiting_baseline",
                              "Registered candidates without a gate status whose baseline is not registered "
                              "(as of the last complete reconciliation cycle)", registry=r)
        self._oldest_awaiting: float | None = None
        self.oldest_awaiting = Gauge("runnotary_candidate_awaiting_baseline_oldest_age_seconds",
                                     "Age of the oldest candidate awaiting a baseline (0 when none waits)", registry=r)
        self.oldest_awaiting.set_function(
            lambda: 0.0 if self._oldest_awaiting is None else max(0.0, self.clock() - self._oldest_awaiting))
        Gauge("runnotary_candidate_awaiting_alert_after_seconds",
              "How long a candidate may await its baseline before RunnotaryCandidateAwaitingBaseline fires "
              "(RUNNOTARY_AWAITING_ALERT_AFTER_S)", registry=r).set(awaiting_alert_after_seconds)
        self.reconciled = Counter("runnotary_reconciled_candidates_total",
                                  "Candidates paired by the reconciliation (their pairing had been lost)", registry=r)
        self.reconcile_failures = Counter("runnotary_reconcile_failures_total",
                                          "Reconciliation passes that failed with an unexpected error", registry=r)
        Info("runnotary_build", "Version of runnotary and of the Python running it", registry=r).info(
            {"version": runnotary.__version__, "python": platform.python_version()})
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self._active = _ActiveCandidates(active_candidates, candidate_idle_seconds, stale_after_seconds, clock)
        r.register(self._active)
        # Series that exist at zero from the start: a rate or ratio over them is 0, never "no data".
        for topic in INPUT_TOPICS:  # the input counters exist (at zero) from the start
            for outcome in ("processed", "deadlettered"):
                self.events.labels(topic, outcome)
            self.unexpected_errors.labels(topic)
        for status in ("pass", "fail"):
            self.gates.labels(status)
        for usage in ("baseline", "meeting"):
            self.stale_runs.labels(usage)
        self._polled_at: float | None = None

    # -- updates --------------------------------------------------------------------------

    def observe_event(self, topic: str, outcome: str, seconds: float) -> None:
        """One input event handled and committed."""
        self.events.labels(topic, outcome).inc()
        self.seconds.labels(topic).observe(seconds)
        self.last_event.labels(topic).set(self.clock())
        self._active.event_seen(topic)

    def observe_run(self, candidate_id: str, role: str, created_at: datetime) -> None:
        """A run registered; a candidate's newest run starts its age gauge."""
        if role != "candidate":
            return
        created = created_at.timestamp()

        def newest(entry: _Candidate) -> None:
            entry.run_created = max(created, entry.run_created or created)

        self._active.update(candidate_id, newest)

    def observe_comparison(self, candidate_id: str, comparison: Comparison, *,
                           candidate_created_at: datetime | None = None, baseline_created_at: datetime | None = None) -> None:
        """The latest comparison of a candidate: deltas, CIs, p-values, drift, the latency Δp95.

        Shows per metric its ``delta``, ``ci95``, ``pvalue`` and its ``drift`` record's ``psi``,
        ``ks_statistic`` and ``ks_pvalue``; a value that is absent or not finite leaves its gauge unset.
        A baseline older than the stale threshold counts as a stale run used as a baseline.
        """

        def replace(entry: _Candidate) -> None:
            entry.comparison = comparison
            if candidate_created_at is not None:
                created = candidate_created_at.timestamp()
                entry.run_created = max(created, entry.run_created or created)
            if baseline_created_at is not None:
                entry.baseline_created = baseline_created_at.timestamp()

        self._active.update(candidate_id, replace)
        if baseline_created_at is not None and self._is_stale(baseline_created_at):
            self.stale_runs.labels("baseline").inc()

    def observe_meeting(self, runs_created_at: Iterable[datetime]) -> None:
        """The runs a meeting bundle cites (candidates and their baselines); the stale ones are counted."""
        stale = sum(1 for created in runs_created_at if self._is_stale(created))
        if stale:
            self.stale_runs.labels("meeting").inc(stale)

    def observe_mlflow(self, operation: str, seconds: float, error: str | None) -> None:
        """One MLflow call: its duration, and its error (an exception type name) when it failed."""
        self.mlflow_seconds.labels(operation).observe(seconds)
        ok, failed = self.mlflow_requests.labels(operation, "ok"), self.mlflow_requests.labels(operation, "error")
        if error is None:
            ok.inc()
        else:
            failed.inc()
            self.mlflow_errors.labels(operation, error[:_MAX_ERROR_LABEL]).inc()

    def set_awaiting(self, created_at: Sequence[datetime]) -> None:
        """The candidates a complete reconciliation cycle found awaiting a baseline (their creation times)."""
        self.awaiting.set(len(created_at))
        self._oldest_awaiting = min(c.timestamp() for c in created_at) if created_at else None

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """The consumer lag of one assigned partition (the loop reports it periodically)."""
        self.lag.labels(topic, str(partition)).set(max(lag, 0))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this instance no longer owns (after a rebalance)."""
        try:
            self.lag.remove(topic, str(partition))
        except KeyError:
            pass

    def polled(self) -> None:
        """The consume loop is alive: it just returned from poll."""
        self._polled_at = time.monotonic()

    def seconds_since_poll(self) -> float | None:
        return None if self._polled_at is None else time.monotonic() - self._polled_at

    def active_candidates(self) -> list[str]:
        """Candidates that have per-candidate series, least recently seen first."""
        return self._active.active()

    def _is_stale(self, created_at: datetime) -> bool:
        return self.clock() - created_at.timestamp() > self._active.stale_after

    # -- HTTP -----------------------------------------------------------------------------

    def serve(self, port: int, addr: str, ready: Readiness | None = None) -> MetricsServer | None:
        """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on a daemon thread; ``port`` 0 serves nothing."""
        if not port:
            return None
        return MetricsServer(self, port, addr, ready or (lambda: (True, "ready")))


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not worth a log line
        pass


class MetricsServer:
    """The HTTP endpoint: ``/metrics`` (exposition), ``/healthz`` (alive), ``/readyz`` (``ready()``)."""

    def __init__(self, metrics: ServiceMetrics, port: int, addr: str, ready: Readiness) -> None:
        exposition = make_wsgi_app(metrics.registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path == "/healthz":
                return _text(start_response, True, "alive")
            if path == "/readyz":
                try:
                    ok, reason = ready()
                except Exception as exc:  # a readiness check that breaks means "not ready", not a 500
                    ok, reason = False, f"readiness check failed: {type(exc).__name__}"
                return _text(start_response, ok, reason)
            if path in ("/metrics", "/"):
                return exposition(environ, start_response)
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics, /healthz or /readyz\n"]

        self._server = make_server(addr, port, app, _ThreadingWSGIServer, handler_class=_QuietHandler)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="runnotary-metrics", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _text(start_response: Callable[..., Any], ok: bool, body: str) -> list[bytes]:
    start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain; charset=utf-8")])
    return [f"{body}\n".encode()]
