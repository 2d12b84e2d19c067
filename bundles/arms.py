"""Compare a candidate recipe with a baseline recipe, each an arm of one or more seed runs.

An arm is the seed runs of one ``candidate_id`` on one dataset and seed family, one run per
``seeds.value`` (``registry.pairing.arm_runs``). With one run on each side the comparison is the
one-run comparison of :func:`bundles.comparison.compare`, unchanged (estimand E1). With more, each
per-query metric becomes an ``(S, n)`` matrix per arm over the query ids every run of both arms
scored (the others are counted per run, as dropped), and gets:

- :func:`stats.crossed_interval` for every estimand the arms allow (E3 the headline when both arms
  have at least 2 seeds, else E1 with the warning that retraining variance is not covered);
- :func:`stats.run_swap_permutation` beside it (whole runs exchanged, the query pairing kept);

and the latency quantile gets :func:`stats.two_way_bootstrap` over requests and seed runs when every
run logged the same number of requests (the same replayed request sequence, row by row).

The matched-seed variant is not used: the run-created contract has no way to declare, before the
runs, that seed ``s`` drove the same randomness in both arms.

Each statistic's record carries its parameters, and ``inputs`` cites every run's file and column,
so ``verify-bundle`` redoes it with :data:`bundles.recipes.STATISTICS` (the same functions that computed it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from runnotary import stats
from runnotary.bundles import recipes
from runnotary.bundles.comparison import (  # the comparison's readers: one place to switch how files are read
    LATENCY_QUANTILE, PAIRED_METRICS, _latency_log, _per_query_table, _source, adjust_holm, cite, compare, latency_entry,
)
from runnotary.bundles.results import Comparison, ComparisonSettings, LatencyEntry, MetricEntry
from runnotary.registry import ArtifactError, Registration, Registry, spec_for

__all__ = ["ARM_PAIRING", "Arm", "arm_of", "compare_arms", "estimands", "matrices", "seed_points"]

Estimand = Literal["E1", "E2", "E3"]

ARM_PAIRING = "query ids every run of both arms scored, sorted; rows are runs in seed order"
LATENCY_PAIRING = "requests by row position: every run of both arms logged the same number of requests"


@dataclass(frozen=True)
class Arm:
    """The seed runs of one recipe (``candidate_id``, role, dataset, seed family), one per seed, in seed order."""

    candidate_id: str
    role: str
    runs: tuple[Registration, ...]

    @property
    def seeds(self) -> tuple[int, ...]:
        return tuple(r.event.seeds.value for r in self.runs)

    @property
    def head(self) -> Registration:
        """The newest run (latest ``created_at``, ties by run id): the arm's record lives on it."""
        return max(self.runs, key=lambda r: (r.event.created_at, r.run_id))

    def summary(self) -> dict[str, Any]:
        return {"candidate_id": self.candidate_id, "role": self.role,
                "runs": [r.run_id for r in self.runs], "seeds": list(self.seeds)}


def arm_of(runs: Sequence[Registration]) -> Arm:
    """The arm of ``runs`` (one recipe's runs): the newest run of each seed value, in seed order."""
    if not runs:
        raise ValueError("an arm needs at least one run")
    first = runs[0].event
    kept: dict[int, Registration] = {}
    for run in runs:
        event = run.event
        if (event.candidate_id, event.role, event.dataset.sha256, event.seeds.family) != (
                first.candidate_id, first.role, first.dataset.sha256, first.seeds.family):
            raise ValueError(f"run {run.run_id} is not of the arm of {first.candidate_id!r} ({first.role})")
        known = kept.get(event.seeds.value)
        if known is None or (event.created_at, run.run_id) > (known.event.created_at, known.run_id):
            kept[event.seeds.value] = run
    return Arm(first.candidate_id, first.role, tuple(kept[s] for s in sorted(kept)))


def estimands(seeds_candidate: int, seeds_baseline: int) -> tuple[Estimand, tuple[Estimand, ...]]:
    """The headline estimand and every estimand the arms allow: E3 (and E2, E1) with at least 2 seeds
    per arm, else E1 only."""
    if min(seeds_candidate, seeds_baseline) >= 2:
        return "E3", ("E1", "E2", "E3")
    return "E1", ("E1",)


# -- the comparison ---------------------------------------------------------------------------

