"""The seed's six output tables, rendered as Markdown from the evidence of one meeting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runnotary.bundles.comparison import Comparison
from runnotary.registry import Registration

__all__ = ["CandidateEvidence", "distinct_runs", "render_tables", "SUMMARY_METRICS", "BUNDLE_FILES"]

SUMMARY_METRICS = ("ndcg@10", "latency_p95_ms", "visual_ablation_drop_pct", "v1_v2_corr", "compliance@1")
BUNDLE_FILES = ("ab_test_summary.md", "decision_metrics.json", "artifact_index.json", "gate_status.json", "plots/")


@dataclass(frozen=True)
class CandidateEvidence:
    """Everything a meeting needs about one candidate."""

    candidate: Registration
    baseline: Registration | None
    comparison: Comparison | None
    gate_status: dict[str, Any]


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def distinct_runs(evidence: Sequence[CandidateEvidence]) -> list[Registration]:
    """Every run a meeting cites, once, each baseline before the first candidate paired with it."""
    runs: dict[str, Registration] = {}
    for item in evidence:
        if item.baseline is not None:
            runs.setdefault(item.baseline.run_id, item.baseline)
        runs[item.candidate.run_id] = item.candidate
    return list(runs.values())


def render_tables(evidence: Sequence[CandidateEvidence]) -> str:
    runs = distinct_runs(evidence)
    baseline_of = {e.candidate.run_id: e.baseline.run_id for e in evidence if e.baseline is not None}
    registry_rows = [
        (r.run_id, r.event.candidate_id, baseline_of.get(r.run_id), r.event.dataset.sha256[:12], r.event.seeds.value,
         r.event.code.git_commit[:10], r.event.environment.env_hash[:12], ",".join(r.event.owners),
         r.event.created_at.isoformat(timespec="seconds"))
        for r in runs
    ]
    metric_rows = []
    for r in runs:
        notes = [m.reason for m in r.metrics if m.reason] + [a.kind for a in r.alerts]
        values = [r.metric(name).value if r.metric(name) else None for name in SUMMARY_METRICS]  # type: ignore[union-attr]
        metric_rows.append((r.run_id, *values, "; ".join(str(n) for n in notes) or "verified"))
    ab_rows: list[tuple[object, ...]] = []
    for item in evidence:
        c = item.comparison
        if c is None:
            ab_rows.append((item.candidate.run_id, None, None, None, None, None, False, "no paired baseline"))
            continue
        ndcg = c.delta("ndcg@10") or {}
        ci = ndcg.get("ci95")
        paths = sorted({f"{e['run_id'][:8]}:{e['file']}" for e in ndcg.get("evidence", []) + (c.latency or {}).get("evidence", [])})
        ab_rows.append((c.candidate_run, c.baseline_run, ndcg.get("delta"), f"[{ci[0]:.4g}, {ci[1]:.4g}]" if ci else None,
                        ndcg.get("pvalue"), (c.latency or {}).get("delta_ms"), bool(ndcg.get("significance_pass")),
                        ", ".join(paths)))
    artifact_rows = [(a.run_id, a.kind, a.path, a.sha256[:16], a.viewer) for r in runs for a in r.artifacts]
    gates = json.dumps([item.gate_status for item in evidence], indent=2)
    return "\n\n".join([
        "### 1) Run registry\n\n" + _table(
            ["run_id", "candidate", "baseline_run", "dataset_hash", "seed", "commit", "env_hash", "owner", "created_at"],
            registry_rows),
        "### 2) Metrics summary (normalized, recomputed from artifacts)\n\n" + _table(["run_id", *SUMMARY_METRICS, "notes"], metric_rows),
        "### 3) A/B results\n\n" + _table(
            ["candidate_run", "baseline_run", "Δ ndcg@10", "CI95", "p-value", "Δ p95 (ms)", "pass_significance", "evidence_paths"],
            ab_rows),
        "### 4) Gate status (computed)\n\n```json\n" + gates + "\n```",
        "### 5) Artifact index\n\n" + _table(["run_id", "kind", "path", "sha256", "viewer"], artifact_rows),
        "### 6) Meeting bundle pointers\n\n" + "\n".join(f"* `bundle/{name}`" for name in BUNDLE_FILES),
    ])
