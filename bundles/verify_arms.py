"""``verify-bundle`` for a comparison of seed-run arms: every statistic recomputed from every run's cited file.

Each per-query metric cites one file per seed run of each arm; the ``(S, n)`` matrices are rebuilt
over the query ids every run scored (:func:`bundles.arms.matrices`) and each statistic is redone
with :data:`bundles.recipes.STATISTICS` from the parameters in its own record.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from runnotary.bundles import arms, recipes
from runnotary.bundles.findings import Finding, Report, Sources, diff, label, recompute, statistic
from runnotary.registry import ArtifactError
from runnotary.registry.recompute import read_latency_log, read_per_query_table

__all__ = ["verify_arms"]


def _per_item(entry: dict[str, Any], item: str, sources: Sources, report: Report) -> float | None:
    inputs = entry["inputs"]
    cites = list(inputs["candidate"]) + list(inputs["baseline"])
    files = [sources.get(c, f"{item}.inputs") for c in cites]
    if any(f is None for f in files):
        return None
    where = label(*cites)
    try:
        columns = [read_per_query_table(f).column(str(c["column"])) for f, c in zip(files, cites)]  # type: ignore[arg-type]
    except ArtifactError as exc:
        report.findings.append(Finding(f"{item}.inputs", where, "per-query columns", str(exc)))
        return None
    cand, base, common, dropped = arms.matrices(columns, len(inputs["candidate"]))
    crossed = recipes.CROSSED
    for estimand, record in entry["intervals"].items():
        statistic(report, f"{item}.intervals[{estimand}]", where, record,
                  lambda record=record: crossed.compute(cand, base, **crossed.recorded(record)))  # type: ignore[misc]
    recompute("arms", entry, (cand, base), item, where, report)
    main = entry["intervals"][entry["estimand"]]
    diff(item, entry, {"n": len(common), "delta": main["delta"], "ci95": [main["low"], main["high"]],
                        "pvalue": main["pvalue"], "crossed": main,
                        "items": {"n_common": len(common), "dropped": sum(dropped)}}, where, report)
    means = np.concatenate([cand.mean(axis=1), base.mean(axis=1)])
    diff(f"{item}.per_run", [r["mean"] for r in entry["per_run"]], [float(m) for m in means], where, report)
    pvalue = main["pvalue"]
    return float(pvalue) if isinstance(pvalue, (int, float)) else None


def _latency(latency: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    inputs = latency["inputs"]
    cites = list(inputs["candidate"]) + list(inputs["baseline"])
    files = [sources.get(c, f"{item}.inputs") for c in cites]
    if any(f is None for f in files):
        return
    where = label(*cites)
    try:
        logs = [read_latency_log(f) for f in files]  # type: ignore[arg-type]
    except ArtifactError as exc:
        report.findings.append(Finding(f"{item}.inputs", where, "latency logs", str(exc)))
        return
    if len({len(v) for v in logs}) != 1:
        report.findings.append(Finding(f"{item}.inputs", where, "logs of equal length", [len(v) for v in logs]))
        return
    cand, base = np.vstack(logs[:len(inputs["candidate"])]), np.vstack(logs[len(inputs["candidate"]):])
    record = latency["two_way"]
    recompute("arms_latency", latency, (cand, base), item, where, report)
    statistic(report, f"{item}.quantiles", where, latency["quantiles"], lambda: {
        "candidate": recipes.latency_quantiles(cand.ravel()), "baseline": recipes.latency_quantiles(base.ravel())})
    diff(item, latency, {"delta": record["estimate"], "ci95": [record["low"], record["high"]]}, where, report)


def verify_arms(ab: dict[str, Any], item: str, sources: Sources, report: Report) -> None:
    """Recompute every statistic of a comparison of arms (``ab["arms"]`` set), findings into ``report``."""
    recomputed: dict[str, float | None] = {}
    for name, entry in ab.get("metrics", {}).items():
        recomputed[name] = _per_item(entry, f"{item}.metrics[{name}]", sources, report)
    holm = ab.get("holm")
    if holm is not None:
        pvalues = [recomputed.get(n) for n in holm.get("metrics", [])]
        if all(v is not None for v in pvalues):
            statistic(report, f"{item}.holm", "", holm, lambda: {
                "pvalues": pvalues, "adjusted": recipes.holm(pvalues)})  # type: ignore[arg-type]
            for n, adjusted in zip(holm["metrics"], holm.get("adjusted", [])):
                diff(f"{item}.metrics[{n}].pvalue_holm", ab["metrics"][n].get("pvalue_holm"), adjusted, None, report)
    if ab.get("latency") is not None:
        _latency(ab["latency"], f"{item}.latency", sources, report)
