"""Compare a candidate with its paired baseline, from their verified artifacts, through ``stats``.

Every statistic is recorded with the inputs it read (run, file, sha256, column), the
parameters it ran with and the method it actually used, so ``verify-bundle`` can redo it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runnotary import stats
from runnotary.bundles import recipes
from runnotary.registry import (
    ArtifactError, PerQueryTable, Registration, Registry, spec_for,
)

__all__ = ["Comparison", "ComparisonSettings", "compare", "PAIRED_METRICS", "LATENCY_QUANTILE", "PAIRING"]

#: Per-query metrics compared pair by pair (query by query).
PAIRED_METRICS: tuple[str, ...] = ("ndcg@10", "compliance@1")
LATENCY_QUANTILE = 0.95
PAIRING = "inner join on query_id, rows sorted by query_id"


@dataclass(frozen=True)
class ComparisonSettings:
    """How the statistics are computed; recorded with every result so anyone can redo them."""

    n_resamples: int = 10_000
    confidence_level: float = 0.95
    method: str = "bca"
    random_state: int = 20261123


@dataclass(frozen=True)
class Comparison:
    """The A/B result of one candidate against one baseline (JSON-ready ``metrics``).

    ``metrics[name]`` of a per-query metric holds its headline numbers (``delta``, ``ci95``,
    ``pvalue``, ``pvalue_holm``, ``method``), its statistics (``bootstrap``, ``permutation``,
    ``effect_sizes``, ``drift``, ``power``) and ``inputs``. ``latency`` is the Δp95 with p50/p95/p99
    of both logs; ``query_sets`` the SRM-style check that both runs scored the same queries.
    """

    candidate_run: str
    baseline_run: str
    candidate_id: str
    settings: ComparisonSettings
    metrics: dict[str, dict[str, Any]]
    latency: dict[str, Any] | None
    notes: tuple[str, ...] = ()
    query_sets: dict[str, Any] | None = None
    holm: dict[str, Any] | None = None
    failed: dict[str, str] = field(default_factory=dict)  # metric -> why no statistic was computed
    arms: dict[str, Any] | None = None  # the seed runs of both arms (``bundles.arms``); None for one run each

    def delta(self, metric: str) -> dict[str, Any] | None:
        return self.metrics.get(metric)

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
            "metrics": self.metrics,
            "failed": self.failed,
            "holm": self.holm,
            "latency": self.latency,
            "query_sets": self.query_sets,
            "notes": list(self.notes),
            **arms,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        settings = ComparisonSettings(data["n_resamples"], data["confidence_level"], data["method"], data["random_state"])
        return cls(data["candidate_run"], data["baseline_run"], data["candidate_id"], settings,
                   data["metrics"], data["latency"], tuple(data["notes"]), data.get("query_sets"), data.get("holm"),
                   data.get("failed", {}), data.get("arms"))


# The registry will offer cached parsed files; these two functions are the one place to switch.
def _per_query_table(registry: Registry, registration: Registration, path: str) -> PerQueryTable:
    return registry.per_query_table(registration, path)  # verified, parsed once per content


def _latency_log(registry: Registry, registration: Registration, path: str) -> np.ndarray:
    return registry.latency_log(registration, path)


def _source(registration: Registration, kind: str) -> str | None:
    return next((a.path for a in registration.artifacts if a.kind == kind), None)


def cite(registration: Registration, path: str, **where: Any) -> dict[str, Any]:
    """Run, file, sha256 and where in the file a number comes from."""
    record = registration.artifact(path)
    if record is None:
        raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
    return {"run_id": registration.run_id, "file": path, "sha256": record.sha256, **where}


def _per_query_tables(registry: Registry, candidate: Registration, baseline: Registration, notes: list[str],
                      failed: dict[str, str]) -> tuple[str, str, PerQueryTable, PerQueryTable] | None:
    """Both runs' per-query paths and tables, or ``None`` with the reason in ``notes`` and ``failed``: a
    missing or unreadable file fails the paired metrics, never the latency delta."""
    cand_path, base_path = _source(candidate, "per_query"), _source(baseline, "per_query")
    if cand_path is None or base_path is None:
        notes.append("no_per_query_artifact: paired metrics need a per_query artifact on both runs")
        failed.update({name: "no_per_query_artifact" for name in PAIRED_METRICS})
        return None
    try:
        return cand_path, base_path, _per_query_table(registry, candidate, cand_path), _per_query_table(registry, baseline, base_path)
    except ArtifactError as exc:
        notes.append(f"per_query: {exc}")
        failed.update({name: f"per_query artifact unreadable: {exc}" for name in PAIRED_METRICS})
        return None


def compare(registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings) -> Comparison:
    """Paired bootstrap CI, sign-flip permutation p-value, effect sizes, PSI/KS drift and power per
    per-query metric, Holm-adjusted across them; the query-set check; the latency Δp95 and p50/p95/p99.

    Trouble that belongs to the answer (no per-query artifact, disjoint query sets) is recorded in
    ``notes`` and ``failed``; it never raises for one metric and sinks the rest.
    """
    notes: list[str] = []
    failed: dict[str, str] = {}
    metrics: dict[str, dict[str, Any]] = {}
    query_sets: dict[str, Any] | None = None
    holm: dict[str, Any] | None = None
    tables = _per_query_tables(registry, candidate, baseline, notes, failed)
    if tables is not None:
        cand_path, base_path, cand_table, base_table = tables
        try:
            cand_q, base_q = np.asarray(cand_table.cells["query_id"]), np.asarray(base_table.cells["query_id"])
            query_sets = recipes.query_sets(cand_q, base_q)
            query_sets["inputs"] = [cite(candidate, cand_path, column="query_id"), cite(baseline, base_path, column="query_id")]
            if not query_sets["pass"]:
                notes.append(f"query_sets: the candidate misses {query_sets['n_missing']} and adds {query_sets['n_extra']} "
                             f"query ids against the baseline (SRM p={query_sets['srm']['pvalue']:.3g})")
        except KeyError:
            notes.append("query_sets: a per-query CSV has no query_id column")
        for offset, name in enumerate(PAIRED_METRICS):
            try:
                cand_ids, cand_values = cand_table.column(name)
                base_ids, base_values = base_table.column(name)
            except ArtifactError as exc:
                notes.append(f"{name}: {exc}")
                failed[name] = str(exc)
                continue
            common, ci, bi = _common(cand_ids, base_ids)
            if len(common) < 2:
                notes.append(f"{name}: too_few_pairs ({len(common)})")
                failed[name] = f"too_few_pairs ({len(common)})"
                continue
            try:
                metrics[name] = paired(cand_values[ci], base_values[bi], settings, settings.random_state + offset)
            except stats.StatsError as exc:  # one metric's trouble is part of the answer, not a crash
                notes.append(f"{name}: {exc}")
                failed[name] = f"statistics refused the data: {exc}"
                continue
            metrics[name]["inputs"] = {
                "candidate": cite(candidate, cand_path, column=name),
                "baseline": cite(baseline, base_path, column=name),
                "pairing": PAIRING,
            }
            metrics[name]["evidence"] = [cite(candidate, cand_path), cite(baseline, base_path)]
        if metrics:
            names = list(metrics)
            pvalues = [metrics[n]["pvalue"] for n in names]
            adjusted = recipes.holm(pvalues)
            holm = {"metrics": names, "pvalues": pvalues, "adjusted": adjusted, "method": "holm"}
            for n, p in zip(names, adjusted):
                metrics[n]["pvalue_holm"] = p
    latency = _latency(registry, candidate, baseline, settings, notes)
    if latency is None:
        failed[spec_for("latency_p95_ms").name] = "no latency delta (see notes)"
    return Comparison(candidate.run_id, baseline.run_id, candidate.event.candidate_id, settings, metrics, latency,
                      tuple(notes), query_sets, holm, failed)


def _common(cand_ids: np.ndarray, base_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query ids both runs scored and where they sit in each (both sorted, unique); the usual case,
    the very same ids, needs no set intersection."""
    if np.array_equal(cand_ids, base_ids):
        index = np.arange(len(cand_ids))
        return cand_ids, index, index
    common, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return common, ci, bi


