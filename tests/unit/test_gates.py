"""Gates evaluate a policy: each threshold exactly, direction-aware CI rules, and a reason for every missing input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runnotary.bundles import (
    DEFAULT_POLICY, Comparison, ComparisonSettings, PolicyError, evaluate, gate_alerts, load_policy,
)
from runnotary.contract import RunCreated
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
    ndcg = {"delta": ci_low + 0.005, "ci95": [ci_low, ci_low + 0.01], "pvalue": pvalue, "pvalue_holm": pvalue_holm,
            "bootstrap": {"method": method}}
    latency = {"metric": "latency_p95_ms", "delta": sum(latency_ci) / 2, "ci95": list(latency_ci)}
    return Comparison("cand", "base", "cand-unit", ComparisonSettings(1000, 0.95, "bca", 7), {"ndcg@10": ndcg}, latency, ())


def test_seed_example_passes_and_names_each_deciding_rule(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, PASSING), _comparison(0.004))
    assert status["overall"] == "pass"
    assert status["gates"]["ndcg10_ci95_lower"] == {"obs": 0.004, "threshold": 0.0, "pass": True,
                                                   "rule": "delta_ci95_lower(ndcg@10) > 0"}
    assert status["gates"]["latency_p95_ms"]["rule"] == "metric(latency_p95_ms) < 50"
    assert (status["baseline_run"], status["method"], status["n_resamples"], status["random_state"]) == ("base", "bca", 1000, 7)


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
    assert status["gates"][gate]["pass"] is passes
    assert status["gates"][gate]["obs"] == (values.get(gate, ci_low))
    assert [n for n, g in status["gates"].items() if not g["pass"]] == ([] if passes else [gate])


def test_latency_exactly_50ms_falls_to_the_drift_rule_on_the_ci_upper_bound(run_event: dict[str, Any]) -> None:
    slow = _registration(run_event, dict(PASSING, latency_p95_ms=50.0))
    at_limit = evaluate(slow, _comparison(0.004, latency_ci=(-1.0, 5.0)))["gates"]["latency_p95_ms"]
    assert at_limit == {"obs": 5.0, "threshold": 5.0, "pass": True, "rule": "delta_ci95_upper(latency_p95_ms) <= 5"}


def test_latency_drift_judged_on_the_pessimistic_end_of_the_ci(run_event: dict[str, Any]) -> None:
    """Lower is better: a point Δp95 of +4 ms whose CI reaches +6 ms does not pass the drift rule."""
    slow = _registration(run_event, dict(PASSING, latency_p95_ms=52.0))
    gate = evaluate(slow, _comparison(0.004, latency_ci=(2.0, 6.0)))["gates"]["latency_p95_ms"]
    assert gate["pass"] is False
    assert (gate["obs"], gate["threshold"], gate["rule"]) == (52.0, 50.0, "metric(latency_p95_ms) < 50")
    assert "reason" not in gate


def test_missing_input_has_reason_missing_and_raises_an_alert(run_event: dict[str, Any]) -> None:
    values = {k: v for k, v in PASSING.items() if k != "v1_v2_corr"}
    candidate = _registration(run_event, values)
    status = evaluate(candidate, _comparison(0.004))
    assert status["gates"]["v1_v2_corr"] == {"obs": None, "threshold": 0.95, "pass": False,
                                            "rule": "metric(v1_v2_corr) < 0.95", "reason": "missing"}
    [alert] = gate_alerts(candidate, status)
    assert (alert.kind, alert.details["gate"]) == ("gate_input_missing", "v1_v2_corr")


def test_a_shipped_but_unclaimed_metric_is_not_claimed_with_an_alert_saying_so(run_event: dict[str, Any]) -> None:
    values = {k: v for k, v in PASSING.items() if k != "visual_ablation_drop_pct"}
    candidate = _registration(run_event, values, shipped=("visual_ablation_drop_pct",))
    status = evaluate(candidate, _comparison(0.004))
    assert status["gates"]["visual_ablation_drop_pct"]["reason"] == "not_claimed"
    [alert] = gate_alerts(candidate, status)
    assert alert.kind == "gate_input_not_claimed" and "does not claim" in alert.message


def test_a_claim_that_could_not_be_recomputed_is_invalid(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, dict(PASSING, v1_v2_corr=None)), _comparison(0.004))
    assert status["gates"]["v1_v2_corr"]["reason"] == "invalid" and not status["gates"]["v1_v2_corr"]["pass"]


def test_a_quarantined_input_fails_its_gate_even_when_its_value_passes(run_event: dict[str, Any]) -> None:
    candidate = _registration(run_event, PASSING)
    status = evaluate(candidate, _comparison(0.004), quarantined={"latency_p95_ms"})
    gate = status["gates"]["latency_p95_ms"]
    assert (gate["pass"], gate["reason"], gate["obs"]) == (False, "quarantined", 47.6)
    assert [a.severity for a in gate_alerts(candidate, status)] == ["critical"]


def test_without_baseline_the_ci_gate_has_reason_no_baseline(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, PASSING), None)
    assert status["gates"]["ndcg10_ci95_lower"]["reason"] == "no_baseline"
    assert status["overall"] == "fail" and status["baseline_run"] is None and status["method"] is None


def test_method_is_the_one_the_bootstrap_used(run_event: dict[str, Any]) -> None:
    """BCa asked for, percentile used (fallback): gate_status says percentile."""
    status = evaluate(_registration(run_event, PASSING), _comparison(0.004, method="percentile"))
    assert status["method"] == "percentile"


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
    assert status["gates"]["ndcg_holm"] == {"obs": 0.06, "threshold": 0.05, "pass": False,
                                           "rule": "pvalue_holm(ndcg@10) < 0.05"}
    assert status["gates"]["v1_v2_corr"]["threshold"] == 0.90  # the domain override (alias normalised)
    run_event["experiment"] = "/Shared/lenient"
    assert list(evaluate(_registration(run_event, PASSING), _comparison(0.004), policy)["gates"]) == ["ndcg_holm"]
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
