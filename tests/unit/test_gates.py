"""Gates evaluate a policy: each threshold exactly, direction-aware CI rules, and a reason for every missing input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runnotary.bundles import (
    DEFAULT_POLICY, Comparison, ComparisonSettings, PolicyError, evaluate, gate_alerts, load_policy,
)
from runnotary.bundles import status_dict
from runnotary.bundles.results import LatencyEntry, MetricEntry
from runnotary.contract import GateResult, GateStatus, RunCreated
from runnotary.registry import MetricRecord, Registration
from runnotary.registry.artifacts import ArtifactRecord

PASSING = dict(visual_ablation_drop_pct=6.4, v1_v2_corr=0.91, latency_p95_ms=47.6)
SOURCES = {"visual_ablation_drop_pct": ("ablation", "r/ablation.json"), "v1_v2_corr": ("correlation", "r/corr.json"),
           "latency_p95_ms": ("latency_log", "r/latency.log")}


def _registration(run_event: dict[str, Any], values: dict[str, float | None], shipped: tuple[str, ...] = ()) -> Registration:
    """A candidate claiming ``values`` (None: claimed but not recomputable), shipping their files and ``shipped``."""
    metrics = tuple(MetricRecord(f"u-{name}", name, "x", v or 0.0, v, "verified" if v is not None else "invalid",
                                 SOURCES[name][1], "0" * 64) for name, v in values.items())
    kinds = {SOURCES[n][0]: SOURCES[n][1] for n in (*values, *shipped)}
    artifacts = tuple(ArtifactRecord("cand", kind, path, "0" * 64, 1, "json") for kind, path in kinds.items())
    return Registration("cand", "1", "ev", RunCreated.model_validate(run_event), artifacts, metrics)


def _comparison(ci_low: float, latency_ci: tuple[float, float] = (0.5, 1.5), method: str = "bca",
                pvalue: float = 0.01, pvalue_holm: float = 0.02) -> Comparison:
    ndcg = MetricEntry(1, ci_low + 0.005, (ci_low, ci_low + 0.01), ci_low > 0, pvalue, method, {"bootstrap": {"method": method}},
                       {}, (), pvalue_holm=pvalue_holm)
    latency = LatencyEntry("latency_p95_ms", 0.95, sum(latency_ci) / 2, latency_ci, "", {}, {}, {}, ())
    return Comparison("cand", "base", "cand-unit", ComparisonSettings(1000, 0.95, "bca", 7), {"ndcg@10": ndcg}, latency, ())


def test_seed_example_passes_and_names_each_deciding_rule(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, PASSING), _comparison(0.004))
    assert status.overall == "pass"
    assert status.gates["ndcg10_ci95_lower"] == GateResult(obs=0.004, threshold=0.0, pass_=True,
                                                          rule="delta_ci95_lower(ndcg@10) > 0")
    assert status.gates["latency_p95_ms"].rule == "metric(latency_p95_ms) < 50"
    assert (status.baseline_run, status.method, status.n_resamples, status.random_state) == ("base", "bca", 1000, 7)


@pytest.mark.parametrize(
    ("gate", "values", "ci_low", "passes"),
    [
        ("visual_ablation_drop_pct", dict(PASSING, visual_ablation_drop_pct=5.0), 0.004, True),  # >= 5
        ("visual_ablation_drop_pct", dict(PASSING, visual_ablation_drop_pct=4.99), 0.004, False),
        ("v1_v2_corr", dict(PASSING, v1_v2_corr=0.95), 0.004, False),  # < 0.95
        ("ndcg10_ci95_lower", PASSING, 0.0, False),  # > 0
    ],
)
def test_each_threshold_exactly_at_its_boundary(run_event: dict[str, Any], gate: str, values: dict[str, float],
                                                ci_low: float, passes: bool) -> None:
    status = evaluate(_registration(run_event, values), _comparison(ci_low))
    assert status.gates[gate].pass_ is passes
    assert status.gates[gate].obs == (values.get(gate, ci_low))
    assert [n for n, g in status.gates.items() if not g.pass_] == ([] if passes else [gate])


def test_latency_exactly_50ms_falls_to_the_drift_rule_on_the_ci_upper_bound(run_event: dict[str, Any]) -> None:
    slow = _registration(run_event, dict(PASSING, latency_p95_ms=50.0))
    at_limit = evaluate(slow, _comparison(0.004, latency_ci=(-1.0, 5.0))).gates["latency_p95_ms"]
    assert at_limit == GateResult(obs=5.0, threshold=5.0, pass_=True, rule="delta_ci95_upper(latency_p95_ms) <= 5")


def test_latency_drift_judged_on_the_pessimistic_end_of_the_ci(run_event: dict[str, Any]) -> None:
    """Lower is better: a point Δp95 of +4 ms whose CI reaches +6 ms does not pass the drift rule."""
    slow = _registration(run_event, dict(PASSING, latency_p95_ms=52.0))
    gate = evaluate(slow, _comparison(0.004, latency_ci=(2.0, 6.0))).gates["latency_p95_ms"]
    assert gate.pass_ is False
    assert (gate.obs, gate.threshold, gate.rule) == (52.0, 50.0, "metric(latency_p95_ms) < 50")
    assert gate.reason is None


def test_missing_input_has_reason_missing_and_raises_an_alert(run_event: dict[str, Any]) -> None:
    values = {k: v for k, v in PASSING.items() if k != "v1_v2_corr"}
    candidate = _registration(run_event, values)
    status = evaluate(candidate, _comparison(0.004))
    assert status.gates["v1_v2_corr"] == GateResult(obs=None, threshold=0.95, pass_=False,
                                                   rule="metric(v1_v2_corr) < 0.95", reason="missing")
    [alert] = gate_alerts(candidate, status)
    assert (alert.kind, alert.details["gate"]) == ("gate_input_missing", "v1_v2_corr")


def test_a_shipped_but_unclaimed_metric_is_not_claimed_with_an_alert_saying_so(run_event: dict[str, Any]) -> None:
    values = {k: v for k, v in PASSING.items() if k != "visual_ablation_drop_pct"}
    candidate = _registration(run_event, values, shipped=("visual_ablation_drop_pct",))
    status = evaluate(candidate, _comparison(0.004))
    assert status.gates["visual_ablation_drop_pct"].reason == "not_claimed"
    [alert] = gate_alerts(candidate, status)
    assert alert.kind == "gate_input_not_claimed" and "does not claim" in alert.message


def test_a_claim_that_could_not_be_recomputed_is_invalid(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, dict(PASSING, v1_v2_corr=None)), _comparison(0.004))
    assert status.gates["v1_v2_corr"].reason == "invalid" and not status.gates["v1_v2_corr"].pass_


def test_a_quarantined_input_fails_its_gate_even_when_its_value_passes(run_event: dict[str, Any]) -> None:
    candidate = _registration(run_event, PASSING)
    status = evaluate(candidate, _comparison(0.004), quarantined={"latency_p95_ms"})
    gate = status.gates["latency_p95_ms"]
    assert (gate.pass_, gate.reason, gate.obs) == (False, "quarantined", 47.6)
    assert [a.severity for a in gate_alerts(candidate, status)] == ["critical"]


def test_without_baseline_the_ci_gate_has_reason_no_baseline(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, PASSING), None)
    assert status.gates["ndcg10_ci95_lower"].reason == "no_baseline"
    assert status.overall == "fail" and status.baseline_run is None and status.method is None


def test_method_is_the_one_the_bootstrap_used(run_event: dict[str, Any]) -> None:
    """BCa asked for, percentile used (fallback): gate_status says percentile."""
    status = evaluate(_registration(run_event, PASSING), _comparison(0.004, method="percentile"))
    assert status.method == "percentile"


def _arms_comparison() -> Comparison:
    """Two seed runs a side: ndcg@10's crossed-design interval (E3) and its run-swap p-value."""
    crossed = {"df": 3.5, "variance_seeds": 1e-05, "variance_items": 2e-05}
    ndcg = MetricEntry(60, 0.01, (0.002, 0.018), True, 0.03, "crossed", {"crossed": crossed, "run_swap": {"pvalue": 0.33}},
                       {}, (), estimand="E3")
    latency = LatencyEntry("latency_p95_ms", 0.95, 1.0, (0.5, 1.5), "", {}, {}, {}, ())
    arms = {"candidate": {"candidate_id": "cand-unit", "role": "candidate", "runs": ["c1", "cand"], "seeds": [1, 2]},
            "baseline": {"candidate_id": "base-unit", "role": "baseline", "runs": ["b1", "base"], "seeds": [1, 2]},
            "estimand": "E3"}
    return Comparison("cand", "base", "cand-unit", ComparisonSettings(1000, 0.95, "bca", 7), {"ndcg@10": ndcg}, latency,
                      (), arms=arms)


