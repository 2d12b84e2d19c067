"""The comparison of a candidate with its baseline, typed: what ``compare`` returns and every reader uses.

Each metric's entry carries its headline numbers as fields and each statistic's record (its
parameters, method and random_state, as :data:`bundles.recipes.STATISTICS` computed it) by name.
``to_dict`` lays an entry out as ``ab_result.json`` and the bundle have always written it;
``from_dict`` reads one back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["Comparison", "ComparisonSettings", "Holm", "LatencyEntry", "MetricEntry"]

_Record = Mapping[str, Any]


@dataclass(frozen=True)
class ComparisonSettings:
    """How the statistics are computed; recorded with every result so anyone can redo them."""

    n_resamples: int = 10_000
    confidence_level: float = 0.95
    method: str = "bca"
    random_state: int = 20261123


@dataclass(frozen=True)
class MetricEntry:
    """One metric's difference candidate - baseline: the headline numbers and the statistics behind them.

    ``statistics`` holds each statistic's record by its name in the table (``bootstrap``,
    ``permutation``, ... for one run a side; ``crossed``, ``intervals``, ``run_swap`` for seed-run
    arms). ``estimand``, ``warnings``, ``per_run`` and ``items`` are set for seed-run arms only,
    ``method_requested`` for one run a side only.
    """

    n: int
    delta: float
    ci95: tuple[float, float]
    significance_pass: bool
    pvalue: float | None
    method: str
    statistics: Mapping[str, Any]
    inputs: _Record
    evidence: tuple[_Record, ...]
    pvalue_holm: float | None = None
    method_requested: str | None = None
    estimand: str | None = None
    warnings: tuple[str, ...] = ()
    per_run: tuple[_Record, ...] = ()
    items: _Record | None = None

    @property
    def arms(self) -> bool:
        """Whether the entry compares seed-run arms (the crossed-design interval)."""
        return self.estimand is not None

    def to_dict(self) -> dict[str, Any]:
        head = {"n": self.n, "delta": self.delta, "ci95": list(self.ci95), "significance_pass": self.significance_pass,
                "pvalue": self.pvalue, "method": self.method}
        where = {"inputs": self.inputs, "evidence": list(self.evidence)}
        holm = {"pvalue_holm": self.pvalue_holm} if self.pvalue_holm is not None else {}
        if not self.arms:
            return {"method_requested": self.method_requested, **self.statistics, **head, **where, **holm}
        head["estimand"] = self.estimand
        arms = {"per_run": list(self.per_run), "items": self.items}
        order = ("n", "estimand", "delta", "ci95", "significance_pass", "pvalue", "method")
        return {**{k: head[k] for k in order}, "warnings": list(self.warnings), **self.statistics, **arms, **where, **holm}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MetricEntry:
        return cls(
            n=data["n"], delta=data["delta"], ci95=(data["ci95"][0], data["ci95"][1]),
            significance_pass=data["significance_pass"], pvalue=data["pvalue"], method=data["method"],
            statistics={k: v for k, v in data.items() if k not in _ENTRY_FIELDS},
            inputs=data["inputs"], evidence=tuple(data["evidence"]), pvalue_holm=data.get("pvalue_holm"),
            method_requested=data.get("method_requested"), estimand=data.get("estimand"),
            warnings=tuple(data.get("warnings", ())), per_run=tuple(data.get("per_run", ())), items=data.get("items"),
        )


_ENTRY_FIELDS = frozenset({"n", "delta", "ci95", "significance_pass", "pvalue", "method", "inputs", "evidence",
                           "pvalue_holm", "method_requested", "estimand", "warnings", "per_run", "items"})


@dataclass(frozen=True)
class LatencyEntry:
    """The difference of a latency quantile (Δp95) with both sides' p50/p95/p99.

    ``statistics`` holds the one record behind the interval: ``bootstrap`` (one run a side) or
    ``two_way`` (seed-run arms, which also list ``per_run``).
    """

    metric: str
    q: float
    delta: float
    ci95: tuple[float, float]
    quantile_definition: str
    statistics: Mapping[str, Any]
    quantiles: Mapping[str, Mapping[str, float]]
    inputs: _Record
    evidence: tuple[_Record, ...]
    per_run: tuple[_Record, ...] | None = None

    #: A quantile difference has a bootstrap interval and no p-value.
    pvalue: None = None
    pvalue_holm: None = None

    def to_dict(self) -> dict[str, Any]:
        per_run = {"per_run": list(self.per_run)} if self.per_run is not None else {}
        return {"metric": self.metric, "q": self.q, "delta": self.delta, "delta_ms": self.delta, "ci95": list(self.ci95),
                "quantile_definition": self.quantile_definition, **self.statistics, "quantiles": self.quantiles,
                **per_run, "inputs": self.inputs, "evidence": list(self.evidence)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyEntry:
        per_run = data.get("per_run")
        return cls(data["metric"], data["q"], data["delta"], (data["ci95"][0], data["ci95"][1]),
                   data["quantile_definition"], {k: v for k, v in data.items() if k not in _LATENCY_FIELDS},
                   data["quantiles"], data["inputs"], tuple(data["evidence"]),
                   tuple(per_run) if per_run is not None else None)


_LATENCY_FIELDS = frozenset({"metric", "q", "delta", "delta_ms", "ci95", "quantile_definition", "quantiles", "inputs",
                             "evidence", "per_run"})


@dataclass(frozen=True)
class Holm:
    """The Holm adjustment across a comparison's p-values."""

    metrics: tuple[str, ...]
    pvalues: tuple[float, ...]
    adjusted: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"metrics": list(self.metrics), "pvalues": list(self.pvalues), "adjusted": list(self.adjusted),
                "method": "holm"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Holm:
        return cls(tuple(data["metrics"]), tuple(data["pvalues"]), tuple(data["adjusted"]))


