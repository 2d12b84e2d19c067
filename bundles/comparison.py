"""Compare a candidate with its paired baseline, from their verified artifacts, through ``stats``.

Every statistic is recorded with the inputs it read (run, file, sha256, column), the
parameters it ran with and the method it actually used, so ``verify-bundle`` can redo it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from runnotary import stats
from runnotary.bundles import recipes
from runnotary.bundles.results import Comparison, ComparisonSettings, Holm, LatencyEntry, MetricEntry, with_holm
from runnotary.registry import (
    ArtifactError, MetricRecord, PerQueryTable, Registration, Registry, spec_for,
)
from runnotary.registry.classification import MEAN_MEASURES, SET_MEASURES, set_inputs

__all__ = ["Comparison", "ComparisonSettings", "adjust_holm", "compare", "metric_random_state", "PAIRED_METRICS", "LATENCY_QUANTILE",
           "PAIRING", "latency_entry", "read_both"]

#: Per-query metrics compared pair by pair (query by query).
PAIRED_METRICS: tuple[str, ...] = ("ndcg@10", "compliance@1")
LATENCY_QUANTILE = 0.95
PAIRING = "inner join on query_id, rows sorted by query_id"
RANKED_PAIRING = "inner join on query id over the queries judged and retrieved in both runs, sorted by query id"
EXAMPLE_PAIRING = "inner join on example_id, rows sorted by example_id"
_LATENCY_COLUMN = "column 3 (latency_ms)"


def metric_random_state(random_state: int, metric: str) -> int:
    """The seed of one per-item metric's resampling: the comparison's own, for every metric.

    Every metric of a comparison resamples the same items with the same counts (a joint bootstrap):
    the count matrix for ``(n, n_resamples, random_state)`` is drawn once and reused across metrics
    and candidates (``stats.resample_counts``). Kept as a function so ``verify-bundle`` restates
    each metric's seed the way the comparison derived it."""
    return random_state


# The registry will offer cached parsed files; these two functions are the one place to switch.
def _per_query_table(registry: Registry, registration: Registration, path: str) -> PerQueryTable:
    return registry.per_query_table(registration, path)  # verified, parsed once per content


def _latency_log(registry: Registry, registration: Registration, path: str) -> np.ndarray:
    return registry.latency_log(registration, path)


def _source(registration: Registration, kind: str) -> str | None:
    return next((a.path for a in registration.artifacts if a.kind == kind), None)


def cite(registration: Registration, path: str, **where: Any) -> dict[str, Any]:
    """Run, file, sha256 and where in the file a number comes from."""
    record = registration.artifact(path)
    if record is None:
        raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
    return {"run_id": registration.run_id, "file": path, "sha256": record.sha256, **where}


def _per_query_tables(registry: Registry, candidate: Registration, baseline: Registration, notes: list[str],
                      failed: dict[str, str], skip: Collection[str] = ()) -> tuple[str, str, PerQueryTable, PerQueryTable] | None:
    """Both runs' per-query paths and tables, or ``None`` with the reason in ``notes`` and ``failed``: a
    missing or unreadable file fails the paired metrics (but those in ``skip``, reproduced from raw logs),
    never the latency delta."""
    needed = [name for name in PAIRED_METRICS if name not in skip]
    cand_path, base_path = _source(candidate, "per_query"), _source(baseline, "per_query")
    if cand_path is None or base_path is None:
        if needed:
            notes.append("no_per_query_artifact: paired metrics need a per_query artifact on both runs")
        failed.update({name: "no_per_query_artifact" for name in needed})
        return None
    try:
        return cand_path, base_path, _per_query_table(registry, candidate, cand_path), _per_query_table(registry, baseline, base_path)
    except ArtifactError as exc:
        notes.append(f"per_query: {exc}")
        failed.update({name: f"per_query artifact unreadable: {exc}" for name in needed})
        return None


