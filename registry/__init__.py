"""Provenance on MLflow: registration, the metric catalog, artifacts, recomputation, pairing, hygiene.

Names are resolved lazily (PEP 562), so importing one module does not load mlflow or numpy for all.
The run-created models the registry reads are the event contract's (``runnotary.contract``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runnotary.exports import lazy_exports

if TYPE_CHECKING:
    from runnotary.registry.catalog import UnknownMetric, spec_for
    from runnotary.registry.errors import ArtifactError, RegistryError, TrackingUnavailable
    from runnotary.registry.hygiene import HygieneSettings
    from runnotary.registry.pairing import (
        arm_from, awaiting_candidates, candidates_for, find_baseline, key_runs, key_runs_of, newest_baseline,
    )
    from runnotary.registry.recompute import PerQueryTable
    from runnotary.registry.records import MetricRecord, Prepared, Registration
    from runnotary.registry.registration import Registry

#: What other packages and tests import; everything else is imported from its module.
__all__, __getattr__, __dir__ = lazy_exports(globals(), {
    "catalog": ("UnknownMetric", "spec_for"),
    "errors": ("ArtifactError", "RegistryError", "TrackingUnavailable"),
    "hygiene": ("HygieneSettings",),
    "pairing": ("arm_from", "awaiting_candidates", "candidates_for", "find_baseline", "key_runs", "key_runs_of",
                "newest_baseline"),
    "recompute": ("PerQueryTable",),
    "records": ("MetricRecord", "Prepared", "Registration"),
    "registration": ("Registry",),
})
