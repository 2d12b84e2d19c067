"""The data of a *run-created* event, the provenance record runnotary registers.

These pydantic models are the validated edge: everything after them assumes clean input.
They are frozen and reject unknown fields, so a typo in a training job's publisher is an
error that names the field rather than a silently dropped value.
"""

from __future__ import annotations

import math
import posixpath
import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from runnotary.contract.fields import Frozen, Identifier, Name, Sha256, rfc3339

__all__ = [
    "ArtifactKind",
    "ArtifactRef",
    "Code",
    "Dataset",
    "Environment",
    "MetricClaim",
    "RunCreated",
    "Seeds",
    "StandardTags",
    "safe_relative_path",
    "pairing_key",
    "MLFLOW_PARAM_VALUE_MAX",
    "MLFLOW_TAG_VALUE_MAX",
]

ArtifactKind = Literal[
    "metrics",
    "per_query",
    "ablation",
    "correlation",
    "latency_log",
    "trec_run",
    "trec_qrels",
    "predictions",
    "attention_plot",
    "environment_manifest",
    "dataset_manifest",
    "other",
]

_DRIVE = re.compile(r"^[A-Za-z]:")


def safe_relative_path(value: str) -> str:
    """Return ``value`` normalised if it is a relative POSIX path that stays below its root.

    Artifact paths come from training jobs and are untrusted: absolute paths, ``..``
    components, backslashes, drive letters and NUL bytes are rejected here; symlink
    escapes are caught when the file is opened (``registry.artifacts``).
    """
    if not value or "\x00" in value or "\\" in value or value.startswith("/") or _DRIVE.match(value):
        raise ValueError(f"artifact path {value!r} must be a relative POSIX path")
    parts = value.split("/")
    if any(part == ".." for part in parts):
        raise ValueError(f"artifact path {value!r} must not contain '..'")
    normalised = posixpath.normpath(value)
    if normalised in (".", ""):
        raise ValueError(f"artifact path {value!r} names no file")
    return normalised


RelativePath = Annotated[str, AfterValidator(safe_relative_path)]

#: MLflow's own limits (mlflow.utils.validation): a run-created event MLflow would refuse is
#: refused here, before any run exists.
MLFLOW_KEY_MAX = 250
MLFLOW_PARAM_VALUE_MAX = 6000
MLFLOW_TAG_VALUE_MAX = 8000
_MLFLOW_KEY = re.compile(r"^[/\w.\- :]+$")


def mlflow_key(value: str) -> str:
    """A param key MLflow accepts: its characters, at most 250 of them, and a path that normalises to itself."""
    if len(value) > MLFLOW_KEY_MAX:
        raise ValueError(f"param key {value[:40]!r}... is longer than MLflow's {MLFLOW_KEY_MAX} characters")
    if not _MLFLOW_KEY.match(value):
        raise ValueError(
            f"param key {value!r} may only contain letters, digits, '_', '-', '.', ' ', ':' and '/' (MLflow's rule)"
        )
    normalised = posixpath.normpath(value)
    if normalised != value or normalised == "." or normalised.startswith(("..", "/")):
        raise ValueError(f"param key {value!r} must not be a path that normalises to another name (MLflow's rule)")
    return value


def _param_value(value: str | int | float | bool) -> str | int | float | bool:
    if len(str(value)) > MLFLOW_PARAM_VALUE_MAX:
        raise ValueError(f"param value of {len(str(value))} characters is longer than MLflow's {MLFLOW_PARAM_VALUE_MAX}")
    return value


ParamKey = Annotated[str, AfterValidator(mlflow_key)]
ParamValue = Annotated[str | int | float | bool, AfterValidator(_param_value)]
#: A free-text value that becomes one MLflow tag.
TagText = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]


class Dataset(Frozen):
    """The evaluation data set: its SHA-256 is the pairing key."""

    sha256: Sha256
    name: Name
    splits: dict[Name, Sha256] = Field(default_factory=dict, description="split name -> SHA-256")
    source: TagText | None = Field(default=None, description="where the data set lives (URI), logged with the dataset input")


class Seeds(Frozen):
    """Random seeds; ``family`` groups the seeds a candidate and its baseline must share."""

    value: int
    family: Identifier
    train_split_seed: int | None = None
    test_split_seed: int | None = None


