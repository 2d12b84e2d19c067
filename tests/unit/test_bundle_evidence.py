"""Bundle rules that need no server: the shipped schema, the status rule, where numbers are read, cross-run hygiene."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from runnotary.bundles import recipes
from runnotary.bundles.decision import DecisionMetrics, schema_text, shipped_schema
from runnotary.bundles.evidence import (
    ablation_figure, bar_values, forest_figure, latency_figure, statuses, threshold_rules, where_in_file,
)
from runnotary.bundles.hygiene import cross_run_conflicts, meeting_flags, quarantined_names
from runnotary.bundles.policy import DEFAULT_POLICY, GatePolicy
from runnotary.bundles.tables import CandidateEvidence
from runnotary.contract import RunCreated
from runnotary.registry import MetricRecord, Registration


def _run(run_event: dict[str, Any], run_id: str, claims: dict[str, float], age_days: float = 0.0) -> Registration:
    event = dict(run_event, created_at=(datetime.now(timezone.utc) - timedelta(days=age_days)).isoformat())
    metrics = tuple(MetricRecord(uuid, "ndcg@10", "ratio", value, value, "verified", "r/per_query.csv", "0" * 64)
                    for uuid, value in claims.items())
    return Registration(run_id, "1", "ev", RunCreated.model_validate(event), (), metrics)


def test_shipped_schema_is_the_one_the_models_generate() -> None:
    assert shipped_schema() == schema_text()


def test_schema_refuses_a_number_without_its_file() -> None:
    number = {"value": 1.0, "unit": "ms", "status": "verified", "uuid": "u", "claimed": 1.0, "quarantined": False,
              "run_id": "r", "sha256": "0" * 64,
              "where": {"extractor": "log_quantile", "argument": 0.95, "column": 3, "recipe": "p95"}}
    candidate = {"candidate_id": "c", "status": "pass", "candidate_run": "r", "baseline_run": None,
                 "metrics": {"r": {"latency_p95_ms": number}}, "failed_metrics": [], "ab": None, "gate_status": {},
                 "hygiene": []}
    doc = {"schema_version": "decision_metrics.v1", "meeting_id": "m", "overall_gate_status": "pass",
           "quantile_definition": "x", "candidates": [candidate], "unknown_candidates": []}
    with pytest.raises(ValidationError, match="file"):
        DecisionMetrics.model_validate(doc)
    number["file"] = "r/latency.log"
    DecisionMetrics.model_validate(doc)


def test_an_unknown_candidate_fails_the_meeting(run_event: dict[str, Any]) -> None:
    passing = CandidateEvidence(_run(run_event, "a" * 32, {}), None, None, {"overall": "pass"})
    assert statuses([passing], []) == ("pass", {"cand-unit": "pass"})
    assert statuses([passing], ["ghost"]) == ("fail", {"cand-unit": "pass", "ghost": "fail"})
    assert statuses([], []) == ("fail", {})


def test_where_in_file_states_the_quantile_recipe() -> None:
    where = where_in_file("latency_p95_ms", "run/latency.log")
    assert where["recipe"] == "p95 of column 3 of latency.log, inverted-cdf" and where["column"] == 3
    assert where_in_file("v1_v2_corr", "run/corr.json")["json_pointers"] == ["/v1", "/v2"]
    assert where_in_file("ndcg@10", "run/pq.csv")["column"] == "ndcg@10"


def test_latency_quantiles_are_observed_values_under_the_inverted_cdf() -> None:
    values = np.arange(1.0, 101.0)
    assert recipes.latency_quantiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}


def test_query_set_check_names_missing_and_extra_ids() -> None:
    result = recipes.query_sets(np.array(["q1", "q2", "q4"]), np.array(["q1", "q2", "q3"]))
    assert (result["missing_query_ids"], result["extra_query_ids"], result["pass"]) == (["q3"], ["q4"], False)
    assert recipes.query_sets(np.array(["q1", "q2"]), np.array(["q2", "q1"]))["pass"]


def test_one_uuid_with_two_values_across_runs_quarantines_both(run_event: dict[str, Any]) -> None:
    a = _run(run_event, "a" * 32, {"u-shared": 0.5, "u-a": 0.4})
    b = _run(run_event, "b" * 32, {"u-shared": 0.6})
    same = _run(run_event, "c" * 32, {"u-a": 0.4})
    assert set(cross_run_conflicts([a, b, same])) == {"u-shared"}
    quarantined, alerts = meeting_flags([a, b, same], "cand-unit")
    assert quarantined == {"u-shared"}
    assert sorted(x.run_id for x in alerts if x.kind == "quarantined_metric") == ["a" * 32, "b" * 32]
    assert quarantined_names(a, quarantined) == {"ndcg@10"}


def test_stale_runs_are_flagged_again_after_a_configurable_age(run_event: dict[str, Any]) -> None:
    old = _run(run_event, "a" * 32, {}, age_days=3)
    assert not meeting_flags([old], None)[1]
    [alert] = meeting_flags([old], None, stale_after=timedelta(days=2))[1]
    assert (alert.kind, alert.run_id) == ("stale_run", "a" * 32)
    assert not meeting_flags([old], None, stale_after=None)[1]


def test_a_metric_that_was_not_recomputed_is_named_not_drawn_as_zero(run_event: dict[str, Any]) -> None:
    measured = _run(run_event, "a" * 32, {"u1": 0.4})
    failed = Registration("b" * 32, "1", "ev", measured.event,
                          (), (MetricRecord("u2", "ndcg@10", "ratio", 0.5, None, "invalid", "r/per_query.csv", None, "bad"),))
    shown, absent = bar_values([measured, failed], "ndcg@10")
    assert [v for _, v in shown] == [0.4] and absent == ["cand-unit"]


def _thresholds(ax: Any, axis: str) -> list[float]:
    """The constant lines of an axes (axhline: y; axvline: x), as drawn, before any file is written."""
    values = []
    for line in ax.lines:
        data = np.asarray(line.get_ydata() if axis == "y" else line.get_xdata(), dtype=float)
        if len(data) == 2 and data[0] == data[1]:
            values.append(float(data[0]))
    return values


def test_plots_draw_the_policy_thresholds_not_the_default_ones(run_event: dict[str, Any]) -> None:
    """Before: 5 %, 50 ms and +5 ms were drawn whatever the policy said."""
    policy = GatePolicy.model_validate({"version": 1, "gates": [
        {"name": "ablation", "rules": [{"source": "metric", "metric": "visual_ablation_drop_pct", "op": ">=", "threshold": 8}]},
        {"name": "latency", "rules": [
            {"source": "metric", "metric": "latency_p95_ms", "op": "<", "threshold": 40},
            {"source": "delta_ci95_upper", "metric": "latency_p95_ms", "op": "<=", "threshold": 3},
        ]},
    ], "domains": {"other-domain": {"gates": [
        {"name": "latency", "rules": [{"source": "metric", "metric": "latency_p95_ms", "op": "<", "threshold": 99}]},
    ]}}})
    run = _run(run_event, "a" * 32, {"u1": 0.4})
    evidence = [CandidateEvidence(run, None, None, {"overall": "fail"})]

    latency = latency_figure([("cand a", np.array([30.0, 45.0]))], threshold_rules(policy, evidence, "latency_p95_ms", ("metric",)))
    assert _thresholds(latency.axes[0], "y") == [40.0]
    ablation = ablation_figure([run], threshold_rules(policy, evidence, "visual_ablation_drop_pct", ("metric",)))
    assert _thresholds(ablation.axes[0], "y") == [8.0]
    forest = forest_figure(evidence, policy)
    assert [_thresholds(ax, "x") for ax in forest.axes] == [[0.0], [0.0], [0.0, 3.0]]  # the zero line, then the rules

    default = latency_figure([], threshold_rules(DEFAULT_POLICY, evidence, "latency_p95_ms", ("metric",)))
    assert _thresholds(default.axes[0], "y") == [50.0]
