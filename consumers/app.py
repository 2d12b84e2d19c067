"""Wire settings, clients and handlers into a running service (the only place clients are created)."""

from __future__ import annotations

import contextlib
import gc
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import structlog

from runnotary import stats
from runnotary.bundles import ComparisonSettings, load_policy
from runnotary.bundles.policy import GatePolicy
from runnotary.registry.catalog import use_catalog
from runnotary.consumers.broker import EMBEDDED_FETCH_WAIT_MS, EmbeddedBroker
from runnotary.consumers.handlers import Handlers
from runnotary.consumers.health import ServiceReadiness, health_url, mlflow_answers
from runnotary.consumers.kafka import ensure_topics, make_consumer, make_producer
from runnotary.consumers.loop import TrackingSignal
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.consumers.reconcile import Reconciler
from runnotary.consumers.service import Service
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS
from runnotary.registry import Registry
from runnotary.registry.mlflow_access import configure_mlflow_http

__all__ = ["build_handlers", "build_service", "for_broker", "gate_policy", "make_registry", "serve"]

log = structlog.get_logger("runnotary")


@contextlib.contextmanager
def bootstrap_servers(settings: Settings) -> Iterator[str]:
    """The configured Kafka cluster, or an embedded Tansu broker for as long as the block runs."""
    if settings.kafka_bootstrap:
        yield settings.kafka_bootstrap
        return
    with EmbeddedBroker() as broker:
        log.info("embedded_broker_started", bootstrap=broker.bootstrap)
        yield broker.bootstrap


def for_broker(settings: Settings) -> Settings:
    """``settings`` for the broker ``bootstrap_servers`` gives: the embedded one holds a waiting fetch
    to its end even when data arrives, so its consumers wait at most ``EMBEDDED_FETCH_WAIT_MS``."""
    if settings.kafka_bootstrap or settings.kafka_fetch_wait_max_ms is not None:
        return settings
    return settings.model_copy(update={"kafka_fetch_wait_max_ms": EMBEDDED_FETCH_WAIT_MS})


def make_registry(settings: Settings, metrics: ServiceMetrics | None = None) -> Registry:
    from mlflow.tracking import MlflowClient  # imported here: mlflow is slow to import

    # MLflow's own HTTP retries would run for minutes under the service's backoff and past the
    # poll interval; bounded here, the service's backoff (with partitions paused) is the one that runs.
    configure_mlflow_http(max_retries=settings.mlflow_http_retries, timeout_s=settings.mlflow_http_timeout_s)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    return Registry(
        client=MlflowClient(tracking_uri=settings.tracking_uri()),
        artifact_root=Path(settings.artifact_root),
        cache_dir=settings.state_dir / "cache",
        artifact_location=settings.artifact_location(),
        max_artifact_bytes=settings.max_artifact_bytes,
        max_parse_bytes=settings.max_parse_bytes,
        parsed_cache_bytes=settings.parsed_cache_bytes,
        look_threads=2 * settings.workers,  # each worker's registration: its convergence and its pairing's look
        observer=metrics.observe_mlflow if metrics is not None else None,
        owner=settings.group_id,
    )


def build_service(settings: Settings, bootstrap: str, metrics: ServiceMetrics | None = None,
                  tracking: TrackingSignal | None = None) -> Service:
    metrics = metrics or service_metrics(settings)
    for topic, reason in ensure_topics(settings, TOPICS, bootstrap).items():
        log.warning("topic_not_created", topic=topic, reason=reason)
    started = time.monotonic()
    stats.warmup()
    log.info("kernels_ready", seconds=round(time.monotonic() - started, 2))
    handlers = build_handlers(settings, metrics)
    url = health_url(settings.tracking_uri())
    return Service(settings, handlers, make_consumer(settings, bootstrap), make_producer(settings, bootstrap), metrics,
                   tracking=tracking or TrackingSignal(),
                   probe=(lambda: mlflow_answers(url, timeout=1.0) is None) if url is not None else None)


def build_handlers(settings: Settings, metrics: ServiceMetrics | None = None) -> Handlers:
    """The handlers of the service's inputs and commands: what ``serve`` consumes with and what the seed's
    command subcommands run in-process. Raises ``CatalogError`` / ``PolicyError`` for a file that does not validate."""
    metrics = metrics or service_metrics(settings)
    return Handlers(
        registry=make_registry(settings, metrics),
        settings=ComparisonSettings(settings.n_resamples, 0.95, settings.ci_method, settings.random_state),
        bundle_root=Path(settings.bundle_dir),
        metrics=metrics,
        policy=gate_policy(settings),
        stale_after=timedelta(seconds=settings.stale_after_seconds),
        mlflow_ui_url=settings.mlflow_ui_url,
    )


def gate_policy(settings: Settings) -> GatePolicy:
    """The gate policy, read after the operator's metric catalog (a gate may name a metric only it defines)."""
    use_catalog(settings.metric_catalog)
    return load_policy(settings.gate_policy)


def serve(settings: Settings, stop: threading.Event) -> None:
    """Run the service until ``stop`` is set (the CLI sets it on SIGTERM / SIGINT)."""
    use_catalog(settings.metric_catalog)  # a malformed catalog stops start-up before anything runs
    settings = for_broker(settings)
    with bootstrap_servers(settings) as bootstrap:
        metrics = service_metrics(settings)
        tracking = TrackingSignal()
        server = metrics.serve(settings.metrics_port, settings.metrics_addr,
                               ServiceReadiness(metrics, settings.tracking_uri(), tracking=tracking))
        reconciling: threading.Thread | None = None
        try:
            service = build_service(settings, bootstrap, metrics, tracking)
            reconciler = Reconciler(service.handlers, service.publish, metrics, interval_s=settings.reconcile_interval_s,
                                    batch=settings.reconcile_batch)
            reconciling = threading.Thread(target=reconciler.run, args=(stop,), name="runnotary-reconcile", daemon=True)
            # Everything built so far (modules, MLflow, numba, the kernels) lives as long as the process:
            # out of the collector's sight, a full collection no longer walks it. Each one cost ~15 ms
            # per event while CSVs were parsed (python -m benchmarks.e2e).
            gc.freeze()
            reconciling.start()
            service.run(stop)
        finally:
            stop.set()
            if reconciling is not None and reconciling.is_alive():
                reconciling.join(timeout=10)
            if server is not None:
                server.close()


def service_metrics(settings: Settings) -> ServiceMetrics:
    return ServiceMetrics(active_candidates=settings.metrics_active_candidates,
                          candidate_idle_seconds=settings.metrics_candidate_idle_seconds,
                          stale_after_seconds=settings.stale_after_seconds,
                          awaiting_alert_after_seconds=settings.awaiting_alert_after_s)
