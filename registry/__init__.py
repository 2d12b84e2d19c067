"""Provenance on MLflow: registration, the metric catalog, artifacts, recomputation, pairing, hygiene.

Names are resolved lazily (PEP 562), so importing one module does not load mlflow or numpy for all.
The run-created models the registry reads are the event contract's (``runnotary.contract``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnotary.registry.catalog import UnknownMetric, spec_for
    from runnotary.registry.errors import ArtifactError, RegistryError, TrackingUnavailable
    from runnotary.registry.hygiene import HygieneSettings
    from runnotary.registry.pairing import (
        arm_from, awaiting_candidates, candidates_for, find_baseline, key_runs, newest_baseline,
    )
    from runnotary.registry.recompute import PerQueryTable
    from runnotary.registry.records import MetricRecord, Prepared, Registration
    from runnotary.registry.registration import Registry

#: What other packages import from the registry; everything else is imported from its module.
_WHERE = {
    "catalog": ("UnknownMetric", "spec_for"),
    "errors": ("ArtifactError", "RegistryError", "TrackingUnavailable"),
    "hygiene": ("HygieneSettings",),
    "pairing": ("arm_from", "awaiting_candidates", "candidates_for", "find_baseline", "key_runs", "newest_baseline"),
    "recompute": ("PerQueryTable",),
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
    globals().update({n: getattr(loaded, n) for n in _WHERE[module]})
    return globals()[name]


def __dir__() -> list[str]:
    return __all__
