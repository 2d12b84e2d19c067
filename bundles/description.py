"""What a reviewer reads on the candidate's MLflow run page: the decision as its description.

MLflow shows the ``mlflow.note.content`` tag (Markdown) as the run's Description. It states the
overall gate status, each gate with its observation and rule, the Δ and CI of each metric with its
estimand, the baseline run, and where the evidence files are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from runnotary.bundles.results import Comparison
from runnotary.contract import MLFLOW_TAG_VALUE_MAX, GateStatus
from runnotary.registry import Registration

__all__ = ["NOTE_TAG", "UI_QUERY", "decision_note", "estimand", "run_route"]

NOTE_TAG = "mlflow.note.content"
#: MLflow 3.17's UI shows an experiment as GenAI or model training by its ``workflowType`` URL
#: parameter (then remembered per browser), not by the experiment's ``mlflow.experimentKind`` tag:
#: every link runnotary writes into the UI carries it, so it opens on runs.
UI_QUERY = "?workflowType=machine_learning"


def estimand(boot: Mapping[str, Any], q: float | None = None) -> str:
    """What a Δ estimates (of the ``q`` quantile of latencies, or of per-query means), and how its interval
    was drawn (``boot``, its bootstrap's record)."""
    drawn = f"{boot.get('method', '?')} bootstrap, {boot.get('n_resamples', '?')} resamples, random_state {boot.get('random_state', '?')}"
    if q is not None:
        return f"difference of p{float(q) * 100:g} latencies (inverted CDF), candidate − baseline; {drawn}"
    return f"mean of per-query differences (candidate − baseline), paired on query_id; {drawn}"


def number_text(value: Any, digits: int = 4) -> str:
    """A number as a reader sees it: ``—`` for none, yes/no, floats to ``digits`` significant digits."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def run_route(experiment_id: str, run_id: str, artifact: str | None = None) -> str:
    """The MLflow UI's own (hash) route to a run or one of its artifacts, opening on model training."""
    route = f"#/experiments/{quote(experiment_id)}/runs/{quote(run_id)}"
    return route + (f"/artifactPath/{quote(artifact)}" if artifact else "") + UI_QUERY


def _file(run: Registration, path: str) -> str:
    """A link to one of the run's artifacts in the MLflow UI (relative: it works wherever the UI is
    served), shown as its ``runs:/`` URI."""
    return f"[`runs:/{run.run_id}/{path}`]({run_route(run.experiment_id, run.run_id, path)})"


def decision_note(candidate: Registration, baseline: Registration, comparison: Comparison,
                  status: GateStatus, gate_status_path: str, ab_result_path: str) -> str:
    """The Markdown description of a paired candidate's run (at most MLflow's tag length)."""
    overall = status.overall.upper()
    lines = [
        f"## runnotary: gates {overall}",
        "",
        f"Candidate **{candidate.event.candidate_id}** paired with baseline run [`{baseline.run_id}`]({run_route(baseline.experiment_id, baseline.run_id)}) "
        f"({baseline.event.candidate_id}, {baseline.event.run_name}) on dataset `{candidate.event.dataset.sha256[:16]}…`, "
        f"seed family `{candidate.event.seeds.family}`. A meeting evaluates the gates again under its policy "
        "and quarantine; its bundle is the decision of record.",
        "",
        "### Gates",
        "",
        "| gate | observed | rule | result |",
        "| --- | --- | --- | --- |",
    ]
    for name, gate in status.gates.items():
        result = "pass" if gate.pass_ else "**fail**" + (f" ({gate.reason})" if gate.reason else "")
        lines.append(f"| {name} | {number_text(gate.obs)} | `{gate.rule}` | {result} |")
    lines += ["", "### A/B (candidate − baseline)", "",
              "| metric | Δ | CI95 | p-value (Holm) | estimand |", "| --- | --- | --- | --- | --- |"]
    for metric, entry in comparison.metrics.items():
        low, high = entry.ci95
        p = f"{number_text(entry.pvalue)} ({number_text(entry.pvalue_holm)})"
        lines.append(f"| {metric} | {number_text(entry.delta)} | [{number_text(low)}, {number_text(high)}] | {p} | {estimand(entry.statistics.get('bootstrap') or {})} |")
    if comparison.latency is not None:
        lat = comparison.latency
        low, high = lat.ci95
        lines.append(f"| {lat.metric} | {number_text(lat.delta)} | [{number_text(low)}, {number_text(high)}] | — | "
                     f"{estimand(lat.statistics.get('bootstrap') or {}, lat.q)} |")
    for metric, why in comparison.failed.items():
        lines.append(f"| {metric} | — | — | — | not computed: {why} |")
    lines += ["", "### Evidence", "",
              f"- gate status: {_file(candidate, gate_status_path)}",
              f"- every statistic with its inputs, parameters and random_state: {_file(candidate, ab_result_path)}"]
    for a in candidate.artifacts:
        lines.append(f"- {a.kind}: {_file(candidate, 'evidence/' + a.path)} (sha256 `{a.sha256[:16]}…`)")
    for a in baseline.artifacts:
        lines.append(f"- baseline {a.kind}: {_file(baseline, 'evidence/' + a.path)} (sha256 `{a.sha256[:16]}…`)")
    note = "\n".join(lines) + "\n"
    if len(note) > MLFLOW_TAG_VALUE_MAX:
        cut = note[: MLFLOW_TAG_VALUE_MAX - 60].rsplit("\n", 1)[0]
        note = cut + f"\n\n(truncated; the full list is in `{ab_result_path}`)\n"
    return note
