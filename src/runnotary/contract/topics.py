"""The topic table: every topic runnotary reads or writes, its direction, payload, key and purpose.

Everything that lists topics reads this table: the service's subscriptions and topic creation,
the publishers, the JSON Schemas and the AsyncAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from runnotary.contract.commands import Command, CommandReply
from runnotary.contract.payloads import Alert, BundleEmitted, DeadLetter, GateStatus, MeetingRequested
from runnotary.contract.run import RunCreated

__all__ = ["CONTRACT_VERSION", "INPUT_TOPICS", "TOPICS", "TopicSpec", "schema_id"]

CONTRACT_VERSION = 1


@dataclass(frozen=True)
class TopicSpec:
    """One topic by its logical name (the configured prefix or override names the Kafka topic)."""

    name: str
    direction: Literal["in", "out"]
    payload: type[BaseModel]
    description: str
    #: What the Kafka message key is.
    key: str

    @property
    def event_type(self) -> str:
        """The CloudEvents ``type`` of the topic's events."""
        return f"io.runnotary.{self.name}.v{CONTRACT_VERSION}"


TOPICS: dict[str, TopicSpec] = {
    t.name: t
    for t in (
        TopicSpec("runs.created", "in", RunCreated, "A training job registers a run and its evidence.",
                  "`<dataset sha256>:<seed family>` (registry.pairing_key): a candidate and its baselines share a partition"),
        TopicSpec("meetings.requested", "in", MeetingRequested, "A review meeting asks for an evidence bundle.",
                  "the meeting_id"),
        TopicSpec("commands", "in", Command, "Commands of the seed's grammar (register_run, pair_ab, ...).",
                  "register_run: the run's pairing key (as runs.created); other verbs: the candidate run id or meeting id "
                  "(runnotary.consumers.commands.command_key); one key's commands are answered in order"),
        TopicSpec("commands.replies", "out", CommandReply,
                  "The answer to each command, correlated by the command event's id (also the subject).",
                  "the command's id (its correlationid)"),
        TopicSpec("gates.status", "out", GateStatus, "Computed gate status of a candidate against its baseline.",
                  "the candidate_id"),
        TopicSpec("alerts", "out", Alert, "Hygiene and provenance findings.",
                  "the run_id, or the candidate_id when no run is known: one run's alerts keep their order"),
        TopicSpec("bundles.emitted", "out", BundleEmitted, "An evidence bundle was written.", "the meeting_id"),
        TopicSpec("deadletter", "out", DeadLetter, "An input that could not be processed, with its reason.",
                  "`<source topic>:<partition>:<offset>` of the input"),
    )
}

#: The topics the service consumes, in the table's order.
INPUT_TOPICS: tuple[str, ...] = tuple(name for name, spec in TOPICS.items() if spec.direction == "in")


def schema_id(topic: str) -> str:
    """The ``$id`` of ``topic``'s JSON Schema, also the ``dataschema`` of the events it carries."""
    return f"urn:runnotary:schema:v{CONTRACT_VERSION}:{topic}"
