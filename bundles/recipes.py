"""Each statistic of a comparison as one function of its inputs and recorded parameters.

The comparison computes with these functions and ``verify-bundle`` recomputes with them,
reading the parameters back from each statistic's own record: one code path, so a number
that does not reproduce points at a changed input, parameter or value, never at drift
between two implementations.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from runnotary import stats
from runnotary.bundles.results import ComparisonSettings

__all__ = [
    "QUANTILE_METHOD", "QUANTILE_DEFINITION", "PSI_BINS", "POWER_ALPHA", "POWER_TARGET", "STATISTICS", "Statistic",
    "bootstrap", "set_bootstrap", "permutation", "effects", "drift", "power", "summary", "holm", "latency_quantiles", "latency_delta",
    "query_sets", "crossed", "run_swap", "two_way", "computed",
]

#: One quantile definition everywhere: numpy's ``inverted_cdf`` (Hyndman-Fan type 1), the one
#: ``stats.quantile_delta`` bootstraps; table 2's p95 values subtract exactly to table 3's Δp95.
QUANTILE_METHOD: Final = "inverted_cdf"
QUANTILE_DEFINITION = "inverted CDF (Hyndman-Fan type 1): the smallest sample x with F_n(x) >= q"
PSI_BINS = 10
POWER_ALPHA = 0.05
POWER_TARGET = 0.8
_LATENCY_LEVELS = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
_PSI_LEVEL = {"none": "stable", "moderate": "moderate", "significant": "significant"}


def bootstrap(cand: np.ndarray, base: np.ndarray, *, statistic: str, n_resamples: int, confidence_level: float,
              method: str, random_state: int) -> dict[str, Any]:
    """Paired bootstrap CI of the mean difference; ``method`` is the one asked for (BCa may fall back)."""
    return stats.paired_bootstrap(
        cand, base, statistic=statistic, n_resamples=n_resamples, confidence_level=confidence_level,  # type: ignore[arg-type]
        method=method, random_state=random_state,  # type: ignore[arg-type]
    ).to_dict()


def set_bootstrap(cand: np.ndarray, base: np.ndarray, labels: np.ndarray, *, statistic: str, n_resamples: int,
                  confidence_level: float, method: str, random_state: int) -> dict[str, Any]:
    """Paired bootstrap CI of the difference of a whole-set statistic (F1, ROC AUC), recomputed on each
    resample of the examples; ``method`` is the one asked for (BCa may fall back)."""
    return stats.paired_set_bootstrap(
        cand, base, labels, statistic=statistic, n_resamples=n_resamples,  # type: ignore[arg-type]
        confidence_level=confidence_level, method=method, random_state=random_state,  # type: ignore[arg-type]
    ).to_dict()


def permutation(cand: np.ndarray, base: np.ndarray, *, n_resamples: int, alternative: str, random_state: int) -> dict[str, Any]:
    return stats.paired_permutation_test(
        cand, base, n_resamples=n_resamples, alternative=alternative, random_state=random_state,  # type: ignore[arg-type]
    ).to_dict()


def effects(cand: np.ndarray, base: np.ndarray, *, confidence_level: float) -> dict[str, Any]:
    return stats.effect_sizes(cand, base, confidence_level=confidence_level).to_dict()


def drift(cand: np.ndarray, base: np.ndarray, *, bins: int) -> dict[str, Any]:
    """PSI (baseline as reference, ``bins`` quantile bins) with the seed's levels, and the two-sample KS test."""
    psi = stats.psi(base, cand, bins=bins)
    ks = stats.ks_test(base, cand)
    return {"psi": psi.value, "psi_level": _PSI_LEVEL[psi.level], "ks_statistic": ks.statistic, "ks_pvalue": ks.pvalue}


def power(cand: np.ndarray, base: np.ndarray, *, alpha: float, target: float) -> dict[str, Any]:
    """Minimum detectable mean difference at the observed n, and the power at the observed difference."""
    n = int(cand.shape[0])
    sd = stats.difference_sd(cand, base)
    mde = stats.paired_mde(n, sd_diff=sd, alpha=alpha, power=target)
    delta = float(np.mean(cand - base))
    observed = stats.paired_power(n, delta, sd_diff=sd, alpha=alpha) if sd > 0 else None
    return {"n": n, "sd_diff": sd, "alpha": alpha, "target_power": target, "mde": mde.delta,
            "power_at_observed_delta": observed, "method": mde.method, "reason": mde.reason}


