"""The Prometheus alert rules: promtool accepts them, their unit tests pass, and they cover what on-call needs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = PROMETHEUS / "rules.yml"
#: How each rule ends: "<series> <comparison> <number>" (the live-Prometheus test strips the threshold).
THRESHOLD = re.compile(r"^(?P<series>.+?)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.]+(?:e-?[0-9]+)?$", re.S)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool not found: `make install` installs Debian's prometheus package (as root), "
                    "or install Prometheus 2.x by hand")
    return found


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_check_rules_accepts_the_rules() -> None:
    result = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


@pytest.mark.parametrize("tests", sorted(PROMETHEUS.glob("*.test.yml")), ids=lambda p: p.name)
def test_promtool_test_rules_passes(tests: Path) -> None:
    result = subprocess.run([promtool(), "test", "rules", tests.name], cwd=PROMETHEUS, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_and_a_severity() -> None:
    tested = set(re.findall(r"alertname:\s*(\w+)", "".join(p.read_text() for p in PROMETHEUS.glob("*.test.yml"))))
    alerts = {rule["alert"] for rule in rules()}
    assert alerts - tested == set()
    assert all(rule["labels"]["severity"] in ("info", "warning", "critical") for rule in rules())


def test_rules_cover_down_lag_staleness_drift_deadletters_and_mlflow() -> None:
    exprs = " ".join(rule["expr"] for rule in rules())
    for series in ('up{job="runnotary"}', "runnotary_consumer_lag_messages", "runnotary_stale_baselines",
                   "runnotary_drift_psi", 'outcome="deadlettered"', "runnotary_mlflow_requests_total",
                   "runnotary_tracking_unavailable_total", "runnotary_candidate_awaiting_baseline_oldest_age_seconds",
                   "runnotary_unexpected_errors_total"):
        assert series in exprs, series
    psi = {rule["alert"]: rule["expr"] for rule in rules() if "runnotary_drift_psi" in rule["expr"]}
    assert psi["RunnotaryModerateDrift"].endswith(">= 0.1") and psi["RunnotarySignificantDrift"].endswith(">= 0.25")


def test_every_expression_is_a_series_compared_with_a_threshold() -> None:
    for rule in rules():
        assert THRESHOLD.match(rule["expr"].strip()), rule["alert"]


def _k8s_prometheus_config() -> str:
    manifests = yaml.safe_load_all((PROMETHEUS.parent / "k8s" / "monitoring.yaml").read_text())
    return next(d for d in manifests if d and d["kind"] == "ConfigMap" and d["metadata"]["name"] == "prometheus-config")[
        "data"]["prometheus.yml"]


@pytest.mark.parametrize("config", [lambda: (PROMETHEUS / "prometheus.yml").read_text(), _k8s_prometheus_config],
                         ids=["compose", "kubernetes"])
def test_promtool_check_config_accepts_the_layouts_prometheus_configs(config: Any, tmp_path: Path) -> None:
    """The scrape configs of the compose file and the manifests, with the rules file where they mount it."""
    parsed = yaml.safe_load(config())
    assert parsed["rule_files"] == ["/etc/prometheus/rules.yml"]
    parsed["rule_files"] = [str(RULES)]
    for job in parsed["scrape_configs"]:
        # Debian's promtool is built without Kubernetes discovery; the rest of the job (relabelling) is still checked.
        if job.pop("kubernetes_sd_configs", None) is not None:
            job["static_configs"] = [{"targets": ["127.0.0.1:9464"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(parsed))
    result = subprocess.run([promtool(), "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert parsed["scrape_configs"][0]["job_name"] == "runnotary"  # the rules' up{job="runnotary"}
