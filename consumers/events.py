"""Event contract v1: CloudEvents 1.0 envelopes around versioned payloads, over Kafka.

Each topic carries one CloudEvents ``type``; consumers route on it. The service writes the
CloudEvents Kafka protocol binding's structured mode (a JSON envelope as the value and
``content-type: application/cloudevents+json; charset=UTF-8``) and reads both structured and
binary mode (``ce_*`` headers, ``data`` as the value). The JSON Schemas in
``consumers/schemas/`` are generated from these models (``runnotary schemas``) and a test
fails if they drift.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from datetime import datetime, timezone
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel, StringConstraints, ValidationError, field_validator, model_validator

from runnotary.consumers.errors import InvalidEvent
from runnotary.digests import SHA256_PATTERN
from runnotary.registry.models import RFC3339, Alert, Identifier, RunCreated, SafeName, rfc3339

__all__ = [
    "CONTRACT_VERSION",
    "SOURCE",
    "STRUCTURED_CONTENT_TYPE",
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
    "Reconcile",
    "PairAB",
    "RegisterRun",
    "DeadLetter",
    "DeadLetterHeader",
    "ArmInterval",
    "ArmRuns",
    "ArmsStatus",
    "GateResult",
    "GateStatus",
    "MeetingRequested",
    "TopicSpec",
    "deadletter_headers",
    "decode",
    "encode",
    "envelope",
    "Headers",
    "ReadHeaders",
    "kafka_headers",
    "schema_id",
]

CONTRACT_VERSION = 1
SOURCE = "urn:runnotary:service"
#: The Kafka ``content-type`` of a structured-mode message in the JSON event format.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
D = TypeVar("D", bound=BaseModel)

#: Kafka message headers as confluent-kafka gives and takes them.
Headers = list[tuple[str, bytes]]
#: Headers as a consumer reads them (a header may have no value).
ReadHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None]

_RFC3339 = RFC3339
# The JSON event format carries data as JSON only for a JSON media type (parameters allowed).
_JSON_MEDIA_TYPE = re.compile(r"^(application|text)/([A-Za-z0-9!#$&^_.+-]+\+)?json\s*(;.*)?$")
# CloudEvents attribute names: lower-case ASCII letters and digits, at most 20 characters.
_ATTRIBUTE_NAME = r"^[a-z0-9]{1,20}$"
_ATTRIBUTE_NAME_RE = re.compile(_ATTRIBUTE_NAME)
_INT32 = range(-(2**31), 2**31)
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _ce_string(value: str | bool | int) -> str:
    """An attribute value in its canonical string form (as a binary-mode header carries it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class CloudEvent(BaseModel, Generic[D]):
    """A CloudEvents 1.0 event; ``data`` is the topic's payload model.

    Every optional attribute of the spec is accepted, and any extension attribute (a valid
    name with a string, boolean or integer value) is kept: ``extensions`` gives them as the
    strings a binary-mode header would carry. Unknown fields inside ``data`` are refused.
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"]
    id: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    source: NonEmpty = Field(description="URI-reference of the producer")
    type: NonEmpty
    time: datetime | None = Field(default=None, json_schema_extra={"pattern": _RFC3339},
                                  description="RFC 3339 timestamp of the occurrence")
    subject: NonEmpty | None = None
    datacontenttype: NonEmpty | None = Field(
        default="application/json", json_schema_extra={"pattern": _JSON_MEDIA_TYPE.pattern},
        description="a JSON media type, parameters allowed (application/json; charset=utf-8)")
    dataschema: NonEmpty | None = Field(default=None, description="URI of the schema data adheres to")
    data: D

    @field_validator("time", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        return None if value is None else rfc3339(value, "time")

    @field_validator("datacontenttype")
    @classmethod
    def _json_media_type(cls, value: str | None) -> str | None:
        if value is not None and not _JSON_MEDIA_TYPE.match(value):
            raise ValueError(f"datacontenttype {value!r} is not a JSON media type (data must be JSON)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _extension_attributes(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        if "data_base64" in values:
            raise ValueError("data_base64: binary data is not accepted; data must be a JSON object")
        known = cls.model_fields
        out = {}
        for name, value in values.items():
            if name in known:
                out[name] = value
                continue
            if not isinstance(name, str) or not _ATTRIBUTE_NAME_RE.match(name):
                raise ValueError(f"extension attribute {name!r}: names are 1-20 lower-case letters or digits")
            if value is None:
                continue  # the JSON event format treats a null attribute as absent
            if isinstance(value, bool) or isinstance(value, str) or (isinstance(value, int) and value in _INT32):
                out[name] = value
                continue
            raise ValueError(f"extension attribute {name!r}: value must be a string, boolean or 32-bit integer")
        return out

    @property
    def extensions(self) -> dict[str, str]:
        """Extension attributes (e.g. ``traceparent``, ``partitionkey``) in their string form."""
        return {name: _ce_string(value) for name, value in (self.model_extra or {}).items()}


class MeetingRequested(_Model):
    meeting_id: SafeName
    candidates: list[Identifier] = Field(min_length=1, description="candidate_ids the meeting decides on")
    requested_by: Annotated[str, StringConstraints(min_length=1)]


class GateResult(_Model):
    obs: float | None
    threshold: float
    pass_: bool = Field(alias="pass")
    rule: str | None = Field(None, description="the policy rule that decided, e.g. 'delta_ci95_upper(latency_p95_ms) <= 5'")
    reason: Literal["missing", "not_claimed", "invalid", "no_baseline", "quarantined", "too_few_seeds"] | None = Field(
        None, description="why the gate had no usable input (it then fails)")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ArmRuns(_Model):
    """One arm: the seed runs of one recipe (candidate_id) on one dataset and seed family, in seed order."""

    candidate_id: str
    role: Literal["candidate", "baseline"]
    runs: list[str]
    seeds: list[int]


class ArmInterval(_Model):
    """A per-query metric over two arms: the headline interval, its estimand and the run-swap p-value beside it."""

    estimand: Literal["E1", "E2", "E3"] = Field(
        description="E1 these runs over queries; E2 the recipes on this query set over retraining; "
                    "E3 the recipes over retraining and queries")
    delta: float
    ci95: list[float]
    df: float | None
    pvalue: float | None
    run_swap_pvalue: float
    variance_seeds: float
    variance_items: float
    warnings: list[str]


class ArmsStatus(_Model):
    """The arms a gate status compared, when either has more than one seed run."""

    candidate: ArmRuns
    baseline: ArmRuns
    estimand: Literal["E1", "E2", "E3"]
    metrics: dict[str, ArmInterval]


class GateStatus(_Model):
    """The seed's GATE STATUS JSON, plus the baseline run and how the statistics were computed.

    ``arms`` is set when either side has several seed runs: ``candidate_run`` and ``baseline_run``
    are then the arms' newest runs, and the gates read the arms' comparison."""

    candidate_run: str
    gates: dict[str, GateResult]
    overall: Literal["pass", "fail"]
    baseline_run: str | None
    method: str | None = Field(description="the CI method actually used (BCa may fall back to percentile)")
    n_resamples: int | None
    random_state: int | None
    arms: ArmsStatus | None = None


class BundleEmitted(_Model):
    meeting_id: SafeName
    location: str
    overall_gate_status: Literal["pass", "fail"]
    candidates: dict[str, Literal["pass", "fail"]] = Field(description="candidate_id -> its gate status")
    files: dict[str, str] = Field(description="bundle file -> sha256")


class DeadLetterHeader(_Model):
    """One Kafka header of the input, as it came (``value_b64`` is null for a header without value)."""

    key: str
    value_b64: str | None


def deadletter_headers(headers: ReadHeaders | None) -> list[DeadLetterHeader]:
    """A message's Kafka headers as a dead-letter record keeps them: in order, repeats and all."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return [DeadLetterHeader(key=name, value_b64=b64(value.encode() if isinstance(value, str) else value))
            for name, value in pairs]


