"""Event contract v1: CloudEvents 1.0 envelopes (structured JSON mode) around versioned payloads.

Each topic carries one CloudEvents ``type``; consumers route on it. The JSON Schemas in
``consumers/schemas/`` are generated from these models (``runnotary schemas``) and a test
fails if they drift.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from runnotary.consumers.errors import InvalidEvent
from runnotary.registry.models import Alert, Identifier, RunCreated, SafeName

__all__ = [
    "CONTRACT_VERSION",
    "SOURCE",
    "TOPICS",
    "BundleEmitted",
    "CloudEvent",
    "Command",
    "DeadLetter",
    "GateResult",
    "GateStatus",
    "MeetingRequested",
    "TopicSpec",
    "decode",
    "encode",
    "envelope",
    "Headers",
    "kafka_headers",
]

CONTRACT_VERSION = 1
SOURCE = "urn:runnotary:service"
D = TypeVar("D", bound=BaseModel)



class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudEvent(_Model, Generic[D]):
    """A CloudEvents 1.0 envelope in structured JSON mode."""

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: Annotated[str, StringConstraints(min_length=1)]
    type: str
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: D


class MeetingRequested(_Model):
    meeting_id: SafeName
    candidates: list[Identifier] = Field(min_length=1, description="candidate_ids the meeting decides on")
    requested_by: Annotated[str, StringConstraints(min_length=1)]


class GateResult(_Model):
    obs: float | None
    threshold: float
    pass_: bool = Field(alias="pass")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class GateStatus(_Model):
    """The seed's GATE STATUS JSON, plus the baseline run and how the statistics were computed."""

    candidate_run: str
    gates: dict[str, GateResult]
    overall: Literal["pass", "fail"]
    baseline_run: str | None
    method: str | None
    n_resamples: int | None
    random_state: int | None


class BundleEmitted(_Model):
    meeting_id: SafeName
    location: str
    overall_gate_status: Literal["pass", "fail"]
    candidates: dict[str, Literal["pass", "fail"]] = Field(description="candidate_id -> its gate status")
    files: dict[str, str] = Field(description="bundle file -> sha256")


class DeadLetter(_Model):
    """An input that could not be processed, with the original bytes so it can be replayed."""

    source_topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None
    error: str
    error_type: str
    group_id: str


class RegisterRun(_Model):
    command: Literal["register_run"]
    run: RunCreated


class PairAB(_Model):
    command: Literal["pair_ab"]
    candidate_run_id: str
    baseline_selector: dict[str, str] = Field(default_factory=dict)


class ComputeStats(_Model):
    command: Literal["compute_stats"]
    candidate_run_id: str
    baseline_run_id: str
    metrics: list[str] = Field(default_factory=list)
    method: Literal["bootstrap", "permutation"] = "bootstrap"


class EmitBundle(_Model):
    command: Literal["emit_bundle"]
    meeting_id: SafeName


class GateCheck(_Model):
    command: Literal["gate_check"]
    candidate_run_id: str


class Command(_Model):
    """The seed's command grammar for other agents (accepted by the contract; handled by a later version)."""

    body: Annotated[RegisterRun | PairAB | ComputeStats | EmitBundle | GateCheck, Field(discriminator="command")]


class TopicSpec(_Model):
    name: str
    direction: Literal["in", "out"]
    event_type: str
    payload: type[BaseModel]
    description: str

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def _spec(name: str, direction: Literal["in", "out"], payload: type[BaseModel], description: str) -> TopicSpec:
    return TopicSpec(name=name, direction=direction, event_type=f"io.runnotary.{name}.v{CONTRACT_VERSION}",
                     payload=payload, description=description)


TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        _spec("runs.created", "in", RunCreated, "A training job registers a run and its evidence."),
        _spec("meetings.requested", "in", MeetingRequested, "A review meeting asks for an evidence bundle."),
        _spec("commands", "in", Command, "Commands of the seed's grammar (register_run, pair_ab, ...)."),
        _spec("gates.status", "out", GateStatus, "Computed gate status of a candidate against its baseline."),
        _spec("alerts", "out", Alert, "Hygiene and provenance findings."),
        _spec("bundles.emitted", "out", BundleEmitted, "An evidence bundle was written."),
        _spec("deadletter", "out", DeadLetter, "An input that could not be processed, with its reason."),
    )
}


def envelope(
    topic: str, data: BaseModel, *, subject: str | None, caused_by: str | None = None, source: str = SOURCE
) -> CloudEvent[Any]:
    """Wrap ``data`` for ``topic``. An event caused by another gets a deterministic id (uuid5 of the
    cause, topic and subject), so a redelivered input republishes byte-identical ids and downstream
    consumers can drop the duplicates. ``source`` names the producer: the service by default, a
    training job's identity when the job publishes (``runnotary.client``)."""
    spec = TOPICS[topic]
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{caused_by}|{topic}|{subject}")) if caused_by else str(uuid.uuid4())
    model: type[CloudEvent[Any]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
    return model(
        id=event_id, source=source, type=spec.event_type, time=datetime.now(timezone.utc), subject=subject, data=data
    )


def encode(event: CloudEvent[Any]) -> bytes:
    return event.model_dump_json(by_alias=True).encode()


def kafka_headers(event: CloudEvent[Any]) -> Headers:
    """The Kafka headers of a produced event (CloudEvents Kafka protocol binding, structured mode)."""
    return [("content-type", b"application/cloudevents+json; charset=UTF-8")]


#: Kafka message headers as confluent-kafka gives and takes them.
Headers = list[tuple[str, bytes]]


def decode(topic: str, raw: bytes | None, headers: Headers | None = None) -> CloudEvent[Any]:
    """Parse and validate one message of ``topic``; an ``InvalidEvent`` names what is wrong."""
    spec = TOPICS[topic]
    if raw is None:
        raise InvalidEvent("empty message (no value)")
    try:
        event = CloudEvent[spec.payload].model_validate_json(raw)  # type: ignore[name-defined]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidEvent(f"{topic}: invalid event: {problems}") from exc
    if event.type != spec.event_type:
        raise InvalidEvent(f"{topic}: event type {event.type!r} is not {spec.event_type!r}")
    return event


def b64(raw: bytes | None) -> str | None:
    return base64.b64encode(raw).decode() if raw is not None else None


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every topic's envelope, keyed by file name."""
    return {
        f"{name}.json": CloudEvent[spec.payload].model_json_schema(by_alias=True)  # type: ignore[name-defined]
        for name, spec in TOPICS.items()
    }


def asyncapi(prefix: str = "runnotary.") -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the topics and messages."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in TOPICS.items():
        key = name.replace(".", "_")
        messages[key] = {
            "name": spec.event_type,
            "contentType": "application/cloudevents+json",
            "payload": {"$ref": f"./{name}.json"},
        }
        channels[key] = {
            "address": f"{prefix}{name}",
            "description": spec.description,
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"{'consume' if spec.direction == 'in' else 'publish'}_{key}"] = {
            "action": "receive" if spec.direction == "in" else "send",
            "channel": {"$ref": f"#/channels/{key}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "runnotary", "version": f"{CONTRACT_VERSION}.0.0",
                 "description": "ML experiment provenance and A/B evidence over Kafka (CloudEvents 1.0, structured mode)."},
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render_schema_files() -> dict[str, str]:
    """File name -> text of every checked-in contract file."""
    files = {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in json_schemas().items()}
    files["asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    return files
