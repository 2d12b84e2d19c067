"""Provenance on MLflow: the run-created contract, the metric catalog, artifacts, pairing, hygiene."""

from runnotary.registry.artifacts import ArtifactRecord, resolve_under, sha256_file
from runnotary.registry.catalog import CATALOG, MetricSpec, UnknownMetric, normalize, spec_for
from runnotary.registry.errors import ArtifactError, RegistryError, RunnotaryError, TrackingUnavailable, UnsafeArtifactPath
from runnotary.registry.hygiene import check_run
from runnotary.registry.models import Alert, ArtifactRef, Code, Dataset, Environment, MetricClaim, RunCreated, Seeds, StandardTags
from runnotary.registry.pairing import find_baseline, candidates_for
from runnotary.registry.recompute import PerQueryTable, read_latency_log, read_per_query, read_per_query_table, recompute
from runnotary.registry.tracking import MetricRecord, Registration, Registry

__all__ = [
    "Alert",
    "ArtifactError",
    "ArtifactRecord",
    "ArtifactRef",
    "CATALOG",
    "Code",
    "Dataset",
    "Environment",
    "MetricClaim",
    "MetricRecord",
    "MetricSpec",
    "Registration",
    "Registry",
    "RegistryError",
    "RunCreated",
    "RunnotaryError",
    "Seeds",
    "StandardTags",
    "TrackingUnavailable",
    "UnknownMetric",
    "UnsafeArtifactPath",
    "check_run",
    "find_baseline",
    "normalize",
    "read_latency_log",
    "PerQueryTable",
    "read_per_query",
    "read_per_query_table",
    "recompute",
    "resolve_under",
    "sha256_file",
    "spec_for",
    "candidates_for",
]
