"""The payloads of the other topics: a meeting's request, a candidate's gate status, an emitted
bundle, an alert and a dead letter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints

from runnotary.contract.fields import Frozen, Identifier, Name, SafeName

__all__ = [
    "Alert",
    "ArmInterval",
    "ArmRuns",
    "ArmsStatus",
    "BundleEmitted",
    "DeadLetter",
    "DeadLetterHeader",
    "GateResult",
    "GateStatus",
    "MeetingRequested",
    "Severity",
]


class MeetingRequested(Frozen):
    meeting_id: SafeName
    candidates: list[Identifier] = Field(min_length=1, description="candidate_ids the meeting decides on")
    requested_by: Annotated[str, StringConstraints(min_length=1)]


class GateResult(Frozen):
    obs: float | None
    threshold: float
    pass_: bool = Field(alias="pass")
    rule: str | None = Field(None, description="the policy rule that decided, e.g. 'delta_ci95_upper(latency_p95_ms) <= 5'")
    reason: Literal["missing", "not_claimed", "invalid", "no_baseline", "quarantined", "too_few_seeds"] | None = Field(
        None, description="why the gate had no usable input (it then fails)")

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class ArmRuns(Frozen):
    """One arm: the seed runs of one recipe (candidate_id) on one dataset and seed family, in seed order."""

    candidate_id: str
    role: Literal["candidate", "baseline"]
    runs: list[str]
    seeds: list[int]


class ArmInterval(Frozen):
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


class ArmsStatus(Frozen):
    """The arms a gate status compared, when either has more than one seed run."""

    candidate: ArmRuns
    baseline: ArmRuns
    estimand: Literal["E1", "E2", "E3"]
    metrics: dict[str, ArmInterval]


class GateStatus(Frozen):
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


class BundleEmitted(Frozen):
    meeting_id: SafeName
    location: str
    overall_gate_status: Literal["pass", "fail"]
    candidates: dict[str, Literal["pass", "fail"]] = Field(description="candidate_id -> its gate status")
    files: dict[str, str] = Field(description="bundle file -> sha256")


class DeadLetterHeader(Frozen):
    """One Kafka header of the input, as it came (``value_b64`` is null for a header without value)."""

    key: str
    value_b64: str | None


class DeadLetter(Frozen):
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


Severity = Literal["info", "warning", "critical"]


class Alert(Frozen):
    """A hygiene or gate finding published on ``alerts``."""

    kind: Name
    severity: Severity
    run_id: str | None = None
    candidate_id: str | None = None
    message: str
    details: dict[str, object] = Field(default_factory=dict)