def compare(registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings) -> Comparison:
    """Paired bootstrap CI, sign-flip permutation p-value, effect sizes, PSI/KS drift and power per
    per-query metric, Holm-adjusted across them; the query-set check; the latency Δp95 and p50/p95/p99.

    Trouble that belongs to the answer (no per-query artifact, disjoint query sets) is recorded in
    ``notes`` and ``failed``; it never raises for one metric and sinks the rest.
    """
    notes: list[str] = []
    failed: dict[str, str] = {}
    metrics: dict[str, MetricEntry] = {}
    query_sets: dict[str, Any] | None = None
    ranked = _reproduced(candidate, baseline)  # reproduced from raw logs on both sides: the CSV is only a claim
    tables = _per_query_tables(registry, candidate, baseline, notes, failed, skip=ranked)
    if tables is not None:
        cand_path, base_path, cand_table, base_table = tables
        try:
            cand_q, base_q = np.asarray(cand_table.cells["query_id"]), np.asarray(base_table.cells["query_id"])
            query_sets = recipes.query_sets(cand_q, base_q)
            query_sets["inputs"] = [cite(candidate, cand_path, column="query_id"), cite(baseline, base_path, column="query_id")]
            if not query_sets["pass"]:
                notes.append(f"query_sets: the candidate misses {query_sets['n_missing']} and adds {query_sets['n_extra']} "
                             f"query ids against the baseline (SRM p={query_sets['srm']['pvalue']:.3g})")
        except KeyError:
            notes.append("query_sets: a per-query CSV has no query_id column")
        for name in PAIRED_METRICS:
            if name in ranked:
                continue
            columns = read_both(name, lambda table: table.column(name), (cand_table, base_table), notes, failed)
            statistics = _paired_entry(name, *columns, settings, notes, failed) if columns is not None else None
            if statistics is not None:
                inputs = {"candidate": cite(candidate, cand_path, column=name),
                          "baseline": cite(baseline, base_path, column=name), "pairing": PAIRING}
                metrics[name] = _entry(statistics, inputs, [cite(candidate, cand_path), cite(baseline, base_path)])
    _compare_ranked(registry, candidate, baseline, settings, ranked, metrics, failed, notes)
    _compare_whole_set(registry, candidate, baseline, settings, _whole_set(candidate, baseline), metrics, failed, notes)
    metrics, holm = adjust_holm(metrics)
    latency = _latency(registry, candidate, baseline, settings, notes)
    if latency is None:
        failed[spec_for("latency_p95_ms").name] = "no latency delta (see notes)"
    return Comparison(candidate.run_id, baseline.run_id, candidate.event.candidate_id, settings, metrics, latency,
                      tuple(notes), query_sets, holm, failed)


def read_both(name: str, read: Callable[[Any], Any], sides: tuple[Any, Any], notes: list[str],
              failed: dict[str, str]) -> tuple[Any, Any] | None:
    """``read`` of the candidate's and the baseline's side, or ``None`` with the reason in ``notes`` and
    ``failed`` when either side's file refuses: one metric's trouble, not the comparison's."""
    try:
        return read(sides[0]), read(sides[1])
    except ArtifactError as exc:
        notes.append(f"{name}: {exc}")
        failed[name] = str(exc)
        return None


def _entry(statistics: dict[str, Any], inputs: dict[str, Any], evidence: list[dict[str, Any]]) -> MetricEntry:
    """A one-run-a-side metric's entry: its headline numbers are its statistics' (``recipes.summary``)."""
    head = recipes.summary(statistics)
    method_requested = statistics.pop("method_requested")
    return MetricEntry(head["n"], head["delta"], (head["ci95"][0], head["ci95"][1]), head["significance_pass"],
                       head["pvalue"], head["method"], statistics, inputs, tuple(evidence),
                       method_requested=method_requested)


def adjust_holm(metrics: Mapping[str, MetricEntry]) -> tuple[dict[str, MetricEntry], Holm | None]:
    """The metrics with their Holm-adjusted p-values (``pvalue_holm``) and the record of the adjustment,
    or ``None`` when no metric has a p-value (a whole-set statistic has none)."""
    names = [n for n, entry in metrics.items() if entry.pvalue is not None]
    if not names:
        return dict(metrics), None
    pvalues = [metrics[n].pvalue for n in names]
    adjusted = recipes.holm(pvalues)  # type: ignore[arg-type]
    return with_holm(metrics, dict(zip(names, adjusted))), Holm(tuple(names), tuple(pvalues), tuple(adjusted))  # type: ignore[arg-type]


