"""Service settings, read from ``RUNNOTARY_*`` environment variables in the entry point only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from runnotary.client.settings import KafkaSettings
from runnotary.registry.hygiene import STALE_AFTER

__all__ = ["Settings"]


class Settings(KafkaSettings):
    """Every knob of the service: the Kafka connection and topic names a publisher shares, and the rest.
    Unset Kafka / MLflow locations mean the embedded defaults."""

    topic_partitions: int = Field(3, ge=1)
    group_id: str = "runnotary"
    session_timeout_ms: int = Field(45_000, ge=1_000)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)
    kafka_fetch_wait_max_ms: int | None = Field(
        None, ge=1, le=60_000,
        description="librdkafka fetch.wait.max.ms of the consumer; unset: librdkafka's 500 on a configured broker, "
                    "100 on the embedded Tansu, which answers a waiting fetch only when the wait ends")
    workers: int = Field(4, ge=1, le=64, description="threads that process messages (one key of a partition at a time)")
    max_in_flight: int = Field(16, ge=1, description="uncommitted messages per partition before it is paused")
    commit_interval_s: float = Field(1.0, gt=0, description="how often stored offsets are committed")
    shutdown_timeout_s: float = Field(20.0, ge=0, description="on SIGTERM, how long running work may finish")
    max_event_bytes: int = Field(512 * 1024, ge=1024, description="larger input messages are dead-lettered unparsed")
    max_artifact_bytes: int = Field(256 << 20, ge=1, description="a larger artifact is not copied, hashed or uploaded (alert)")
    max_parse_bytes: int = Field(64 << 20, ge=1, description="a larger file is not parsed to recompute a metric (alert)")
    parsed_cache_bytes: int = Field(512 << 20, ge=1, description="parsed evidence kept in memory for the comparisons "
                                    "that read it again (least recently used dropped first)")
    mlflow_http_retries: int = Field(0, ge=0, le=10, description="MLflow's own HTTP retries per call (the service backs off itself)")
    mlflow_http_timeout_s: float = Field(10.0, gt=0, description="timeout of one MLflow HTTP call")
    deadletter_max_bytes: int = Field(256 * 1024, ge=16 * 1024, description="above this a dead letter keeps a prefix of the value")

    mlflow_tracking_uri: str | None = Field(None, description="tracking server URL; unset uses SQLite under state_dir")
    state_dir: Path = Path(".runnotary")
    artifact_root: Path = Field(Path("."), description="where training jobs leave the files their events cite")
    bundle_dir: Path = Path("bundle")

    metrics_port: int = Field(9464, ge=0, le=65535, description="Prometheus /metrics port; 0 turns it off")
    metrics_addr: str = "127.0.0.1"
    metrics_active_candidates: int = Field(100, ge=1, description="candidates with per-candidate series at most")
    metrics_candidate_idle_seconds: float = Field(
        86_400.0, gt=0, description="a candidate's series expire after this long without a run or comparison"
    )
    stale_after_seconds: float = Field(
        STALE_AFTER.total_seconds(), gt=0,
        description="a run older than this counts as stale when used as a baseline or in a meeting"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    reconcile_interval_s: float = Field(
        60.0, ge=0, description="how often candidates without a gate status are re-paired (0: only at start-up)"
    )
    reconcile_batch: int = Field(200, ge=1, le=10_000, description="candidates one reconciliation pass examines at most")
    awaiting_alert_after_s: float = Field(
        3_600.0, gt=0, description="a candidate waiting this long for a baseline raises the RunnotaryCandidateAwaitingBaseline alert"
    )

    gate_policy: Path | None = Field(None, description="YAML gate policy; unset uses the seed's four gates")
    metric_catalog: Path | None = Field(
        None, description="YAML metric catalog that adds metrics to runnotary's or replaces them by name; validated at start-up")
    mlflow_ui_url: str | None = Field(None, description="the MLflow UI's address; the bundle page links each run id to it")

    n_resamples: int = Field(10_000, ge=1, le=1_000_000, description="bootstrap and permutation resamples (bounded: CPU per event)")
    ci_method: Literal["percentile", "bca"] = "bca"
    random_state: int = Field(20261123, ge=0)

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.state_dir / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str | None:
        """Where new experiments keep artifacts: a local folder for the embedded store, the server's choice otherwise."""
        return None if self.mlflow_tracking_uri else (self.state_dir / "mlartifacts").resolve().as_uri()
