"""``verify-bundle``'s cross-checks: what a bundle restates must agree with its own records and MLflow's.

Each number's claim restates its run's registration; the comparison's top-level parameters
restate what each statistic ran with; each gate's observation, threshold and verdict follow
from the bundle's numbers and its rule.
"""

from __future__ import annotations

import re
from typing import Any

from runnotary.bundles.comparison import metric_random_state
from runnotary.bundles.findings import Finding, Report, Sources, diff
from runnotary.bundles.gates import methods_used
from runnotary.bundles.policy import COMPARE
from runnotary.registry.records import PROVENANCE_PATH

__all__ = ["restated_ab", "restated_gates", "restated_numbers"]

_RULE = re.compile(r"^(?P<source>\w+)\((?P<metric>[^)]+)\) (?P<op>>=|<=|>|<) (?P<threshold>\S+)$")


def restated_numbers(candidate: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    """Each number's claim, uuid, unit and status restate the run's registration in MLflow."""
    for run_id, metrics in candidate["metrics"].items():
        recorded = sources.provenance(run_id)
        if isinstance(recorded, str):
            report.findings.append(Finding(f"{item}.metrics[{run_id}]", f"runs:/{run_id}/{PROVENANCE_PATH}",
                                           "the run's registration", recorded))
            continue
        by_name = {m.get("name"): m for m in recorded.get("metrics", [])}
        if run_id == candidate["candidate_run"]:
            diff(f"{item}.candidate_id", candidate["candidate_id"], recorded["event"]["candidate_id"],
                  f"runs:/{run_id}/{PROVENANCE_PATH}", report)
        for name, number in metrics.items():
            registered = by_name.get(name)
            at = f"{item}.metrics[{run_id}][{name}]"
            if registered is None:
                report.findings.append(Finding(at, f"runs:/{run_id}/{PROVENANCE_PATH}", number, "<not registered>"))
                continue
            record = {k: registered[k] for k in ("claimed", "uuid", "unit", "status", "value")}
            record["sha256"] = registered["source_sha256"]
            record["file"] = registered["source"]
            diff(at, number, record, f"runs:/{run_id}/{PROVENANCE_PATH}", report)


def restated_ab(candidate: dict[str, Any], quantile_definition: Any, item: str, report: Report) -> None:
    """The comparison's top-level parameters and runs restate what each statistic recorded."""
    ab = candidate["ab"]
    at = f"{item}.ab"
    runs = {"candidate": candidate["candidate_run"], "baseline": candidate["baseline_run"]}
    diff(at, ab, {"candidate_run": runs["candidate"], "baseline_run": runs["baseline"],
                   "candidate_id": candidate["candidate_id"]}, None, report)
    if ab.get("arms") is not None:  # seed-run arms: each statistic's record restates the top level's parameters
        _restated_arms(ab, at, report)
        return
    for name, entry in ab.get("metrics", {}).items():
        m = f"{at}.metrics[{name}]"
        b = entry.get("bootstrap", {})
        # Each statistic ran with the comparison's parameters: the top level restates them.
        seed = _metric_seed(ab.get("random_state"), name)
        diff(f"{at}.random_state", seed, b.get("random_state"), f"{m}.bootstrap", report)
        diff(f"{at}.n_resamples", ab.get("n_resamples"), b.get("n_resamples"), f"{m}.bootstrap", report)
        diff(f"{at}.confidence_level", ab.get("confidence_level"), b.get("confidence_level"), f"{m}.bootstrap", report)
        diff(f"{at}.method", ab.get("method"), entry.get("method_requested"), f"{m}.method_requested", report)
        if "permutation" in entry or "effect_sizes" in entry:  # per-item means; a whole-set statistic has neither
            diff(f"{at}.random_state", seed, entry.get("permutation", {}).get("random_state"),
                  f"{m}.permutation", report)
            diff(f"{at}.confidence_level", ab.get("confidence_level"), entry.get("effect_sizes", {}).get("confidence_level"),
                  f"{m}.effect_sizes", report)
        inputs = entry.get("inputs", {})
        for side in ("candidate", "baseline"):
            diff(f"{m}.inputs.{side}.run_id", inputs.get(side, {}).get("run_id"), runs[side], None, report)
        _evidence(entry, [inputs.get("candidate", {}), inputs.get("baseline", {})], m, report)
    latency = ab.get("latency")
    if latency is not None:
        rec = latency.get("bootstrap", {})
        for key in ("random_state", "n_resamples", "confidence_level"):
            diff(f"{at}.{key}", ab.get(key), rec.get(key), f"{at}.latency.bootstrap", report)
        diff(f"{at}.latency.q", latency.get("q"), rec.get("q"), None, report)
        diff(f"{at}.latency.quantile_definition", latency.get("quantile_definition"), quantile_definition, None, report)
        for side in ("candidate", "baseline"):
            diff(f"{at}.latency.inputs.{side}.run_id", latency["inputs"][side].get("run_id"), runs[side], None, report)
        _evidence(latency, [latency["inputs"]["candidate"], latency["inputs"]["baseline"]], f"{at}.latency", report)
    qs = ab.get("query_sets")
    if qs is not None:
        for i, side in enumerate(("candidate", "baseline")):
            diff(f"{at}.query_sets.inputs[{i}].run_id", qs["inputs"][i].get("run_id"), runs[side], None, report)


def _restated_arms(ab: dict[str, Any], at: str, report: Report) -> None:
    """Seed-run arms: the run relabelings and the two-way bootstrap ran with the comparison's resamples,
    seed and confidence level (verify_arms recomputes the statistics themselves)."""
    records: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
        (f"{at}.metrics[{name}].run_swap", entry.get("run_swap") or {}, ("random_state",))
        for name, entry in ab.get("metrics", {}).items()]
    records += [(f"{at}.metrics[{name}].crossed", entry.get("crossed") or {}, ("confidence_level",))
                for name, entry in ab.get("metrics", {}).items()]
    latency = ab.get("latency")
    if latency is not None and "two_way" in latency:
        records.append((f"{at}.latency.two_way", latency["two_way"], ("random_state", "n_resamples", "confidence_level")))
    for where, record, keys in records:
        for key in keys:
            diff(f"{at}.{key}", ab.get(key), record.get(key), where, report)


