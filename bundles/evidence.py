"""The meeting evidence bundle: every number resolves to a file, its sha256, a run_id and a place in the file.

Re-emitting a meeting with unchanged inputs writes identical bytes: nothing in the bundle
depends on the wall clock, dictionaries keep their insertion order and plots carry no
timestamp. ``runnotary verify-bundle`` re-checks a bundle against MLflow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from runnotary.bundles import recipes
from runnotary.bundles.arms import seed_points
from runnotary.bundles.comparison import PAIRED_METRICS
from runnotary.bundles.gates import status_dict
from runnotary.bundles.page import PAGE, render_page
from runnotary.bundles.policy import DEFAULT_POLICY, GatePolicy, GateRule
from runnotary.bundles.results import LatencyEntry, MetricEntry
from runnotary.bundles.tables import CandidateEvidence, distinct_runs, render_tables
from runnotary.contract import SAFE_NAME
from runnotary.digests import sha256_file
from runnotary.errors import redact
from runnotary.registry import ArtifactError, Registration, Registry, spec_for
from runnotary.registry.mlflow_access import MLFLOW_ERRORS, tracking_error

__all__ = ["Bundle", "BUNDLES_EXPERIMENT", "SCHEMA_VERSION", "closing_line", "where_in_file", "log_bundle",
           "write_bundle", "MEETING_ID", "PLOTS", "public_uri", "source_record"]

MEETING_ID = re.compile(SAFE_NAME)  # the contract's rule for meeting ids
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]*@")  # URL userinfo: credentials
SCHEMA_VERSION = "decision_metrics.v1"
BUNDLES_EXPERIMENT = "runnotary-bundles"
PLOTS = ("ablation_bars.png", "latency_trend.png", "forest_plot.png")


@dataclass(frozen=True)
class Bundle:
    meeting_id: str
    path: Path
    overall: Literal["pass", "fail"]
    files: dict[str, str]  # relative path -> sha256
    candidates: dict[str, Literal["pass", "fail"]] = field(default_factory=dict)  # candidate_id -> status


def closing_line(meeting_id: str, overall: str) -> str:
    return (f"runnotary: bundle emitted for meeting_id={meeting_id} — all metrics trace to artifacts via run_id. "
            f"overall_gate_status={overall}")


def statuses(evidence: Sequence[CandidateEvidence], unknown: Collection[str]) -> tuple[Literal["pass", "fail"], dict[str, Literal["pass", "fail"]]]:
    """The meeting's overall status and each candidate's, in one place: a candidate not evaluated fails."""
    per: dict[str, Literal["pass", "fail"]] = {e.candidate.event.candidate_id: e.gate_status.overall for e in evidence}
    per.update({candidate_id: "fail" for candidate_id in unknown})
    overall: Literal["pass", "fail"] = "pass" if per and all(s == "pass" for s in per.values()) else "fail"
    return overall, per


def public_uri(uri: str) -> str:
    """``uri`` with its userinfo dropped and any other credential redacted: what a bundle may record.

    MLflow reads credentials from MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN, so the URI without
    them still opens the store for a reader who has their own.
    """
    return redact(_USERINFO.sub(r"\g<scheme>", uri))


def source_record(registry: Registry) -> dict[str, str]:
    """The ``source`` of decision_metrics.json: the store the bundle was built from and the runnotary version."""
    from runnotary import __version__

    return {"mlflow_tracking_uri": public_uri(str(registry.client.tracking_uri)), "runnotary_version": __version__}


def where_in_file(name: str, path: str, recipe: dict[str, Any] | None = None) -> dict[str, Any]:
    """Where a catalog metric is read in its file, for a reader and for ``verify-bundle``.

    A metric reproduced from a run and qrels (``recipe`` as its record holds it) is described by the
    catalog's ranking recipe and the qrels it was scored against.
    """
    spec = spec_for(name)
    file = Path(path).name
    if recipe is not None and recipe.get("extractor") == "ranking":
        ranking = spec.recipe_for("trec_run")
        if ranking is None:
            raise ArtifactError(f"{name} has no ranking recipe in the catalog")
        params = {**ranking.parameters(), "qrels": recipe.get("qrels"), "qrels_sha256": recipe.get("qrels_sha256")}
        params["provenance"] = params.pop("from")
        cut = f"@{params['k']}" if params["k"] else ""
        return {**params, "recipe": f"trec_eval 9.0.8 {params['measure']}{cut} of {file} against {params['qrels']}"
                          f" (relevance level {params['relevance_level']}{', -c' if params['complete'] else ''})"}
    base = {"extractor": spec.extractor, "argument": spec.argument, "provenance": spec.recipes[0].provenance}
    if spec.extractor == "column_mean":
        return {**base, "column": spec.argument, "recipe": f"mean of column {spec.argument!r} of {file}"}
    if spec.extractor == "classification":
        r = spec.recipes[0]
        return {**base, "kind": r.kind, "measure": r.measure, "positive_label": r.positive_label, "threshold": r.threshold,
                "recipe": f"{r.measure} of the per-example predictions and labels of {file}"}
    if spec.extractor == "log_quantile":
        q = float(spec.argument or 0.0)
        return {**base, "column": 3,
                "recipe": f"p{q * 100:g} of column 3 of {file}, {recipes.QUANTILE_METHOD.replace('_', '-')}"}
    if spec.extractor == "ablation_drop_pct":
        return {**base, "json_pointers": ["/full", "/ablated"], "recipe": f"(/full - /ablated) / /full * 100 of {file}"}
    return {**base, "json_pointers": ["/v1", "/v2"], "recipe": f"Pearson correlation of /v1 and /v2 of {file}"}


def _numbers(run: Registration, quarantined: frozenset[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    numbers: dict[str, Any] = {}
    failed: list[dict[str, Any]] = []
    for m in run.metrics:
        if m.value is None:
            failed.append({"run_id": run.run_id, "metric": m.name, "uuid": m.uuid, "claimed": m.claimed, "unit": m.unit,
                           "file": m.source, "status": m.status, "reason": m.reason or "not recomputed"})
            continue
        record = run.artifact(m.source)
        numbers[m.name] = {
            "value": m.value, "unit": m.unit, "status": m.status, "uuid": m.uuid, "claimed": m.claimed,
            "quarantined": m.uuid in quarantined,
            "run_id": run.run_id, "file": m.source, "sha256": record.sha256 if record else m.source_sha256,
            "where": where_in_file(m.name, m.source, m.recipe),
        }
    return numbers, failed


def _decision_metrics(meeting_id: str, evidence: Sequence[CandidateEvidence], unknown: Mapping[str, str],
                      overall: str, per: dict[str, Literal["pass", "fail"]], source: dict[str, str]) -> dict[str, Any]:
    candidates = []
    for item in evidence:
        runs = [item.candidate] + ([item.baseline] if item.baseline else [])
        measured: dict[str, Any] = {}
        failed: list[dict[str, Any]] = []
        for r in runs:
            measured[r.run_id], lost = _numbers(r, item.quarantined)
            failed += lost
        candidates.append({
            "candidate_id": item.candidate.event.candidate_id,
            "status": per[item.candidate.event.candidate_id],
            "candidate_run": item.candidate.run_id,
            "baseline_run": item.baseline.run_id if item.baseline else None,
            "metrics": measured,
            "failed_metrics": failed,
            "ab": item.comparison.to_dict() if item.comparison else None,
            "gate_status": status_dict(item.gate_status),
            "hygiene": [a.model_dump(mode="json") for a in item.flags],
        })
    return {
        "schema_version": SCHEMA_VERSION,
        "meeting_id": meeting_id,
        "source": source,
        "overall_gate_status": overall,
        "quantile_definition": recipes.QUANTILE_DEFINITION,
        "candidates": candidates,
        "unknown_candidates": [{"candidate_id": c, "status": "fail", "reason": reason} for c, reason in unknown.items()],
    }


def bar_values(runs: Sequence[Registration], metric: str) -> tuple[list[tuple[str, float]], list[str]]:
    """``(label, value)`` of the runs with a recomputed ``metric``, and the candidate ids of those without:
    a metric that could not be recomputed is named on the plot, never drawn as 0."""
    shown: list[tuple[str, float]] = []
    absent: list[str] = []
    for r in runs:
        record = r.metric(metric)
        if record is None or record.value is None:
            absent.append(r.event.candidate_id)
        else:
            shown.append((f"{r.event.candidate_id}\n{r.run_id[:8]}", record.value))
    return shown, absent


#: Where a rule on a difference is read from; the forest plot draws those rules' thresholds.
DELTA_SOURCES = ("delta", "delta_ci95_lower", "delta_ci95_upper")


def threshold_rules(policy: GatePolicy, evidence: Sequence[CandidateEvidence], metric: str,
                    sources: Collection[str]) -> list[GateRule]:
    """The policy's rules on ``metric`` read from one of ``sources``, for the meeting's candidates (their
    experiment and domain overrides included), each once: the threshold lines a plot draws."""
    rules: dict[str, GateRule] = {}
    for item in evidence:
        event = item.candidate.event
        for gate in policy.gates_for(event.experiment, event.tags.domain):
            for rule in gate.rules:
                if rule.metric == metric and rule.source in sources:
                    rules.setdefault(rule.label, rule)
    return list(rules.values())


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "runnotary"
    return plt


def ablation_figure(runs: Sequence[Registration], rules: Sequence[GateRule]) -> Any:
    """Each run's visual ablation drop, with the policy's thresholds on it."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.5))
    shown, absent = bar_values(runs, "visual_ablation_drop_pct")
    if shown:
        ax.bar([s[0] for s in shown], [s[1] for s in shown], color="#4c72b0")
    if absent:
        ax.text(0.01, 0.97, "no recomputed value: " + ", ".join(absent), transform=ax.transAxes, va="top", fontsize=7)
    for rule in rules:
        ax.axhline(rule.threshold, color="#c44e52", linestyle="--", label=f"gate: {rule.label}")
    ax.set_ylabel("visual ablation drop (%)")
    if rules:
        ax.legend(loc="upper right")
    fig.tight_layout()
    return fig


