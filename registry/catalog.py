"""The metric catalog: canonical names, units, aliases, direction and how each metric is reproduced.

The catalog is data: ``catalog.yaml`` ships with runnotary, and an operator's file
(``RUNNOTARY_METRIC_CATALOG``, applied with ``use_catalog`` at start-up) adds metrics or replaces
them by name. Both are validated (``CatalogFile``) with errors naming the entry and the field.

A claimed metric is accepted only if the catalog knows it; its name and unit are
normalised to the canonical form (``latency_p95`` in seconds becomes ``latency_p95_ms``
in milliseconds), and its value is then reproduced from the artifact it cites with the
recipe for that artifact's kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from runnotary.contract import ArtifactKind
from runnotary.registry.errors import RegistryError

__all__ = [
    "CATALOG", "CatalogError", "CatalogFile", "MetricSpec", "Recipe", "UnknownMetric", "active_catalog", "catalog_schema",
    "load_catalog", "normalize", "spec_for", "use_catalog",
]

Extractor = Literal["column_mean", "log_quantile", "ablation_drop_pct", "pearson", "ranking", "classification"]
#: Where a reproduced number comes from: the raw evaluation logs (a run and its judgments), or
#: values the job reported per item (a per-query CSV column), or a summary file the job wrote.
Provenance = Literal["raw_logs", "job_reported_per_item", "job_reported_summary"]
_PROVENANCE: dict[str, Provenance] = {
    "ranking": "raw_logs", "log_quantile": "raw_logs", "classification": "raw_logs", "column_mean": "job_reported_per_item",
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
    positive_label: str = "1"
    threshold: float = 0.5

    @property
    def provenance(self) -> Provenance:
        return _PROVENANCE[self.extractor]

    def parameters(self) -> dict[str, Any]:
        """The recipe as recorded with each number it reproduced (JSON-ready)."""
        out: dict[str, Any] = {"extractor": self.extractor, "kind": self.kind, "from": self.provenance}
        if self.extractor == "ranking":
            out.update({"definition": "trec_eval 9.0.8", "measure": self.measure, "k": self.k,
                        "relevance_level": self.relevance_level, "complete": self.complete})
        elif self.extractor == "classification":
            out.update({"measure": self.measure, "positive_label": self.positive_label, "threshold": self.threshold})
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


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecipeEntry(_Strict):
    """One recipe of a catalog entry: the artifact kind a claim cites and how the number is reproduced from it."""

    kind: ArtifactKind
    extractor: Extractor
    argument: str | float | None = Field(default=None, description="column_mean: the CSV column; log_quantile: the quantile")
    measure: Literal["ndcg", "p", "recall", "recip_rank", "map",
                     "accuracy", "error_rate", "log_loss", "brier", "f1", "roc_auc"] | None = Field(
        default=None, description="ranking: the trec_eval 9.0.8 measure; classification: the measure")
    k: int | None = Field(default=None, ge=1, description="ranking: the cut-off (needed by ndcg, p and recall)")
    relevance_level: int = Field(default=1, ge=0, description="ranking: a document is relevant from this grade on")
    complete: bool = Field(default=False, description="ranking: trec_eval -c (qrels queries missing from the run score 0)")
    positive_label: str = Field(default="1", description="classification: the positive class (F1, log loss, Brier, ROC AUC)")
    threshold: float = Field(default=0.5, gt=0, lt=1, description="classification: score >= threshold predicts the positive class "
                             "when the file has no prediction column")

    @model_validator(mode="after")
    def _coherent(self) -> RecipeEntry:
        expected = _KIND_OF[self.extractor]
        if self.kind != expected:
            raise ValueError(f"extractor {self.extractor!r} reads a {expected!r} artifact, not {self.kind!r}")
        ranking = self.measure in ("ndcg", "p", "recall", "recip_rank", "map")
        if self.extractor == "ranking":
            if self.measure is None or not ranking:
                raise ValueError("a ranking recipe needs a measure (ndcg, p, recall, recip_rank or map)")
            if self.measure in ("ndcg", "p", "recall") and self.k is None:
                raise ValueError(f"the ranking measure {self.measure!r} needs a cut-off k")
        elif self.extractor == "classification":
            if self.measure is None or ranking or self.k is not None:
                raise ValueError("a classification recipe needs a measure (accuracy, error_rate, log_loss, brier, f1, roc_auc)")
        elif self.measure is not None or self.k is not None or self.complete or self.relevance_level != 1:
            raise ValueError("measure, k, relevance_level and complete belong to ranking recipes only")
        if self.extractor == "column_mean" and not isinstance(self.argument, str):
            raise ValueError("a column_mean recipe needs the column name as its argument")
        if self.extractor == "log_quantile" and not (isinstance(self.argument, float) and 0 < self.argument < 1):
            raise ValueError("a log_quantile recipe needs a quantile strictly between 0 and 1 as its argument")
        return self


class MetricEntry(_Strict):
    """One metric of the catalog file."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")]
    aliases: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(default_factory=list)
    units: dict[str, Annotated[float, Field(gt=0, allow_inf_nan=False)]] = Field(
        min_length=1, description="unit -> factor converting it to the canonical unit (the first one)")
    direction: Literal["higher", "lower"] = Field(description="which way is better")
    tolerance: float = Field(gt=0, lt=1, description="relative tolerance of the claim check")
    recipes: list[RecipeEntry] = Field(min_length=1, description="one per artifact kind a claim may cite")
    description: str = ""

    @model_validator(mode="after")
    def _one_recipe_per_kind(self) -> MetricEntry:
        kinds = [r.kind for r in self.recipes]
        if len(kinds) != len(set(kinds)):
            raise ValueError("two recipes read the same artifact kind")
        if self.units[next(iter(self.units))] != 1.0:
            raise ValueError("the first unit is the canonical one: its factor must be 1.0")
        return self

    def spec(self) -> MetricSpec:
        recipes = tuple(Recipe(r.kind, r.extractor, r.argument, r.measure, r.k, r.relevance_level, r.complete,
                               r.positive_label, r.threshold) for r in self.recipes)
        return MetricSpec(self.name, dict(self.units), tuple(self.aliases), recipes, self.direction == "higher",
                          self.tolerance, self.description)


