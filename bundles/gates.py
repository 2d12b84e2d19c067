"""Compute-only gates: evaluate, never decide. The reviewers decide from the status."""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from runnotary.bundles.comparison import Comparison
from runnotary.registry import Registration

__all__ = ["Gate", "GATES", "LATENCY_DRIFT_MS", "evaluate"]

LATENCY_DRIFT_MS = 5.0

_COMPARE: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, ">": operator.gt, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Gate:
    """``name``: key in gate_status; ``source``: a candidate metric, or an A/B CI bound."""

    name: str
    source: Literal["metric", "ci95_lower"]
    metric: str
    op: Literal[">=", ">", "<", "<="]
    threshold: float


GATES: tuple[Gate, ...] = (
    Gate("visual_ablation_drop_pct", "metric", "visual_ablation_drop_pct", ">=", 5.0),
    Gate("v1_v2_corr", "metric", "v1_v2_corr", "<", 0.95),
    Gate("latency_p95_ms", "metric", "latency_p95_ms", "<", 50.0),
    Gate("ndcg10_ci95_lower", "ci95_lower", "ndcg@10", ">", 0.0),
)


def _observed(gate: Gate, candidate: Registration, comparison: Comparison | None) -> float | None:
    if gate.source == "metric":
        record = candidate.metric(gate.metric)
        return record.value if record is not None else None
    delta = comparison.delta(gate.metric) if comparison is not None else None
    return float(delta["ci95"][0]) if delta is not None else None


def evaluate(candidate: Registration, comparison: Comparison | None) -> dict[str, Any]:
    """The seed's gate_status.json, plus the baseline run and how the statistics were computed.

    A gate whose input is missing (no baseline, metric not recomputable) has ``obs: null``
    and does not pass. ``latency_p95_ms`` also passes when the p95 drifted by at most
    +5 ms against the baseline.
    """
    gates: dict[str, dict[str, Any]] = {}
    for gate in GATES:
        obs = _observed(gate, candidate, comparison)
        passed = obs is not None and _COMPARE[gate.op](obs, gate.threshold)
        if gate.name == "latency_p95_ms" and not passed and comparison is not None and comparison.latency:
            passed = comparison.latency["delta_ms"] <= LATENCY_DRIFT_MS
        gates[gate.name] = {"obs": obs, "threshold": gate.threshold, "pass": bool(passed)}
    settings = comparison.settings if comparison is not None else None
    return {
        "candidate_run": candidate.run_id,
        "gates": gates,
        "overall": "pass" if all(g["pass"] for g in gates.values()) else "fail",
        "baseline_run": comparison.baseline_run if comparison is not None else None,
        "method": settings.method if settings else None,
        "n_resamples": settings.n_resamples if settings else None,
        "random_state": settings.random_state if settings else None,
    }
