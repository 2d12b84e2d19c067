"""``runnotary verify-bundle``: re-check a meeting bundle against MLflow, number by number.

Every cited file is downloaded again from its run (``runs:/<run_id>/evidence/<file>``) and
re-hashed; every number is re-extracted from the place the bundle says it comes from; every
statistic is recomputed from its recorded inputs, parameters, method and random_state with
the same functions that produced it (``bundles.recipes``). Nothing passes by being skipped:
an unreachable MLflow is an error, not a pass.
"""

from __future__ import annotations

import json
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from runnotary.bundles import recipes
from runnotary.bundles.decision import DecisionMetrics
from runnotary.bundles.evidence import where_in_file
from runnotary.bundles.findings import Finding, Report, Sources, diff, label, recompute, statistic
from runnotary.bundles.restated import restated_ab, restated_gates, restated_numbers
from runnotary.errors import redact
from runnotary.errors import RunnotaryError
from runnotary.registry import ArtifactError, classification, spec_for
from runnotary.registry.ranking import score_files
from runnotary.registry.recompute import read_latency_log, read_per_query_table, recompute as recompute_number

__all__ = ["Finding", "Report", "BundleUnreadable", "MlflowUnreachable", "recorded_source", "verify_bundle",
           "verify_command"]


class BundleUnreadable(RunnotaryError):
    """The directory is not a bundle runnotary can read (missing or malformed decision_metrics.json)."""


class MlflowUnreachable(RunnotaryError):
    """No tracking store to re-fetch the sources from; the bundle cannot be verified."""


