"""The metric catalog: canonical names, units, aliases and how each metric is recomputed.

A claimed metric is accepted only if the catalog knows it; its name and unit are
normalised to the canonical form (``latency_p95`` in seconds becomes ``latency_p95_ms``
in milliseconds), and its value is then recomputed from the artifact it cites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runnotary.registry.errors import RegistryError
from runnotary.registry.models import ArtifactKind

__all__ = ["MetricSpec", "CATALOG", "UnknownMetric", "normalize", "spec_for"]

Extractor = Literal["column_mean", "log_quantile", "ablation_drop_pct", "pearson"]


class UnknownMetric(RegistryError):
    """A claimed metric whose name the catalog does not know, or whose unit it cannot convert."""


@dataclass(frozen=True)
class MetricSpec:
    """One canonical metric.

    ``units`` maps every accepted unit spelling to the factor that converts it to the
    canonical unit (the first key). ``extractor`` names how the value is recomputed from
    an artifact of ``artifact_kind``; ``argument`` parameterises it (a column, a quantile).
    """

    name: str
    units: dict[str, float]
    aliases: tuple[str, ...]
    artifact_kind: ArtifactKind
    extractor: Extractor
    argument: str | float | None
    higher_is_better: bool
    tolerance: float

    @property
    def unit(self) -> str:
        return next(iter(self.units))

    @property
    def mlflow_key(self) -> str:
        """The name as MLflow accepts it (no ``@``): ``ndcg@10`` is logged as ``ndcg_at_10``."""
        return self.name.replace("@", "_at_")


CATALOG: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="ndcg@10",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("ndcg_at_10", "ndcg10", "ndcg_10"),
        artifact_kind="per_query",
        extractor="column_mean",
        argument="ndcg@10",
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="compliance@1",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("compliance_at_1", "compliance1"),
        artifact_kind="per_query",
        extractor="column_mean",
        argument="compliance@1",
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="latency_p50_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p50", "p50_latency_ms", "p50_latency"),
        artifact_kind="latency_log",
        extractor="log_quantile",
        argument=0.50,
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="latency_p95_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p95", "p95_latency_ms", "p95_latency"),
        artifact_kind="latency_log",
        extractor="log_quantile",
        argument=0.95,
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="latency_p99_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p99", "p99_latency_ms", "p99_latency"),
        artifact_kind="latency_log",
        extractor="log_quantile",
        argument=0.99,
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="visual_ablation_drop_pct",
        units={"pct": 1.0, "%": 1.0, "percent": 1.0, "fraction": 100.0},
        aliases=("visual_ablation_drop", "ablation_drop_pct"),
        artifact_kind="ablation",
        extractor="ablation_drop_pct",
        argument=None,
        higher_is_better=True,
        tolerance=1e-4,
    ),
    MetricSpec(
        name="v1_v2_corr",
        units={"ratio": 1.0, "": 1.0},
        aliases=("v1v2_corr", "v1_v2_correlation"),
        artifact_kind="correlation",
        extractor="pearson",
        argument=None,
        higher_is_better=False,
        tolerance=1e-6,
    ),
)

_BY_NAME: dict[str, MetricSpec] = {}
for _spec in CATALOG:
    for _key in (_spec.name, _spec.mlflow_key, *_spec.aliases):
        _BY_NAME[_key.lower().replace("-", "_")] = _spec


def spec_for(name: str) -> MetricSpec:
    """Return the catalog entry for a metric name or alias (case-insensitive)."""
    key = name.strip().lower().replace("-", "_")
    try:
        return _BY_NAME[key]
    except KeyError:
        known = ", ".join(s.name for s in CATALOG)
        raise UnknownMetric(f"unknown metric {name!r}; the catalog knows: {known}") from None


def normalize(name: str, value: float, unit: str | None) -> tuple[MetricSpec, float]:
    """Return the catalog entry and ``value`` converted to the canonical unit."""
    spec = spec_for(name)
    given = (unit if unit is not None else spec.unit).strip().lower()
    try:
        factor = spec.units[given]
    except KeyError:
        accepted = ", ".join(repr(u) for u in spec.units if u)
        raise UnknownMetric(f"metric {spec.name!r} given in unit {unit!r}; accepted units: {accepted}") from None
    return spec, value * factor
