"""What a publisher needs to reach Kafka, read from the same ``RUNNOTARY_*`` variables as the service.

``KafkaSettings`` is the connection and the topic names, shared with the service's ``Settings``;
``ClientSettings`` adds the client's spool and timeout. Neither validates the service's other
settings, so a training job starts with only the Kafka variables set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runnotary.client.spool import default_spool_dir

__all__ = ["ClientSettings", "KafkaSettings"]


class KafkaSettings(BaseSettings):
    """The Kafka cluster (bootstrap servers, TLS, SASL) and the topic names."""

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

    def topic(self, name: str) -> str:
        """The Kafka topic of a logical name: its override, else the prefix in front of it."""
        return self.topic_names.get(name) or f"{self.topic_prefix}{name}"

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


class ClientSettings(KafkaSettings):
    """A training job's publisher: the Kafka settings, where unacknowledged events wait, how long to wait."""

    spool_dir: Path = Field(default_factory=default_spool_dir, description="where unacknowledged events wait")
    delivery_timeout_s: float = Field(15.0, gt=0, description="how long a publish waits for the broker's acknowledgement")
    artifact_root: Path = Field(Path("."), description="where the job leaves the files its events cite")
