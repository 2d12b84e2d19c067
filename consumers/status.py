"""``runnotary status``: what the registry knows of one run, for the engineer who published it.

The run is named by its MLflow run id, the id of the runs.created event that registered it, or
its candidate id (the newest candidate run with that id). The answer reads only what runnotary
recorded on MLflow: the registration (provenance, claimed and recomputed metrics, alerts), the
pairing (``ab_result.json``) and the gate status the service evaluated (``gate_status.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runnotary.bundles import GatePolicy, evaluate, gate_alerts, meeting_flags, status_dict
from runnotary.bundles.hygiene import quarantined_names
from runnotary.consumers.handlers import AB_RESULT_PATH, GATE_STATUS_PATH
from runnotary.contract import GateStatus
from runnotary.registry import Registration, Registry, RegistryError, find_baseline

__all__ = ["NotFound", "run_status"]

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class NotFound(LookupError):
    """No registered run answers to the id."""


@dataclass(frozen=True)
class _Found:
    registration: Registration
    how: str


def _find(registry: Registry, ident: str) -> _Found:
    experiments = registry.experiment_ids()
    if _RUN_ID.match(ident):
        try:
            tags = registry.run_tags(ident)
        except RegistryError:  # a store that refuses an unknown id rather than answering 404
            tags = None
        if tags is not None and tags.get("runnotary.registered") == "true":
            return _Found(registry.load(ident), "run_id")
    runs = registry.search({"event_id": ident}, experiments, max_results=1)
    if runs:
        return _Found(registry.load(runs[0][0]), "event_id")
    runs = registry.search({"candidate_id": ident}, experiments, max_results=50)
    if runs:
        ranked = sorted(runs, key=lambda r: r[1].get("runnotary.role") != "candidate")  # search is newest first
        return _Found(registry.load(ranked[0][0]), "candidate_id")
    raise NotFound(f"no registered run has run id, event id or candidate id {ident!r}")


def run_status(registry: Registry, ident: str, policy: GatePolicy) -> dict[str, Any]:
    """The status of the run ``ident`` names, JSON-ready; raises :class:`NotFound`."""
    found = _find(registry, ident)
    run = found.registration
    event = run.event
    answer: dict[str, Any] = {
        "found_by": found.how,
        "run": {"run_id": run.run_id, "experiment": event.experiment, "experiment_id": run.experiment_id,
                "run_name": event.run_name, "candidate_id": event.candidate_id, "role": event.role,
                "event_id": run.event_id, "created_at": event.created_at.isoformat(), "owners": list(event.owners)},
        "provenance": {"dataset": event.dataset.name, "dataset_sha256": event.dataset.sha256,
                       "seed_family": event.seeds.family, "seed": event.seeds.value,
                       "git_commit": event.code.git_commit, "dirty": event.code.dirty,
                       "repository": event.code.repository, "env_hash": event.environment.env_hash,
                       "python_version": event.environment.python_version},
    }
    comparison = registry.read_json(run.run_id, AB_RESULT_PATH) if event.role == "candidate" else None
    baseline = registry.load(comparison["baseline_run"]) if comparison is not None else None
    quarantined, flags = meeting_flags([run] + ([baseline] if baseline else []), event.candidate_id, stale_after=None)
    names = quarantined_names(run, quarantined)
    metrics = []
    for m in run.metrics:
        why: str | None
        if m.name in names:
            state, why = "quarantined", next((a.message for a in flags if a.details.get("uuid") == m.uuid),
                                             f"metric uuid {m.uuid} is claimed with another value by the paired run")
        else:
            state, why = m.status, m.reason
        metrics.append({"metric": m.name, "claimed": m.claimed, "recomputed": m.value, "unit": m.unit,
                        "status": state, "reason": why, "uuid": m.uuid, "file": m.source})
    answer["metrics"] = metrics
    alerts = [a.model_dump(mode="json") for a in (*run.alerts, *flags)]
    if event.role == "baseline":
        answer["baseline"] = None
        answer["gates"] = None
    elif comparison is None:
        waiting = find_baseline(registry, run) is None
        answer["baseline"] = {"run_id": None, "state": "awaiting" if waiting else "not paired yet",
                              "dataset_sha256": event.dataset.sha256, "seed_family": event.seeds.family}
        status = evaluate(run, None, policy, quarantined=names)
        answer["gates"] = {**status_dict(status), "evaluated": "now, under the current policy (no pairing recorded)"}
        alerts += [a.model_dump(mode="json") for a in gate_alerts(run, status)]
    else:
        assert baseline is not None
        answer["baseline"] = {"run_id": baseline.run_id, "state": "paired", "candidate_id": baseline.event.candidate_id,
                              "run_name": baseline.event.run_name}
        answer["ab"] = {name: {"delta": e["delta"], "ci95": e["ci95"], "pvalue": e.get("pvalue"),
                               "pvalue_holm": e.get("pvalue_holm")} for name, e in comparison["metrics"].items()}
        if comparison.get("latency"):
            lat = comparison["latency"]
            answer["ab"][lat["metric"]] = {"delta": lat["delta"], "ci95": lat["ci95"], "pvalue": None, "pvalue_holm": None}
        recorded = registry.read_json(run.run_id, GATE_STATUS_PATH)
        status = GateStatus.model_validate(recorded) if recorded is not None else evaluate(run, None, policy, quarantined=names)
        answer["gates"] = {**status_dict(status), "evaluated": "at pairing, recorded in gate_status.json"}
        alerts += [a.model_dump(mode="json") for a in gate_alerts(run, status)]
    answer["alerts"] = alerts
    return answer