def latency_series(registry: Registry, runs: Sequence[Registration]) -> list[tuple[str, np.ndarray]]:
    """Each run's p95 latency over about 50 windows of its log; a run whose log cannot be read is left out
    (the tables and decision_metrics.json say why)."""
    series = []
    for r in runs:
        log = next((a.path for a in r.artifacts if a.kind == "latency_log"), None)
        if log is None:
            continue
        try:
            values = registry.latency_log(r, log)
        except ArtifactError:
            continue
        window = max(1, len(values) // 50)
        trimmed = values[: len(values) // window * window].reshape(-1, window)
        series.append((f"{r.event.candidate_id} {r.run_id[:8]}", np.quantile(trimmed, 0.95, axis=1, method=recipes.QUANTILE_METHOD)))
    return series


def latency_figure(series: Sequence[tuple[str, np.ndarray]], rules: Sequence[GateRule]) -> Any:
    """The windowed p95 of each run, with the policy's thresholds on the absolute p95."""
    fig, ax = _pyplot().subplots(figsize=(6, 3.5))
    for label, p95 in series:
        ax.plot(p95, label=label)
    for rule in rules:
        ax.axhline(rule.threshold, color="#c44e52", linestyle="--", label=f"gate: {rule.label}")
    ax.set_xlabel("request window")
    ax.set_ylabel("p95 latency (ms, inverted CDF)")
    if series or rules:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def forest_figure(evidence: Sequence[CandidateEvidence], policy: GatePolicy) -> Any:
    """Every metric's candidate-minus-baseline delta with its CI, one panel per metric (units differ), with
    the thresholds of the policy's rules on that delta."""
    panels = [*PAIRED_METRICS, "latency_p95_ms"]
    fig, axes = _pyplot().subplots(1, len(panels), figsize=(4 * len(panels), 1.2 + 0.6 * max(1, len(evidence))),
                                   squeeze=False)
    for ax, metric in zip(axes[0], panels):
        for row, item in enumerate(evidence):
            c = item.comparison
            entry: MetricEntry | LatencyEntry | None = (
                (c.latency if metric == "latency_p95_ms" else c.delta(metric)) if c is not None else None)
            if entry is None:
                ax.text(0.0, row, "n/a", ha="center", va="center", fontsize=8, color="#777777")
                continue
            low, high = entry.ci95
            ax.errorbar([entry.delta], [row], xerr=[[entry.delta - low], [high - entry.delta]], fmt="o",
                        color="#4c72b0", capsize=4)
            for arm, x in seed_points(entry):  # each seed run against the baseline arm's mean: candidate above, baseline below
                ax.plot([x], [row + (0.2 if arm == "candidate" else -0.2)], "." if arm == "candidate" else "x",
                        color="#4c72b0" if arm == "candidate" else "#777777", markersize=5)
        ax.axvline(0.0, color="#444444", linewidth=0.8)
        rules = threshold_rules(policy, evidence, metric, DELTA_SOURCES)
        for rule in rules:
            ax.axvline(rule.threshold, color="#c44e52", linestyle="--", linewidth=0.8, label=rule.label)
        if rules:
            ax.legend(fontsize=7)
        ax.set_yticks(range(len(evidence)), [e.candidate.event.candidate_id for e in evidence])
        ax.set_ylim(-0.7, len(evidence) - 0.3)
        ax.set_title(f"Δ {metric} (CI95)", fontsize=9)
    fig.tight_layout()
    return fig


def _plots(registry: Registry, evidence: Sequence[CandidateEvidence], plots: Path, policy: GatePolicy) -> None:
    plt = _pyplot()
    save: dict[str, Any] = {"dpi": 100, "metadata": {"Software": None}}
    runs = distinct_runs(evidence)
    figures = (
        ablation_figure(runs, threshold_rules(policy, evidence, "visual_ablation_drop_pct", ("metric",))),
        latency_figure(latency_series(registry, runs), threshold_rules(policy, evidence, "latency_p95_ms", ("metric",))),
        forest_figure(evidence, policy),
    )
    for name, fig in zip(PLOTS, figures):
        fig.savefig(plots / name, **save)
        plt.close(fig)

    for item in evidence:
        for record in item.candidate.artifacts:
            if record.kind == "attention_plot":
                try:
                    source = registry.fetch(item.candidate, record.path)
                except ArtifactError:
                    continue
                shutil.copyfile(source, plots / f"{item.candidate.event.candidate_id}_{Path(record.path).name}")


def write_bundle(registry: Registry, root: Path, meeting_id: str, evidence: Sequence[CandidateEvidence],
                 unknown: Mapping[str, str] | None = None, policy: GatePolicy = DEFAULT_POLICY, *,
                 ui_url: str | None = None) -> Bundle:
    """Write ``root/<meeting_id>/`` atomically (a temporary sibling renamed into place).

    ``unknown`` maps the requested candidates the meeting could not evaluate (no registered run, or
    evidence that could not be read) to the reason: they appear in the bundle with it and fail it. The
    plots draw the thresholds of ``policy``, the one the gates were evaluated under. ``ui_url`` (the
    MLflow UI) turns the run ids of ``index.html`` into links. The returned statuses are the ones
    written, so ``bundles.emitted`` cannot disagree.
    """
    if not MEETING_ID.match(meeting_id):
        raise ValueError(f"meeting_id {meeting_id!r} is not a safe directory name")
    unknown = dict(unknown or {})
    overall, per = statuses(evidence, unknown)
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
        decision = _decision_metrics(meeting_id, evidence, unknown, overall, per, source_record(registry))
        _dump(staging / "decision_metrics.json", decision)
        _dump(staging / "gate_status.json", [status_dict(e.gate_status) for e in evidence])
        _plots(registry, evidence, staging / "plots", policy)
        (staging / PAGE).write_text(render_page(decision, evidence, staging / "plots", closing_line(meeting_id, overall),
                                                ui_url=ui_url))
        summary = (f"# A/B evidence for meeting `{meeting_id}`\n\n" + render_tables(evidence, meeting_id, unknown)
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
    return Bundle(meeting_id, target.resolve(), overall, files, per)


def log_bundle(registry: Registry, bundle: Bundle) -> str:
    """Log the bundle's files to MLflow: one run per meeting in the ``runnotary-bundles`` experiment
    (re-emitting a meeting replaces its files on the same run). Returns the run id.

    Raises ``TrackingUnavailable`` when MLflow does not answer (re-emitting is idempotent, so the
    meeting is retried), ``RegistryError`` with MLflow's reason when it refuses (a 403, a 400): retrying
    would not change the answer.
    """
    try:
        return _log_bundle(registry, bundle)
    except MLFLOW_ERRORS as exc:
        raise tracking_error(exc, f"log the bundle of meeting {bundle.meeting_id}") from exc


def _log_bundle(registry: Registry, bundle: Bundle) -> str:
    client = registry.client
    experiment_id = registry.experiment_id(BUNDLES_EXPERIMENT)
    runs = client.search_runs([experiment_id], f"tags.`runnotary.meeting_id` = '{bundle.meeting_id}'", max_results=1)
    run_id = runs[0].info.run_id if runs else client.create_run(
        experiment_id, run_name=bundle.meeting_id, tags={"runnotary.meeting_id": bundle.meeting_id}).info.run_id
    client.log_artifacts(run_id, str(bundle.path), "bundle")
    client.set_tag(run_id, "runnotary.overall_gate_status", bundle.overall)
    client.set_tag(run_id, "runnotary.decision_metrics_sha256", bundle.files.get("decision_metrics.json", ""))
    client.set_terminated(run_id, "FINISHED")  # the meeting's files are all logged (a re-emission reopens nothing)
    return run_id


def _dump(path: Path, data: object) -> None:
    with path.open("w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
