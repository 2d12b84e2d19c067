"""``runnotary verify-bundle``: re-check a meeting bundle against MLflow, number by number.

Every cited file is downloaded again from its run (``runs:/<run_id>/evidence/<file>``) and
re-hashed; every number is re-extracted from the place the bundle says it comes from; every
statistic is recomputed from its recorded inputs, parameters, method and random_state with
the same functions that produced it (``bundles.recipes``). Nothing passes by being skipped:
an unreachable MLflow is an error, not a pass.
"""

from __future__ import annotations

import json
import math
import re
import shlex
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from runnotary.bundles import recipes
from runnotary.bundles.comparison import metric_random_state
from runnotary.bundles.decision import DecisionMetrics
from runnotary.bundles.evidence import where_in_file
from runnotary.bundles.gates import methods_used
from runnotary.bundles.policy import COMPARE
from runnotary.contract import safe_relative_path
from runnotary.errors import RunnotaryError, redact
from runnotary.registry import ArtifactError, sha256_file, spec_for
from runnotary.registry import classification
from runnotary.registry.ranking import score_files
from runnotary.registry.recompute import read_latency_log, read_per_query_table, recompute
from runnotary.registry.records import PROVENANCE_PATH

__all__ = ["Finding", "Report", "BundleUnreadable", "MlflowUnreachable", "recorded_source", "verify_bundle",
           "verify_command"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")
_REL_TOL = 1e-12  # the same code on the same bytes: anything beyond float noise is a change


class BundleUnreadable(RunnotaryError):
    """The directory is not a bundle runnotary can read (missing or malformed decision_metrics.json)."""


class MlflowUnreachable(RunnotaryError):
    """No tracking store to re-fetch the sources from; the bundle cannot be verified."""


@dataclass(frozen=True)
class Finding:
    """One item that does not reproduce."""

    item: str
    file: str | None
    expected: Any
    found: Any

    def __str__(self) -> str:
        where = f" [{self.file}]" if self.file else ""
        return f"{self.item}{where}: bundle says {self.expected!r}, recomputed {self.found!r}"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    files: int = 0
    numbers: int = 0
    statistics: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


class _Sources:
    """Cited files downloaded once from MLflow, each checked against the sha256 the bundle cites."""

    def __init__(self, client: Any, workdir: Path, report: Report) -> None:
        self.client = client
        self.workdir = workdir
        self.report = report
        self._local: dict[tuple[str, str], Path | str] = {}
        self._checked: set[tuple[str, str, str]] = set()
        self._provenance: dict[str, dict[str, Any] | str] = {}

    def get(self, cite: dict[str, Any], item: str) -> Path | None:
        run_id, file, sha = str(cite.get("run_id")), str(cite.get("file")), str(cite.get("sha256"))
        label = f"runs:/{run_id}/evidence/{file}"
        key = (run_id, file)
        if key not in self._local:
            self._local[key] = self._download(run_id, file)
        local = self._local[key]
        if isinstance(local, str):
            self._finding(item, label, "a file in MLflow", local, (run_id, file, "missing"))
            return None
        if (run_id, file, sha) not in self._checked:
            self._checked.add((run_id, file, sha))
            self.report.files += 1
            digest = sha256_file(local)[0]
            if digest != sha:
                self.report.findings.append(Finding(f"{item}.sha256", label, sha, digest))
        return local

    def provenance(self, run_id: str) -> dict[str, Any] | str:
        """The registration runnotary recorded on ``run_id`` (its ``runnotary/provenance.json``), or why not."""
        if run_id not in self._provenance:
            self._provenance[run_id] = self._read_provenance(run_id)
        return self._provenance[run_id]

    def _read_provenance(self, run_id: str) -> dict[str, Any] | str:
        if not _RUN_ID.match(run_id):
            return f"not a run id: {run_id!r}"
        target = self.workdir / run_id / "__provenance"
        target.mkdir(parents=True, exist_ok=True)
        try:
            path = self.client.download_artifacts(run_id, PROVENANCE_PATH, str(target))
            data = json.loads(Path(path).read_text())
        except Exception as exc:  # any refusal from the store is reported against this run
            return redact(f"cannot read {PROVENANCE_PATH}: {type(exc).__name__}: {exc}")[:300]
        return data if isinstance(data, dict) else f"{PROVENANCE_PATH} is not an object"

    def _finding(self, item: str, label: str, expected: Any, found: Any, key: tuple[str, str, str]) -> None:
        if key not in self._checked:
            self._checked.add(key)
            self.report.findings.append(Finding(item, label, expected, found))

    def _download(self, run_id: str, file: str) -> Path | str:
        if not _RUN_ID.match(run_id):
            return f"not a run id: {run_id!r}"
        try:
            file = safe_relative_path(file)  # paths in a bundle are as untrusted as paths in events
        except ValueError as exc:
            return str(exc)
        target = self.workdir / run_id / file.replace("/", "__")
        target.mkdir(parents=True, exist_ok=True)
        try:
            return Path(self.client.download_artifacts(run_id, f"evidence/{file}", str(target)))
        except Exception as exc:  # any refusal from the store is reported against this file
            return redact(f"cannot download: {type(exc).__name__}: {exc}")[:300]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-15) or (math.isnan(a) and math.isnan(b))
    return bool(a == b)


