"""The command-line answers as tables a person reads: a command's reply and a run's status."""

from __future__ import annotations

from typing import Any

__all__ = ["render_reply", "render_status"]


def _table(header: list[str], rows: list[list[object]]) -> str:
    cells = [header, *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    from runnotary.bundles.tables import cell

    return cell(value, ".6g")


def render_reply(command: str, result: dict[str, Any]) -> str:
    """A reply's result as tables a person reads."""
    from runnotary.bundles.verify import verify_command

    parts: list[str] = []
    if command == "register_run":
        parts.append(_table(["run_id", "candidate", "role", "experiment_id"],
                            [[result["run_id"], result["candidate_id"], result["role"], result["experiment_id"]]]))
        parts.append(_table(["metric", "claimed", "recomputed", "unit", "status"],
                            [[n, m["claimed"], m["value"], m["unit"], m["status"]] for n, m in result["metrics"].items()]))
        if result["alerts"]:
            parts.append(_table(["alert", "severity", "message"], [[a["kind"], a["severity"], a["message"]] for a in result["alerts"]]))
        parts += [_render_gates(status) for status in result["gate_status"]]
    elif command in ("pair_ab", "gate_check"):
        parts.append(_table(["candidate_run", "baseline_run", "candidate"],
                            [[result["candidate_run"], result["baseline_run"], result["candidate_id"]]]))
        if result.get("ab"):
            parts.append(_render_stats(result["ab"]["metrics"]))
        parts.append(_render_gates(result["gate_status"]))
    elif command == "compute_stats":
        parts.append(f"{result['candidate_run']} vs {result['baseline_run']}: method={result['method']} "
                     f"n_resamples={result['n_resamples']} random_state={result['random_state']}")
        parts.append(_render_stats(result["metrics"]))
        parts += [f"note: {n}" for n in result["notes"]]
    elif command == "reconcile":
        parts.append(f"examined {result['examined']} candidate(s) without a gate status: paired {len(result['paired'])}, "
                     f"{result['awaiting_baseline']} still awaiting a baseline" + ("" if result["complete"] else " (stopped at --max-runs)"))
        parts += [f"paired: {run_id}" for run_id in result["paired"]]
    elif command == "emit_bundle":
        parts.append(_table(["candidate", "gate status"], [[c, s] for c, s in result["candidates"].items()]))
        parts.append(f"bundle: {result['location']} ({len(result['files'])} files)")
        parts.append(f"verify it: {verify_command(result['location'])}")
        parts.append(result["closing_line"])
    return "\n\n".join(parts)


def _render_stats(metrics: dict[str, Any]) -> str:
    rows = []
    for name, m in metrics.items():
        delta = m.get("delta", m.get("delta_ms"))
        rows.append([name, m.get("n"), delta, m.get("ci95"), m.get("pvalue"), m.get("significance_pass")])
    return _table(["metric", "n", "Δ", "CI95", "p-value", "pass_significance"], rows)


def _render_gates(status: dict[str, Any]) -> str:
    rows = [[name, g["obs"], g["threshold"], g["pass"]] for name, g in status["gates"].items()]
    return _table(["gate", "obs", "threshold", "pass"], rows) + f"\noverall: {status['overall']}"


def render_status(answer: dict[str, Any]) -> str:
    """What ``runnotary status`` found, as tables."""
    run, prov = answer["run"], answer["provenance"]
    parts = [_table(["run_id", "candidate", "role", "experiment", "run_name", "event_id"],
                    [[run["run_id"], run["candidate_id"], run["role"], run["experiment"], run["run_name"], run["event_id"]]]),
             _table(["dataset_sha256", "seed_family", "seed", "git_commit", "dirty", "env_hash"],
                    [[prov["dataset_sha256"], prov["seed_family"], prov["seed"], prov["git_commit"], prov["dirty"],
                      prov["env_hash"]]]),
             _table(["metric", "claimed", "recomputed", "unit", "status", "reason"],
                    [[m["metric"], m["claimed"], m["recomputed"], m["unit"], m["status"], m["reason"]]
                     for m in answer["metrics"]])]
    baseline = answer["baseline"]
    if baseline is not None:
        if baseline["state"] == "paired":
            parts.append(f"baseline: paired with {baseline['run_id']} ({baseline['candidate_id']}, {baseline['run_name']})")
        else:
            parts.append(f"baseline: {baseline['state']} (none registered yet with dataset_sha256="
                         f"{baseline['dataset_sha256']} and seed_family={baseline['seed_family']})")
    if answer.get("ab"):
        parts.append(_table(["metric", "Δ", "CI95", "p-value", "p-value (Holm)"],
                            [[n, e["delta"], e["ci95"], e["pvalue"], e["pvalue_holm"]] for n, e in answer["ab"].items()]))
    gates = answer["gates"]
    if gates is not None:
        rows = [[name, g["obs"], g["threshold"], g.get("rule"), "pass" if g["pass"] else "FAIL", g.get("reason")]
                for name, g in gates["gates"].items()]
        parts.append(_table(["gate", "obs", "threshold", "rule", "result", "reason"], rows)
                     + f"\noverall: {gates['overall']} (evaluated {gates['evaluated']})")
    if answer["alerts"]:
        parts.append(_table(["alert", "severity", "message"],
                            [[a["kind"], a["severity"], a["message"]] for a in answer["alerts"]]))
    else:
        parts.append("alerts: none")
    return "\n\n".join(parts)