def compare_arms(registry: Registry, candidate: Arm, baseline: Arm, settings: ComparisonSettings) -> Comparison:
    """The comparison of two arms; one run on each side is :func:`compare` of those runs, as it always was.

    The comparison's ``candidate_run`` and ``baseline_run`` are the arms' newest runs; ``arms``
    names every run of both arms and their seeds.
    """
    head_c, head_b = candidate.head, baseline.head
    if len(candidate.runs) == 1 and len(baseline.runs) == 1:
        return compare(registry, head_c, head_b, settings)
    notes: list[str] = []
    failed: dict[str, str] = {}
    metrics: dict[str, MetricEntry] = {}
    holm = None
    headline, allowed = estimands(len(candidate.runs), len(baseline.runs))
    if headline == "E1":
        notes.append(f"arms: {len(candidate.runs)} candidate and {len(baseline.runs)} baseline seed runs; with one run "
                     "on a side the interval is E1 and does not cover retraining variance")
    elif min(len(candidate.runs), len(baseline.runs)) < 3:
        notes.append("arms: 2 seed runs on a side give few degrees of freedom (a wide t quantile); 5 or more per arm "
                     "are recommended")
    tables = _tables(registry, candidate, baseline, notes, failed)
    if tables is not None:
        for name in PAIRED_METRICS:
            try:
                metrics[name] = _per_item_metric(name, tables, candidate, baseline, settings, headline, allowed)
                lost = [r for r in metrics[name].per_run if r["dropped_items"]]
                if lost:
                    notes.append(f"{name}: query ids not scored by every run of both arms were left out: "
                                 + ", ".join(f"{r['dropped_items']} of run {r['run_id']} (seed {r['seed']})" for r in lost))
            except (ArtifactError, stats.StatsError, ValueError) as exc:  # one metric's trouble, not the comparison's
                notes.append(f"{name}: {exc}")
                failed[name] = str(exc)
        metrics, holm = adjust_holm(metrics)
    latency = _latency(registry, candidate, baseline, settings, notes)
    if latency is None:
        failed[spec_for("latency_p95_ms").name] = "no latency delta (see notes)"
    arms = {"candidate": candidate.summary(), "baseline": baseline.summary(), "estimand": headline,
            "matched": False}
    return Comparison(head_c.run_id, head_b.run_id, candidate.candidate_id, settings, metrics, latency,
                      tuple(notes), None, holm, failed, arms)


_Tables = tuple[list[tuple[Registration, str, Any]], list[tuple[Registration, str, Any]]]


class _NoFile(ArtifactError):
    """A run of an arm has no artifact of the kind a statistic reads."""


def _each_run(candidate: Arm, baseline: Arm, kind: str,
              read: Callable[[Registration, str], Any]) -> list[list[tuple[Registration, str, Any]]]:
    """Every run's ``kind`` file and what ``read`` makes of it, arm by arm (``_NoFile`` names a run without one)."""
    out = []
    for arm in (candidate, baseline):
        rows = []
        for run in arm.runs:
            path = _source(run, kind)
            if path is None:
                raise _NoFile(f"run {run.run_id} (seed {run.event.seeds.value})")
            rows.append((run, path, read(run, path)))
        out.append(rows)
    return out


def _tables(registry: Registry, candidate: Arm, baseline: Arm, notes: list[str], failed: dict[str, str]) -> _Tables | None:
    """Every run's per-query path and table, or ``None`` with the reason in ``notes`` and ``failed``."""
    try:
        out = _each_run(candidate, baseline, "per_query", lambda run, path: _per_query_table(registry, run, path))
    except ArtifactError as exc:
        why = f"{exc} has no per_query artifact" if isinstance(exc, _NoFile) else str(exc)
        notes.append(f"per_query: {why}")
        failed.update({name: f"per_query: {why}" for name in PAIRED_METRICS})
        return None
    return out[0], out[1]


def matrices(columns: Sequence[tuple[np.ndarray, np.ndarray]], n_candidate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]:
    """``(candidate (S_B, n), baseline (S_A, n), common ids, dropped per run)`` from every run's sorted
    ``(query_ids, values)``, candidate runs first: the columns are the ids every run scored."""
    common = columns[0][0]
    for ids, _ in columns[1:]:
        if not np.array_equal(ids, common):
            common = np.intersect1d(common, ids, assume_unique=True)
    rows = []
    dropped = []
    for ids, values in columns:
        if np.array_equal(ids, common):
            rows.append(np.asarray(values, dtype=np.float64))
            dropped.append(0)
        else:
            keep = np.isin(ids, common, assume_unique=True)
            rows.append(np.asarray(values, dtype=np.float64)[keep])
            dropped.append(int(len(ids) - keep.sum()))
    y = np.vstack(rows) if rows else np.empty((0, 0))
    return y[:n_candidate], y[n_candidate:], common, dropped


