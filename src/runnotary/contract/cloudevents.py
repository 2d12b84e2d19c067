"""CloudEvents 1.0 over Kafka: the envelope around each payload and the Kafka protocol binding.

Each topic carries one CloudEvents ``type``; consumers route on it. runnotary writes the
binding's structured mode (a JSON envelope as the value and ``content-type:
application/cloudevents+json; charset=UTF-8``) and reads both structured and binary mode
(``ce_*`` headers, ``data`` as the value).
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, model_validator

from runnotary.contract.errors import InvalidEvent
from runnotary.contract.fields import RFC3339, rfc3339
from runnotary.contract.payloads import DeadLetterHeader
from runnotary.contract.topics import TOPICS, schema_id

__all__ = [
    "SOURCE",
    "STRUCTURED_CONTENT_TYPE",
    "CloudEvent",
    "Headers",
    "ReadHeaders",
    "b64",
    "deadletter_headers",
    "decode",
    "encode",
    "envelope",
    "kafka_headers",
]

SOURCE = "urn:runnotary:service"
#: The Kafka ``content-type`` of a structured-mode message in the JSON event format.
STRUCTURED_CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
D = TypeVar("D", bound=BaseModel)

#: Kafka message headers as confluent-kafka gives and takes them.
Headers = list[tuple[str, bytes]]
#: Headers as a consumer reads them (a header may have no value).
ReadHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None]

# The JSON event format carries data as JSON only for a JSON media type (parameters allowed).
JSON_MEDIA_TYPE = re.compile(r"^(application|text)/([A-Za-z0-9!#$&^_.+-]+\+)?json\s*(;.*)?$")
# CloudEvents attribute names: lower-case ASCII letters and digits, at most 20 characters.
ATTRIBUTE_NAME = r"^[a-z0-9]{1,20}$"
_ATTRIBUTE_NAME_RE = re.compile(ATTRIBUTE_NAME)
INT32 = range(-(2**31), 2**31)
NonEmpty = Annotated[str, StringConstraints(min_length=1)]


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
    time: datetime | None = Field(default=None, json_schema_extra={"pattern": RFC3339},
                                  description="RFC 3339 timestamp of the occurrence")
    subject: NonEmpty | None = None
    datacontenttype: NonEmpty | None = Field(
        default="application/json", json_schema_extra={"pattern": JSON_MEDIA_TYPE.pattern},
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
        if value is not None and not JSON_MEDIA_TYPE.match(value):
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
            if isinstance(value, bool) or isinstance(value, str) or (isinstance(value, int) and value in INT32):
                out[name] = value
                continue
            raise ValueError(f"extension attribute {name!r}: value must be a string, boolean or 32-bit integer")
        return out

    @property
    def extensions(self) -> dict[str, str]:
        """Extension attributes (e.g. ``traceparent``, ``partitionkey``) in their string form."""
        return {name: _ce_string(value) for name, value in (self.model_extra or {}).items()}


def deadletter_headers(headers: ReadHeaders | None) -> list[DeadLetterHeader]:
    """A message's Kafka headers as a dead-letter record keeps them: in order, repeats and all."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    return [DeadLetterHeader(key=name, value_b64=b64(value.encode() if isinstance(value, str) else value))
            for name, value in pairs]


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
    if "datacontenttype" in doc and not JSON_MEDIA_TYPE.match(doc["datacontenttype"]):
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
    """``raw`` as a dead-letter record writes bytes: base64 text, None for None."""
    return base64.b64encode(raw).decode() if raw is not None else None