class DeadLetter(_Model):
    """An input that could not be processed, with what it takes to replay it as it came.

    ``value_b64`` holds the original value, or only a bounded prefix when ``value_truncated``;
    the original is then read back from ``source_topic``/``partition``/``offset`` and checked
    against ``value_sha256`` (``runnotary replay-deadletter`` does both).
    """

    source_topic: str
    partition: int
    offset: int
    key_b64: str | None
    value_b64: str | None
    error: str
    error_type: str
    group_id: str
    headers: list[DeadLetterHeader] = Field(default_factory=list, description="the input's Kafka headers, in order")
    value_sha256: str | None = Field(default=None, description="sha256 of the whole original value")
    value_size: int | None = Field(default=None, description="size of the whole original value in bytes")
    value_truncated: bool = Field(default=False, description="value_b64 holds only a prefix of the original value")


class RegisterRun(_Model):
    """Register a run: the data of a runs.created event under ``run``."""

    command: Literal["register_run"]
    run: RunCreated


class BaselineSelector(_Model):
    """Which baseline a candidate is paired with: exactly one of ``{run_id}``,
    ``{dataset_sha256, seed_family}`` or ``{newest_matching: true}``."""

    run_id: Identifier | None = None
    dataset_sha256: Annotated[str, StringConstraints(pattern=SHA256_PATTERN, to_lower=True)] | None = None
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


