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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from runnotary.bundles import recipes
from runnotary.bundles.decision import DecisionMetrics
from runnotary.bundles.evidence import where_in_file
from runnotary.registry import ArtifactError, RunnotaryError, redact, sha256_file, spec_for
from runnotary.registry.recompute import read_latency_log, read_per_query_table, recompute
from runnotary.registry.models import safe_relative_path

__all__ = ["Finding", "Report", "BundleUnreadable", "MlflowUnreachable", "verify_bundle"]

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
                expected_where = where_in_file(name, number["file"])
            except RunnotaryError as exc:
                report.findings.append(Finding(f"{at}.where", None, number["where"], str(exc)))
                continue
            _diff(f"{at}.where", number["where"], expected_where, None, report)
            local = sources.get(number, at)
            if local is None:
                continue
            label = _label(number)
            _statistic(report, f"{at}.value", label, number["value"], lambda: recompute(spec_for(name), local))


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
    column = str(inputs["candidate"].get("column"))
    pair = _columns(sources, inputs, item, column)
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
                if candidate["ab"] is not None:
                    _ab(candidate["ab"], f"{item}.ab", sources, report)
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
