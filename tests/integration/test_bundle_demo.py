"""`runnotary demo` writes a bundle whose tables agree under one quantile definition, with the seed's
A/B sections (SRM, drift, power), a forest plot, and no blank plot; with 3 seed runs per recipe (the
default) the bundle shows every seed run, the estimand and the variance split."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
from matplotlib.image import imread

from tests.support import RUNNOTARY


def _section(summary: str, title: str) -> str:
    start = summary.index(title)
    end = summary.find("\n### ", start + len(title))
    return summary[start:end if end > 0 else None]


def _rows(section: str) -> list[list[str]]:
    """Data rows (those starting with a run id) of every Markdown table in a section."""
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("| ")]
    return [r for r in rows if re.fullmatch(r"[0-9a-f]{32}", r[0])]


def test_demo_bundle_sections_plots_and_one_quantile_definition(tmp_path: Path) -> None:
    """One run per recipe: the one-run comparison's sections."""
    done = subprocess.run([RUNNOTARY, "demo", "--workdir", str(tmp_path), "--timeout", "600", "--seeds", "1"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bundle = tmp_path / "bundle" / "demo-review"
    summary = (bundle / "ab_test_summary.md").read_text()
    decision = json.loads((bundle / "decision_metrics.json").read_text())

    # Table 2's p95 values subtract to table 3's Δp95 (both inverted CDF), in the JSON exactly and in the tables
    # to their printed precision.
    for candidate in decision["candidates"]:
        latency = candidate["ab"]["latency"]
        p95 = {run: m["latency_p95_ms"]["value"] for run, m in candidate["metrics"].items()}
        assert latency["delta_ms"] == p95[candidate["candidate_run"]] - p95[candidate["baseline_run"]]
        assert latency["quantiles"]["candidate"]["p95"] == p95[candidate["candidate_run"]]
    table2 = {r[0]: float(r[2]) for r in _rows(_section(summary, "### 2)")) if len(r) == 7 and r[2] != "—"}
    table3 = [r for r in _rows(_section(summary, "### 3)")) if len(r) == 10]
    assert len(table3) == 2
    for row in table3:
        assert abs((table2[row[0]] - table2[row[1]]) - float(row[6])) < 0.01 + 1e-3 * abs(float(row[6]))

    # Seed 002's A/B practice: SRM-style query-set check, drift with levels, power/MDE; p50/p95/p99.
    for title in ("#### Query sets (SRM-style check", "#### Drift of per-query scores", "#### Power (paired t"):
        assert title in summary and len(_rows(_section(summary, "### 3)").split(title)[1].split("####")[0])) >= 2
    for candidate in decision["candidates"]:
        ab = candidate["ab"]
        assert ab["query_sets"]["pass"] and ab["query_sets"]["n_missing"] == 0
        drift = ab["metrics"]["ndcg@10"]["drift"]
        assert set(drift) == {"psi", "psi_level", "ks_statistic", "ks_pvalue"} and drift["psi_level"] in {"stable", "moderate", "significant"}
        assert ab["metrics"]["ndcg@10"]["power"]["mde"] > 0
        assert set(ab["latency"]["quantiles"]["candidate"]) == {"p50", "p95", "p99"}
        ndcg = ab["metrics"]["ndcg@10"]
        assert ndcg["pvalue"] <= ndcg["pvalue_holm"] <= 1.0  # Holm-adjusted beside the raw one

    # MAP is reproduced from each run's TREC run and qrels, compared per query, and verify-bundle re-derives it
    # (and every other number) from the files in MLflow.
    for candidate in decision["candidates"]:
        ranked = candidate["ab"]["metrics"]["map"]
        assert ranked["inputs"]["candidate"]["recipe"]["extractor"] == "ranking"
        assert ranked["inputs"]["candidate"]["file"].endswith("trec/run.trec")
        assert ranked["inputs"]["candidate"]["recipe"]["qrels"].endswith("trec/qrels.txt")
        assert ranked["inputs"]["pairing"].startswith("inner join on query id")
    store = next(tmp_path.rglob("mlflow.db"))
    verified = subprocess.run([RUNNOTARY, "verify-bundle", str(bundle), "--tracking-uri", f"sqlite:///{store}"],
                              capture_output=True, text=True, timeout=600)
    assert verified.returncode == 0 and "reproduces" in verified.stdout, verified.stdout[-2000:] + verified.stderr[-3000:]

    # Every plot, the forest plot included, has content (pixel variance), not a blank canvas.
    plots = sorted((bundle / "plots").glob("*.png"))
    assert {"forest_plot.png", "ablation_bars.png", "latency_trend.png"} <= {p.name for p in plots}
    for plot in plots:
        pixels = imread(plot)[..., :3]
        assert float(np.var(pixels)) > 1e-3, f"{plot.name} is blank"


def test_demo_with_three_seed_runs_per_recipe_shows_every_seed_run_the_estimand_and_the_split(tmp_path: Path) -> None:
    done = subprocess.run([RUNNOTARY, "demo", "--workdir", str(tmp_path), "--timeout", "600"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    bundle = tmp_path / "bundle" / "demo-review"
    summary = (bundle / "ab_test_summary.md").read_text()
    decision = json.loads((bundle / "decision_metrics.json").read_text())
    table3 = _section(summary, "### 3)")
    seeds = _rows(table3.split("#### Seeds per arm")[1].split("####")[0])
    assert {(r[1], r[2], r[3]) for r in seeds} == {(m, "3/3", "E3") for m in ("ndcg@10", "compliance@1")}
    assert len(seeds) == 4 and all(float(r[7]) >= 0 and float(r[8]) >= 0 for r in seeds), "the variance split"
    per_seed = _rows(table3.split("#### Per-seed runs")[1].split("####")[0])
    assert len(per_seed) == 2 * 2 * 6, "each candidate, each per-query metric, every run of both arms"
    for candidate in decision["candidates"]:
        ab = candidate["ab"]
        assert len(ab["arms"]["candidate"]["runs"]) == len(ab["arms"]["baseline"]["runs"]) == 3
        assert {r[3] for r in per_seed if r[0] == candidate["candidate_run"]} == set(
            ab["arms"]["candidate"]["runs"] + ab["arms"]["baseline"]["runs"])
        latency = ab["latency"]  # the two-way bootstrap's estimate is the difference of the arms' pooled p95
        assert latency["delta_ms"] == latency["quantiles"]["candidate"]["p95"] - latency["quantiles"]["baseline"]["p95"]
        assert candidate["gate_status"]["arms"]["metrics"]["ndcg@10"]["estimand"] == "E3"
    assert {c["candidate_id"]: c["status"] for c in decision["candidates"]} == {
        "retrieval-cand-a": "pass", "retrieval-cand-b": "fail"}
    pixels = imread(bundle / "plots" / "forest_plot.png")[..., :3]
    assert float(np.var(pixels)) > 1e-3
