"""The event contract (envelopes, checked-in schemas) and settings (secrets stay secret)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runnotary.consumers.cli import main
from runnotary.consumers.settings import Settings
from runnotary.contract import TOPICS, InvalidEvent, MeetingRequested, RunCreated, decode, encode, envelope
from runnotary.contract._schemas import render_schema_files

SCHEMAS = Path(__file__).resolve().parents[2] / "consumers" / "schemas"


def test_checked_in_schemas_match_the_models() -> None:
    for name, text in render_schema_files().items():
        assert (SCHEMAS / name).read_text() == text, f"{name} drifted: run `runnotary schemas`"


def test_schemas_check_command_detects_drift(tmp_path: Path) -> None:
    assert main(["schemas", "--dir", str(tmp_path)]) == 0
    assert main(["schemas", "--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "alerts.json").write_text("{}")
    assert main(["schemas", "--check", "--dir", str(tmp_path)]) == 1


def test_envelope_roundtrip_is_a_cloudevent(run_event: dict[str, Any]) -> None:
    data = RunCreated.model_validate(run_event)
    raw = encode(envelope("runs.created", data, subject="cand-unit"))
    doc = json.loads(raw)
    assert {"id", "source", "type", "specversion", "time", "subject", "data"} <= set(doc)
    assert doc["specversion"] == "1.0" and doc["type"] == TOPICS["runs.created"].event_type
    assert decode("runs.created", raw).data == data


def test_caused_events_have_deterministic_ids() -> None:
    data = MeetingRequested(meeting_id="m1", candidates=["c"], requested_by="r")
    first = envelope("meetings.requested", data, subject="m1", caused_by="input-1")
    again = envelope("meetings.requested", data, subject="m1", caused_by="input-1")
    other = envelope("meetings.requested", data, subject="m1", caused_by="input-2")
    assert first.id == again.id != other.id


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "empty message"),
        (b"not json", "invalid event"),
        (b'{"specversion": "1.0"}', "id: Field required"),
    ],
)
def test_decode_names_the_problem(raw: bytes | None, message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        decode("runs.created", raw)


def test_wrong_event_type_for_topic_is_refused() -> None:
    data = MeetingRequested(meeting_id="m1", candidates=["c"], requested_by="r")
    raw = encode(envelope("meetings.requested", data, subject="m1")).replace(b"meetings.requested", b"runs.created", 1)
    with pytest.raises(InvalidEvent):
        decode("meetings.requested", raw)


def test_password_never_appears_in_repr_or_dump() -> None:
    settings = Settings(kafka_bootstrap="b:9092", kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN",
                        kafka_sasl_username="svc", kafka_sasl_password="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in settings.model_dump_json()
    config = settings.kafka_config()
    assert config["sasl.password"] == "hunter2-secret"
    assert config["security.protocol"] == "sasl_ssl" and config["bootstrap.servers"] == "b:9092"


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNOTARY_TOPIC_PREFIX", "ml.")
    monkeypatch.setenv("RUNNOTARY_TOPIC_NAMES", '{"deadletter": "ml.dlq"}')
    monkeypatch.setenv("RUNNOTARY_N_RESAMPLES", "5000")
    settings = Settings()
    assert settings.topic("alerts") == "ml.alerts" and settings.topic("deadletter") == "ml.dlq"
    assert settings.n_resamples == 5000


def test_embedded_defaults_without_kafka_or_mlflow(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    assert settings.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    with pytest.raises(ValueError, match="no Kafka bootstrap"):
        settings.kafka_config()


def test_consumers_of_the_embedded_broker_wait_briefly_for_data(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tansu answers a waiting fetch only when the wait ends: the embedded broker gets a short wait, a
    configured broker librdkafka's own unless the operator sets one."""
    from runnotary.consumers.app import for_broker
    from runnotary.consumers.broker import EMBEDDED_FETCH_WAIT_MS

    assert for_broker(Settings()).kafka_fetch_wait_max_ms == EMBEDDED_FETCH_WAIT_MS
    assert for_broker(Settings(kafka_bootstrap="kafka:9092")).kafka_fetch_wait_max_ms is None
    monkeypatch.setenv("RUNNOTARY_KAFKA_FETCH_WAIT_MAX_MS", "250")
    assert for_broker(Settings()).kafka_fetch_wait_max_ms == 250
    assert for_broker(Settings(kafka_bootstrap="kafka:9092")).kafka_fetch_wait_max_ms == 250


def test_one_stale_threshold_is_the_default_everywhere() -> None:
    """Registration hygiene, meeting hygiene, the metrics and the setting all start from registry.hygiene.STALE_AFTER."""
    from runnotary.bundles import hygiene as meeting_hygiene
    from runnotary.consumers.metrics import DEFAULT_STALE_AFTER_SECONDS
    from runnotary.registry.hygiene import STALE_AFTER, HygieneSettings

    assert meeting_hygiene.STALE_AFTER is STALE_AFTER and HygieneSettings().stale_after == STALE_AFTER
    assert Settings().stale_after_seconds == DEFAULT_STALE_AFTER_SECONDS == STALE_AFTER.total_seconds() == 7 * 24 * 3600
