"""`runnotary replay-deadletter` on a real broker: dead letters go back as they came."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from tests.support import read_messages
from runnotary.consumers.cli import main
from runnotary.consumers.handlers import Outgoing
from runnotary.consumers.kafka import ensure_topics, make_producer
from runnotary.consumers.settings import Settings
from runnotary.contract import DeadLetter, DeadLetterHeader, b64, envelope

Original = tuple[bytes | None, bytes, list[tuple[str, bytes | None]]]


def _read_all(settings: Settings, topic: str, expect: int, timeout: float = 30.0) -> list[Original]:
    """(key, value, headers) of a logical topic's messages, read a little past ``expect`` so that an extra one would be seen."""
    return [(m.key(), m.value(), list(m.headers() or [])) for m in read_messages(settings, topic, expect, timeout, linger=8)]


@pytest.fixture
def settings(kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    tag = uuid.uuid4().hex[:10]
    monkeypatch.setenv("RUNNOTARY_KAFKA_BOOTSTRAP", kafka_bootstrap)
    monkeypatch.setenv("RUNNOTARY_TOPIC_PREFIX", f"r{tag}.")
    monkeypatch.setenv("RUNNOTARY_GROUP_ID", f"g{tag}")
    monkeypatch.setenv("RUNNOTARY_TOPIC_PARTITIONS", "1")
    settings = Settings()
    assert not ensure_topics(settings, ["runs.created", "deadletter", "replayed", "replayed2", "replayed3"])
    return settings


def test_replay_deadletter_reproduces_key_value_and_headers(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    source = settings.topic("runs.created")
    originals: list[Original] = [
        (b"k-binary", b'{"not": "a run"}', [("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_traceparent", b"00-ab"),
                                            ("empty", None)]),
        (b"k-big", b"x" * 5000, [("content-type", b"application/cloudevents+json; charset=UTF-8")]),
        (None, b"not json", []),
        (b"k-changed", b"y" * 300, []),
    ]
    producer = make_producer(settings)
    offsets: list[int] = []
    for key, value, headers in originals:
        producer.produce(source, key=key, value=value, headers=headers,
                         on_delivery=lambda err, msg: offsets.append(msg.offset()))
    assert producer.flush(15) == 0 and len(offsets) == 4

    def letter(i: int, error_type: str, *, truncate: bool = False, sha: str | None = None) -> Outgoing:
        key, value, headers = originals[i]
        record = DeadLetter(
            source_topic=source, partition=0, offset=offsets[i], key_b64=b64(key),
            value_b64=b64(value[:100] if truncate else value), error="boom", error_type=error_type, group_id="g",
            headers=[DeadLetterHeader(key=k, value_b64=b64(v)) for k, v in headers],
            value_sha256=sha or hashlib.sha256(value).hexdigest(), value_size=len(value), value_truncated=truncate,
        )
        subject = f"{source}:0:{offsets[i]}"
        return Outgoing.of("deadletter", subject, envelope("deadletter", record, subject=subject, caused_by=subject))

    letters = [letter(0, "InvalidEvent"), letter(1, "InvalidEvent", truncate=True), letter(2, "ValueError"),
               letter(3, "Corrupt", truncate=True, sha="0" * 64)]
    for out in letters:
        producer.produce(settings.topic(out.topic), key=out.key.encode(), value=out.value, headers=out.headers)
    assert producer.flush(15) == 0

    assert main(["replay-deadletter", "--error-type", "InvalidEvent", "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("would replay ") == 2 and "2 dead letter(s) match; nothing sent" in listed
    assert f"{source} 0:{offsets[1]} InvalidEvent key=b'k-big' value=5000 bytes headers=1 truncated" in listed

    assert main(["replay-deadletter", "--error-type", "InvalidEvent", "--to", settings.topic("replayed")]) == 0
    assert "replayed 2 dead letter(s)" in capsys.readouterr().out
    assert _read_all(settings, "replayed", 2) == originals[:2]  # the truncated one completed from its source

    assert main(["replay-deadletter", "--min-offset", str(offsets[2]), "--max-offset", str(offsets[2]),
                 "--to", settings.topic("replayed2")]) == 0
    assert _read_all(settings, "replayed2", 1) == [originals[2]]

    # A source message that no longer matches the recorded sha256 is refused, and nothing is sent.
    assert main(["replay-deadletter", "--error-type", "Corrupt", "--to", settings.topic("replayed3")]) == 1
    assert "does not match the recorded sha256" in capsys.readouterr().err
    assert _read_all(settings, "replayed3", 0, timeout=10) == []


def test_replay_to_the_source_topic_by_default(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    source = settings.topic("runs.created")
    record = DeadLetter(source_topic=source, partition=0, offset=0, key_b64=b64(b"k"), value_b64=b64(b"v"),
                        error="e", error_type="InvalidEvent", group_id="g")
    out = Outgoing.of("deadletter", "s", envelope("deadletter", record, subject="s", caused_by="s"))
    producer = make_producer(settings)
    producer.produce(settings.topic("deadletter"), key=out.key.encode(), value=out.value, headers=out.headers)
    assert producer.flush(15) == 0
    assert main(["replay-deadletter", "--source-topic", source]) == 0
    assert _read_all(settings, "runs.created", 1) == [(b"k", b"v", [])]


def test_replay_without_bootstrap_names_the_setting(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("RUNNOTARY_KAFKA_BOOTSTRAP", raising=False)
    assert main(["replay-deadletter", "--dry-run"]) == 1
    assert "RUNNOTARY_KAFKA_BOOTSTRAP" in capsys.readouterr().err