def test_gate_status_json_keeps_its_layout_arms_first_and_a_reason_only_when_a_gate_has_one(
    run_event: dict[str, Any],
) -> None:
    """gate_status.json, the bundle and the command replies lay the typed status out as they always have;
    read back, it is the status evaluated."""
    values = {k: v for k, v in PASSING.items() if k != "v1_v2_corr"}
    status = evaluate(_registration(run_event, values), _arms_comparison())
    doc = status_dict(status)
    assert list(doc) == ["arms", "candidate_run", "gates", "overall", "baseline_run", "method", "n_resamples",
                         "random_state"]
    assert doc["arms"]["metrics"]["ndcg@10"] == {"estimand": "E3", "delta": 0.01, "ci95": [0.002, 0.018], "df": 3.5,
                                                "pvalue": 0.03, "run_swap_pvalue": 0.33, "variance_seeds": 1e-05,
                                                "variance_items": 2e-05, "warnings": []}
    assert doc["gates"]["v1_v2_corr"] == {"obs": None, "threshold": 0.95, "pass": False,
                                          "rule": "metric(v1_v2_corr) < 0.95", "reason": "missing"}
    assert list(doc["gates"]["ndcg10_ci95_lower"]) == ["obs", "threshold", "pass", "rule"]
    assert GateStatus.model_validate(doc) == status
    assert "arms" not in status_dict(evaluate(_registration(run_event, PASSING), _comparison(0.004)))