def _diff(item: str, recorded: Any, recomputed: Any, file: str | None, report: Report) -> None:
    """Every leaf of ``recomputed`` must equal the bundle's (keys the bundle lacks are findings too)."""
    if isinstance(recomputed, dict):
        if not isinstance(recorded, dict):
            report.findings.append(Finding(item, file, recorded, "an object"))
            return
        for key, value in recomputed.items():
            _diff(f"{item}.{key}", recorded.get(key, "<absent>"), value, file, report)
    elif isinstance(recomputed, (list, tuple)):
        if not isinstance(recorded, list) or len(recorded) != len(recomputed):
            report.findings.append(Finding(item, file, recorded, list(recomputed)))
            return
        for i, (a, b) in enumerate(zip(recorded, recomputed)):
            _diff(f"{item}[{i}]", a, b, file, report)
    elif not _same(recorded, recomputed):
        report.findings.append(Finding(item, file, recorded, recomputed))


def _label(*cites: dict[str, Any]) -> str:
    return ", ".join(f"runs:/{c.get('run_id')}/evidence/{c.get('file')}" for c in cites)


def _statistic(report: Report, item: str, file: str, recorded: Any, compute: Callable[[], Any]) -> None:
    """Recompute one statistic; a refusal (bad recorded parameter) is a finding, not a crash."""
    report.statistics += 1
    try:
        value = compute()
    except (RunnotaryError, ValueError, TypeError, KeyError) as exc:
        report.findings.append(Finding(item, file, recorded, f"cannot recompute: {type(exc).__name__}: {exc}"))
        return
    _diff(item, recorded, value, file, report)


def _numbers(candidate: dict[str, Any], item: str, sources: _Sources, report: Report) -> None:
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
            _diff(f"{at}.where", number["where"], expected_where, None, report)
            local = sources.get(number, at)
            if local is None:
                continue
            label = _label(number)
            recipe = _ranking_recipe(number.get("where"))
            if recipe is not None:
                qrels = sources.get(_qrels_cite(number, recipe), f"{at}.where.qrels")
                if qrels is not None:
                    _statistic(report, f"{at}.value", label, number["value"],
                               lambda: score_files(local, qrels, recipe).mean)  # type: ignore[arg-type]
                continue
            _statistic(report, f"{at}.value", label, number["value"], lambda: recompute(spec_for(name), local))