def _paired_entry(
    name: str, cand: tuple[np.ndarray, np.ndarray], base: tuple[np.ndarray, np.ndarray], settings: ComparisonSettings,
    notes: list[str], failed: dict[str, str],
) -> dict[str, Any] | None:
    """The paired statistics of one per-item metric over the item ids both runs scored; ``None`` (with the
    reason in ``notes`` and ``failed``) when too few pairs remain or the numerics refuse the data: one
    metric's trouble is part of the answer, not a crash."""
    common, ci, bi = _common(cand[0], base[0])
    if len(common) < 2:
        notes.append(f"{name}: too_few_pairs ({len(common)})")
        failed[name] = f"too_few_pairs ({len(common)})"
        return None
    try:
        return paired(cand[1][ci], base[1][bi], settings, metric_random_state(settings.random_state, name))
    except stats.StatsError as exc:
        notes.append(f"{name}: {exc}")
        failed[name] = f"statistics refused the data: {exc}"
        return None


def _reproduced(candidate: Registration, baseline: Registration) -> dict[str, tuple[MetricRecord, MetricRecord]]:
    """Metrics both runs had reproduced from raw logs with per-item values (a ranking recipe's per-query
    values, a classification mean's per-example values), by name."""
    def ranked(run: Registration) -> dict[str, MetricRecord]:
        return {m.name: m for m in run.metrics if m.value is not None and m.recipe is not None and (
            m.recipe.get("extractor") == "ranking"
            or m.recipe.get("extractor") == "classification" and m.recipe.get("measure") in MEAN_MEASURES)}
    cand, base = ranked(candidate), ranked(baseline)
    return {name: (cand[name], base[name]) for name in cand if name in base}


def _compare_ranked(
    registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings,
    ranked: dict[str, tuple[MetricRecord, MetricRecord]], metrics: dict[str, MetricEntry], failed: dict[str, str],
    notes: list[str],
) -> None:
    """Pair the per-query values each run's recipe reproduces from its run and qrels, query by query."""
    for name, (cand_record, base_record) in ranked.items():
        columns = read_both(name, lambda side: registry.per_item(*side),
                            ((candidate, cand_record), (baseline, base_record)), notes, failed)
        statistics = _paired_entry(name, *columns, settings, notes, failed) if columns is not None else None
        if statistics is None:
            continue
        inputs = {
            "candidate": cite(candidate, cand_record.source, recipe=cand_record.recipe),
            "baseline": cite(baseline, base_record.source, recipe=base_record.recipe),
            "pairing": RANKED_PAIRING if cand_record.recipe.get("extractor") == "ranking" else EXAMPLE_PAIRING,  # type: ignore[union-attr]
        }
        metrics[name] = _entry(statistics, inputs, [
            cite(run, path) for run, record in ((candidate, cand_record), (baseline, base_record))
            for path in (record.source, *([str(record.recipe["qrels"])] if record.recipe and "qrels" in record.recipe else []))
        ])


def _whole_set(candidate: Registration, baseline: Registration) -> dict[str, tuple[MetricRecord, MetricRecord]]:
    """Classification statistics of the whole set (F1, ROC AUC) both runs had reproduced, by name."""
    def kept(run: Registration) -> dict[str, MetricRecord]:
        return {m.name: m for m in run.metrics if m.value is not None and m.recipe is not None
                and m.recipe.get("extractor") == "classification" and m.recipe.get("measure") in SET_MEASURES}
    cand, base = kept(candidate), kept(baseline)
    return {name: (cand[name], base[name]) for name in cand if name in base}


