"""Gates evaluate the seed's four thresholds and never pass on a missing input."""

from __future__ import annotations

from typing import Any

import pytest

from runnotary.bundles import Comparison, ComparisonSettings, evaluate
from runnotary.registry import MetricRecord, Registration, RunCreated


def _registration(run_event: dict[str, Any], **values: float) -> Registration:
    metrics = tuple(MetricRecord("u", name, "x", v, v, "verified", "r/f", "0" * 64) for name, v in values.items())
    return Registration("cand", "1", "ev", RunCreated.model_validate(run_event), (), metrics)


def _comparison(ci_low: float, latency_delta: float) -> Comparison:
    return Comparison("cand", "base", "cand-unit", ComparisonSettings(1000, 0.95, "bca", 7),
                      {"ndcg@10": {"ci95": [ci_low, ci_low + 0.01]}}, {"delta_ms": latency_delta}, ())


PASSING = dict(visual_ablation_drop_pct=6.4, v1_v2_corr=0.91, latency_p95_ms=47.6)


def test_seed_example_passes(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, **PASSING), _comparison(0.004, 1.0))
    assert status["overall"] == "pass"
    assert status["gates"]["ndcg10_ci95_lower"] == {"obs": 0.004, "threshold": 0.0, "pass": True}
    assert (status["baseline_run"], status["method"], status["n_resamples"], status["random_state"]) == ("base", "bca", 1000, 7)


@pytest.mark.parametrize(
    ("gate", "values", "ci_low"),
    [
        ("visual_ablation_drop_pct", dict(PASSING, visual_ablation_drop_pct=4.99), 0.004),
        ("v1_v2_corr", dict(PASSING, v1_v2_corr=0.95), 0.004),
        ("ndcg10_ci95_lower", PASSING, 0.0),
    ],
)
def test_each_threshold_fails_at_its_boundary(run_event: dict[str, Any], gate: str, values: dict[str, float], ci_low: float) -> None:
    status = evaluate(_registration(run_event, **values), _comparison(ci_low, 1.0))
    assert status["overall"] == "fail"
    assert [name for name, g in status["gates"].items() if not g["pass"]] == [gate]


def test_slow_latency_passes_when_drift_is_within_5ms(run_event: dict[str, Any]) -> None:
    slow = dict(PASSING, latency_p95_ms=52.0)
    assert evaluate(_registration(run_event, **slow), _comparison(0.004, 4.9))["gates"]["latency_p95_ms"]["pass"]
    assert not evaluate(_registration(run_event, **slow), _comparison(0.004, 5.1))["gates"]["latency_p95_ms"]["pass"]


def test_without_baseline_the_ci_gate_has_no_observation(run_event: dict[str, Any]) -> None:
    status = evaluate(_registration(run_event, **PASSING), None)
    assert status["gates"]["ndcg10_ci95_lower"] == {"obs": None, "threshold": 0.0, "pass": False}
    assert status["overall"] == "fail" and status["baseline_run"] is None
