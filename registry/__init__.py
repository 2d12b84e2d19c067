"""Provenance on MLflow: the run-created contract, the metric catalog, artifacts, pairing, hygiene.

Names are resolved lazily (PEP 562): ``runnotary.registry.models`` — the contract a training
job's publisher validates against — imports pydantic only, not mlflow or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnotary.registry.artifacts import ArtifactRecord, copy_hashed, resolve_under, sha256_file
    from runnotary.registry.catalog import (
        CATALOG, CatalogError, MetricSpec, Recipe, UnknownMetric, active_catalog, load_catalog, normalize, spec_for,
        use_catalog,
    )
    from runnotary.registry.errors import (
        ArtifactError, ArtifactMissing, ArtifactTooLarge, ArtifactUnreadable, RegistryError, RunnotaryError,
        TrackingUnavailable, UnsafeArtifactPath, redact,
    )
    from runnotary.registry.hygiene import HygieneSettings, check_run
    from runnotary.registry.models import (
        Alert, ArtifactRef, Code, Dataset, Environment, MetricClaim, RunCreated, Seeds, StandardTags, pairing_key,
    )
    from runnotary.registry.pairing import (
        arm_from, arm_runs, awaiting_candidates, candidates_for, find_baseline, key_runs, newest_baseline,
    )
    from runnotary.registry.recompute import PerQueryTable, read_latency_log, read_per_query, read_per_query_table, recompute
    from runnotary.registry.records import MetricRecord, Prepared, Registration
    from runnotary.registry.registration import Registry
    from runnotary.registry.mlflow_access import configure_mlflow_http

_WHERE = {
    "artifacts": ("ArtifactRecord", "copy_hashed", "resolve_under", "sha256_file"),
    "catalog": ("CATALOG", "CatalogError", "MetricSpec", "Recipe", "UnknownMetric", "active_catalog", "load_catalog", "normalize",
                "spec_for", "use_catalog"),
    "errors": ("ArtifactError", "ArtifactMissing", "ArtifactTooLarge", "ArtifactUnreadable", "RegistryError",
               "RunnotaryError", "TrackingUnavailable", "UnsafeArtifactPath", "redact"),
    "hygiene": ("HygieneSettings", "check_run"),
    "models": ("Alert", "ArtifactRef", "Code", "Dataset", "Environment", "MetricClaim", "RunCreated", "Seeds",
               "StandardTags", "pairing_key"),
    "pairing": ("arm_from", "arm_runs", "awaiting_candidates", "candidates_for", "find_baseline", "key_runs",
                "newest_baseline"),
    "recompute": ("PerQueryTable", "read_latency_log", "read_per_query", "read_per_query_table", "recompute"),
    "mlflow_access": ("configure_mlflow_http",),
    "records": ("MetricRecord", "Prepared", "Registration"),
    "registration": ("Registry",),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'runnotary.registry' has no attribute {name!r}")
    loaded = importlib.import_module(f"runnotary.registry.{module}")
    # Bind every name of the module: importing ``registry.recompute`` made ``recompute`` the module,
    # and the function of that name must win.
    globals().update({n: getattr(loaded, n) for n in _WHERE[module]})
    return globals()[name]


def __dir__() -> list[str]:
    return __all__
