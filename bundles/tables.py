"""The seed's six output tables, plus seed 002's A/B checks, rendered as Markdown for one meeting."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from runnotary.bundles.results import Comparison, LatencyEntry, MetricEntry
from runnotary.bundles.gates import status_dict
from runnotary.contract import Alert, GateStatus
from runnotary.registry import Registration

__all__ = ["CandidateEvidence", "cell", "distinct_runs", "render_tables", "SUMMARY_METRICS", "BUNDLE_FILES"]

SUMMARY_METRICS = ("ndcg@10", "latency_p95_ms", "visual_ablation_drop_pct", "v1_v2_corr", "compliance@1")
BUNDLE_FILES = ("index.html", "ab_test_summary.md", "decision_metrics.json", "artifact_index.json", "gate_status.json",
                "plots/forest_plot.png", "plots/ablation_bars.png", "plots/latency_trend.png")


@dataclass(frozen=True)
class CandidateEvidence:
    """Everything a meeting needs about one candidate.

    ``quarantined`` holds metric uuids seen with two values across the meeting's runs; ``flags``
    the hygiene alerts raised again for this meeting (quarantine, stale runs).
    """

    candidate: Registration
    baseline: Registration | None
    comparison: Comparison | None
    gate_status: GateStatus
    quarantined: frozenset[str] = frozenset()
    flags: tuple[Alert, ...] = ()


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(cell(v).replace("|", "\\|") for v in row) + " |" for row in rows]
    return "\n".join(lines)


def cell(value: object, spec: str = ".4g") -> str:
    """One table cell as text: a dash for no value, a float to ``spec``, a pair of floats as an interval."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return format(value, spec)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return f"[{value[0]:.4g}, {value[1]:.4g}]"
    return str(value)


def _provenance_rows(runs: Sequence[Registration]) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for r in runs:
        for m in r.metrics:
            recipe = m.recipe or {}
            if recipe.get("extractor") == "ranking":
                cut = f"@{recipe['k']}" if recipe.get("k") else ""
                how = (f"trec_eval 9.0.8 {recipe.get('measure')}{cut} of {m.source} against {recipe.get('qrels')}"
                       f"{' (-c)' if recipe.get('complete') else ''}")
            else:
                how = f"{recipe.get('extractor', '?')} of {m.source}"
            rows.append((r.run_id, m.name, m.value, str(recipe.get("from", "?")).replace("_", " "), how))
    return rows


def _ci(entry: MetricEntry | LatencyEntry | None) -> str | None:
    return f"[{entry.ci95[0]:.4g}, {entry.ci95[1]:.4g}]" if entry is not None else None


def _seed_rows(c: Comparison) -> list[tuple[object, ...]]:
    """Table 3's seed-run rows: one per per-query metric; a one-run comparison is E1 with one seed a side."""
    rows: list[tuple[object, ...]] = []
    for name, entry in c.metrics.items():
        if not entry.arms:  # the one-run comparison: E1, the paired bootstrap's interval
            rows.append((c.candidate_run, name, "1/1", "E1", entry.delta, _ci(entry), None, None, None, None,
                         (entry.statistics.get("power") or {}).get("mde"), None, None, "retraining_variance_not_covered"))
            continue
        x = entry.statistics["crossed"]
        ms = "/".join(cell(v) for v in (x["residual_ms_candidate"], x["residual_ms_baseline"]))
        rows.append((c.candidate_run, name, f"{x['seeds_candidate']}/{x['seeds_baseline']}", x["estimand"], x["delta"],
                     _ci(entry), x["df"], x["variance_seeds"], x["variance_items"], ms, x["mde"], x["prob_improvement"],
                     entry.statistics["run_swap"]["pvalue"], ", ".join(x["warnings"]) or None))
    return rows


