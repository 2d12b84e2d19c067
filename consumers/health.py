"""Readiness of a running service and its consumer lag, as the metrics endpoint reports them."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import structlog

from runnotary.consumers.loop import TrackingSignal
from runnotary.consumers.metrics import ServiceMetrics

__all__ = ["ServiceReadiness", "health_url", "mlflow_answers", "report_lag"]

log = structlog.get_logger("runnotary")


def health_url(tracking_uri: str) -> str | None:
    """MLflow's health endpoint for a tracking server; ``None`` for a local store (nothing to probe)."""
    return f"{tracking_uri.rstrip('/')}/health" if tracking_uri.startswith(("http://", "https://")) else None


def mlflow_answers(url: str, timeout: float = 2.0) -> str | None:
    """``None`` when ``GET url`` answers 2xx, else the failure's type name."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            response.read()
    except Exception as exc:  # any failure to answer is "not reachable", named by its type
        return type(exc).__name__
    return None


class ServiceReadiness:
    """``/readyz``: the consume loop polled recently, no message keeps failing, and MLflow answers.

    MLflow is probed at ``GET <tracking_uri>/health`` (what `mlflow server` serves) at most once
    per ``cache_seconds``; each probe is recorded as the MLflow operation ``health``. A local
    SQLite store needs no server and is always reachable.
    """

    def __init__(self, metrics: ServiceMetrics, tracking_uri: str, *, poll_grace_seconds: float = 30.0,
                 cache_seconds: float = 5.0, timeout: float = 2.0, tracking: TrackingSignal | None = None) -> None:
        self.metrics = metrics
        self.tracking = tracking
        self.health_url = health_url(tracking_uri)
        self.poll_grace_seconds, self.cache_seconds, self.timeout = poll_grace_seconds, cache_seconds, timeout
        self._lock = threading.Lock()
        self._probed: tuple[float, bool, str] | None = None

    def __call__(self) -> tuple[bool, str]:
        since = self.metrics.seconds_since_poll()
        if since is None:
            return False, "not consuming yet"
        if since > self.poll_grace_seconds:
            return False, f"consume loop has not polled for {since:.0f} s"
        faults = self.tracking.faults if self.tracking is not None else {}
        if faults:
            (topic, partition), error_type = sorted(faults.items())[0]
            return False, (f"a message of {topic} partition {partition} keeps failing ({error_type}); "
                           f"{len(faults)} partition(s) held, see the service log")
        ok, reason = self.mlflow_reachable()
        return (True, "ready") if ok else (False, reason)

    def mlflow_reachable(self) -> tuple[bool, str]:
        if self.health_url is None:
            return True, "local tracking store"
        with self._lock:
            now = time.monotonic()
            if self._probed is not None and now - self._probed[0] < self.cache_seconds:
                return self._probed[1], self._probed[2]
            started = time.monotonic()
            error = mlflow_answers(self.health_url, self.timeout)
            self.metrics.observe_mlflow("health", time.monotonic() - started, error)
            reason = "MLflow reachable" if error is None else f"MLflow not reachable ({error})"
            self._probed = (now, error is None, reason)
            return error is None, reason


def report_lag(consumer: Any, metrics: ServiceMetrics, timeout: float = 2.0) -> None:
    """Set the lag gauge of every partition assigned to ``consumer`` (a confluent_kafka.Consumer).

    Lag is the high watermark minus the consumer's position; before the first message of a
    partition is consumed the position is unknown and the committed offset stands in for it, and
    without one the low watermark (the group starts from the earliest message).
    """
    try:
        assignment = consumer.assignment()
        if not assignment:
            return
        positions = consumer.position(assignment)
        unknown = [tp for tp in positions if tp.offset < 0]
        committed = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(unknown, timeout=timeout)} if unknown else {}
        for tp in positions:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)
            offset = tp.offset if tp.offset >= 0 else committed.get((tp.topic, tp.partition), -1)
            metrics.set_lag(tp.topic, tp.partition, high - (offset if offset >= 0 else low))
    except Exception as exc:  # lag is an observation: failing to read it must never stop consumption
        log.debug("lag_unavailable", error=str(exc))
