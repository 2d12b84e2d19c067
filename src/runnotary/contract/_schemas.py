"""JSON Schema and AsyncAPI documents of the contract, written by ``runnotary schemas``.

Private to the contract: the checked-in files are generated from the models and the topic table,
and a test fails if they drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runnotary.contract.cloudevents import ATTRIBUTE_NAME, INT32, STRUCTURED_CONTENT_TYPE, CloudEvent
from runnotary.contract.topics import CONTRACT_VERSION, TOPICS, TopicSpec, schema_id

__all__ = ["asyncapi", "json_schemas", "render_schema_files"]


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (2020-12) of every topic's envelope, keyed by file name.

    Each has a versioned ``$id`` (the ``dataschema`` of the events), ``type`` pinned to the
    topic's event type, and extension attributes described by name and value type.
    """
    schemas = {}
    for name, spec in TOPICS.items():
        schema = CloudEvent[spec.payload].model_json_schema(by_alias=True)  # type: ignore[name-defined]
        schema["properties"]["type"] = {"const": spec.event_type, "title": "Type", "type": "string"}
        schema["propertyNames"] = {"pattern": ATTRIBUTE_NAME}
        schema["additionalProperties"] = {
            "description": "an extension attribute (e.g. traceparent, partitionkey)",
            "anyOf": [{"type": "string"}, {"type": "boolean"},
                      {"type": "integer", "minimum": INT32.start, "maximum": INT32.stop - 1}],
        }
        schemas[f"{name}.json"] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id(name),
            "title": f"{spec.event_type} (CloudEvents 1.0, JSON format)", **{k: v for k, v in schema.items() if k != "title"},
        }
    return schemas



_BINDING_VERSION = "0.5.0"


def _ce_headers(event_type: str, *, binary: bool) -> dict[str, Any]:
    """The Kafka headers of one message mode, as a JSON Schema (values are UTF-8 strings)."""
    if not binary:
        return {
            "type": "object",
            "description": "Structured mode: the whole CloudEvent is the value.",
            "properties": {"content-type": {"type": "string", "pattern": "^application/cloudevents\\+json",
                                            "examples": [STRUCTURED_CONTENT_TYPE]}},
        }
    attribute = {"type": "string"}
    return {
        "type": "object",
        "description": "Binary mode: every CloudEvents attribute is a `ce_` header and `data` is the value. "
                       "Extensions travel as `ce_<name>` too (e.g. `ce_traceparent`).",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type"],
        "properties": {
            "content-type": {"type": "string", "description": "the datacontenttype, a JSON media type",
                             "examples": ["application/json; charset=utf-8"]},
            "ce_specversion": {"const": "1.0"},
            "ce_id": attribute, "ce_source": attribute, "ce_type": {"const": event_type},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_subject": attribute, "ce_dataschema": attribute,
        },
        "additionalProperties": attribute,
    }


def _message(spec: TopicSpec, *, binary: bool) -> dict[str, Any]:
    """The AsyncAPI message of a topic's events in one content mode."""
    mode = "binary mode" if binary else "structured mode"
    return {
        "name": f"{spec.event_type} ({mode})" if binary else spec.event_type,
        "title": f"{spec.event_type} ({mode})",
        "summary": spec.description,
        "contentType": "application/json" if binary else "application/cloudevents+json",
        "headers": _ce_headers(spec.event_type, binary=binary),
        "payload": {"schemaFormat": "application/schema+json;version=draft-07",
                    "schema": {"$ref": f"./{spec.name}.json" + ("#/properties/data" if binary else "")}},
        "bindings": {"kafka": {"key": {"type": "string", "description": spec.key}, "bindingVersion": _BINDING_VERSION}},
    }


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the topics, their messages (both content modes on input), keys and headers."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in TOPICS.items():
        key = name.replace(".", "_")
        title = "".join(part.title() for part in key.split("_"))
        messages[key] = _message(spec, binary=False)
        channel_messages = {key: {"$ref": f"#/components/messages/{key}"}}
        if spec.direction == "in":
            messages[f"{key}_binary"] = _message(spec, binary=True)
            channel_messages[f"{key}_binary"] = {"$ref": f"#/components/messages/{key}_binary"}
        channels[key] = {
            "address": f"{{prefix}}{name}",
            "title": name,
            "description": f"{spec.description} A topic can also be renamed alone (RUNNOTARY_TOPIC_NAMES).",
            "parameters": {"prefix": {"$ref": "#/components/parameters/prefix"}},
            "messages": channel_messages,
        }
        operation: dict[str, Any] = {
            "action": "receive" if spec.direction == "in" else "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": ("runnotary consumes " if spec.direction == "in" else "runnotary publishes ") + name,
            "messages": [{"$ref": f"#/channels/{key}/messages/{m}"} for m in channel_messages],
        }
        if spec.direction == "in":
            operation["bindings"] = {"kafka": {"groupId": {"type": "string", "default": "runnotary",
                                                           "description": "RUNNOTARY_GROUP_ID"},
                                               "bindingVersion": _BINDING_VERSION}}
        operations[f"{'receive' if spec.direction == 'in' else 'send'}{title}"] = operation
    return {
        "asyncapi": "3.0.0",
        "id": "urn:runnotary:asyncapi",
        "info": {
            "title": "runnotary",
            "version": f"{CONTRACT_VERSION}.0.0",
            "description": "ML experiment provenance and A/B evidence over Kafka. Every message is a CloudEvents 1.0 "
                           "event (Kafka protocol binding): runnotary publishes structured mode and reads structured "
                           "and binary mode. The payload schemas are the checked-in JSON Schemas next to this file.",
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The Kafka cluster of RUNNOTARY_KAFKA_BOOTSTRAP (SASL/TLS per RUNNOTARY_KAFKA_*).",
                "variables": {"bootstrap": {"default": "localhost:9092", "description": "one bootstrap host:port"}},
                "bindings": {"kafka": {"bindingVersion": _BINDING_VERSION}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "parameters": {"prefix": {"default": "runnotary.", "description": "RUNNOTARY_TOPIC_PREFIX, put in front of every topic"}},
        },
    }


def render_schema_files(extra: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, str]:
    """File name -> text of every checked-in contract file; ``extra`` adds documents made elsewhere
    (the metric catalog's schema, which belongs to the registry)."""
    documents: dict[str, Any] = {**json_schemas(), "asyncapi.json": asyncapi(), **(extra or {})}
    return {name: json.dumps(doc, indent=2, sort_keys=True) + "\n" for name, doc in documents.items()}