def _numbers(candidate: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    for run_id, metrics in candidate["metrics"].items():
        for name, number in metrics.items():
            at = f"{item}.metrics[{run_id}][{name}]"
            report.numbers += 1
            if number["run_id"] != run_id:
                report.findings.append(Finding(f"{at}.run_id", None, number["run_id"], run_id))
            try:
                expected_where = where_in_file(name, number["file"], _ranking_recipe(number.get("where")))
            except RunnotaryError as exc:
                report.findings.append(Finding(f"{at}.where", None, number["where"], str(exc)))
                continue
            diff(f"{at}.where", number["where"], expected_where, None, report)
            local = sources.get(number, at)
            if local is None:
                continue
            where = label(number)
            recipe = _ranking_recipe(number.get("where"))
            if recipe is not None:
                qrels = sources.get(_qrels_cite(number, recipe), f"{at}.where.qrels")
                if qrels is not None:
                    statistic(report, f"{at}.value", where, number["value"],
                               lambda: score_files(local, qrels, recipe).mean)  # type: ignore[arg-type]
                continue
            statistic(report, f"{at}.value", where, number["value"], lambda: recompute_number(spec_for(name), local))


def _examples(sources: Sources, inputs: dict[str, Any], item: str,
              derive: Callable[..., Any]) -> tuple[np.ndarray, ...] | None:
    """What ``derive`` (``classification.per_example`` or ``set_inputs``) makes of both runs' predictions
    files, paired by example id: ``(candidate values, baseline values, *the candidate's others)``."""
    laid_out = []
    for side in ("candidate", "baseline"):
        cite, recipe = inputs[side], inputs[side]["recipe"]
        local = sources.get(cite, f"{item}.inputs.{side}")
        if local is None:
            return None
        try:
            data = classification.read_predictions(local, 1 << 34)
            derived = derive(data, recipe["measure"], positive_label=str(recipe["positive_label"]),
                             threshold=float(recipe["threshold"]))
        except (ArtifactError, KeyError, ValueError) as exc:
            sources.report.findings.append(Finding(f"{item}.inputs.{side}", label(cite), recipe, str(exc)))
            return None
        laid_out.append((data.example_ids, *(derived if isinstance(derived, tuple) else (derived,))))
    (cand_ids, *cand), (base_ids, *base) = laid_out
    _, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    # The values last (set_inputs gives labels first); the labels are the candidate's (the comparison checked they agree).
    return (cand[-1][ci], base[-1][bi], *(other[ci] for other in cand[:-1]))


def _whole_set(entry: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    """Recompute the bootstrap of a whole-set statistic (F1, ROC AUC) and its headline numbers."""
    inputs = entry["inputs"]
    laid_out = _examples(sources, inputs, item, classification.set_inputs)
    if laid_out is None:
        return
    where = label(inputs["candidate"], inputs["baseline"])
    recompute("whole_set", entry, laid_out, item, where, report)
    statistic(report, item, where, entry, lambda: recipes.summary(entry))


def _ranking_recipe(recorded: Any) -> dict[str, Any] | None:
    """The ranking recipe a bundle records for a number or a comparison input (``None``: another recipe)."""
    return recorded if isinstance(recorded, dict) and recorded.get("extractor") == "ranking" else None


def _qrels_cite(cite: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": cite.get("run_id"), "file": recipe.get("qrels"), "sha256": recipe.get("qrels_sha256")}


def _ranked(sources: Sources, inputs: dict[str, Any], item: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-query values of both runs re-derived from each run file and its qrels, paired by query id."""
    values = []
    for side in ("candidate", "baseline"):
        cite = inputs[side]
        recipe = cite["recipe"]
        run = sources.get(cite, f"{item}.inputs.{side}")
        qrels = sources.get(_qrels_cite(cite, recipe), f"{item}.inputs.{side}.recipe.qrels")
        if run is None or qrels is None:
            return None
        try:
            values.append(score_files(run, qrels, recipe))
        except (ArtifactError, KeyError, ValueError) as exc:
            sources.report.findings.append(Finding(f"{item}.inputs.{side}", label(cite), recipe, str(exc)))
            return None
    cand, base = values
    _, ci, bi = np.intersect1d(cand.query_ids, base.query_ids, assume_unique=True, return_indices=True)
    return cand.values[ci], base.values[bi]


def _columns(sources: Sources, inputs: dict[str, Any], item: str, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    cand_file = sources.get(inputs["candidate"], f"{item}.inputs.candidate")
    base_file = sources.get(inputs["baseline"], f"{item}.inputs.baseline")
    if cand_file is None or base_file is None:
        return None
    try:
        cand_ids, cand = read_per_query_table(cand_file).column(column)
        base_ids, base = read_per_query_table(base_file).column(column)
    except ArtifactError as exc:
        report = sources.report
        report.findings.append(Finding(f"{item}.inputs", label(inputs["candidate"], inputs["baseline"]), column, str(exc)))
        return None
    _, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return cand[ci], base[bi]


def _paired(entry: dict[str, Any], item: str, sources: Sources, report: Report) -> float | None:
    """Recompute one per-query metric's statistics; returns its recomputed raw p-value."""
    inputs = entry.get("inputs")
    if not isinstance(inputs, dict):
        report.findings.append(Finding(f"{item}.inputs", None, inputs, "recorded inputs"))
        return None
    if (inputs["candidate"].get("recipe") or {}).get("measure") in classification.SET_MEASURES:
        _whole_set(entry, item, sources, report)
        return None
    pair: tuple[np.ndarray, ...] | None
    if _ranking_recipe(inputs["candidate"].get("recipe")) is not None:
        pair = _ranked(sources, inputs, item)
    elif (inputs["candidate"].get("recipe") or {}).get("extractor") == "classification":
        pair = _examples(sources, inputs, item, classification.per_example)
    else:
        pair = _columns(sources, inputs, item, str(inputs["candidate"].get("column")))
    if pair is None:
        return None
    where = label(inputs["candidate"], inputs["baseline"])
    recompute("paired", entry, pair, item, where, report)
    statistic(report, item, where, entry, lambda: recipes.summary(entry))  # headline numbers = their statistics
    pvalue = (entry.get("permutation") or {}).get("pvalue")
    return float(pvalue) if isinstance(pvalue, (int, float)) else None


def _ab(ab: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    if ab.get("arms") is not None:  # seed-run arms: every run's file, the arms' statistics
        from runnotary.bundles.verify_arms import verify_arms

        verify_arms(ab, item, sources, report)
        return
    recomputed_p: dict[str, float | None] = {}
    for name, entry in ab.get("metrics", {}).items():
        recomputed_p[name] = _paired(entry, f"{item}.metrics[{name}]", sources, report)
    holm = ab.get("holm")
    if holm is not None:
        names = holm.get("metrics", [])
        pvalues = [recomputed_p.get(n) for n in names]
        if all(v is not None for v in pvalues):
            statistic(report, f"{item}.holm", "", holm, lambda: {
                "pvalues": pvalues, "adjusted": recipes.holm(pvalues)})  # type: ignore[arg-type]
            for n, adjusted in zip(names, holm.get("adjusted", [])):
                diff(f"{item}.metrics[{n}].pvalue_holm", ab["metrics"][n].get("pvalue_holm"), adjusted, None, report)
    latency = ab.get("latency")
    if latency is not None:
        at = f"{item}.latency"
        cand_file = sources.get(latency["inputs"]["candidate"], f"{at}.inputs.candidate")
        base_file = sources.get(latency["inputs"]["baseline"], f"{at}.inputs.baseline")
        if cand_file is not None and base_file is not None:
            where = label(latency["inputs"]["candidate"], latency["inputs"]["baseline"])
            try:
                cand, base = read_latency_log(cand_file), read_latency_log(base_file)
            except ArtifactError as exc:
                report.findings.append(Finding(f"{at}.inputs", where, "latency logs", str(exc)))
            else:
                recompute("latency", latency, (cand, base), at, where, report)
                statistic(report, f"{at}.quantiles", where, latency.get("quantiles"), lambda: {
                    "candidate": recipes.latency_quantiles(cand), "baseline": recipes.latency_quantiles(base)})
                rec = latency.get("bootstrap", {})
                diff(at, latency, {"delta": rec.get("estimate"), "delta_ms": rec.get("estimate"),
                                   "ci95": [rec.get("low"), rec.get("high")]}, where, report)
    qs = ab.get("query_sets")
    if qs is not None:
        at = f"{item}.query_sets"
        cand_file = sources.get(qs["inputs"][0], f"{at}.inputs[0]")
        base_file = sources.get(qs["inputs"][1], f"{at}.inputs[1]")
        if cand_file is not None and base_file is not None:
            statistic(report, at, label(*qs["inputs"]), qs, lambda: recipes.query_sets(
                np.asarray(read_per_query_table(cand_file).cells["query_id"]),
                np.asarray(read_per_query_table(base_file).cells["query_id"]), alpha=qs["srm"]["alpha"]))


def _read(directory: Path) -> tuple[dict[str, Any], DecisionMetrics]:
    path = directory / "decision_metrics.json"
    try:
        raw = json.loads(path.read_text())
        return raw, DecisionMetrics.model_validate(raw)
    except OSError as exc:
        raise BundleUnreadable(f"{path}: cannot read it: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise BundleUnreadable(f"{path}: not JSON: {exc}") from exc
    except ValidationError as exc:
        raise BundleUnreadable(f"{path}: does not follow decision_metrics.v1: {exc}") from exc


def recorded_source(directory: Path) -> dict[str, str] | None:
    """The MLflow store and runnotary version the bundle records it was built from (None in older bundles)."""
    _, model = _read(directory)
    return model.source.model_dump() if model.source is not None else None


def verify_command(location: Path | str) -> str:
    """The exact command that re-checks a bundle from here (relative when it lies under the working directory)."""
    path = Path(location)
    try:
        path = path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        pass
    return "runnotary verify-bundle " + shlex.quote(str(path))


def verify_bundle(directory: Path, tracking_uri: str) -> Report:
    """Re-check the bundle in ``directory`` against the MLflow store at ``tracking_uri``.

    Raises :class:`BundleUnreadable` or :class:`MlflowUnreachable`; otherwise returns a report
    whose ``findings`` list each item that does not reproduce.
    """
    raw, _ = _read(directory)
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise MlflowUnreachable(redact(f"MLflow at {tracking_uri} does not answer, so no source can be re-fetched: {exc}")[:500]) from exc
    report = Report()
    with tempfile.TemporaryDirectory(prefix="runnotary-verify-") as tmp:
        sources = Sources(client, Path(tmp), report)
        for i, artifact in enumerate(_json(directory / "artifact_index.json", report)):
            sources.get({"run_id": artifact.get("run_id"), "file": artifact.get("path"), "sha256": artifact.get("sha256")},
                        f"artifact_index[{i}]({artifact.get('path')})")
        gate_file = _json(directory / "gate_status.json", report)
        for i, candidate in enumerate(raw["candidates"]):
            item = f"candidates[{i}]({candidate['candidate_id']})"
            try:
                _numbers(candidate, item, sources, report)
                restated_numbers(candidate, item, sources, report)
                if candidate["ab"] is not None:
                    _ab(candidate["ab"], f"{item}.ab", sources, report)
                    restated_ab(candidate, raw.get("quantile_definition"), item, report)
                restated_gates(candidate, item, report)
            except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a record without the fields it needs
                report.findings.append(Finding(item, None, "a complete record", f"malformed: {type(exc).__name__}: {exc}"))
            diff(f"{item}.status", candidate["status"], "pass" if candidate["gate_status"].get("overall") == "pass" else "fail",
                  None, report)
            if i >= len(gate_file) or gate_file[i] != candidate["gate_status"]:
                report.findings.append(Finding(f"gate_status.json[{i}]", None, candidate["gate_status"],
                                               gate_file[i] if i < len(gate_file) else "<absent>"))
    per = {c["candidate_id"]: c["status"] for c in raw["candidates"]} | {u["candidate_id"]: "fail" for u in raw["unknown_candidates"]}
    overall = "pass" if per and all(s == "pass" for s in per.values()) else "fail"
    diff("overall_gate_status", raw["overall_gate_status"], overall, None, report)
    return report


def _json(path: Path, report: Report) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        report.findings.append(Finding(path.name, None, "a JSON list", str(exc)))
        return []
    return data if isinstance(data, list) else []