@dataclass(frozen=True)
class Comparison:
    """The A/B result of one candidate against one baseline.

    ``metrics`` holds each per-item metric's entry; ``latency`` the Δp95; ``query_sets`` the
    SRM-style check that both runs scored the same queries (its record); ``failed`` why a metric
    has no entry; ``arms`` the seed runs of both arms (``bundles.arms``), None for one run each.
    """

    candidate_run: str
    baseline_run: str
    candidate_id: str
    settings: ComparisonSettings
    metrics: Mapping[str, MetricEntry]
    latency: LatencyEntry | None
    notes: tuple[str, ...] = ()
    query_sets: _Record | None = None
    holm: Holm | None = None
    failed: Mapping[str, str] = field(default_factory=dict)
    arms: _Record | None = None

    def delta(self, metric: str) -> MetricEntry | None:
        return self.metrics.get(metric)

    @property
    def seeds_per_arm(self) -> tuple[int, int]:
        """Seed runs of the candidate's and the baseline's arm (1 and 1 for a one-run comparison)."""
        if self.arms is None:
            return 1, 1
        return len(self.arms["candidate"]["runs"]), len(self.arms["baseline"]["runs"])

    def to_dict(self) -> dict[str, Any]:
        arms = {"arms": self.arms} if self.arms is not None else {}
        return {
            "candidate_run": self.candidate_run,
            "baseline_run": self.baseline_run,
            "candidate_id": self.candidate_id,
            "method": self.settings.method,
            "n_resamples": self.settings.n_resamples,
            "confidence_level": self.settings.confidence_level,
            "random_state": self.settings.random_state,
            "metrics": {name: entry.to_dict() for name, entry in self.metrics.items()},
            "failed": dict(self.failed),
            "holm": self.holm.to_dict() if self.holm is not None else None,
            "latency": self.latency.to_dict() if self.latency is not None else None,
            "query_sets": self.query_sets,
            "notes": list(self.notes),
            **arms,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Comparison:
        settings = ComparisonSettings(data["n_resamples"], data["confidence_level"], data["method"], data["random_state"])
        holm, latency = data.get("holm"), data["latency"]
        return cls(data["candidate_run"], data["baseline_run"], data["candidate_id"], settings,
                   {name: MetricEntry.from_dict(e) for name, e in data["metrics"].items()},
                   LatencyEntry.from_dict(latency) if latency is not None else None, tuple(data["notes"]),
                   data.get("query_sets"), Holm.from_dict(holm) if holm is not None else None,
                   data.get("failed", {}), data.get("arms"))


def with_holm(metrics: Mapping[str, MetricEntry], adjusted: Mapping[str, float]) -> dict[str, MetricEntry]:
    """``metrics`` with the Holm-adjusted p-values of ``adjusted`` set."""
    return {name: replace(entry, pvalue_holm=adjusted[name]) if name in adjusted else entry
            for name, entry in metrics.items()}