def summary(entry: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers of a paired metric, copied from its statistics (no p-value for a whole-set
    statistic, which has a bootstrap interval only)."""
    boot = entry["bootstrap"]
    pvalue = entry["permutation"]["pvalue"] if "permutation" in entry else None
    return {"n": boot["n"], "delta": boot["estimate"], "ci95": [boot["low"], boot["high"]],
            "significance_pass": boot["low"] > 0, "pvalue": pvalue, "method": boot["method"]}


def holm(pvalues: list[float]) -> list[float]:
    return list(stats.holm(pvalues).adjusted)


def latency_quantiles(values: np.ndarray) -> dict[str, float]:
    """p50 / p95 / p99 of one latency log under the one quantile definition."""
    return {k: float(np.quantile(values, q, method=QUANTILE_METHOD)) for k, q in _LATENCY_LEVELS.items()}


def latency_delta(cand: np.ndarray, base: np.ndarray, *, q: float, n_resamples: int, confidence_level: float,
                  random_state: int) -> dict[str, Any]:
    return stats.quantile_delta(
        cand, base, q=q, n_resamples=n_resamples, confidence_level=confidence_level, random_state=random_state,
    ).to_dict()


def query_sets(cand_ids: np.ndarray, base_ids: np.ndarray, *, alpha: float = stats.SRM_ALPHA, shown: int = 20) -> dict[str, Any]:
    """SRM-style check that both runs scored the same queries: missing and extra query ids, and a
    chi-square test of the two counts against a 1:1 split (both runs should score every query once)."""
    cand_set, base_set = set(cand_ids.tolist()), set(base_ids.tolist())
    missing = sorted(base_set - cand_set)  # the baseline scored them, the candidate did not
    extra = sorted(cand_set - base_set)
    srm = stats.srm_test([len(cand_set), len(base_set)], [1.0, 1.0], alpha=alpha).to_dict()
    return {
        "n_candidate": len(cand_set), "n_baseline": len(base_set), "n_common": len(cand_set & base_set),
        "n_missing": len(missing), "n_extra": len(extra),
        "missing_query_ids": missing[:shown], "extra_query_ids": extra[:shown],
        "srm": srm, "pass": not missing and not extra and not srm["alert"],
    }


def crossed(cand: np.ndarray, base: np.ndarray, *, estimand: str, confidence_level: float) -> dict[str, Any]:
    """The crossed-design interval of seed-run arms (``(S, n)`` matrices) for one estimand."""
    return stats.crossed_interval(cand, base, estimand=estimand,  # type: ignore[arg-type]
                                  confidence_level=confidence_level).to_dict()


def run_swap(cand: np.ndarray, base: np.ndarray, *, n_resamples: int, random_state: int) -> dict[str, Any]:
    return stats.run_swap_permutation(cand, base, n_resamples=n_resamples, random_state=random_state).to_dict()


def two_way(cand: np.ndarray, base: np.ndarray, *, q: float, n_resamples: int, confidence_level: float,
            random_state: int) -> dict[str, Any]:
    return stats.two_way_bootstrap(cand, base, statistic=("quantile", q), n_resamples=n_resamples,
                                   confidence_level=confidence_level, random_state=random_state).to_dict()


@dataclass(frozen=True)
class Statistic:
    """One statistic: how it is computed, with which parameters, and how they are read back.

    ``compute(*inputs, **parameters)`` returns the statistic's record; ``parameters(settings, seed)``
    are what the comparison runs it with; ``recorded(entry)`` reads the same parameters back from
    the entry that records it (``verify-bundle``). ``beside`` is a record of fixed parameters the
    entry carries next to the statistic's own (name, record).
    """

    compute: Callable[..., dict[str, Any]]
    parameters: Callable[[ComparisonSettings, int], dict[str, Any]]
    recorded: Callable[[Mapping[str, Any]], dict[str, Any]]
    beside: tuple[str, dict[str, Any]] | None = None


def _resampled(s: ComparisonSettings, seed: int) -> dict[str, Any]:
    return {"n_resamples": s.n_resamples, "confidence_level": s.confidence_level, "method": s.method, "random_state": seed}


def _resampled_back(entry: Mapping[str, Any]) -> dict[str, Any]:
    b = entry["bootstrap"]
    return {"n_resamples": b["n_resamples"], "confidence_level": b["confidence_level"], "method": entry["method_requested"],
            "random_state": b["random_state"]}


_DRIFT_PARAMS = {"psi_bins": PSI_BINS, "reference": "baseline", "psi_method": "reference quantile bins",
                 "ks_method": "scipy.stats.ks_2samp two-sided"}

#: Every statistic a comparison computes and ``verify-bundle`` recomputes, by the kind of entry that
#: records it and its name there. The inputs: ``paired``, the per-item values of both runs paired by
#: item id; ``whole_set``, those values and the labels; ``latency``, both runs' latency logs;
#: ``arms``, the ``(S, n)`` matrices of seed-run arms; ``arms_latency``, the arms' ``(S, requests)`` logs.
STATISTICS: dict[str, dict[str, Statistic]] = {
    "paired": {
        "bootstrap": Statistic(
            bootstrap, lambda s, seed: {"statistic": "mean", **_resampled(s, seed)},
            lambda e: {"statistic": e["bootstrap"]["statistic"], **_resampled_back(e)}),
        # An exact sign test records n_resamples 0; it was asked for with the comparison's resample count.
        "permutation": Statistic(
            permutation, lambda s, seed: {"n_resamples": s.n_resamples, "alternative": "two-sided", "random_state": seed},
            lambda e: {"n_resamples": e["permutation"]["n_resamples"] or e["bootstrap"]["n_resamples"],
                       "alternative": e["permutation"]["alternative"], "random_state": e["permutation"]["random_state"]}),
        "effect_sizes": Statistic(
            effects, lambda s, seed: {"confidence_level": s.confidence_level},
            lambda e: {"confidence_level": e["effect_sizes"]["confidence_level"]}),
        "drift": Statistic(drift, lambda s, seed: {"bins": PSI_BINS}, lambda e: {"bins": e["drift_params"]["psi_bins"]},
                           beside=("drift_params", _DRIFT_PARAMS)),
        "power": Statistic(
            power, lambda s, seed: {"alpha": POWER_ALPHA, "target": POWER_TARGET},
            lambda e: {"alpha": e["power"]["alpha"], "target": e["power"]["target_power"]}),
    },
    "whole_set": {
        "bootstrap": Statistic(
            set_bootstrap, lambda s, seed: _resampled(s, seed),
            lambda e: {"statistic": e["bootstrap"]["statistic"], **_resampled_back(e)}),
    },
    "latency": {
        "bootstrap": Statistic(
            latency_delta, lambda s, seed: {"n_resamples": s.n_resamples, "confidence_level": s.confidence_level,
                                            "random_state": seed},
            lambda e: {k: e["bootstrap"][k] for k in ("q", "n_resamples", "confidence_level", "random_state")}),
    },
    "arms": {
        "run_swap": Statistic(
            run_swap, lambda s, seed: {"n_resamples": s.n_resamples, "random_state": seed},
            lambda e: {"n_resamples": e["run_swap"]["n_resamples"], "random_state": e["run_swap"]["random_state"]}),
    },
    "arms_latency": {
        "two_way": Statistic(
            two_way, lambda s, seed: {"n_resamples": s.n_resamples, "confidence_level": s.confidence_level,
                                      "random_state": seed},
            lambda e: {k: e["two_way"][k] for k in ("q", "n_resamples", "confidence_level", "random_state")}),
    },
}

#: The crossed-design interval, computed once per estimand the arms allow (``intervals``); its
#: parameters are read back from each interval's own record.
CROSSED = Statistic(crossed, lambda s, seed: {"confidence_level": s.confidence_level},
                    lambda r: {"estimand": r["requested_estimand"], "confidence_level": r["confidence_level"]})


def computed(kind: str, inputs: tuple[np.ndarray, ...], settings: ComparisonSettings, seed: int,
             **fixed: Any) -> dict[str, Any]:
    """Every statistic of ``kind`` over ``inputs``, by name, each with the record of fixed parameters beside
    it; ``fixed`` adds parameters the entry fixes for all (a latency quantile's ``q``)."""
    records: dict[str, Any] = {}
    for name, statistic in STATISTICS[kind].items():
        records[name] = statistic.compute(*inputs, **statistic.parameters(settings, seed), **fixed)
        if statistic.beside is not None:
            records[statistic.beside[0]] = statistic.beside[1]
    return records
