"""A real Prometheus scrapes `runnotary serve` during a short stream; every dashboard query and rule has data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.support import RUNNOTARY, meeting_message, poll_until, run_message, send, stop_process
from runnotary.consumers.broker import free_port
from runnotary.consumers.settings import Settings
from runnotary.contract import MeetingRequested
from runnotary.registry.synthetic import generate

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rules.yml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "runnotary.json"
THRESHOLD = re.compile(r"^(?P<series>.+?)\s*(?:==|!=|>=|<=|>|<)\s*-?[0-9.]+(?:e-?[0-9]+)?$", re.S)
#: Series that come from the drift keys of a comparison; set only when the comparison carries them.
DRIFT_SERIES = ("runnotary_drift_psi", "runnotary_drift_ks_statistic", "runnotary_drift_ks_pvalue")


def _get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def _wait(what: str, condition: Callable[[], bool], timeout: float, alive: Callable[[], None]) -> None:
    """Wait for ``condition``, checking with ``alive`` that the processes it depends on still run."""

    def held() -> bool:
        if condition():
            return True
        alive()
        return False

    assert poll_until(held, timeout, every=0.5), f"timed out waiting for {what}"


def _scraped_total(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


class PrometheusServer:
    """Debian's `prometheus` on a free port, tmp storage, scraping one target every second."""

    def __init__(self, workdir: Path, target: str) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("the prometheus server is not installed: `make install` installs Debian's package (as root)")
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "runnotary", "static_configs": [{"targets": [target]}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=self.log, stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def alive(self) -> None:
        assert self.process.poll() is None, (Path(self.log.name).read_text())[-3000:]

    def api(self, path: str, **params: str) -> Any:
        status, body = _get(f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=30)
        assert status == 200, f"{path} {params}: {status} {body[:500]}"
        return json.loads(body)["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])

    def close(self) -> None:
        stop_process(self.process, 30)
        self.log.close()


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every target of every panel, dashboard variables set to "all"."""
    model = json.loads(DASHBOARD.read_text())
    found = []
    for panel in model["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"].replace("$candidate", ".*").replace("$metric", ".*")))
    return found


def rule_queries() -> list[tuple[str, str]]:
    """(alert, expression without its threshold) of every rule: the series the alert watches."""
    found = []
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            match = THRESHOLD.match(rule["expr"].strip())
            assert match, f"{rule['alert']}: expression does not end in a threshold comparison"
            found.append((rule["alert"], match["series"]))
    return found


@pytest.fixture
def serve(kafka_bootstrap: str, mlflow_server: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, dict[str, str]]]:
    port = free_port()
    prefix = f"obs{uuid.uuid4().hex[:8]}."
    env = {
        **os.environ,
        "RUNNOTARY_KAFKA_BOOTSTRAP": kafka_bootstrap, "RUNNOTARY_MLFLOW_TRACKING_URI": mlflow_server,
        "RUNNOTARY_TOPIC_PREFIX": prefix, "RUNNOTARY_GROUP_ID": f"g-{prefix}", "RUNNOTARY_TOPIC_PARTITIONS": "1",
        "RUNNOTARY_METRICS_PORT": str(port), "RUNNOTARY_STATE_DIR": str(tmp_path / "state"),
        "RUNNOTARY_ARTIFACT_ROOT": str(tmp_path / "artifacts"), "RUNNOTARY_BUNDLE_DIR": str(tmp_path / "bundle"),
        "RUNNOTARY_SESSION_TIMEOUT_MS": "6000",  # max.poll.interval stays at its default: a slow event must not evict it
        "RUNNOTARY_N_RESAMPLES": "2000",
        # Every run is "stale" after a second, so the staleness series move during a short test.
        "RUNNOTARY_STALE_AFTER_SECONDS": "1",
    }
    process = subprocess.Popen([RUNNOTARY, "serve"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=(tmp_path / "serve.log").open("wb"))
    try:
        yield process, port, env
    finally:
        if process.poll() is None:
            stop_process(process, 30)


def test_every_dashboard_panel_and_rule_has_data_on_a_live_prometheus(
    serve: tuple[subprocess.Popen[bytes], int, dict[str, str]], kafka_bootstrap: str, mlflow_server: str, tmp_path: Path,
) -> None:
    process, port, env = serve
    metrics_url = f"http://127.0.0.1:{port}"
    prometheus = PrometheusServer(tmp_path, f"127.0.0.1:{port}")

    def alive() -> None:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        prometheus.alive()

    try:
        _wait("runnotary /healthz", lambda: _get(f"{metrics_url}/healthz")[0] == 200, 120, alive)
        # Ready once it consumes and the mlflow server answers its /health probe.
        _wait("runnotary /readyz", lambda: _get(f"{metrics_url}/readyz")[0] == 200, 120, alive)

        prefix = env["RUNNOTARY_TOPIC_PREFIX"]
        root = Path(env["RUNNOTARY_ARTIFACT_ROOT"])
        experiment = f"/tests/{prefix.rstrip('.')}"
        baseline, cand_a, cand_b = generate(root, experiment=experiment, n_queries=200, n_requests=800, seed=11)
        meeting = MeetingRequested(meeting_id=f"m-{uuid.uuid4().hex[:6]}", requested_by="on-call",
                                   candidates=[cand_a.candidate_id, cand_b.candidate_id, "never-registered"])
        kafka = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=prefix)
        send(kafka, "runs.created", [run_message(baseline), run_message(cand_a), ("junk", b'{"not": "an event"}'),
                                     run_message(cand_b)])

        def exposition() -> str:
            _get(f"{metrics_url}/readyz")  # keeps the MLflow probe (operation "health") going, as a kubelet would
            return _get(f"{metrics_url}/metrics")[1]

        _wait("two gate evaluations", lambda: _scraped_total(exposition(), "runnotary_gate_evaluations_total") == 2, 240, alive)
        # The stale-run alert is an increase(): Prometheus must hold a sample from before the meeting,
        # or the counter is first seen at its final value and increase() is 0 (a scrape can time out
        # while the service is busy).
        _wait("Prometheus to scrape the stale-run counter before the meeting",
              lambda: bool(prometheus.query('runnotary_stale_runs_used_total{usage="meeting"} == 0')), 120, alive)
        send(kafka, "meetings.requested", [meeting_message(meeting)])
        _wait("the bundle", lambda: _scraped_total(exposition(), "runnotary_bundles_emitted_total") == 1, 240, alive)
        # Prometheus has the final counts, then a few more scrapes so every rate has two points after them.
        _wait("Prometheus to scrape the bundle",
              lambda: bool(prometheus.query("runnotary_bundles_emitted_total == 1")), 60, alive)
        for _ in range(6):
            exposition()
            time.sleep(1)

        drift_recorded = _comparisons_carry_drift(mlflow_server, experiment)
        empty: list[str] = []
        for where, expr in dashboard_queries() + rule_queries():
            result = prometheus.query(expr)
            if any(name in expr for name in DRIFT_SERIES) and not drift_recorded:
                # Drift gauges are set only from a comparison's `drift` keys: none recorded, no series.
                assert result == [], f"{where}: {expr} has data without any drift in the comparisons"
                continue
            if not result:
                empty.append(f"{where}: {expr}")
        assert not empty, "queries with no data:\n" + "\n".join(empty)

        # Spot checks that the data is the stream's, not just present.
        def one(expr: str) -> float:
            result = prometheus.query(expr)
            assert len(result) == 1, f"{expr}: {result}"
            return float(result[0]["value"][1])

        assert one('sum(runnotary_events_total{outcome="deadlettered", topic="runs.created"})') == 1
        assert one('sum(runnotary_events_total{outcome="processed", topic="runs.created"})') == 3
        assert one('sum(runnotary_gate_evaluations_total{status="fail"})') == 1
        assert one('sum(runnotary_alerts_total{kind="unknown_candidate"})') == 1
        assert one("max(runnotary_stale_baselines)") == 2
        assert one('sum(runnotary_stale_runs_used_total{usage="meeting"})') == 4  # two candidates, each with its baseline
        assert one(f'sum(runnotary_consumer_lag_messages{{topic="{prefix}runs.created"}})') == 0
        assert one('sum(runnotary_mlflow_requests_total{operation="health", outcome="ok"})') >= 1
        assert one('count(runnotary_comparison_delta{metric="ndcg@10"})') == 2
        assert {r["metric"]["candidate_id"] for r in prometheus.query("runnotary_candidate_run_age_seconds")} == {
            cand_a.candidate_id, cand_b.candidate_id}

        # The rules are loaded and evaluated: a meeting cited stale runs, so that alert fires.
        _wait("RunnotaryStaleRunsInMeeting to fire",
              lambda: any(a["labels"]["alertname"] == "RunnotaryStaleRunsInMeeting" and a["state"] == "firing"
                          for a in prometheus.api("alerts")["alerts"]), 120, alive)
        groups = prometheus.api("rules")["groups"]
        assert {r["name"] for g in groups for r in g["rules"]} == {a for a, _ in rule_queries()}
        assert all(r["health"] == "ok" for g in groups for r in g["rules"]), groups
        if os.environ.get("RUNNOTARY_RENDER_PANELS"):  # the README's picture: `RUNNOTARY_RENDER_PANELS=out.png pytest ...`
            _render_panels(prometheus, Path(os.environ["RUNNOTARY_RENDER_PANELS"]))
    finally:
        prometheus.close()


def _comparisons_carry_drift(tracking_uri: str, experiment: str) -> bool:
    """Whether the comparisons runnotary recorded in MLflow have per-metric ``drift`` keys."""
    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    assert found is not None, experiment
    carry = []
    for run in client.search_runs([found.experiment_id]):
        try:
            path = client.download_artifacts(run.info.run_id, "runnotary/ab_result.json")
        except Exception:
            continue  # a baseline has no comparison
        comparison = json.loads(Path(path).read_text())
        carry.append(any("drift" in m for m in comparison["metrics"].values()))
    assert carry, "no comparison recorded in MLflow"
    return all(carry)


def _render_panels(prometheus: PrometheusServer, out: Path) -> None:
    """Draw a few dashboard panels from the test's Prometheus with matplotlib (a picture for the README)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wanted = ["Throughput", "Consumer lag", "Processing latency", "Gate outcomes", "Alerts by kind", "Dead-letter rate",
              "MLflow latency", "Δ vs baseline with CI95", "Run ages"]
    panels = {p["title"]: p for p in json.loads(DASHBOARD.read_text())["panels"]}
    end = time.time()
    fig, axes = plt.subplots(3, 3, figsize=(15, 10), constrained_layout=True)
    for ax, title in zip(axes.flat, wanted):
        for target in panels[title]["targets"]:
            expr = target["expr"].replace("$candidate", ".*").replace("$metric", ".*")
            data = prometheus.api("query_range", query=expr, start=str(end - 150), end=str(end), step="2")
            for series in data["result"]:
                label = re.sub(r"\{\{(\w+)\}\}", lambda m: series["metric"].get(m[1], ""), target["legendFormat"])
                xs = [float(t) - end for t, _ in series["values"]]
                ys = [float(v) for _, v in series["values"]]
                ax.plot(xs, ys, label=label[:40])
        ax.set_title(title)
        ax.set_xlabel("seconds before the end of the stream")
        if ax.lines:
            ax.legend(fontsize=6, loc="upper left")
    fig.suptitle("runnotary dashboard panels, from the live-Prometheus integration test")
    fig.savefig(out, dpi=80)
    plt.close(fig)
