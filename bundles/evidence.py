"""The meeting evidence bundle: every number resolves to a file, its sha256 and a run_id."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from runnotary.bundles.tables import CandidateEvidence, distinct_runs, render_tables
from runnotary.registry import ArtifactError, Registration, Registry, read_latency_log, sha256_file
from runnotary.registry.models import SAFE_NAME

__all__ = ["Bundle", "closing_line", "write_bundle", "MEETING_ID"]

MEETING_ID = re.compile(SAFE_NAME)  # the contract's rule for meeting ids


@dataclass(frozen=True)
class Bundle:
    meeting_id: str
    path: Path
    overall: str
    files: dict[str, str]  # relative path -> sha256


def closing_line(meeting_id: str, overall: str) -> str:
    return (f"runnotary: bundle emitted for meeting_id={meeting_id} — all metrics trace to artifacts via run_id. "
            f"overall_gate_status={overall}")


def _cite(registration: Registration, path: str) -> dict[str, str]:
    record = registration.artifact(path)
    return {"run_id": registration.run_id, "file": path, "sha256": record.sha256 if record else ""}


def _decision_metrics(meeting_id: str, evidence: Sequence[CandidateEvidence], overall: str) -> dict[str, Any]:
    candidates = []
    for item in evidence:
        runs = [item.candidate] + ([item.baseline] if item.baseline else [])
        measured = {
            r.run_id: {
                m.name: {"value": m.value, "unit": m.unit, "status": m.status, **_cite(r, m.source)}
                for m in r.metrics if m.value is not None
            }
            for r in runs
        }
        candidates.append({
            "candidate_id": item.candidate.event.candidate_id,
            "candidate_run": item.candidate.run_id,
            "baseline_run": item.baseline.run_id if item.baseline else None,
            "metrics": measured,
            "ab": item.comparison.to_dict() if item.comparison else None,
            "gate_status": item.gate_status,
        })
    return {"meeting_id": meeting_id, "overall_gate_status": overall,
            "generated_at": datetime.now(timezone.utc).isoformat(), "candidates": candidates}


def _plots(registry: Registry, evidence: Sequence[CandidateEvidence], plots: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = distinct_runs(evidence)
    labels = [f"{r.event.candidate_id}\n{r.run_id[:8]}" for r in runs]

    drops = [(r.metric("visual_ablation_drop_pct").value if r.metric("visual_ablation_drop_pct") else 0.0) or 0.0  # type: ignore[union-attr]
             for r in runs]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.bar(labels, drops, color="#4c72b0")
    ax.axhline(5.0, color="#c44e52", linestyle="--", label="gate ≥ 5%")
    ax.set_ylabel("visual ablation drop (%)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(plots / "ablation_bars.png", dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, r in zip(labels, runs):
        log = next((a.path for a in r.artifacts if a.kind == "latency_log"), None)
        if log is None:
            continue
        values = read_latency_log(registry.fetch(r, log))
        window = max(1, len(values) // 50)
        trimmed = values[: len(values) // window * window].reshape(-1, window)
        ax.plot(np.quantile(trimmed, 0.95, axis=1), label=label.replace("\n", " "))
    ax.axhline(50.0, color="#c44e52", linestyle="--", label="gate < 50 ms")
    ax.set_xlabel("request window")
    ax.set_ylabel("p95 latency (ms)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(plots / "latency_trend.png", dpi=100)
    plt.close(fig)

    for item in evidence:
        for record in item.candidate.artifacts:
            if record.kind == "attention_plot":
                try:
                    source = registry.fetch(item.candidate, record.path)
                except ArtifactError:
                    continue
                shutil.copyfile(source, plots / f"{item.candidate.event.candidate_id}_{Path(record.path).name}")


def write_bundle(registry: Registry, root: Path, meeting_id: str, evidence: Sequence[CandidateEvidence]) -> Bundle:
    """Write ``root/<meeting_id>/`` atomically (a temporary sibling renamed into place)."""
    if not MEETING_ID.match(meeting_id):
        raise ValueError(f"meeting_id {meeting_id!r} is not a safe directory name")
    overall = "pass" if evidence and all(e.gate_status["overall"] == "pass" for e in evidence) else "fail"
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{meeting_id}.", dir=root))
    staging.chmod(0o755)
    try:
        (staging / "plots").mkdir()
        artifact_index = [
            {**a.to_dict(), "mlflow_uri": f"runs:/{a.run_id}/evidence/{a.path}"}
            for r in distinct_runs(evidence) for a in r.artifacts
        ]
        _dump(staging / "artifact_index.json", artifact_index)
        _dump(staging / "decision_metrics.json", _decision_metrics(meeting_id, evidence, overall))
        _dump(staging / "gate_status.json", [e.gate_status for e in evidence])
        _plots(registry, evidence, staging / "plots")
        summary = (f"# A/B evidence for meeting `{meeting_id}`\n\n" + render_tables(evidence)
                   + "\n\n" + closing_line(meeting_id, overall) + "\n")
        (staging / "ab_test_summary.md").write_text(summary)
        files = {str(p.relative_to(staging)): sha256_file(p)[0] for p in sorted(staging.rglob("*")) if p.is_file()}
        target = root / meeting_id
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{meeting_id}.old.", dir=root))
            os.replace(target, old / "bundle")
            os.replace(staging, target)
            shutil.rmtree(old)
        else:
            os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Bundle(meeting_id, target.resolve(), overall, files)


def _dump(path: Path, data: object) -> None:
    with path.open("w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
