"""Service settings, read from ``RUNNOTARY_*`` environment variables in the entry point only."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "TOPIC_NAMES"]

#: Logical topic names; the configured prefix is put in front of each.
TOPIC_NAMES = ("runs.created", "meetings.requested", "commands", "gates.status", "alerts", "bundles.emitted", "deadletter")


class Settings(BaseSettings):
    """Every knob of the service. Unset Kafka / MLflow locations mean the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="RUNNOTARY_", extra="ignore")

    kafka_bootstrap: str | None = Field(None, description="bootstrap servers; unset starts the embedded Tansu broker")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_ca_location: str | None = None
    topic_prefix: str = "runnotary."
    topic_names: dict[str, str] = Field(
        default_factory=dict, description='per-topic overrides as JSON, e.g. {"deadletter": "ml.dlq"}'
    )
    topic_partitions: int = Field(3, ge=1)
    group_id: str = "runnotary"
    session_timeout_ms: int = Field(45_000, ge=1_000)
    max_poll_interval_ms: int = Field(300_000, ge=1_000)

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
        604_800.0, gt=0, description="a run older than this counts as stale when used as a baseline or in a meeting"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    n_resamples: int = Field(10_000, ge=1)
    ci_method: Literal["percentile", "bca"] = "bca"
    random_state: int = Field(20261123, ge=0)

    def topic(self, name: str) -> str:
        """The Kafka topic of a logical name: its override, else the prefix in front of it."""
        return self.topic_names.get(name) or f"{self.topic_prefix}{name}"

    def tracking_uri(self) -> str:
        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        return f"sqlite:///{(self.state_dir / 'mlflow.db').resolve()}"

    def artifact_location(self) -> str | None:
        """Where new experiments keep artifacts: a local folder for the embedded store, the server's choice otherwise."""
        return None if self.mlflow_tracking_uri else (self.state_dir / "mlartifacts").resolve().as_uri()

    def kafka_config(self, bootstrap: str | None = None) -> dict[str, str | int | float | bool]:
        """The librdkafka settings shared by producers, consumers and the admin client."""
        servers = bootstrap or self.kafka_bootstrap
        if not servers:
            raise ValueError("no Kafka bootstrap servers: set RUNNOTARY_KAFKA_BOOTSTRAP or start the embedded broker")
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": servers,
            "security.protocol": self.kafka_security_protocol.lower(),
            "log.connection.close": "false",
        }
        if self.kafka_sasl_mechanism:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_ca_location:
            config["ssl.ca.location"] = self.kafka_ssl_ca_location
        return config
