"""Compute-only gates: evaluate a policy, never decide. The reviewers decide from the status.

The status is the contract's typed ``GateStatus`` (the gates.status payload) from ``evaluate`` to
every reader; :func:`status_dict` lays it out as gate_status.json, the bundle and the command
replies write it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import replace
from typing import Any, Literal

from runnotary.bundles.results import Comparison, LatencyEntry, MetricEntry
from runnotary.bundles.policy import DEFAULT_POLICY, GatePolicy, GateRule, GateSpec
from runnotary.contract import Alert, GateResult, GateStatus
from runnotary.contract.payloads import ArmsStatus
from runnotary.registry import Registration, spec_for

__all__ = ["Reason", "arms_status", "evaluate", "gate_alerts", "seeds_per_arm", "status_dict"]

#: Why a gate had no usable observation (it then fails).
Reason = Literal["missing", "not_claimed", "invalid", "no_baseline", "quarantined", "too_few_seeds"]

_ALERT_SEVERITY: dict[str, Literal["warning", "critical"]] = {
    "missing": "warning", "not_claimed": "warning", "invalid": "warning", "no_baseline": "warning", "quarantined": "critical",
    "too_few_seeds": "warning",
}


def _observe(rule: GateRule, candidate: Registration, comparison: Comparison | None) -> tuple[float | None, Reason | None]:
    if rule.source == "metric":
        record = candidate.metric(rule.metric)
        if record is None:
            kinds = spec_for(rule.metric).kinds
            shipped = any(a.kind in kinds for a in candidate.artifacts)
            return None, "not_claimed" if shipped else "missing"
        return (record.value, None) if record.value is not None else (None, "invalid")
    if comparison is None:
        return None, "no_baseline"
    entry: MetricEntry | LatencyEntry | None
    if spec_for(rule.metric).extractor == "log_quantile":
        latency = comparison.latency
        entry = latency if latency is not None and latency.metric == rule.metric else None
    else:
        entry = comparison.metrics.get(rule.metric)
    if entry is None:
        return None, "missing"
    if rule.estimand is not None or rule.min_seeds is not None:
        if rule.min_seeds is not None and min(comparison.seeds_per_arm) < rule.min_seeds:
            return None, "too_few_seeds"
        if rule.estimand is not None:
            entry = _as_estimand(entry, rule.estimand)
            if entry is None:
                return None, "too_few_seeds"
    value = {
        "delta": entry.delta,
        "delta_ci95_lower": entry.ci95[0],
        "delta_ci95_upper": entry.ci95[1],
        "pvalue": entry.pvalue,
        "pvalue_holm": entry.pvalue_holm,
    }[rule.source]
    return (float(value), None) if value is not None else (None, "missing")


def seeds_per_arm(comparison: Comparison) -> tuple[int, int]:
    """Seed runs of the candidate's and the baseline's arm (1 and 1 for a one-run comparison)."""
    return comparison.seeds_per_arm


def _as_estimand(entry: MetricEntry | LatencyEntry, estimand: str) -> MetricEntry | LatencyEntry | None:
    """A per-query metric's numbers under ``estimand``, or None when its arms do not allow it."""
    if not isinstance(entry, MetricEntry) or not entry.arms:  # the one-run comparison: E1 only
        return entry if estimand == "E1" else None
    if estimand == entry.estimand:
        return entry
    chosen = entry.statistics["intervals"].get(estimand)
    if chosen is None:
        return None
    return replace(entry, delta=chosen["delta"], ci95=(chosen["low"], chosen["high"]), pvalue=chosen["pvalue"],
                   pvalue_holm=None)


def _gate(gate: GateSpec, candidate: Registration, comparison: Comparison | None, quarantined: Collection[str]) -> GateResult:
    """The first rule that passes decides; otherwise the first rule that could be observed does."""
    seen: list[tuple[GateRule, float | None, Reason | None]] = []
    for rule in gate.rules:
        obs, reason = _observe(rule, candidate, comparison)
        if rule.metric in quarantined:
            return GateResult(obs=obs, threshold=rule.threshold, pass_=False, rule=rule.label, reason="quarantined")
        seen.append((rule, obs, reason))
    for rule, obs, _ in seen:
        if obs is not None and rule.holds(obs):
            return GateResult(obs=obs, threshold=rule.threshold, pass_=True, rule=rule.label)
    rule, obs, reason = next(((r, o, why) for r, o, why in seen if o is not None), seen[0])
    return GateResult(obs=obs, threshold=rule.threshold, pass_=False, rule=rule.label, reason=reason)