def _per_item_metric(name: str, tables: _Tables, candidate: Arm, baseline: Arm, settings: ComparisonSettings,
                     headline: Estimand, allowed: tuple[Estimand, ...]) -> MetricEntry:
    cand_rows, base_rows = tables
    columns = [table.column(name) for _, _, table in cand_rows + base_rows]
    cand, base, common, dropped = matrices(columns, len(cand_rows))
    if len(common) < 2:
        raise ValueError(f"too_few_items ({len(common)}) scored by every run of both arms")
    crossed = recipes.CROSSED
    intervals = {e: crossed.compute(cand, base, estimand=e, **crossed.parameters(settings, settings.random_state))
                 for e in allowed}
    main = intervals[headline]
    # One random_state for every per-item metric: the run relabelings (and any count matrix) are shared.
    others = recipes.computed("arms", (cand, base), settings, settings.random_state)
    runs = [(r, "candidate") for r, _, _ in cand_rows] + [(r, "baseline") for r, _, _ in base_rows]
    means = np.concatenate([cand.mean(axis=1), base.mean(axis=1)])
    return MetricEntry(
        n=int(len(common)), delta=main["delta"], ci95=(main["low"], main["high"]),
        significance_pass=main["pvalue"] is not None and main["low"] > 0, pvalue=main["pvalue"], method=main["method"],
        statistics={"crossed": main, "intervals": intervals, **others},
        inputs={
            "candidate": [cite(r, path, column=name) for r, path, _ in cand_rows],
            "baseline": [cite(r, path, column=name) for r, path, _ in base_rows],
            "pairing": ARM_PAIRING,
        },
        evidence=tuple(cite(r, path) for r, path, _ in cand_rows + base_rows),
        estimand=main["estimand"], warnings=tuple(main["warnings"]),
        per_run=tuple({"run_id": r.run_id, "arm": arm, "seed": r.event.seeds.value, "mean": float(m), "dropped_items": d}
                      for (r, arm), m, d in zip(runs, means, dropped)),
        items={"n_common": int(len(common)), "dropped": sum(dropped)},
    )


def _latency(registry: Registry, candidate: Arm, baseline: Arm, settings: ComparisonSettings,
             notes: list[str]) -> LatencyEntry | None:
    """The Δp95 over requests and seed runs (two-way bootstrap), with each arm's pooled p50/p95/p99."""
    try:
        logs = _each_run(candidate, baseline, "latency_log", lambda run, path: _latency_log(registry, run, path))
    except _NoFile as exc:
        notes.append(f"no_latency_log: {exc} has none")
        return None
    except ArtifactError as exc:
        notes.append(f"latency: {exc}")
        return None
    lengths = {len(v) for rows in logs for _, _, v in rows}
    if len(lengths) != 1:
        notes.append(f"latency: the runs logged {sorted(lengths)} requests; the two-way bootstrap needs the same "
                     "requests in every run")
        return None
    cand = np.vstack([v for _, _, v in logs[0]])
    base = np.vstack([v for _, _, v in logs[1]])
    statistics = recipes.computed("arms_latency", (cand, base), settings, settings.random_state, q=LATENCY_QUANTILE)
    column = "column 3 (latency_ms)"
    return latency_entry(
        statistics,
        {"candidate": recipes.latency_quantiles(cand.ravel()), "baseline": recipes.latency_quantiles(base.ravel())},
        {"candidate": [cite(r, p, column=column) for r, p, _ in logs[0]],
         "baseline": [cite(r, p, column=column) for r, p, _ in logs[1]], "pairing": LATENCY_PAIRING},
        [cite(r, p) for rows in logs for r, p, _ in rows],
        per_run=[{"run_id": r.run_id, "arm": arm, "seed": r.event.seeds.value,
                  "p95": float(np.quantile(v, LATENCY_QUANTILE, method=recipes.QUANTILE_METHOD))}
                 for arm, rows in zip(("candidate", "baseline"), logs) for r, _, v in rows],
    )


def seed_points(entry: MetricEntry | LatencyEntry) -> list[tuple[str, float]]:
    """``(arm, score - baseline arm's mean score)`` of each seed run of a comparison entry (none for one
    run a side): where each run sits on the scale of the difference, for the forest plot."""
    runs: Sequence[Mapping[str, Any]] = entry.per_run or ()
    key = "mean" if runs and "mean" in runs[0] else "p95"
    base = [r[key] for r in runs if r["arm"] == "baseline"]
    if not base:
        return []
    centre = float(np.mean(base))
    return [(r["arm"], float(r[key]) - centre) for r in runs]