def paired(cand: np.ndarray, base: np.ndarray, settings: ComparisonSettings, seed: int) -> dict[str, Any]:
    """Every statistic of one paired per-query metric (``verify-bundle`` redoes each from its record)."""
    entry: dict[str, Any] = {
        "method_requested": settings.method,
        "bootstrap": recipes.bootstrap(cand, base, statistic="mean", n_resamples=settings.n_resamples,
                                       confidence_level=settings.confidence_level, method=settings.method, random_state=seed),
        "permutation": recipes.permutation(cand, base, n_resamples=settings.n_resamples, alternative="two-sided",
                                           random_state=seed),
        "effect_sizes": recipes.effects(cand, base, confidence_level=settings.confidence_level),
        "drift": recipes.drift(cand, base, bins=recipes.PSI_BINS),
        "drift_params": {"psi_bins": recipes.PSI_BINS, "reference": "baseline", "psi_method": "reference quantile bins",
                         "ks_method": "scipy.stats.ks_2samp two-sided"},
        "power": recipes.power(cand, base, alpha=recipes.POWER_ALPHA, target=recipes.POWER_TARGET),
    }
    entry.update(recipes.summary(entry))
    return entry


def _latency(
    registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings, notes: list[str]
) -> dict[str, Any] | None:
    cand_path, base_path = _source(candidate, "latency_log"), _source(baseline, "latency_log")
    if cand_path is None or base_path is None:
        notes.append("no_latency_log: the latency delta needs a latency_log artifact on both runs")
        return None
    try:
        cand = _latency_log(registry, candidate, cand_path)
        base = _latency_log(registry, baseline, base_path)
    except ArtifactError as exc:
        notes.append(f"latency: {exc}")
        return None
    result = recipes.latency_delta(cand, base, q=LATENCY_QUANTILE, n_resamples=settings.n_resamples,
                                   confidence_level=settings.confidence_level, random_state=settings.random_state)
    column = "column 3 (latency_ms)"
    return {
        "metric": spec_for("latency_p95_ms").name,
        "q": LATENCY_QUANTILE,
        "delta": result["estimate"],
        "delta_ms": result["estimate"],
        "ci95": [result["low"], result["high"]],
        "quantile_definition": recipes.QUANTILE_DEFINITION,
        "bootstrap": result,
        "quantiles": {"candidate": recipes.latency_quantiles(cand), "baseline": recipes.latency_quantiles(base)},
        "inputs": {
            "candidate": cite(candidate, cand_path, column=column, recipe=_recipe(cand_path)),
            "baseline": cite(baseline, base_path, column=column, recipe=_recipe(base_path)),
        },
        "evidence": [cite(candidate, cand_path), cite(baseline, base_path)],
    }


def _recipe(path: str) -> str:
    return f"p50/p95/p99 of column 3 of {Path(path).name}, {recipes.QUANTILE_METHOD}"