def distinct_runs(evidence: Sequence[CandidateEvidence]) -> list[Registration]:
    """Every run a meeting cites, once, each baseline before the first candidate paired with it."""
    runs: dict[str, Registration] = {}
    for item in evidence:
        if item.baseline is not None:
            runs.setdefault(item.baseline.run_id, item.baseline)
        runs[item.candidate.run_id] = item.candidate
    return list(runs.values())


def render_tables(evidence: Sequence[CandidateEvidence], meeting_id: str, unknown: Mapping[str, str] | None = None) -> str:
    """The Markdown tables; ``unknown`` maps each candidate the meeting could not evaluate to the reason."""
    unknown = unknown or {}
    runs = distinct_runs(evidence)
    quarantined = frozenset().union(*(e.quarantined for e in evidence)) if evidence else frozenset()
    baseline_of = {e.candidate.run_id: e.baseline.run_id for e in evidence if e.baseline is not None}
    registry_rows: list[tuple[object, ...]] = [
        (r.run_id, r.event.candidate_id, baseline_of.get(r.run_id), r.event.dataset.sha256[:12], r.event.seeds.value,
         r.event.code.git_commit[:10], r.event.environment.env_hash[:12], ",".join(r.event.owners),
         r.event.created_at.isoformat(timespec="seconds"))
        for r in runs
    ]
    registry_rows += [(None, c, None, None, None, None, None, None, f"not evaluated: {reason}") for c, reason in unknown.items()]
    metric_rows = []
    for r in runs:
        notes = [m.reason for m in r.metrics if m.reason] + [a.kind for a in r.alerts]
        notes += [f"quarantined {m.name}" for m in r.metrics if m.uuid in quarantined]
        values = [r.metric(name).value if r.metric(name) else None for name in SUMMARY_METRICS]  # type: ignore[union-attr]
        metric_rows.append((r.run_id, *values, "; ".join(str(n) for n in notes) or "verified"))
    latency_rows = []
    for item in evidence:
        latency = item.comparison.latency if item.comparison is not None else None
        if latency is None:
            continue
        for role, run_id in (("candidate", item.comparison.candidate_run), ("baseline", item.comparison.baseline_run)):  # type: ignore[union-attr]
            q, cited = latency.quantiles[role], latency.inputs[role]
            recipe = cited["recipe"] if isinstance(cited, dict) else f"the arm's {len(cited)} seed runs pooled, inverted CDF"
            latency_rows.append((run_id, role, q["p50"], q["p95"], q["p99"], recipe))
    ab_rows: list[tuple[object, ...]] = []
    srm_rows: list[tuple[object, ...]] = []
    drift_rows: list[tuple[object, ...]] = []
    power_rows: list[tuple[object, ...]] = []
    seed_rows: list[tuple[object, ...]] = []
    per_run_rows: list[tuple[object, ...]] = []
    for item in evidence:
        c = item.comparison
        if c is None:
            ab_rows.append((item.candidate.run_id, None, None, None, None, None, None, None, False, "no paired baseline"))
            continue
        ndcg, latency = c.delta("ndcg@10"), c.latency
        cited = [*(ndcg.evidence if ndcg else ()), *(latency.evidence if latency else ())]
        paths = sorted({f"{e['run_id'][:8]}:{e['file']}" for e in cited})
        ab_rows.append((c.candidate_run, c.baseline_run, ndcg and ndcg.delta, _ci(ndcg), ndcg and ndcg.pvalue,
                        ndcg and ndcg.pvalue_holm, latency and latency.delta, _ci(latency),
                        bool(ndcg and ndcg.significance_pass), ", ".join(paths)))
        qs = c.query_sets
        if qs is not None:
            srm_rows.append((c.candidate_run, qs["n_candidate"], qs["n_baseline"], qs["n_common"], qs["n_missing"],
                             qs["n_extra"], qs["srm"]["pvalue"], "pass" if qs["pass"] else "FAIL"))
        seed_rows += _seed_rows(c)
        per_run_rows += [(c.candidate_run, name, r["arm"], r["run_id"], r["seed"], r["mean"])
                         for name, entry in c.metrics.items() for r in entry.per_run]
        for name, entry in c.metrics.items():
            if "drift" not in entry.statistics:  # a whole-set statistic (F1, ROC AUC) or seed-run arms: no drift or power
                continue
            d, p = entry.statistics["drift"], entry.statistics["power"]
            drift_rows.append((c.candidate_run, name, d["psi"], d["psi_level"], d["ks_statistic"], d["ks_pvalue"]))
            power_rows.append((c.candidate_run, name, p["n"], p["sd_diff"], p["mde"], entry.delta, p["power_at_observed_delta"]))
    artifact_rows = [(a.run_id, a.kind, a.path, a.sha256[:16], a.viewer) for r in runs for a in r.artifacts]
    gates = json.dumps([status_dict(item.gate_status) for item in evidence], indent=2)
    return "\n\n".join([
        "### 1) Run registry\n\n" + _table(
            ["run_id", "candidate", "baseline_run", "dataset_hash", "seed", "commit", "env_hash", "owner", "created_at"],
            registry_rows),
        "### 2) Metrics summary (normalized, recomputed from artifacts)\n\n" + _table(["run_id", *SUMMARY_METRICS, "notes"], metric_rows)
        + "\n\nHow each number was reproduced: from the raw evaluation logs (a run and its qrels, a request log) "
        "or from values the job reported (per query, or a summary file).\n\n"
        + _table(["run_id", "metric", "value", "reproduced from", "recipe"], _provenance_rows(runs))
        + "\n\nLatency quantiles (ms), one definition everywhere: inverted CDF (Hyndman-Fan type 1).\n\n"
        + _table(["run_id", "role", "p50", "p95", "p99", "recipe"], latency_rows),
        "### 3) A/B results\n\n" + _table(
            ["candidate_run", "baseline_run", "Δ ndcg@10", "CI95", "p-value", "p-value (Holm)", "Δ p95 (ms)", "Δ p95 CI95",
             "pass_significance", "evidence_paths"],
            ab_rows)
        + "\n\n#### Seeds per arm, estimand and variance split (E1: these runs over queries; E2: the recipes on "
          "these queries, over retraining; E3: the recipes over retraining and queries)\n\n"
        + _table(["candidate_run", "metric", "seeds (cand/base)", "estimand", "Δ", "CI95", "df", "var: seeds",
                  "var: query×arm", "residual MS (cand/base)", "MDE", "P(run improves)", "run-swap p", "warnings"], seed_rows)
        + "\n\n#### Per-seed runs (mean per-query score of each run)\n\n"
        + _table(["candidate_run", "metric", "arm", "run_id", "seed", "mean"], per_run_rows)
        + "\n\n#### Query sets (SRM-style check: both runs scored the same queries)\n\n"
        + _table(["candidate_run", "candidate queries", "baseline queries", "common", "missing", "extra", "SRM p", "status"], srm_rows)
        + "\n\n#### Drift of per-query scores (PSI: < 0.1 stable, 0.1–0.25 moderate, ≥ 0.25 significant; KS)\n\n"
        + _table(["candidate_run", "metric", "PSI", "level", "KS D", "KS p"], drift_rows)
        + "\n\n#### Power (paired t, α = 0.05, target power 0.8, at the observed n)\n\n"
        + _table(["candidate_run", "metric", "n", "sd of differences", "MDE", "observed Δ", "power at observed Δ"], power_rows),
        "### 4) Gate status (computed)\n\n```json\n" + gates + "\n```",
        "### 5) Artifact index\n\n" + _table(["run_id", "kind", "path", "sha256", "viewer"], artifact_rows),
        "### 6) Meeting bundle pointers\n\n" + "\n".join(f"* `bundle/{meeting_id}/{name}`" for name in BUNDLE_FILES),
    ])
