"""The metric catalog: canonical names, units, aliases and how each metric is recomputed.

A claimed metric is accepted only if the catalog knows it; its name and unit are
normalised to the canonical form (``latency_p95`` in seconds becomes ``latency_p95_ms``
in milliseconds), and its value is then recomputed from the artifact it cites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from runnotary.registry.errors import RegistryError
from runnotary.registry.models import ArtifactKind

__all__ = ["MetricSpec", "Recipe", "CATALOG", "UnknownMetric", "normalize", "spec_for"]

Extractor = Literal["column_mean", "log_quantile", "ablation_drop_pct", "pearson", "ranking"]
#: Where a reproduced number comes from: the raw evaluation logs (a run and its judgments), or
#: values the job reported per item (a per-query CSV column), or a summary file the job wrote.
Provenance = Literal["raw_logs", "job_reported_per_item", "job_reported_summary"]
_PROVENANCE: dict[str, Provenance] = {
    "ranking": "raw_logs", "log_quantile": "raw_logs", "column_mean": "job_reported_per_item",
    "ablation_drop_pct": "job_reported_summary", "pearson": "job_reported_summary",
}


@dataclass(frozen=True)
class Recipe:
    """How a metric is reproduced from an artifact of ``kind``.

    ``argument`` parameterises the file recipes (a column, a quantile). A ``ranking`` recipe
    scores a run of kind ``trec_run`` against the event's ``trec_qrels`` as trec_eval 9.0.8 does:
    ``measure`` (ndcg, p, recall, recip_rank, map), cut-off ``k``, ``relevance_level`` and
    ``complete`` (trec_eval ``-c``: queries of the qrels missing from the run score 0 and count).
    """

    kind: ArtifactKind
    extractor: Extractor
    argument: str | float | None = None
    measure: str | None = None
    k: int | None = None
    relevance_level: int = 1
    complete: bool = False

    @property
    def provenance(self) -> Provenance:
        return _PROVENANCE[self.extractor]

    def parameters(self) -> dict[str, Any]:
        """The recipe as recorded with each number it reproduced (JSON-ready)."""
        out: dict[str, Any] = {"extractor": self.extractor, "kind": self.kind, "from": self.provenance}
        if self.extractor == "ranking":
            out.update({"definition": "trec_eval 9.0.8", "measure": self.measure, "k": self.k,
                        "relevance_level": self.relevance_level, "complete": self.complete})
        elif self.argument is not None:
            out["argument"] = self.argument
        return out


class UnknownMetric(RegistryError):
    """A claimed metric whose name the catalog does not know, or whose unit it cannot convert."""


@dataclass(frozen=True)
class MetricSpec:
    """One canonical metric.

    ``units`` maps every accepted unit spelling to the factor that converts it to the
    canonical unit (the first key). ``recipes`` say how the value is reproduced, one per artifact
    kind a claim may cite; the first is the metric's default (``artifact_kind``, ``extractor``,
    ``argument`` name it).
    """

    name: str
    units: dict[str, float]
    aliases: tuple[str, ...]
    recipes: tuple[Recipe, ...]
    higher_is_better: bool
    tolerance: float
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not self.recipes:
            raise ValueError(f"metric {self.name!r} has no recipe")

    @property
    def unit(self) -> str:
        return next(iter(self.units))

    @property
    def artifact_kind(self) -> ArtifactKind:
        return self.recipes[0].kind

    @property
    def extractor(self) -> Extractor:
        return self.recipes[0].extractor

    @property
    def argument(self) -> str | float | None:
        return self.recipes[0].argument

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(r.kind for r in self.recipes)

    def recipe_for(self, kind: str) -> Recipe | None:
        """The recipe that reproduces this metric from an artifact of ``kind`` (``None``: none does)."""
        return next((r for r in self.recipes if r.kind == kind), None)

    @property
    def mlflow_key(self) -> str:
        """The name as MLflow accepts it (no ``@``): ``ndcg@10`` is logged as ``ndcg_at_10``."""
        return self.name.replace("@", "_at_")


CATALOG: tuple[MetricSpec, ...] = (
    MetricSpec(
        name="ndcg@10",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("ndcg_at_10", "ndcg10", "ndcg_10"),
        recipes=(Recipe("per_query", "column_mean", "ndcg@10"), Recipe("trec_run", "ranking", measure="ndcg", k=10)),
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="compliance@1",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("compliance_at_1", "compliance1"),
        recipes=(Recipe("per_query", "column_mean", "compliance@1"),),
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="latency_p50_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p50", "p50_latency_ms", "p50_latency"),
        recipes=(Recipe("latency_log", "log_quantile", 0.50),),
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="latency_p95_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p95", "p95_latency_ms", "p95_latency"),
        recipes=(Recipe("latency_log", "log_quantile", 0.95),),
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="latency_p99_ms",
        units={"ms": 1.0, "s": 1000.0, "us": 1e-3},
        aliases=("latency_p99", "p99_latency_ms", "p99_latency"),
        recipes=(Recipe("latency_log", "log_quantile", 0.99),),
        higher_is_better=False,
        tolerance=1e-3,
    ),
    MetricSpec(
        name="visual_ablation_drop_pct",
        units={"pct": 1.0, "%": 1.0, "percent": 1.0, "fraction": 100.0},
        aliases=("visual_ablation_drop", "ablation_drop_pct"),
        recipes=(Recipe("ablation", "ablation_drop_pct", None),),
        higher_is_better=True,
        tolerance=1e-4,
    ),
    MetricSpec(
        name="v1_v2_corr",
        units={"ratio": 1.0, "": 1.0},
        aliases=("v1v2_corr", "v1_v2_correlation"),
        recipes=(Recipe("correlation", "pearson", None),),
        higher_is_better=False,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="recall@100",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("recall_at_100", "recall100", "recall_100"),
        recipes=(Recipe("trec_run", "ranking", measure="recall", k=100),),
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="mrr@10",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("mrr_at_10", "mrr10", "mrr_10", "recip_rank@10"),
        recipes=(Recipe("trec_run", "ranking", measure="recip_rank", k=10),),
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="map",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("mean_average_precision",),
        recipes=(Recipe("trec_run", "ranking", measure="map"),),
        higher_is_better=True,
        tolerance=1e-6,
    ),
    MetricSpec(
        name="p@10",
        units={"ratio": 1.0, "fraction": 1.0, "": 1.0},
        aliases=("p_at_10", "precision@10", "p10", "p_10"),
        recipes=(Recipe("trec_run", "ranking", measure="p", k=10),),
        higher_is_better=True,
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