class Reconcile(_Model):
    """Pair every registered candidate whose baseline is registered but which has no gate status
    (after a restore, or a pairing lost to anything else) and publish their gates.status."""

    command: Literal["reconcile"]
    max_runs: int = Field(10_000, ge=1, le=1_000_000, description="candidates without a gate status to examine at most")


CommandName = Literal["register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check", "reconcile"]
COMMAND_NAMES: tuple[str, ...] = ("register_run", "pair_ab", "compute_stats", "emit_bundle", "gate_check", "reconcile")


class Command(RootModel[Annotated[RegisterRun | PairAB | ComputeStats | EmitBundle | GateCheck | Reconcile,
                                  Field(discriminator="command")]]):
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


def schema_id(topic: str) -> str:
    """The ``$id`` of ``topic``'s JSON Schema, also the ``dataschema`` of the events it carries."""
    return f"urn:runnotary:schema:v{CONTRACT_VERSION}:{topic}"


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
        specversion="1.0", id=event_id, source=source, type=spec.event_type, time=datetime.now(timezone.utc),
        subject=subject, dataschema=schema_id(topic), data=data,
    )


def encode(event: CloudEvent[Any]) -> bytes:
    """The structured-mode value: the JSON envelope, without the optional attributes left unset."""
    doc = event.model_dump(mode="json", by_alias=True)
    return json.dumps({k: v for k, v in doc.items() if v is not None or k == "data"}, separators=(",", ":")).encode()


def kafka_headers(event: CloudEvent[Any]) -> Headers:
    """The Kafka headers of a produced event: the binding's structured-mode ``content-type``.

    No ``ce_*`` headers: the binding allows them in structured mode, but the Python SDK's
    ``from_kafka`` then takes the message for binary mode and returns the whole envelope as data.
    """
    return [("content-type", STRUCTURED_CONTENT_TYPE.encode())]


def decode(topic: str, raw: bytes | None, headers: ReadHeaders | None = None) -> CloudEvent[Any]:
    """Parse and validate one message of ``topic``; an ``InvalidEvent`` names what is wrong.

    The mode follows the Kafka protocol binding: a ``content-type`` of
    ``application/cloudevents+json`` is structured mode, ``ce_*`` headers (with
    ``ce_specversion``) are binary mode, where the value is ``data`` and ``content-type`` its
    ``datacontenttype``. A message with neither is read as a structured JSON envelope.
    """
    spec = TOPICS[topic]
    if raw is None:
        raise InvalidEvent(f"{topic}: empty message (no value)")
    doc = _binary_envelope(topic, raw, headers) if _is_binary(topic, headers) else _structured_envelope(topic, raw, headers)
    try:
        event = CloudEvent[spec.payload].model_validate_json(doc)  # type: ignore[name-defined]
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidEvent(f"{topic}: invalid event: {problems}") from exc
    if event.type != spec.event_type:
        raise InvalidEvent(f"{topic}: event type {event.type!r} is not {spec.event_type!r}")
    return event


def _header_text(topic: str, headers: ReadHeaders | None) -> dict[str, str]:
    """Headers by lower-cased name, values as UTF-8 text (the binding encodes both as UTF-8)."""
    out: dict[str, str] = {}
    for name, value in (headers.items() if isinstance(headers, Mapping) else headers or ()):
        try:
            out[name.lower()] = value.decode("utf-8") if isinstance(value, bytes) else (value or "")
        except UnicodeDecodeError as exc:
            raise InvalidEvent(f"{topic}: header {name!r} is not UTF-8") from exc
    return out


def _is_binary(topic: str, headers: ReadHeaders | None) -> bool:
    text = _header_text(topic, headers)
    content_type = text.get("content-type", "").strip().lower()
    if content_type.startswith("application/cloudevents"):
        if not content_type.startswith("application/cloudevents+json"):
            raise InvalidEvent(f"{topic}: content-type {content_type!r}: only the JSON event format "
                               "(application/cloudevents+json) is accepted")
        return False
    return "ce_specversion" in text


def _structured_envelope(topic: str, raw: bytes, headers: ReadHeaders | None) -> bytes:
    content_type = _header_text(topic, headers).get("content-type")
    if content_type is None or content_type.strip().lower().startswith("application/cloudevents"):
        return raw
    # Some producers (the CloudEvents Python SDK's v1 ``to_structured``) move ``datacontenttype``
    # out of the envelope into ``content-type``: put it back.
    doc = _json_object(topic, raw, "value")
    doc.setdefault("datacontenttype", content_type)
    return json.dumps(doc).encode()