class Code(Frozen):
    git_commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,40}$", to_lower=True)]
    dirty: bool = False
    repository: TagText | None = Field(default=None, description="where the code lives (logged as mlflow.source.git.repoURL)")


class Environment(Frozen):
    env_hash: Sha256
    python_version: Annotated[str, StringConstraints(pattern=r"^\d+\.\d+(\.\d+)?")]
    cuda_version: str | None = None
    requirements_hash: Sha256
    hardware: str | None = None


class MetricClaim(Frozen):
    """A number a training job claims, and the artifact it says the number comes from."""

    uuid: UUID
    name: Name
    value: float
    unit: str | None = None
    source: RelativePath
    qrels: RelativePath | None = Field(
        default=None,
        description="the trec_qrels artifact a metric reproduced from a trec_run source is scored against; "
        "may be left out when the event carries exactly one",
    )

    @model_validator(mode="after")
    def _finite(self) -> MetricClaim:
        if not math.isfinite(self.value):
            raise ValueError(f"metric {self.name!r} has a non-finite value {self.value!r}")
        return self


class ArtifactRef(Frozen):
    kind: ArtifactKind
    path: RelativePath
    sha256: Sha256 | None = Field(default=None, description="claimed SHA-256; runnotary recomputes it")


class StandardTags(Frozen):
    """The team's standard tags (every run must carry them)."""

    domain: Name
    agent_version: Name
    dataset_type: Literal["synthetic", "manual", "evaluation", "none"]
    evaluation_type: Name


class RunCreated(Frozen):
    """What a training job publishes on ``runs.created``."""

    run_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = Field(
        default=None, description="an existing MLflow run to attach to; a new run is created when absent"
    )
    experiment: Name
    run_name: Name
    candidate_id: Identifier
    role: Literal["candidate", "baseline"]
    owners: list[Name] = Field(min_length=1, max_length=20)
    dataset: Dataset
    seeds: Seeds
    code: Code
    environment: Environment
    params: dict[ParamKey, ParamValue] = Field(default_factory=dict)
    metrics: list[MetricClaim] = Field(default_factory=list)
    artifacts: list[ArtifactRef] = Field(default_factory=list)
    tags: StandardTags
    created_at: datetime

    @field_validator("created_at", mode="before")
    @classmethod
    def _created_at(cls, value: object) -> object:
        return rfc3339(value, "created_at")

    @model_validator(mode="after")
    def _consistent(self) -> RunCreated:
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must carry a time zone (e.g. '2026-11-23T10:00:00Z')")
        paths = [a.path for a in self.artifacts]
        if len(paths) != len(set(paths)):
            raise ValueError("artifacts list the same path twice")
        kinds = {a.path: a.kind for a in self.artifacts}
        qrels = [a.path for a in self.artifacts if a.kind == "trec_qrels"]
        for claim in self.metrics:
            if claim.source not in paths:
                raise ValueError(f"metric {claim.name!r} cites {claim.source!r}, which is not among the artifacts")
            if claim.qrels is not None and kinds.get(claim.qrels) != "trec_qrels":
                raise ValueError(f"metric {claim.name!r} names qrels {claim.qrels!r}, which is not a trec_qrels artifact")
            if kinds[claim.source] == "trec_run" and claim.qrels is None and len(qrels) != 1:
                raise ValueError(
                    f"metric {claim.name!r} is reproduced from the trec_run {claim.source!r} and needs the judgments: "
                    + ("add a trec_qrels artifact" if not qrels else f"name one of {qrels} in the claim's 'qrels'")
                )
        return self

    def qrels_for(self, claim: MetricClaim) -> str | None:
        """The qrels a claim's run is scored against: the one it names, else the event's only trec_qrels artifact."""
        if claim.qrels is not None:
            return claim.qrels
        qrels = [a.path for a in self.artifacts if a.kind == "trec_qrels"]
        return qrels[0] if len(qrels) == 1 else None


def pairing_key(event: RunCreated) -> str:
    """The Kafka message key of a run-created event: dataset SHA-256 and seed family.

    A candidate and every baseline it may pair with share this key, so they land on one
    partition and are processed in the order they were published, by one consumer at a time.
    """
    return f"{event.dataset.sha256}:{event.seeds.family}"
