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

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, ValidationError, model_validator

from runnotary.consumers.errors import InvalidEvent
from runnotary.registry.models import Alert, Identifier, RunCreated, SafeName

__all__ = [
    "CONTRACT_VERSION",
    "SOURCE",
    "TOPICS",
    "BundleEmitted",
    "CloudEvent",
    "BaselineSelector",
    "COMMAND_NAMES",
    "Command",
    "CommandError",
    "CommandName",
    "CommandReply",
    "ComputeStats",
    "EmitBundle",
    "GateCheck",
    "PairAB",
    "RegisterRun",
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
    """Register a run: the data of a runs.created event under ``run``."""

    command: Literal["register_run"]
    run: RunCreated


class BaselineSelector(_Model):
    """Which baseline a candidate is paired with: exactly one of ``{run_id}``,
    ``{dataset_sha256, seed_family}`` or ``{newest_matching: true}``."""

    run_id: Identifier | None = None
    dataset_sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$", to_lower=True)] | None = None
    seed_family: Identifier | None = None
    newest_matching: Literal[True] | None = None

    @model_validator(mode="after")
    def _exactly_one_form(self) -> BaselineSelector:
        forms = [self.run_id is not None, self.dataset_sha256 is not None or self.seed_family is not None,
                 self.newest_matching is not None]
        if sum(forms) != 1 or (forms[1] and (self.dataset_sha256 is None or self.seed_family is None)):
            raise ValueError('give exactly one of {"run_id": ...}, {"dataset_sha256": ..., "seed_family": ...} '
                             'or {"newest_matching": true}')
        return self


class PairAB(_Model):
    """Pair a candidate run with a baseline, evaluate its gates and publish gates.status."""

    command: Literal["pair_ab"]
    candidate_run_id: Identifier
    baseline_selector: BaselineSelector


class ComputeStats(_Model):
    """Paired statistics of a candidate against a baseline run; nothing is published."""

    command: Literal["compute_stats"]
    candidate_run_id: Identifier
    baseline_run_id: Identifier
    metrics: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=16, description="metrics to compare; empty means every comparable metric")
    method: Literal["percentile", "bca", "permutation"] = "bca"
    n_resamples: int | None = Field(None, ge=100, le=1_000_000, description="default: the service's setting")
    random_state: int | None = Field(None, ge=0, le=2**63 - 1, description="default: the service's setting")


class EmitBundle(_Model):
    """Write a meeting's evidence bundle and publish bundles.emitted (what meetings.requested does)."""

    command: Literal["emit_bundle"]
    meeting_id: SafeName
    candidates: list[Identifier] = Field(min_length=1, description="candidate_ids the meeting decides on")
    requested_by: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "commands"


class GateCheck(_Model):
    """Re-evaluate a candidate's gates with the current policy and publish gates.status."""

    command: Literal["gate_check"]
    candidate_run_id: Identifier


CommandName = Literal["register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check"]
COMMAND_NAMES: tuple[str, ...] = ("register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check")


class Command(RootModel[Annotated[RegisterRun | PairAB | ComputeStats | EmitBundle | GateCheck, Field(discriminator="command")]]):
    """One command of the seed's grammar; the ``command`` field names the verb."""

    model_config = ConfigDict(frozen=True)


class CommandError(_Model):
    code: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,64}$")]
    message: str


class CommandReply(_Model):
    """The answer to one command: a result, or an error that names what was wrong."""

    correlationid: str = Field(description="the id of the command event this answers")
    command: CommandName | None = Field(description="the verb, or null when the command could not be read")
    status: Literal["ok", "error"]
    result: dict[str, Any] | None = None
    error: CommandError | None = None


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
        _spec("commands.replies", "out", CommandReply,
              "The answer to each command, correlated by the command event's id (also the subject)."),
        _spec("gates.status", "out", GateStatus, "Computed gate status of a candidate against its baseline."),
        _spec("alerts", "out", Alert, "Hygiene and provenance findings."),
        _spec("bundles.emitted", "out", BundleEmitted, "An evidence bundle was written."),
        _spec("deadletter", "out", DeadLetter, "An input that could not be processed, with its reason."),
    )
}


def envelope(topic: str, data: BaseModel, *, subject: str | None, caused_by: str | None = None) -> CloudEvent[Any]:
    """Wrap ``data`` for ``topic``. An event caused by another gets a deterministic id (uuid5 of the
    cause, topic and subject), so a redelivered input republishes byte-identical ids and downstream
    consumers can drop the duplicates."""
    spec = TOPICS[topic]
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{caused_by}|{topic}|{subject}")) if caused_by else str(uuid.uuid4())
    model: type[CloudEvent[Any]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
    return model(
        id=event_id, source=SOURCE, type=spec.event_type, time=datetime.now(timezone.utc), subject=subject, data=data
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
