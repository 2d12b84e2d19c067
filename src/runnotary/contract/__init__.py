"""runnotary's event contract: CloudEvents 1.0 envelopes around versioned payloads, over Kafka.

A leaf package (pydantic, confluent-kafka and the standard library only), shared by the service
and by a training job's light client::

    from runnotary.contract import RunCreated, decode, encode, envelope

Modules: ``topics`` (the topic table), ``run`` (the run-created payload), ``payloads`` (the other
topics' payloads), ``commands`` (the command grammar), ``cloudevents`` (the envelope and the Kafka
binding), ``delivery`` (produce and wait for the broker's acknowledgements). The JSON Schemas and
the AsyncAPI document in ``consumers/schemas/`` are generated from them (``runnotary schemas``).
"""

from __future__ import annotations

from runnotary.contract.cloudevents import (
    STRUCTURED_CONTENT_TYPE, CloudEvent, Headers, b64, deadletter_headers, decode, encode, envelope, kafka_headers,
)
from runnotary.contract.commands import (
    COMMAND_NAMES, BaselineSelector, Command, CommandError, CommandReply, ComputeStats, EmitBundle,
    GateCheck, PairAB, Reconcile, RegisterRun,
)
from runnotary.contract.delivery import Outbound, produce_and_wait
from runnotary.contract.errors import InvalidEvent
from runnotary.contract.fields import SAFE_NAME
from runnotary.contract.payloads import (
    Alert, BundleEmitted, DeadLetter, DeadLetterHeader, GateResult, GateStatus, MeetingRequested,
)
from runnotary.contract.run import (
    MLFLOW_TAG_VALUE_MAX, ArtifactKind, ArtifactRef, Code, Environment, RunCreated, pairing_key, safe_relative_path,
)
from runnotary.contract.topics import INPUT_TOPICS, TOPICS, schema_id

#: What other packages, users and tests import; everything else is imported from its module.
__all__ = [
    "COMMAND_NAMES",
    "INPUT_TOPICS",
    "MLFLOW_TAG_VALUE_MAX",
    "SAFE_NAME",
    "STRUCTURED_CONTENT_TYPE",
    "TOPICS",
    "Alert",
    "ArtifactKind",
    "ArtifactRef",
    "BaselineSelector",
    "BundleEmitted",
    "CloudEvent",
    "Code",
    "Command",
    "CommandError",
    "CommandReply",
    "ComputeStats",
    "DeadLetter",
    "DeadLetterHeader",
    "EmitBundle",
    "Environment",
    "GateCheck",
    "GateResult",
    "GateStatus",
    "Headers",
    "InvalidEvent",
    "MeetingRequested",
    "Outbound",
    "PairAB",
    "Reconcile",
    "RegisterRun",
    "RunCreated",
    "b64",
    "deadletter_headers",
    "decode",
    "encode",
    "envelope",
    "kafka_headers",
    "pairing_key",
    "produce_and_wait",
    "safe_relative_path",
    "schema_id",
]