def _metric_seed(random_state: Any, metric: str) -> Any:
    """What the top-level random_state means for one metric's resampling (as the comparison derived it)."""
    if not isinstance(random_state, int):
        return random_state
    return metric_random_state(random_state, metric)


def _evidence(entry: dict[str, Any], inputs: list[dict[str, Any]], item: str, report: Report) -> None:
    """An ``evidence`` list restates the run, file and sha256 of the statistic's inputs."""
    if "evidence" in entry:
        expected = []
        for i in inputs:
            expected.append({k: i.get(k) for k in ("run_id", "file", "sha256")})
            recipe = i.get("recipe") or {}
            if "qrels" in recipe:  # a ranking recipe's other input: the qrels its run was scored against
                expected.append({"run_id": i.get("run_id"), "file": recipe["qrels"], "sha256": recipe.get("qrels_sha256")})
        diff(f"{item}.evidence", entry["evidence"], expected, None, report)


def _observed(rule: dict[str, str], candidate: dict[str, Any]) -> Any:
    """The value a gate rule reads, looked up in the bundle itself (``<absent>`` when the bundle has none)."""
    if rule["source"] == "metric":
        number = candidate["metrics"].get(candidate["candidate_run"], {}).get(rule["metric"])
        return number["value"] if number is not None else None
    ab = candidate["ab"] or {}
    latency = ab.get("latency")
    entry = latency if latency is not None and latency.get("metric") == rule["metric"] else ab.get("metrics", {}).get(rule["metric"])
    if entry is None:
        return None
    ci = entry.get("ci95") or [None, None]
    return {"delta": entry.get("delta"), "delta_ci95_lower": ci[0], "delta_ci95_upper": ci[1],
            "pvalue": entry.get("pvalue"), "pvalue_holm": entry.get("pvalue_holm")}.get(rule["source"], "<unknown source>")


def restated_gates(candidate: dict[str, Any], item: str, report: Report) -> None:
    """Each gate's observation is the bundle's own number, its threshold is its rule's, and its verdict follows."""
    status = candidate["gate_status"]
    at = f"{item}.gate_status"
    ab = candidate["ab"]
    expected: dict[str, Any] = {"candidate_run": candidate["candidate_run"], "baseline_run": candidate["baseline_run"]}
    if ab is not None:
        expected |= {"n_resamples": ab.get("n_resamples"), "random_state": ab.get("random_state"),
                     "method": methods_used(ab.get("metrics", {}), ab.get("method"))}
    diff(at, status, expected, None, report)
    gates = status.get("gates", {})
    for name, gate in gates.items():
        g = f"{at}.gates[{name}]"
        rule = _RULE.match(str(gate.get("rule")))
        if rule is None:
            report.findings.append(Finding(f"{g}.rule", None, gate.get("rule"), "a rule such as 'metric(x) >= 5'"))
            continue
        threshold = gate.get("threshold")
        if not isinstance(threshold, (int, float)) or f"{threshold:g}" != rule["threshold"]:
            report.findings.append(Finding(f"{g}.threshold", None, threshold, f"{rule['threshold']} (its rule: {gate['rule']})"))
            continue
        observed = _observed(rule.groupdict(), candidate)
        if gate.get("reason") is None or observed is not None:
            diff(f"{g}.obs", gate.get("obs"), observed, None, report)
        holds = (gate.get("reason") is None and isinstance(gate.get("obs"), (int, float))
                 and COMPARE[rule["op"]](gate["obs"], threshold))
        diff(f"{g}.pass", gate.get("pass"), holds, None, report)
    diff(f"{at}.overall", status.get("overall"),
          "pass" if gates and all(g.get("pass") is True for g in gates.values()) else "fail", None, report)