def _compare_whole_set(
    registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings,
    pairs: dict[str, tuple[MetricRecord, MetricRecord]], metrics: dict[str, MetricEntry],
    failed: dict[str, str], notes: list[str],
) -> None:
    """Bootstrap the difference of F1 or ROC AUC over the examples both runs scored, recomputing the
    statistic on each paired resample; the two runs must agree on those examples' labels."""
    def laid_out(side: tuple[Registration, MetricRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        run, record = side
        data, recipe = registry.predictions(run, record), record.recipe or {}
        return (data.example_ids, *set_inputs(data, str(recipe["measure"]), positive_label=str(recipe["positive_label"]),
                                             threshold=float(recipe["threshold"])))

    for name, (cand_record, base_record) in pairs.items():
        both = read_both(name, laid_out, ((candidate, cand_record), (baseline, base_record)), notes, failed)
        if both is None:
            continue
        (cand_ids, cand_labels, cand_values), (base_ids, base_labels, base_values) = both
        common, ci, bi = _common(cand_ids, base_ids)
        disagree = int(np.count_nonzero(cand_labels[ci] != base_labels[bi]))
        reason = (f"too_few_pairs ({len(common)})" if len(common) < 2 else
                  f"labels_differ: the runs give {disagree} common examples different labels" if disagree else None)
        if reason is None:
            try:
                statistics = {"method_requested": settings.method, **recipes.computed(
                    "whole_set", (cand_values[ci], base_values[bi], cand_labels[ci]), settings,
                    metric_random_state(settings.random_state, name), statistic=str(cand_record.recipe["measure"]))}  # type: ignore[index]
            except stats.StatsError as exc:
                reason = f"statistics refused the data: {exc}"
        if reason is not None:
            notes.append(f"{name}: {reason}")
            failed[name] = reason
            continue
        inputs = {"candidate": cite(candidate, cand_record.source, recipe=cand_record.recipe),
                  "baseline": cite(baseline, base_record.source, recipe=base_record.recipe), "pairing": EXAMPLE_PAIRING}
        metrics[name] = _entry(statistics, inputs, [cite(candidate, cand_record.source), cite(baseline, base_record.source)])


def _common(cand_ids: np.ndarray, base_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query ids both runs scored and where they sit in each (both sorted, unique); the usual case,
    the very same ids, needs no set intersection."""
    if np.array_equal(cand_ids, base_ids):
        index = np.arange(len(cand_ids))
        return cand_ids, index, index
    common, ci, bi = np.intersect1d(cand_ids, base_ids, assume_unique=True, return_indices=True)
    return common, ci, bi


def paired(cand: np.ndarray, base: np.ndarray, settings: ComparisonSettings, seed: int) -> dict[str, Any]:
    """Every statistic of one paired per-query metric, by name (``verify-bundle`` redoes each from its record)."""
    return {"method_requested": settings.method, **recipes.computed("paired", (cand, base), settings, seed)}


def _latency(
    registry: Registry, candidate: Registration, baseline: Registration, settings: ComparisonSettings, notes: list[str]
) -> LatencyEntry | None:
    cand_path, base_path = _source(candidate, "latency_log"), _source(baseline, "latency_log")
    if cand_path is None or base_path is None:
        notes.append("no_latency_log: the latency delta needs a latency_log artifact on both runs")
        return None
    try:
        cand = _latency_log(registry, candidate, cand_path)
        base = _latency_log(registry, baseline, base_path)
    except ArtifactError as exc:
        notes.append(f"latency: {exc}")
        return None
    statistics = recipes.computed("latency", (cand, base), settings, settings.random_state, q=LATENCY_QUANTILE)
    quantiles = {"candidate": recipes.latency_quantiles(cand), "baseline": recipes.latency_quantiles(base)}
    inputs = {"candidate": cite(candidate, cand_path, column=_LATENCY_COLUMN, recipe=_recipe(cand_path)),
              "baseline": cite(baseline, base_path, column=_LATENCY_COLUMN, recipe=_recipe(base_path))}
    return latency_entry(statistics, quantiles, inputs, [cite(candidate, cand_path), cite(baseline, base_path)])


def latency_entry(statistics: dict[str, Any], quantiles: dict[str, Any], inputs: dict[str, Any],
                  evidence: list[dict[str, Any]], per_run: list[dict[str, Any]] | None = None) -> LatencyEntry:
    """The Δp95 entry of the one record in ``statistics`` (one run a side or seed-run arms)."""
    (record,) = statistics.values()
    return LatencyEntry(spec_for("latency_p95_ms").name, LATENCY_QUANTILE, record["estimate"], (record["low"], record["high"]),
                        recipes.QUANTILE_DEFINITION, statistics, quantiles, inputs, tuple(evidence),
                        tuple(per_run) if per_run is not None else None)


def _recipe(path: str) -> str:
    return f"p50/p95/p99 of column 3 of {Path(path).name}, {recipes.QUANTILE_METHOD}"