def _examples(sources: _Sources, inputs: dict[str, Any], item: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-example values of both runs re-derived from their predictions files, paired by example id."""
    values = []
    for side in ("candidate", "baseline"):
        cite, recipe = inputs[side], inputs[side]["recipe"]
        local = sources.get(cite, f"{item}.inputs.{side}")
        if local is None:
            return None
        try:
            data = classification.read_predictions(local, 1 << 34)
            values.append((data.example_ids, classification.per_example(
                data, recipe["measure"], positive_label=str(recipe["positive_label"]), threshold=float(recipe["threshold"]))))
        except (ArtifactError, KeyError, ValueError) as exc:
            sources.report.findings.append(Finding(f"{item}.inputs.{side}", _label(cite), recipe, str(exc)))
            return None
    (cand_ids, cand), (base_ids, base) = values
    _, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return cand[ci], base[bi]


def _labelled(sources: _Sources, inputs: dict[str, Any], item: str) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Both runs' predictions or scores and the labels, re-derived from their predictions files for F1 or
    ROC AUC and paired by example id (the labels are the candidate's; the comparison checked they agree)."""
    laid_out = []
    for side in ("candidate", "baseline"):
        cite, recipe = inputs[side], inputs[side]["recipe"]
        local = sources.get(cite, f"{item}.inputs.{side}")
        if local is None:
            return None
        try:
            data = classification.read_predictions(local, 1 << 34)
            laid_out.append((data.example_ids, *classification.set_inputs(
                data, recipe["measure"], positive_label=str(recipe["positive_label"]), threshold=float(recipe["threshold"]))))
        except (ArtifactError, KeyError, ValueError) as exc:
            sources.report.findings.append(Finding(f"{item}.inputs.{side}", _label(cite), recipe, str(exc)))
            return None
    (cand_ids, labels, cand), (base_ids, _, base) = laid_out
    _, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return cand[ci], base[bi], labels[ci]


def _whole_set(entry: dict[str, Any], item: str, sources: _Sources, report: Report) -> None:
    """Recompute the bootstrap of a whole-set statistic (F1, ROC AUC) and its headline numbers."""
    inputs = entry["inputs"]
    laid_out = _labelled(sources, inputs, item)
    if laid_out is None:
        return
    cand, base, labels = laid_out
    label = _label(inputs["candidate"], inputs["baseline"])
    b = entry.get("bootstrap", {})
    _statistic(report, f"{item}.bootstrap", label, b, lambda: recipes.set_bootstrap(
        cand, base, labels, statistic=b["statistic"], n_resamples=b["n_resamples"],
        confidence_level=b["confidence_level"], method=entry["method_requested"], random_state=b["random_state"]))
    _statistic(report, item, label, entry, lambda: recipes.summary(entry))


def _ranking_recipe(recorded: Any) -> dict[str, Any] | None:
    """The ranking recipe a bundle records for a number or a comparison input (``None``: another recipe)."""
    return recorded if isinstance(recorded, dict) and recorded.get("extractor") == "ranking" else None


def _qrels_cite(cite: dict[str, Any], recipe: dict[str, Any]) -> dict[str, Any]:
    return {"run_id": cite.get("run_id"), "file": recipe.get("qrels"), "sha256": recipe.get("qrels_sha256")}


def _ranked(sources: _Sources, inputs: dict[str, Any], item: str) -> tuple[np.ndarray, np.ndarray] | None:
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
            sources.report.findings.append(Finding(f"{item}.inputs.{side}", _label(cite), recipe, str(exc)))
            return None
    cand, base = values
    _, ci, bi = np.intersect1d(cand.query_ids, base.query_ids, assume_unique=True, return_indices=True)
    return cand.values[ci], base.values[bi]


def _columns(sources: _Sources, inputs: dict[str, Any], item: str, column: str) -> tuple[np.ndarray, np.ndarray] | None:
    cand_file = sources.get(inputs["candidate"], f"{item}.inputs.candidate")
    base_file = sources.get(inputs["baseline"], f"{item}.inputs.baseline")
    if cand_file is None or base_file is None:
        return None
    try:
        cand_ids, cand = read_per_query_table(cand_file).column(column)
        base_ids, base = read_per_query_table(base_file).column(column)
    except ArtifactError as exc:
        report = sources.report
        report.findings.append(Finding(f"{item}.inputs", _label(inputs["candidate"], inputs["baseline"]), column, str(exc)))
        return None
    _, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return cand[ci], base[bi]


def _paired(entry: dict[str, Any], item: str, sources: _Sources, report: Report) -> float | None:
    """Recompute one per-query metric's statistics; returns its recomputed raw p-value."""
    inputs = entry.get("inputs")
    if not isinstance(inputs, dict):
        report.findings.append(Finding(f"{item}.inputs", None, inputs, "recorded inputs"))
        return None
    if (inputs["candidate"].get("recipe") or {}).get("measure") in classification.SET_MEASURES:
        _whole_set(entry, item, sources, report)
        return None
    if _ranking_recipe(inputs["candidate"].get("recipe")) is not None:
        pair = _ranked(sources, inputs, item)
    elif (inputs["candidate"].get("recipe") or {}).get("extractor") == "classification":
        pair = _examples(sources, inputs, item)
    else:
        pair = _columns(sources, inputs, item, str(inputs["candidate"].get("column")))
    if pair is None:
        return None
    cand, base = pair
    label = _label(inputs["candidate"], inputs["baseline"])
    b, p, e = entry.get("bootstrap", {}), entry.get("permutation", {}), entry.get("effect_sizes", {})
    _statistic(report, f"{item}.bootstrap", label, b, lambda: recipes.bootstrap(
        cand, base, statistic=b["statistic"], n_resamples=b["n_resamples"], confidence_level=b["confidence_level"],
        method=entry["method_requested"], random_state=b["random_state"]))
    # An exact sign test records n_resamples 0; it was asked for with the comparison's resample count.
    _statistic(report, f"{item}.permutation", label, p, lambda: recipes.permutation(
        cand, base, n_resamples=p["n_resamples"] or b["n_resamples"], alternative=p["alternative"],
        random_state=p["random_state"]))
    _statistic(report, f"{item}.effect_sizes", label, e, lambda: recipes.effects(
        cand, base, confidence_level=e["confidence_level"]))
    _statistic(report, f"{item}.drift", label, entry.get("drift"), lambda: recipes.drift(
        cand, base, bins=entry["drift_params"]["psi_bins"]))
    pw = entry.get("power", {})
    _statistic(report, f"{item}.power", label, pw, lambda: recipes.power(
        cand, base, alpha=pw["alpha"], target=pw["target_power"]))
    _statistic(report, item, label, entry, lambda: recipes.summary(entry))  # headline numbers = their statistics
    pvalue = p.get("pvalue")
    return float(pvalue) if isinstance(pvalue, (int, float)) else None


def _ab(ab: dict[str, Any], item: str, sources: _Sources, report: Report) -> None:
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
            _statistic(report, f"{item}.holm", "", holm, lambda: {
                "pvalues": pvalues, "adjusted": recipes.holm(pvalues)})  # type: ignore[arg-type]
            for n, adjusted in zip(names, holm.get("adjusted", [])):
                _diff(f"{item}.metrics[{n}].pvalue_holm", ab["metrics"][n].get("pvalue_holm"), adjusted, None, report)
    latency = ab.get("latency")
    if latency is not None:
        at = f"{item}.latency"
        cand_file = sources.get(latency["inputs"]["candidate"], f"{at}.inputs.candidate")
        base_file = sources.get(latency["inputs"]["baseline"], f"{at}.inputs.baseline")
        if cand_file is not None and base_file is not None:
            label = _label(latency["inputs"]["candidate"], latency["inputs"]["baseline"])
            try:
                cand, base = read_latency_log(cand_file), read_latency_log(base_file)
            except ArtifactError as exc:
                report.findings.append(Finding(f"{at}.inputs", label, "latency logs", str(exc)))
            else:
                rec = latency.get("bootstrap", {})
                _statistic(report, f"{at}.bootstrap", label, rec, lambda: recipes.latency_delta(
                    cand, base, q=rec["q"], n_resamples=rec["n_resamples"], confidence_level=rec["confidence_level"],
                    random_state=rec["random_state"]))
                _statistic(report, f"{at}.quantiles", label, latency.get("quantiles"), lambda: {
                    "candidate": recipes.latency_quantiles(cand), "baseline": recipes.latency_quantiles(base)})
                _diff(at, latency, {"delta": rec.get("estimate"), "delta_ms": rec.get("estimate"),
                                    "ci95": [rec.get("low"), rec.get("high")]}, label, report)
    qs = ab.get("query_sets")
    if qs is not None:
        at = f"{item}.query_sets"
        cand_file = sources.get(qs["inputs"][0], f"{at}.inputs[0]")
        base_file = sources.get(qs["inputs"][1], f"{at}.inputs[1]")
        if cand_file is not None and base_file is not None:
            label = _label(*qs["inputs"])
            _statistic(report, at, label, qs, lambda: recipes.query_sets(
                np.asarray(read_per_query_table(cand_file).cells["query_id"]),
                np.asarray(read_per_query_table(base_file).cells["query_id"]), alpha=qs["srm"]["alpha"]))


_RULE = re.compile(r"^(?P<source>\w+)\((?P<metric>[^)]+)\) (?P<op>>=|<=|>|<) (?P<threshold>\S+)$")


def _restated_numbers(candidate: dict[str, Any], item: str, sources: _Sources, report: Report) -> None:
    """Each number's claim, uuid, unit and status restate the run's registration in MLflow."""
    for run_id, metrics in candidate["metrics"].items():
        recorded = sources.provenance(run_id)
        if isinstance(recorded, str):
            report.findings.append(Finding(f"{item}.metrics[{run_id}]", f"runs:/{run_id}/{PROVENANCE_PATH}",
                                           "the run's registration", recorded))
            continue
        by_name = {m.get("name"): m for m in recorded.get("metrics", [])}
        if run_id == candidate["candidate_run"]:
            _diff(f"{item}.candidate_id", candidate["candidate_id"], recorded["event"]["candidate_id"],
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
            _diff(at, number, record, f"runs:/{run_id}/{PROVENANCE_PATH}", report)


def _restated_ab(candidate: dict[str, Any], quantile_definition: Any, item: str, report: Report) -> None:
    """The comparison's top-level parameters and runs restate what each statistic recorded."""
    ab = candidate["ab"]
    at = f"{item}.ab"
    runs = {"candidate": candidate["candidate_run"], "baseline": candidate["baseline_run"]}
    _diff(at, ab, {"candidate_run": runs["candidate"], "baseline_run": runs["baseline"],
                   "candidate_id": candidate["candidate_id"]}, None, report)
    if ab.get("arms") is not None:  # seed-run arms: each statistic's record restates the top level's parameters
        _restated_arms(ab, at, report)
        return
    for name, entry in ab.get("metrics", {}).items():
        m = f"{at}.metrics[{name}]"
        b = entry.get("bootstrap", {})
        # Each statistic ran with the comparison's parameters: the top level restates them.
        seed = _metric_seed(ab.get("random_state"), name)
        _diff(f"{at}.random_state", seed, b.get("random_state"), f"{m}.bootstrap", report)
        _diff(f"{at}.n_resamples", ab.get("n_resamples"), b.get("n_resamples"), f"{m}.bootstrap", report)
        _diff(f"{at}.confidence_level", ab.get("confidence_level"), b.get("confidence_level"), f"{m}.bootstrap", report)
        _diff(f"{at}.method", ab.get("method"), entry.get("method_requested"), f"{m}.method_requested", report)
        if "permutation" in entry or "effect_sizes" in entry:  # per-item means; a whole-set statistic has neither
            _diff(f"{at}.random_state", seed, entry.get("permutation", {}).get("random_state"),
                  f"{m}.permutation", report)
            _diff(f"{at}.confidence_level", ab.get("confidence_level"), entry.get("effect_sizes", {}).get("confidence_level"),
                  f"{m}.effect_sizes", report)
        inputs = entry.get("inputs", {})
        for side in ("candidate", "baseline"):
            _diff(f"{m}.inputs.{side}.run_id", inputs.get(side, {}).get("run_id"), runs[side], None, report)
        _evidence(entry, [inputs.get("candidate", {}), inputs.get("baseline", {})], m, report)
    latency = ab.get("latency")
    if latency is not None:
        rec = latency.get("bootstrap", {})
        for key in ("random_state", "n_resamples", "confidence_level"):
            _diff(f"{at}.{key}", ab.get(key), rec.get(key), f"{at}.latency.bootstrap", report)
        _diff(f"{at}.latency.q", latency.get("q"), rec.get("q"), None, report)
        _diff(f"{at}.latency.quantile_definition", latency.get("quantile_definition"), quantile_definition, None, report)
        for side in ("candidate", "baseline"):
            _diff(f"{at}.latency.inputs.{side}.run_id", latency["inputs"][side].get("run_id"), runs[side], None, report)
        _evidence(latency, [latency["inputs"]["candidate"], latency["inputs"]["baseline"]], f"{at}.latency", report)
    qs = ab.get("query_sets")
    if qs is not None:
        for i, side in enumerate(("candidate", "baseline")):
            _diff(f"{at}.query_sets.inputs[{i}].run_id", qs["inputs"][i].get("run_id"), runs[side], None, report)


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
            _diff(f"{at}.{key}", ab.get(key), record.get(key), where, report)


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
        _diff(f"{item}.evidence", entry["evidence"], expected, None, report)


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


def _restated_gates(candidate: dict[str, Any], item: str, report: Report) -> None:
    """Each gate's observation is the bundle's own number, its threshold is its rule's, and its verdict follows."""
    status = candidate["gate_status"]
    at = f"{item}.gate_status"
    ab = candidate["ab"]
    expected: dict[str, Any] = {"candidate_run": candidate["candidate_run"], "baseline_run": candidate["baseline_run"]}
    if ab is not None:
        expected |= {"n_resamples": ab.get("n_resamples"), "random_state": ab.get("random_state"),
                     "method": methods_used(ab.get("metrics", {}), ab.get("method"))}
    _diff(at, status, expected, None, report)
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
            _diff(f"{g}.obs", gate.get("obs"), observed, None, report)
        holds = (gate.get("reason") is None and isinstance(gate.get("obs"), (int, float))
                 and COMPARE[rule["op"]](gate["obs"], threshold))
        _diff(f"{g}.pass", gate.get("pass"), holds, None, report)
    _diff(f"{at}.overall", status.get("overall"),
          "pass" if gates and all(g.get("pass") is True for g in gates.values()) else "fail", None, report)


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
        sources = _Sources(client, Path(tmp), report)
        for i, artifact in enumerate(_json(directory / "artifact_index.json", report)):
            sources.get({"run_id": artifact.get("run_id"), "file": artifact.get("path"), "sha256": artifact.get("sha256")},
                        f"artifact_index[{i}]({artifact.get('path')})")
        gate_file = _json(directory / "gate_status.json", report)
        for i, candidate in enumerate(raw["candidates"]):
            item = f"candidates[{i}]({candidate['candidate_id']})"
            try:
                _numbers(candidate, item, sources, report)
                _restated_numbers(candidate, item, sources, report)
                if candidate["ab"] is not None:
                    _ab(candidate["ab"], f"{item}.ab", sources, report)
                    _restated_ab(candidate, raw.get("quantile_definition"), item, report)
                _restated_gates(candidate, item, report)
            except (KeyError, TypeError, AttributeError, IndexError) as exc:  # a record without the fields it needs
                report.findings.append(Finding(item, None, "a complete record", f"malformed: {type(exc).__name__}: {exc}"))
            _diff(f"{item}.status", candidate["status"], "pass" if candidate["gate_status"].get("overall") == "pass" else "fail",
                  None, report)
            if i >= len(gate_file) or gate_file[i] != candidate["gate_status"]:
                report.findings.append(Finding(f"gate_status.json[{i}]", None, candidate["gate_status"],
                                               gate_file[i] if i < len(gate_file) else "<absent>"))
    per = {c["candidate_id"]: c["status"] for c in raw["candidates"]} | {u["candidate_id"]: "fail" for u in raw["unknown_candidates"]}
    overall = "pass" if per and all(s == "pass" for s in per.values()) else "fail"
    _diff("overall_gate_status", raw["overall_gate_status"], overall, None, report)
    return report


def _json(path: Path, report: Report) -> list[Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        report.findings.append(Finding(path.name, None, "a JSON list", str(exc)))
        return []
    return data if isinstance(data, list) else []
