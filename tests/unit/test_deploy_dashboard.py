"""The Grafana dashboard and its provisioning: every query names series the service exposes."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from runnotary.bundles import Comparison, ComparisonSettings
from runnotary.bundles.results import LatencyEntry, MetricEntry
from runnotary.consumers.metrics import ServiceMetrics

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yml"
SERIES = re.compile(r"\b((?:runnotary|process|python)_[a-z0-9_]+)")
PROMETHEUS_OWN = {"up"}


def model() -> dict[str, Any]:
    return json.loads((GRAFANA / "dashboards" / "runnotary.json").read_text())


def exposed() -> set[str]:
    """Every sample name a service exposes once each kind of update happened."""
    m = ServiceMetrics()
    now = datetime.now(timezone.utc)
    m.observe_event("runs.created", "processed", 0.1)
    m.deadletters.labels("runs.created", "InvalidEvent").inc()
    m.runs.labels("candidate").inc()
    m.alerts.labels("metric_mismatch", "critical").inc()
    m.bundles.inc()
    m.tracking_down.inc()
    m.unexpected_errors.labels("runs.created").inc()
    m.set_awaiting([now])
    m.set_lag("runs.created", 0, 1)
    m.observe_mlflow("log_batch", 0.1, "ConnectionError")
    drift = {"psi": 0.1, "psi_level": "stable", "ks_statistic": 0.1, "ks_pvalue": 0.5}
    ndcg = MetricEntry(100, 0.1, (0.0, 0.2), False, 0.1, "bca", {"drift": drift}, {}, ())
    latency = LatencyEntry("latency_p95_ms", 0.95, 1.0, (0.0, 2.0), "", {}, {}, {}, ())
    m.observe_comparison("c", Comparison("r1", "r0", "c", ComparisonSettings(), {"ndcg@10": ndcg}, latency),
                         candidate_created_at=now, baseline_created_at=now)
    text = generate_latest(m.registry).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def queries() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in model()["panels"] for t in p.get("targets", [])]


def test_every_query_uses_series_the_service_exposes() -> None:
    names = exposed()
    rules = [(r["alert"], r["expr"]) for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    for where, expr in queries() + rules:
        used = set(SERIES.findall(expr))
        assert used or "up{" in expr, f"{where}: {expr}"
        assert used <= names, f"{where} uses {used - names}"


def test_dashboard_covers_what_on_call_needs() -> None:
    titles = {p["title"] for p in model()["panels"]}
    for needed in ("Throughput", "Consumer lag", "Processing latency", "Gate outcomes", "Alerts by kind", "Dead-letter rate",
                   "MLflow errors", "PSI (per-query scores)", "Δ vs baseline with CI95", "Run ages", "Stale runs in use",
                   "Time since last event", "Candidates awaiting a baseline", "Oldest wait for a baseline"):
        assert needed in titles, needed


def test_panels_use_the_provisioned_datasource_and_unique_ids() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    uid = datasources[0]["uid"]
    panels = model()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == uid and panel["targets"], panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_dashboard_variables_are_the_ones_the_queries_use() -> None:
    variables = {v["name"] for v in model()["templating"]["list"]}
    used = {name for _, expr in queries() for name in re.findall(r"\$(\w+)", expr)}
    assert used <= variables and variables == {"candidate", "metric"}


def test_dashboard_provider_loads_from_a_folder() -> None:
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "runnotary.yml").read_text())["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"].startswith("/var/lib/grafana/dashboards")