POLICY = """
version: 1
gates:
  - name: ndcg_holm
    rules: [{source: pvalue_holm, metric: "ndcg@10", op: "<", threshold: 0.05}]
  - name: v1_v2_corr
    rules: [{source: metric, metric: v1_v2_corr, op: "<", threshold: 0.95}]
domains:
  quality:
    gates:
      - name: v1_v2_corr
        rules: [{source: metric, metric: v1v2_corr, op: "<", threshold: 0.90}]
experiments:
  /Shared/lenient:
    remove: [v1_v2_corr]
"""


def test_policy_file_with_holm_gate_and_overrides(run_event: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(POLICY)
    policy = load_policy(path)
    status = evaluate(_registration(run_event, PASSING), _comparison(0.004, pvalue=0.01, pvalue_holm=0.06), policy)
    assert status.gates["ndcg_holm"] == GateResult(obs=0.06, threshold=0.05, pass_=False,
                                                  rule="pvalue_holm(ndcg@10) < 0.05")
    assert status.gates["v1_v2_corr"].threshold == 0.90  # the domain override (alias normalised)
    run_event["experiment"] = "/Shared/lenient"
    assert list(evaluate(_registration(run_event, PASSING), _comparison(0.004), policy).gates) == ["ndcg_holm"]
    assert load_policy(None) is DEFAULT_POLICY


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('{source: delta_ci95_lower, metric: latency_p95_ms, op: ">", threshold: 0}', "higher-is-better"),
        ('{source: delta_ci95_upper, metric: "ndcg@10", op: "<", threshold: 0}', "lower-is-better"),
        ('{source: pvalue, metric: "ndcg@10", op: ">", threshold: 0.05}', "p-value"),
        ('{source: metric, metric: bleu, op: ">", threshold: 1}', "unknown metric 'bleu'"),
        ('{source: metric, metric: v1_v2_corr, op: "~", threshold: 1}', "op"),
    ],
)
def test_bad_policy_is_refused_naming_the_problem(tmp_path: Path, rule: str, message: str) -> None:
    path = tmp_path / "gates.yaml"
    path.write_text(f"gates:\n  - name: g\n    rules: [{rule}]\n")
    with pytest.raises(PolicyError, match=message):
        load_policy(path)