class CatalogFile(_Strict):
    """A metric catalog file (YAML): runnotary's own, or an operator's that adds or replaces entries by name."""

    version: Literal[1] = 1
    metrics: list[MetricEntry] = Field(default_factory=list)


_KIND_OF: dict[str, str] = {
    "column_mean": "per_query", "log_quantile": "latency_log", "ablation_drop_pct": "ablation",
    "pearson": "correlation", "ranking": "trec_run", "classification": "predictions",
}
_PACKAGE_CATALOG = "catalog.yaml"


class CatalogError(RegistryError):
    """A catalog file that cannot be read or does not validate; the message names the entry and the field."""


def _read(text: str, source: str) -> CatalogFile:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: not valid YAML: {exc}") from exc
    try:
        return CatalogFile.model_validate(raw if raw is not None else {})
    except ValidationError as exc:
        raise CatalogError(_explain(exc, raw, source)) from None


def _explain(exc: ValidationError, raw: Any, source: str) -> str:
    """Each error as 'metric entry <name> (metrics[i]), field <path>: <message>'."""
    lines = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = "the file"
        if len(loc) >= 2 and loc[0] == "metrics" and isinstance(loc[1], int):
            entries = raw.get("metrics") if isinstance(raw, dict) else None
            entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else None
            name = entry.get("name") if isinstance(entry, dict) else None
            where = f"metric entry {name!r} (metrics[{loc[1]}])"
            loc = loc[2:]
        field_path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "(entry)"
        lines.append(f"{where}, field {field_path}: {error['msg']}")
    return f"{source}: invalid metric catalog: " + "; ".join(lines)


def load_catalog(path: Path | None = None) -> tuple[MetricSpec, ...]:
    """runnotary's catalog, with the entries of the operator's file at ``path`` added or replacing ours by name.

    Raises ``CatalogError`` naming the file, the entry and the field when a file does not validate, or
    when two metrics claim one name or alias.
    """
    package = resources.files("runnotary.registry").joinpath(_PACKAGE_CATALOG).read_text(encoding="utf-8")
    entries = {e.name: e for e in _read(package, _PACKAGE_CATALOG).metrics}
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise CatalogError(f"{path}: the metric catalog cannot be read: {exc.strerror or exc}") from exc
        operator = _read(text, str(path)).metrics
        names = [e.name for e in operator]
        if len(names) != len(set(names)):
            raise CatalogError(f"{path}: invalid metric catalog: metric entry names repeat")
        entries.update({e.name: e for e in operator})
    specs = tuple(e.spec() for e in entries.values())
    _index(specs, str(path or _PACKAGE_CATALOG))
    return specs


def _index(specs: tuple[MetricSpec, ...], source: str) -> dict[str, MetricSpec]:
    by_name: dict[str, MetricSpec] = {}
    for spec in specs:
        for key in dict.fromkeys(_key(k) for k in (spec.name, spec.mlflow_key, *spec.aliases)):
            other = by_name.get(key)
            if other is not None and other.name != spec.name:
                raise CatalogError(f"{source}: invalid metric catalog: metric entry {spec.name!r}, field aliases: "
                                   f"{key!r} already names {other.name!r}")
            by_name[key] = spec
    return by_name


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_")


#: runnotary's own catalog (``catalog.yaml``), without an operator's file.
CATALOG: tuple[MetricSpec, ...] = load_catalog()
_active: tuple[tuple[MetricSpec, ...], dict[str, MetricSpec]] = (CATALOG, _index(CATALOG, _PACKAGE_CATALOG))


def use_catalog(path: Path | None) -> tuple[MetricSpec, ...]:
    """Make runnotary's catalog plus the operator's file at ``path`` the one this process resolves names with.

    Called once at start-up (``RUNNOTARY_METRIC_CATALOG``), before the gate policy is read; a malformed
    file raises ``CatalogError`` and the active catalog is left as it was.
    """
    global _active
    specs = load_catalog(path)
    _active = (specs, _index(specs, str(path)))
    return specs


def active_catalog() -> tuple[MetricSpec, ...]:
    """The catalog in use (runnotary's, or with the operator's file applied by ``use_catalog``)."""
    return _active[0]


def catalog_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a metric catalog file."""
    schema = CatalogFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:runnotary:schema:v1:metric_catalog",
            **schema}


def spec_for(name: str) -> MetricSpec:
    """Return the catalog entry for a metric name or alias (case-insensitive)."""
    specs, by_name = _active
    try:
        return by_name[_key(name)]
    except KeyError:
        known = ", ".join(s.name for s in specs)
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