def methods_used(metrics: Mapping[str, Mapping[str, Any]], default: str) -> str:
    """The CI methods a comparison's metrics actually used (BCa falls back to percentile when its
    jackknife degenerates; seed-run arms record their own), as gate_status.json states them and as
    ``verify-bundle`` re-derives them from the bundle (its entries as written)."""
    used = sorted({m["bootstrap"]["method"] if "bootstrap" in m else m["method"] for m in metrics.values()
                   if "bootstrap" in m or "method" in m})
    return "+".join(used) if used else default


def _methods(comparison: Comparison) -> str:
    return methods_used({name: {**m.statistics, "method": m.method} for name, m in comparison.metrics.items()},
                        comparison.settings.method)


def evaluate(
    candidate: Registration,
    comparison: Comparison | None,
    policy: GatePolicy = DEFAULT_POLICY,
    *,
    quarantined: Collection[str] = (),
) -> GateStatus:
    """The seed's gate status, plus the rule that decided each gate, the baseline run and
    how the statistics were computed.

    A gate whose input is missing, not claimed, not recomputable or quarantined (``quarantined``
    holds metric names) has a ``reason`` and does not pass.
    """
    gates = {
        gate.name: _gate(gate, candidate, comparison, quarantined)
        for gate in policy.gates_for(candidate.event.experiment, candidate.event.tags.domain)
    }
    settings = comparison.settings if comparison is not None else None
    return GateStatus(
        candidate_run=candidate.run_id,
        gates=gates,
        overall="pass" if gates and all(g.pass_ for g in gates.values()) else "fail",
        baseline_run=comparison.baseline_run if comparison is not None else None,
        method=_methods(comparison) if comparison is not None else None,
        n_resamples=settings.n_resamples if settings else None,
        random_state=settings.random_state if settings else None,
        arms=arms_status(comparison) if comparison is not None and comparison.arms is not None else None,
    )


def status_dict(status: GateStatus) -> dict[str, Any]:
    """``status`` as gate_status.json, the bundle and the command replies have always laid it out: the
    arms first when there are any, a gate's ``reason`` only when it has one. (The gates.status event
    carries the model itself, every field present.)"""
    arms = {"arms": status.arms.model_dump()} if status.arms is not None else {}
    gates = {
        name: {"obs": g.obs, "threshold": g.threshold, "pass": g.pass_, "rule": g.rule,
               **({"reason": g.reason} if g.reason is not None else {})}
        for name, g in status.gates.items()
    }
    return {**arms, "candidate_run": status.candidate_run, "gates": gates, "overall": status.overall,
            "baseline_run": status.baseline_run, "method": status.method, "n_resamples": status.n_resamples,
            "random_state": status.random_state}


def arms_status(comparison: Comparison) -> ArmsStatus:
    """What a gate status says of seed-run arms: their runs and seeds, and each per-query metric's
    headline estimand, interval and p-values (the run-swap p-value beside the interval's)."""
    assert comparison.arms is not None
    return ArmsStatus.model_validate({
        "candidate": comparison.arms["candidate"],
        "baseline": comparison.arms["baseline"],
        "estimand": comparison.arms["estimand"],
        "metrics": {
            name: {"estimand": m.estimand, "delta": m.delta, "ci95": list(m.ci95), "df": m.statistics["crossed"]["df"],
                   "pvalue": m.pvalue, "run_swap_pvalue": m.statistics["run_swap"]["pvalue"],
                   "variance_seeds": m.statistics["crossed"]["variance_seeds"],
                   "variance_items": m.statistics["crossed"]["variance_items"], "warnings": list(m.warnings)}
            for name, m in comparison.metrics.items() if m.arms
        },
    })


def gate_alerts(candidate: Registration, status: GateStatus) -> list[Alert]:
    """One alert per gate that failed for want of a usable input, saying why."""
    alerts = []
    for name, gate in status.gates.items():
        reason = gate.reason
        if reason is None:
            continue
        message = {
            "not_claimed": f"gate {name} fails: the run ships the file for {gate.rule} but does not claim the metric",
            "missing": f"gate {name} fails: no input for {gate.rule}",
            "invalid": f"gate {name} fails: the claimed metric of {gate.rule} could not be recomputed from its file",
            "no_baseline": f"gate {name} fails: {gate.rule} needs a paired baseline",
            "quarantined": f"gate {name} fails: the input of {gate.rule} is quarantined (one metric uuid, two values)",
            "too_few_seeds": f"gate {name} fails: {gate.rule} needs more seed runs per arm than the comparison has",
        }[reason]
        alerts.append(Alert(kind=f"gate_input_{reason}", severity=_ALERT_SEVERITY[reason], run_id=candidate.run_id,
                            candidate_id=candidate.event.candidate_id, message=message,
                            details={"gate": name, "rule": gate.rule, "reason": reason}))
    return alerts
