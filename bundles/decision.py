"""The shape of decision_metrics.json, version 1, as pydantic models.

The JSON Schema shipped in ``bundles/schemas/decision_metrics.v1.json`` is generated from
these models (a test fails if the two drift); ``verify-bundle`` validates a bundle with them
before re-checking anything, so a malformed file is refused with the field that is wrong.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from runnotary.digests import SHA256_PATTERN

__all__ = ["DecisionMetrics", "SCHEMA_FILE", "schema_text", "shipped_schema"]

SCHEMA_FILE = "decision_metrics.v1.json"
Sha256 = Field(pattern=SHA256_PATTERN)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Where(_Model):
    """Where in the file a number is read: a column, JSON pointers, and the recipe in words."""

    extractor: Literal["column_mean", "log_quantile", "ablation_drop_pct", "pearson", "ranking", "classification"]
    argument: str | float | None = None
    column: str | int | None = None
    json_pointers: list[str] | None = None
    recipe: str
    provenance: Literal["raw_logs", "job_reported_per_item", "job_reported_summary"] | None = Field(
        default=None, description="reproduced from the raw evaluation logs, or from values the job reported")
    kind: str | None = Field(default=None, description="the artifact kind the number is reproduced from")
    definition: str | None = Field(default=None, description="whose definition a ranking recipe follows (trec_eval 9.0.8)")
    measure: str | None = None
    k: int | None = None
    relevance_level: int | None = None
    complete: bool | None = Field(default=None, description="trec_eval -c: qrels queries missing from the run score 0")
    qrels: str | None = Field(default=None, description="the qrels file a ranking recipe scored the run against")
    qrels_sha256: str | None = None
    positive_label: str | None = Field(default=None, description="classification: the positive class")
    threshold: float | None = Field(default=None, description="classification: score >= threshold predicts the positive class")


class Number(_Model):
    """A recomputed metric of one run, cited to its file."""

    value: float
    unit: str
    status: Literal["verified", "mismatch"]
    uuid: str
    claimed: float
    quarantined: bool
    run_id: str
    file: str
    sha256: str = Sha256
    where: Where


class FailedMetric(_Model):
    """A claimed metric that could not be recomputed: listed with its reason, never dropped."""

    run_id: str
    metric: str
    uuid: str
    claimed: float
    unit: str
    file: str
    status: str
    reason: str


class Candidate(_Model):
    candidate_id: str
    status: Literal["pass", "fail"]
    candidate_run: str
    baseline_run: str | None
    metrics: dict[str, dict[str, Number]] = Field(description="run_id -> metric name -> number")
    failed_metrics: list[FailedMetric]
    ab: dict[str, Any] | None = Field(description="the comparison: every statistic with its inputs, parameters and method")
    gate_status: dict[str, Any]
    hygiene: list[dict[str, Any]]


class Unknown(_Model):
    candidate_id: str
    status: Literal["fail"]
    reason: str


class Source(_Model):
    """Where the bundle was built from, so ``verify-bundle DIR`` needs no flag to re-check it."""

    mlflow_tracking_uri: str = Field(description="the tracking store the cited runs live in, credentials removed")
    runnotary_version: str


class DecisionMetrics(_Model):
    """decision_metrics.json: every number of a meeting bundle with run_id, file, sha256 and place."""

    schema_version: Literal["decision_metrics.v1"]
    meeting_id: str
    source: Source | None = Field(default=None, description="absent in bundles written before runnotary 0.1.0 recorded it")
    overall_gate_status: Literal["pass", "fail"]
    quantile_definition: str
    candidates: list[Candidate]
    unknown_candidates: list[Unknown]


def schema_text() -> str:
    schema = DecisionMetrics.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://runnotary.dev/schemas/{SCHEMA_FILE}"
    return json.dumps(schema, indent=2) + "\n"


def shipped_schema() -> str:
    """The schema file installed with the package."""
    return resources.files("runnotary.bundles").joinpath("schemas", SCHEMA_FILE).read_text()
