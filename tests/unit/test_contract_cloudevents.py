"""The CloudEvents Kafka protocol binding, checked against the official Python SDK (`cloudevents`).

Every message runnotary produces must parse with the SDK's Kafka helpers, and a message the SDK
builds (binary or structured mode) must decode exactly like one runnotary builds.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as sdk_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from cloudevents.v1 import kafka as sdk_v1_kafka
from cloudevents.v1.http import CloudEvent as SdkV1Event

from runnotary.contract import (
    STRUCTURED_CONTENT_TYPE, TOPICS, Alert, BundleEmitted, DeadLetter, DeadLetterHeader, GateResult, GateStatus,
    InvalidEvent, MeetingRequested, RunCreated, decode, encode, envelope, kafka_headers, schema_id,
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def produced_events(run_event: dict[str, Any]) -> list[tuple[str, Any]]:
    """One event of every topic, built the way the service builds them (``envelope``)."""
    data: dict[str, Any] = {
        "runs.created": RunCreated.model_validate(run_event),
        "meetings.requested": MeetingRequested(meeting_id="m1", candidates=["cand-unit"], requested_by="r"),
        "gates.status": GateStatus(candidate_run="r1", gates={"ndcg@10_ci95_lower": GateResult(obs=None, threshold=0.0, pass_=False)},
                                   overall="fail", baseline_run=None, method=None, n_resamples=None, random_state=None),
        "alerts": Alert(kind="dirty_commit", severity="warning", run_id=None, candidate_id="cand-unit", message="m"),
        "bundles.emitted": BundleEmitted(meeting_id="m1", location="bundle/m1", overall_gate_status="pass",
                                         candidates={"cand-unit": "pass"}, files={"gate_status.json": "0" * 64}),
        "deadletter": DeadLetter(source_topic="runnotary.runs.created", partition=0, offset=7, key_b64=None, value_b64="eA==",
                                 error="bad", error_type="InvalidEvent", group_id="g",
                                 headers=[DeadLetterHeader(key="ce_id", value_b64="eA==")]),
    }
    return [(topic, envelope(topic, payload, subject="s1", caused_by="cause")) for topic, payload in data.items()]


def _message(event: Any) -> sdk_kafka.KafkaMessage:
    return sdk_kafka.KafkaMessage(headers=dict(kafka_headers(event)), key=b"k", value=encode(event))


def test_every_produced_message_carries_the_structured_mode_content_type(run_event: dict[str, Any]) -> None:
    for topic, event in produced_events(run_event):
        assert kafka_headers(event) == [("content-type", b"application/cloudevents+json; charset=UTF-8")], topic
        assert json.loads(encode(event))["dataschema"] == schema_id(topic)


@pytest.mark.parametrize("parse", [sdk_kafka.from_kafka, sdk_kafka.from_structured], ids=["from_kafka", "from_structured"])
def test_sdk_parses_every_message_the_service_produces(run_event: dict[str, Any], parse: Any) -> None:
    for topic, event in produced_events(run_event):
        parsed = parse(_message(event), JSONFormat())
        assert parsed.get_id() == event.id and parsed.get_type() == TOPICS[topic].event_type
        assert parsed.get_source() == event.source and parsed.get_subject() == "s1"
        assert parsed.get_dataschema() == schema_id(topic)
        assert parsed.get_time() == event.time
        assert parsed.get_data() == event.data.model_dump(mode="json", by_alias=True), topic


def test_sdk_v1_api_parses_every_message_the_service_produces(run_event: dict[str, Any]) -> None:
    for topic, event in produced_events(run_event):
        message = sdk_v1_kafka.KafkaMessage(headers=dict(kafka_headers(event)), key=b"k", value=encode(event))
        parsed = sdk_v1_kafka.from_structured(message)
        assert parsed["id"] == event.id and parsed["type"] == TOPICS[topic].event_type
        assert parsed.get_data() == event.data.model_dump(mode="json", by_alias=True), topic


def _sdk_event(run_event: dict[str, Any], **attributes: Any) -> SdkEvent:
    return SdkEvent(attributes={"type": TOPICS["runs.created"].event_type, "source": "/training/job-7",
                                "subject": "cand-unit", **attributes}, data=run_event)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_sdk_built_message_decodes_like_a_runnotary_one(run_event: dict[str, Any], mode: str) -> None:
    sdk_event = _sdk_event(run_event, datacontenttype="application/json")
    to_kafka = sdk_kafka.to_binary if mode == "binary" else sdk_kafka.to_structured
    message = to_kafka(sdk_event, JSONFormat())
    decoded = decode("runs.created", message.value, list(message.headers.items()))
    ours = envelope("runs.created", RunCreated.model_validate(run_event), subject="cand-unit")
    theirs = decode("runs.created", encode(ours), kafka_headers(ours))
    assert decoded.data == theirs.data
    assert (decoded.id, decoded.source, decoded.type, decoded.subject) == (
        sdk_event.get_id(), "/training/job-7", theirs.type, "cand-unit")
    assert decoded.time == sdk_event.get_time()


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_sdk_v1_api_built_message_decodes(run_event: dict[str, Any], mode: str) -> None:
    sdk_event = SdkV1Event({"type": TOPICS["runs.created"].event_type, "source": "/training/job-7",
                            "datacontenttype": "application/json", "traceparent": TRACEPARENT}, run_event)
    to_kafka = sdk_v1_kafka.to_binary if mode == "binary" else sdk_v1_kafka.to_structured
    message = to_kafka(sdk_event)
    decoded = decode("runs.created", message.value, list(message.headers.items()))
    assert decoded.id == sdk_event["id"] and decoded.data == RunCreated.model_validate(run_event)
    assert decoded.extensions == {"traceparent": TRACEPARENT}


def test_binary_mode_keeps_extensions_and_content_type_parameters(run_event: dict[str, Any]) -> None:
    headers = [
        ("ce_specversion", b"1.0"), ("ce_id", b"e-1"), ("ce_source", b"/job"), ("ce_type", TOPICS["runs.created"].event_type.encode()),
        ("ce_time", b"2026-11-26T14:45:00+01:00"), ("ce_dataschema", b"https://example.org/run.json"),
        ("ce_traceparent", TRACEPARENT.encode()), ("ce_partitionkey", b"cand-unit"), ("ce_abcdefghij0123456789", b"x"),
        ("content-type", b"application/json; charset=utf-8"),
    ]
    event = decode("runs.created", json.dumps(run_event).encode(), headers)
    assert event.datacontenttype == "application/json; charset=utf-8"
    assert event.dataschema == "https://example.org/run.json"
    assert event.time == datetime(2026, 11, 26, 13, 45, tzinfo=timezone.utc)
    assert event.extensions == {"traceparent": TRACEPARENT, "partitionkey": "cand-unit", "abcdefghij0123456789": "x"}


def _structured(run_event: dict[str, Any], **attributes: Any) -> bytes:
    doc = {"specversion": "1.0", "id": "e-1", "source": "/job", "type": TOPICS["runs.created"].event_type,
           "time": "2026-11-26T14:45:00Z", "data": run_event, **attributes}
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


def test_structured_mode_accepts_optional_attributes_extensions_and_no_time(run_event: dict[str, Any]) -> None:
    raw = _structured(run_event, time=None, subject="cand-unit", dataschema="urn:x", traceparent=TRACEPARENT,
                      partitionkey="cand-unit", sampled=True, retries=3, datacontenttype="application/json; charset=utf-8")
    event = decode("runs.created", raw, [("content-type", STRUCTURED_CONTENT_TYPE.encode())])
    assert event.time is None
    assert event.extensions == {"traceparent": TRACEPARENT, "partitionkey": "cand-unit", "sampled": "true", "retries": "3"}
    again = decode("runs.created", encode(event), kafka_headers(event))
    assert again.extensions == event.extensions and again.data == event.data


@pytest.mark.parametrize("time", ["2026-11-26 14:45:00", 1795704000, "2026-11-26T14:45:00", "26/11/2026"])
def test_time_that_is_not_rfc3339_is_refused(run_event: dict[str, Any], time: Any) -> None:
    with pytest.raises(InvalidEvent, match="time: .*not an RFC 3339 timestamp"):
        decode("runs.created", _structured(run_event, time=time))


def test_binary_time_that_is_not_rfc3339_is_refused(run_event: dict[str, Any]) -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e"), ("ce_source", b"/j"),
               ("ce_type", TOPICS["runs.created"].event_type.encode()), ("ce_time", b"1795704000")]
    with pytest.raises(InvalidEvent, match="not an RFC 3339 timestamp"):
        decode("runs.created", json.dumps(run_event).encode(), headers)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"Trace": "x"}, "extension attribute 'Trace'"),
        ({"trace_parent": "x"}, "extension attribute 'trace_parent'"),
        ({"abcdefghij0123456789x": "x"}, "1-20 lower-case"),
        ({"weight": 0.5}, "string, boolean or 32-bit integer"),
        ({"nested": {"a": 1}}, "string, boolean or 32-bit integer"),
        ({"datacontenttype": "text/xml"}, "not a JSON media type"),
        ({"data_base64": "eA=="}, "binary data is not accepted"),
        ({"specversion": "0.3"}, "specversion"),
    ],
)
def test_invalid_attributes_are_refused_with_their_name(run_event: dict[str, Any], attributes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        decode("runs.created", _structured(run_event, **attributes))


def test_unknown_data_fields_are_still_refused(run_event: dict[str, Any]) -> None:
    with pytest.raises(InvalidEvent, match="data.surprise"):
        decode("runs.created", _structured({**run_event, "surprise": 1}, traceparent=TRACEPARENT))


def test_binary_mode_refuses_data_that_is_not_json(run_event: dict[str, Any]) -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e"), ("ce_source", b"/j"),
               ("ce_type", TOPICS["runs.created"].event_type.encode()), ("content-type", b"application/avro")]
    with pytest.raises(InvalidEvent, match="application/avro.*not a JSON media type"):
        decode("runs.created", b"\x00\x01", headers)
    with pytest.raises(InvalidEvent, match="is not JSON"):
        decode("runs.created", b"not json", headers[:-1])


def test_other_event_formats_and_batches_are_refused(run_event: dict[str, Any]) -> None:
    for content_type in (b"application/cloudevents-batch+json", b"application/cloudevents+avro"):
        with pytest.raises(InvalidEvent, match="only the JSON event format"):
            decode("runs.created", _structured(run_event), [("content-type", content_type)])


def test_wrong_type_in_binary_mode_is_refused(run_event: dict[str, Any]) -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"e"), ("ce_source", b"/j"), ("ce_type", TOPICS["alerts"].event_type.encode())]
    with pytest.raises(InvalidEvent, match="is not 'io.runnotary.runs.created.v1'"):
        decode("runs.created", json.dumps(run_event).encode(), headers)


def test_one_runs_alerts_share_its_key_and_keep_distinct_ids(run_event: dict[str, Any]) -> None:
    from pathlib import Path

    from runnotary.consumers.handlers import Handlers
    from runnotary.consumers.metrics import ServiceMetrics

    handlers = Handlers(registry=None, settings=None, bundle_root=Path("."), metrics=ServiceMetrics())  # type: ignore[arg-type]
    cause = envelope("runs.created", RunCreated.model_validate(run_event), subject="cand-unit", caused_by="in-1")
    alerts = [Alert(kind="metric_mismatch", severity="critical", run_id="run-1", message="ndcg@10 claimed 0.5, recomputed 0.4"),
              Alert(kind="metric_mismatch", severity="critical", run_id="run-1", message="recall claimed 0.9, recomputed 0.8"),
              Alert(kind="dirty_commit", severity="warning", run_id="run-1", message="dirty")]
    out = handlers._alerts(alerts, cause)
    assert [o.key for o in out] == ["run-1"] * 3
    ids = [json.loads(o.value)["id"] for o in out]
    assert len(set(ids)) == 3
    # The id follows the alert, not its position: the same alerts in another order keep their ids.
    again = handlers._alerts(list(reversed(alerts)), cause)
    assert [json.loads(o.value)["id"] for o in again] == list(reversed(ids))
    no_run = handlers._alerts([Alert(kind="unknown_candidate", severity="critical", candidate_id="cand-9", message="m")], cause)
    assert no_run[0].key == "cand-9"


def test_deadletter_headers_keep_order_repeats_and_missing_values() -> None:
    from runnotary.contract import deadletter_headers

    kept = deadletter_headers([("ce_id", b"e-1"), ("x", None), ("x", "text"), ("bin", b"\xff\x00")])
    assert [(h.key, h.value_b64) for h in kept] == [("ce_id", "ZS0x"), ("x", None), ("x", "dGV4dA=="), ("bin", "/wA=")]
    assert deadletter_headers(None) == []