def _binary_envelope(topic: str, raw: bytes, headers: ReadHeaders | None) -> bytes:
    doc: dict[str, Any] = {}
    for name, value in _header_text(topic, headers).items():
        if name == "content-type":
            doc["datacontenttype"] = value
        elif name.startswith("ce_"):
            attribute = name[3:]
            if attribute == "data":
                raise InvalidEvent(f"{topic}: header 'ce_data': data travels as the message value")
            doc[attribute] = value
    if "datacontenttype" in doc and not _JSON_MEDIA_TYPE.match(doc["datacontenttype"]):
        raise InvalidEvent(f"{topic}: content-type {doc['datacontenttype']!r} is not a JSON media type (data must be JSON)")
    doc["data"] = _json_object(topic, raw, "data (the message value)")
    return json.dumps(doc).encode()


def _json_object(topic: str, raw: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise InvalidEvent(f"{topic}: invalid event: {what} is not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise InvalidEvent(f"{topic}: invalid event: {what} is not a JSON object")
    return doc


def b64(raw: bytes | None) -> str | None:
    return base64.b64encode(raw).decode() if raw is not None else None


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema (2020-12) of every topic's envelope, keyed by file name.

    Each has a versioned ``$id`` (the ``dataschema`` of the events), ``type`` pinned to the
    topic's event type, and extension attributes described by name and value type.
    """
    schemas = {}
    for name, spec in TOPICS.items():
        schema = CloudEvent[spec.payload].model_json_schema(by_alias=True)  # type: ignore[name-defined]
        schema["properties"]["type"] = {"const": spec.event_type, "title": "Type", "type": "string"}
        schema["propertyNames"] = {"pattern": _ATTRIBUTE_NAME}
        schema["additionalProperties"] = {
            "description": "an extension attribute (e.g. traceparent, partitionkey)",
            "anyOf": [{"type": "string"}, {"type": "boolean"},
                      {"type": "integer", "minimum": _INT32.start, "maximum": _INT32.stop - 1}],
        }
        schemas[f"{name}.json"] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": schema_id(name),
            "title": f"{spec.event_type} (CloudEvents 1.0, JSON format)", **{k: v for k, v in schema.items() if k != "title"},
        }
    return schemas


#: What each topic's Kafka message key is (the AsyncAPI document's key schemas).
_KEYS: dict[str, str] = {
    "runs.created": "`<dataset sha256>:<seed family>` (registry.pairing_key): a candidate and its baselines share a partition",
    "meetings.requested": "the meeting_id",
    "commands": "register_run: the run's pairing key (as runs.created); other verbs: the candidate run id or meeting id (runnotary.consumers.commands.command_key); one key's commands are answered in order",
    "commands.replies": "the command's id (its correlationid)",
    "gates.status": "the candidate_id",
    "alerts": "the run_id, or the candidate_id when no run is known: one run's alerts keep their order",
    "bundles.emitted": "the meeting_id",
    "deadletter": "`<source topic>:<partition>:<offset>` of the input",
}
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


def asyncapi() -> dict[str, Any]:
    """An AsyncAPI 3.0 document of the topics, their messages (both content modes on input), keys and headers."""
    json_schema = "application/schema+json;version=draft-07"
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for name, spec in TOPICS.items():
        key = name.replace(".", "_")
        title = "".join(part.title() for part in key.split("_"))
        binding = {"kafka": {"key": {"type": "string", "description": _KEYS[name]}, "bindingVersion": _BINDING_VERSION}}
        messages[key] = {
            "name": spec.event_type,
            "title": f"{spec.event_type} (structured mode)",
            "summary": spec.description,
            "contentType": "application/cloudevents+json",
            "headers": _ce_headers(spec.event_type, binary=False),
            "payload": {"schemaFormat": json_schema, "schema": {"$ref": f"./{name}.json"}},
            "bindings": binding,
        }
        channel_messages = {key: {"$ref": f"#/components/messages/{key}"}}
        if spec.direction == "in":
            messages[f"{key}_binary"] = {
                "name": f"{spec.event_type} (binary mode)",
                "title": f"{spec.event_type} (binary mode)",
                "summary": spec.description,
                "contentType": "application/json",
                "headers": _ce_headers(spec.event_type, binary=True),
                "payload": {"schemaFormat": json_schema, "schema": {"$ref": f"./{name}.json#/properties/data"}},
                "bindings": binding,
            }
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


def catalog_schema() -> dict[str, Any]:
    from runnotary.registry.catalog import catalog_schema as schema  # reads yaml: only when the files are rendered

    return schema()


def render_schema_files() -> dict[str, str]:
    """File name -> text of every checked-in contract file."""
    files = {name: json.dumps(schema, indent=2, sort_keys=True) + "\n" for name, schema in json_schemas().items()}
    files["asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    files["metric_catalog.v1.json"] = json.dumps(catalog_schema(), indent=2, sort_keys=True) + "\n"
    return files
