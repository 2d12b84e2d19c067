"""Compare a candidate with its paired baseline, from their verified artifacts, through ``stats``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from runnotary import stats
from runnotary.registry import ArtifactError, Registration, Registry, read_latency_log, read_per_query_table, spec_for

__all__ = ["Comparison", "ComparisonSettings", "compare", "PAIRED_METRICS", "LATENCY_QUANTILE"]

#: Per-query metrics compared pair by pair (query by query).
PAIRED_METRICS: tuple[str, ...] = ("ndcg@10", "compliance@1")
LATENCY_QUANTILE = 0.95


@dataclass(frozen=True)
class ComparisonSettings:
    """How the statistics are computed; recorded with every result so anyone can redo them."""

    n_resamples: int = 10_000
    confidence_level: float = 0.95
    method: str = "bca"
    random_state: int = 20261123


@dataclass(frozen=True)
class Comparison:
    """The A/B result of one candidate against one baseline (JSON-ready ``metrics``)."""

    candidate_run: str
    baseline_run: str
    candidate_id: str
    settings: ComparisonSettings
    metrics: dict[str, dict[str, Any]]
    latency: dict[str, Any] | None
    notes: tuple[str, ...] = ()

    def delta(self, metric: str) -> dict[str, Any] | None:
        return self.metrics.get(metric)

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate_run": self.candidate_run,
            "baseline_run": self.baseline_run,
            "candidate_id": self.candidate_id,
            "method": self.settings.method,
            "n_resamples": self.settings.n_resamples,
            "confidence_level": self.settings.confidence_level,
            "random_state": self.settings.random_state,
            "metrics": self.metrics,
            "latency": self.latency,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Comparison:
        settings = ComparisonSettings(data["n_resamples"], data["confidence_level"], data["method"], data["random_state"])
        return cls(data["candidate_run"], data["baseline_run"], data["candidate_id"], settings,
                   data["metrics"], data["latency"], tuple(data["notes"]))


def _source(registration: Registration, kind: str) -> str | None:
    return next((a.path for a in registration.artifacts if a.kind == kind), None)


def _evidence(registration: Registration, path: str) -> dict[str, str]:
    record = registration.artifact(path)
    assert record is not None
    return {"run_id": registration.run_id, "file": path, "sha256": record.sha256}


def compare(registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings) -> Comparison:
    """Paired bootstrap CI, sign-flip permutation p-value and effect sizes per per-query metric,
    Holm-adjusted across them, plus a bootstrap CI of the latency p95 difference.

    Trouble that belongs to the answer (no per-query artifact, disjoint query sets) is
    recorded in ``notes``; it never raises for one metric and sinks the rest.
    """
    notes: list[str] = []
    metrics: dict[str, dict[str, Any]] = {}
    cand_path, base_path = _source(candidate, "per_query"), _source(baseline, "per_query")
    if cand_path is None or base_path is None:
        notes.append("no_per_query_artifact: paired metrics need a per_query artifact on both runs")
    else:
        cand_table = read_per_query_table(registry.fetch(candidate, cand_path))
        base_table = read_per_query_table(registry.fetch(baseline, base_path))
        for offset, name in enumerate(PAIRED_METRICS):
            try:
                cand_ids, cand_values = cand_table.column(name)
                base_ids, base_values = base_table.column(name)
            except ArtifactError as exc:
                notes.append(f"{name}: {exc}")
                continue
            common, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
            if len(common) < len(cand_ids) or len(common) < len(base_ids):
                notes.append(f"{name}: {len(cand_ids) - len(common)} candidate and {len(base_ids) - len(common)} "
                             f"baseline queries have no partner and were left out")
            if len(common) < 2:
                notes.append(f"{name}: too_few_pairs ({len(common)})")
                continue
            metrics[name] = _paired(cand_values[ci], base_values[bi], settings, settings.random_state + offset)
            metrics[name]["evidence"] = [_evidence(candidate, cand_path), _evidence(baseline, base_path)]
        if metrics:
            adjusted = stats.holm([m["pvalue"] for m in metrics.values()])
            for m, p in zip(metrics.values(), adjusted.adjusted):
                m["pvalue_holm"] = p
    latency = _latency(registry, candidate, baseline, settings, notes)
    return Comparison(candidate.run_id, baseline.run_id, candidate.event.candidate_id, settings, metrics, latency, tuple(notes))


def _paired(cand: np.ndarray, base: np.ndarray, settings: ComparisonSettings, seed: int) -> dict[str, Any]:
    boot = stats.paired_bootstrap(
        cand, base, n_resamples=settings.n_resamples, confidence_level=settings.confidence_level,
        method=settings.method, random_state=seed,  # type: ignore[arg-type]
    )
    perm = stats.paired_permutation_test(cand, base, n_resamples=settings.n_resamples, random_state=seed)
    effects = stats.effect_sizes(cand, base, confidence_level=settings.confidence_level)
    return {
        "n": boot.n,
        "delta": boot.estimate,
        "ci95": [boot.low, boot.high],
        "significance_pass": boot.low > 0,
        "pvalue": perm.pvalue,
        "bootstrap": boot.to_dict(),
        "permutation": perm.to_dict(),
        "effect_sizes": effects.to_dict(),
    }


def _latency(
    registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings, notes: list[str]
) -> dict[str, Any] | None:
    cand_path, base_path = _source(candidate, "latency_log"), _source(baseline, "latency_log")
    if cand_path is None or base_path is None:
        notes.append("no_latency_log: the latency delta needs a latency_log artifact on both runs")
        return None
    try:
        cand = read_latency_log(registry.fetch(candidate, cand_path))
        base = read_latency_log(registry.fetch(baseline, base_path))
    except ArtifactError as exc:
        notes.append(f"latency: {exc}")
        return None
    result = stats.quantile_delta(
        cand, base, q=LATENCY_QUANTILE, n_resamples=settings.n_resamples,
        confidence_level=settings.confidence_level, random_state=settings.random_state,
    )
    return {
        "metric": spec_for("latency_p95_ms").name,
        "delta_ms": result.estimate,
        "ci95": [result.low, result.high],
        "bootstrap": result.to_dict(),
        "evidence": [_evidence(candidate, cand_path), _evidence(baseline, base_path)],
    }
