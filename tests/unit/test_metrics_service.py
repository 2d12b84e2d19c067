"""The service's Prometheus series, read back from the registry's text exposition."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import datetime, timezone
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runnotary.bundles import Comparison, ComparisonSettings
from runnotary.bundles.results import LatencyEntry, MetricEntry
from runnotary.consumers.health import ServiceReadiness, report_lag
from runnotary.consumers.metrics import MetricsServer, ServiceMetrics
from runnotary.consumers.settings import Settings

NOW = 1_800_000_000.0
DAY = 86_400.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def samples(metrics: ServiceMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = generate_latest(metrics.registry).decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(metrics: ServiceMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, frozenset(labels.items())))


def names(metrics: ServiceMetrics) -> set[str]:
    return {name for name, _ in samples(metrics)}


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, timezone.utc)


def comparison(metrics: dict[str, tuple[float, tuple[float, float], float | None, dict[str, Any] | None]],
               latency: tuple[float, tuple[float, float]] | None = None) -> Comparison:
    """A typed comparison: per metric its delta, CI, p-value and drift record; the latency Δp95 and its CI in ms."""
    entries = {name: MetricEntry(100, delta, ci95, ci95[0] > 0, pvalue, "bca", {"drift": drift} if drift else {}, {}, ())
               for name, (delta, ci95, pvalue, drift) in metrics.items()}
    lat = LatencyEntry("latency_p95_ms", 0.95, latency[0], latency[1], "", {}, {}, {}, ()) if latency else None
    return Comparison("r1", "r0", "cand-a", ComparisonSettings(), entries, lat)


COMPARISON = comparison({
    "ndcg@10": (0.012, (0.004, 0.02), 0.003, {"psi": 0.31, "psi_level": "significant", "ks_statistic": 0.12, "ks_pvalue": 0.04}),
    "recall@100": (-0.001, (-0.01, 0.008), 0.7, None),
}, latency=(-12.5, (-20.0, -5.0)))


def test_comparison_sets_delta_ci_pvalue_drift_and_latency_in_base_units() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_comparison("cand-a", COMPARISON)
    assert value(m, "runnotary_comparison_delta", candidate_id="cand-a", metric="ndcg@10") == 0.012
    assert value(m, "runnotary_comparison_delta_ci95", candidate_id="cand-a", metric="ndcg@10", bound="low") == 0.004
    assert value(m, "runnotary_comparison_delta_ci95", candidate_id="cand-a", metric="ndcg@10", bound="high") == 0.02
    assert value(m, "runnotary_comparison_pvalue", candidate_id="cand-a", metric="recall@100") == 0.7
    assert value(m, "runnotary_drift_psi", candidate_id="cand-a", metric="ndcg@10") == 0.31
    assert value(m, "runnotary_drift_ks_statistic", candidate_id="cand-a", metric="ndcg@10") == 0.12
    assert value(m, "runnotary_drift_ks_pvalue", candidate_id="cand-a", metric="ndcg@10") == 0.04
    assert value(m, "runnotary_comparison_latency_p95_delta_seconds", candidate_id="cand-a") == pytest.approx(-0.0125)
    assert value(m, "runnotary_comparison_latency_p95_delta_ci95_seconds", candidate_id="cand-a", bound="low") == -0.02


def test_absent_or_non_numeric_keys_leave_their_gauge_unset() -> None:
    """A metric without ``drift`` (or with a NaN) sets no drift sample; the other values still show."""
    m = ServiceMetrics(clock=Clock())
    m.observe_comparison("cand-a", comparison({"mrr": (float("nan"), (float("-inf"), 0.1), None, None)}))
    got = samples(m)
    assert not [k for k in got if k[0] in ("runnotary_drift_psi", "runnotary_comparison_delta", "runnotary_comparison_pvalue")]
    assert value(m, "runnotary_comparison_delta_ci95", candidate_id="cand-a", metric="mrr", bound="high") == 0.1
    assert value(m, "runnotary_comparison_delta_ci95", candidate_id="cand-a", metric="mrr", bound="low") is None
    assert "runnotary_comparison_latency_p95_delta_seconds" not in names(m)


def test_latest_comparison_replaces_the_previous_one() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_comparison("cand-a", COMPARISON)
    m.observe_comparison("cand-a", comparison({"ndcg@10": (0.5, (0.4, 0.6), None, None)}))
    assert value(m, "runnotary_comparison_delta", candidate_id="cand-a", metric="ndcg@10") == 0.5
    assert value(m, "runnotary_comparison_delta", candidate_id="cand-a", metric="recall@100") is None
    assert value(m, "runnotary_drift_psi", candidate_id="cand-a", metric="ndcg@10") is None


def test_only_the_most_recently_active_candidates_keep_series() -> None:
    clock = Clock()
    m = ServiceMetrics(active_candidates=2, clock=clock)
    for i, name in enumerate(["a", "b", "c"]):
        clock.now = NOW + i
        m.observe_comparison(name, COMPARISON)
    clock.now += 1
    m.observe_comparison("b", COMPARISON)  # b seen again: a goes first, then c is the oldest
    assert m.active_candidates() == ["c", "b"]
    candidates = {dict(labels).get("candidate_id") for name, labels in samples(m) if name == "runnotary_comparison_delta"}
    assert candidates == {"b", "c"}
    assert value(m, "runnotary_active_candidates") == 2


def test_idle_candidates_expire_from_the_registry() -> None:
    clock = Clock()
    m = ServiceMetrics(candidate_idle_seconds=3600, clock=clock)
    m.observe_comparison("old", COMPARISON)
    clock.now += 1800
    m.observe_run("fresh", "candidate", at(clock.now - 60))
    clock.now += 1801
    assert m.active_candidates() == ["fresh"]
    assert {dict(l).get("candidate_id") for n, l in samples(m) if n.startswith("runnotary_comparison")} == set()
    assert value(m, "runnotary_candidate_run_age_seconds", candidate_id="fresh") == 1801 + 60


def test_run_ages_grow_between_scrapes_and_stale_baselines_are_counted() -> None:
    clock = Clock()
    m = ServiceMetrics(stale_after_seconds=7 * DAY, candidate_idle_seconds=30 * DAY, clock=clock)
    m.observe_comparison("fresh", COMPARISON, candidate_created_at=at(NOW - 3600), baseline_created_at=at(NOW - DAY))
    m.observe_comparison("old", COMPARISON, candidate_created_at=at(NOW - 60), baseline_created_at=at(NOW - 8 * DAY))
    assert value(m, "runnotary_candidate_run_age_seconds", candidate_id="fresh") == 3600
    assert value(m, "runnotary_baseline_run_age_seconds", candidate_id="old") == 8 * DAY
    assert value(m, "runnotary_stale_baselines") == 1
    assert value(m, "runnotary_stale_runs_used_total", usage="baseline") == 1
    clock.now += 6 * DAY + 1  # the other baseline turns stale without any new event
    assert value(m, "runnotary_baseline_run_age_seconds", candidate_id="fresh") == 7 * DAY + 1
    assert value(m, "runnotary_stale_baselines") == 2
    assert value(m, "runnotary_stale_threshold_seconds") == 7 * DAY


def test_newest_run_of_a_candidate_sets_its_age_and_baselines_are_not_candidates() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_run("cand", "candidate", at(NOW - 500))
    m.observe_run("cand", "candidate", at(NOW - 900))  # an older run arriving late does not age the candidate
    m.observe_run("base", "baseline", at(NOW - 10))
    assert value(m, "runnotary_candidate_run_age_seconds", candidate_id="cand") == 500
    assert m.active_candidates() == ["cand"]


def test_stale_runs_cited_by_a_meeting_are_counted() -> None:
    m = ServiceMetrics(stale_after_seconds=DAY, clock=Clock())
    m.observe_meeting([at(NOW - 2 * DAY), at(NOW - 10), at(NOW - 3 * DAY)])
    assert value(m, "runnotary_stale_runs_used_total", usage="meeting") == 2
    assert value(m, "runnotary_stale_runs_used_total", usage="baseline") == 0


def test_events_update_counts_latency_and_time_since_last_event() -> None:
    clock = Clock()
    m = ServiceMetrics(clock=clock)
    assert value(m, "runnotary_events_total", topic="runs.created", outcome="deadlettered") == 0
    m.observe_event("runs.created", "processed", 0.2)
    clock.now += 42
    assert value(m, "runnotary_events_total", topic="runs.created", outcome="processed") == 1
    assert value(m, "runnotary_event_processing_seconds_count", topic="runs.created") == 1
    assert value(m, "runnotary_last_event_timestamp_seconds", topic="runs.created") == NOW
    assert value(m, "runnotary_last_event_age_seconds", topic="runs.created") == 42


def test_mlflow_calls_by_operation_with_errors_at_zero_until_one_happens() -> None:
    m = ServiceMetrics(clock=Clock())
    m.observe_mlflow("log_batch", 0.03, None)
    assert value(m, "runnotary_mlflow_requests_total", operation="log_batch", outcome="error") == 0
    m.observe_mlflow("log_batch", 1.5, "ConnectionError")
    assert value(m, "runnotary_mlflow_requests_total", operation="log_batch", outcome="ok") == 1
    assert value(m, "runnotary_mlflow_requests_total", operation="log_batch", outcome="error") == 1
    assert value(m, "runnotary_mlflow_errors_total", operation="log_batch", error="ConnectionError") == 1
    assert value(m, "runnotary_mlflow_request_duration_seconds_count", operation="log_batch") == 2
    assert value(m, "runnotary_mlflow_request_duration_seconds_sum", operation="log_batch") == pytest.approx(1.53)


def test_lag_per_partition_and_forgetting_a_revoked_partition() -> None:
    m = ServiceMetrics(clock=Clock())
    m.set_lag("p.runs.created", 0, 17)
    m.set_lag("p.runs.created", 1, -3)  # a position past a stale watermark is no lag, not negative lag
    assert value(m, "runnotary_consumer_lag_messages", topic="p.runs.created", partition="0") == 17
    assert value(m, "runnotary_consumer_lag_messages", topic="p.runs.created", partition="1") == 0
    m.forget_partition("p.runs.created", 0)
    m.forget_partition("p.runs.created", 7)
    assert value(m, "runnotary_consumer_lag_messages", topic="p.runs.created", partition="0") is None


def test_gate_outcomes_use_a_status_label_and_build_info_process_and_python_collectors_are_there() -> None:
    m = ServiceMetrics(clock=Clock())
    m.gates.labels("fail").inc()
    assert value(m, "runnotary_gate_evaluations_total", status="fail") == 1
    assert value(m, "runnotary_gate_evaluations_total", status="pass") == 0
    got = names(m)
    assert any(n == "runnotary_build_info" for n in got)
    build = next(dict(l) for n, l in samples(m) if n == "runnotary_build_info")
    assert set(build) == {"version", "python"} and build["version"]
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info", "python_gc_collections_total"} <= got


def test_bad_limits_are_refused_with_a_clear_error() -> None:
    with pytest.raises(ValueError, match="active_candidates"):
        ServiceMetrics(active_candidates=0)
    with pytest.raises(ValueError, match="positive"):
        ServiceMetrics(stale_after_seconds=0)


def test_settings_carry_the_bounds_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNNOTARY_METRICS_ACTIVE_CANDIDATES", "7")
    monkeypatch.setenv("RUNNOTARY_METRICS_CANDIDATE_IDLE_SECONDS", "600")
    monkeypatch.setenv("RUNNOTARY_STALE_AFTER_SECONDS", "3600")
    s = Settings()
    assert (s.metrics_active_candidates, s.metrics_candidate_idle_seconds, s.stale_after_seconds) == (7, 600, 3600)


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_http_endpoint_serves_metrics_health_and_readiness() -> None:
    m = ServiceMetrics()
    state = {"ready": (False, "not consuming yet")}
    server = MetricsServer(m, 0, "127.0.0.1", lambda: state["ready"])  # port 0: the OS picks a free one
    try:
        status, body = _get(server.port, "/metrics")
        assert status == 200 and "runnotary_build_info" in body
        assert _get(server.port, "/healthz") == (200, "alive\n")
        assert _get(server.port, "/readyz") == (503, "not consuming yet\n")
        state["ready"] = (True, "ready")
        assert _get(server.port, "/readyz") == (200, "ready\n")
        assert _get(server.port, "/nope")[0] == 404
    finally:
        server.close()


def test_serve_on_port_zero_serves_nothing() -> None:
    assert ServiceMetrics().serve(0, "127.0.0.1") is None


def test_readiness_needs_a_recent_poll_and_a_reachable_mlflow() -> None:
    m = ServiceMetrics()
    ready = ServiceReadiness(m, "http://127.0.0.1:9", cache_seconds=0, timeout=1)  # port 9 (discard): refused
    assert ready() == (False, "not consuming yet")
    m.polled()
    ok, reason = ready()
    assert not ok and reason.startswith("MLflow not reachable")
    assert value(m, "runnotary_mlflow_requests_total", operation="health", outcome="error") == 1
    assert ServiceReadiness(m, "sqlite:///x.db")() == (True, "ready")
    assert ServiceReadiness(m, "sqlite:///x.db", poll_grace_seconds=-1)()[1].startswith("consume loop has not polled")


class _TP:
    def __init__(self, topic: str, partition: int, offset: int) -> None:
        self.topic, self.partition, self.offset = topic, partition, offset


class _LagConsumer:
    """The four calls report_lag makes, with watermarks (low 5, high 100) on every partition."""

    def assignment(self) -> list[_TP]:
        return [_TP("t", 0, -1001), _TP("t", 1, -1001), _TP("t", 2, -1001)]

    def position(self, tps: list[_TP]) -> list[_TP]:
        return [_TP("t", 0, 60), _TP("t", 1, -1001), _TP("t", 2, -1001)]

    def committed(self, tps: list[_TP], timeout: float) -> list[_TP]:
        return [_TP("t", 1, 90), _TP("t", 2, -1001)]

    def get_watermark_offsets(self, tp: _TP, timeout: float, cached: bool) -> tuple[int, int]:
        return 5, 100


def test_lag_is_high_watermark_minus_position_then_committed_then_low_watermark() -> None:
    m = ServiceMetrics()
    report_lag(_LagConsumer(), m)
    assert [value(m, "runnotary_consumer_lag_messages", topic="t", partition=str(p)) for p in range(3)] == [40, 10, 95]


def test_lag_that_cannot_be_read_is_skipped_not_raised() -> None:
    class Broken:
        def assignment(self) -> list[_TP]:
            raise RuntimeError("broker gone")

    m = ServiceMetrics()
    report_lag(Broken(), m)
    assert "runnotary_consumer_lag_messages" not in names(m)
