"""The checked-in JSON Schemas, checked with `jsonschema` against their metaschema and real events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.validators import validator_for

from runnotary.contract import TOPICS, encode, schema_id

from .test_contract_cloudevents import TRACEPARENT, produced_events

SCHEMAS = Path(__file__).resolve().parents[2] / "consumers" / "schemas"


def _schema(topic: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{topic}.json").read_text())


def _validator(topic: str) -> Draft202012Validator:
    schema = _schema(topic)
    return validator_for(schema)(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)  # type: ignore[no-any-return]


@pytest.mark.parametrize("topic", list(TOPICS))
def test_each_schema_is_valid_against_its_declared_metaschema(topic: str) -> None:
    schema = _schema(topic)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == schema_id(topic) == f"urn:runnotary:schema:v1:{topic}"
    validator = validator_for(schema, default=None)
    assert validator is Draft202012Validator
    validator.check_schema(schema)
    assert schema["properties"]["type"]["const"] == TOPICS[topic].event_type


def test_each_produced_event_is_valid_against_its_schema(run_event: dict[str, Any]) -> None:
    for topic, event in produced_events(run_event):
        _validator(topic).validate(json.loads(encode(event)))


def test_an_alert_relabelled_as_a_gate_status_is_refused(run_event: dict[str, Any]) -> None:
    alert = dict(produced_events(run_event))["alerts"]
    doc = json.loads(encode(alert))
    doc["type"] = TOPICS["gates.status"].event_type
    with pytest.raises(ValidationError):
        _validator("gates.status").validate(doc)
    with pytest.raises(ValidationError, match="was expected"):
        _validator("alerts").validate(doc)


@pytest.mark.parametrize("time", ["2026-11-26 14:45:00", 1795704000])
def test_schema_refuses_a_time_that_is_not_rfc3339(run_event: dict[str, Any], time: Any) -> None:
    doc = json.loads(encode(dict(produced_events(run_event))["runs.created"]))
    doc["time"] = time
    with pytest.raises(ValidationError):
        _validator("runs.created").validate(doc)


def test_schema_accepts_extensions_and_refuses_bad_names(run_event: dict[str, Any]) -> None:
    doc = json.loads(encode(dict(produced_events(run_event))["runs.created"]))
    validator = _validator("runs.created")
    validator.validate({**doc, "traceparent": TRACEPARENT, "sampled": True, "retries": 3})
    del doc["time"]
    validator.validate(doc)
    for bad in ({"TraceParent": "x"}, {"trace_parent": "x"}, {"weight": 0.5}, {"nested": {}}):
        with pytest.raises(ValidationError):
            validator.validate({**doc, **bad})
    with pytest.raises(ValidationError):
        validator.validate({**doc, "data": {**doc["data"], "surprise": 1}})
