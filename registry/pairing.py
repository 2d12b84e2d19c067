"""Pair a candidate with its baseline: same dataset SHA-256 and same seed family."""

from __future__ import annotations

from runnotary.registry.tracking import TAG, Registration, Registry

__all__ = ["find_baseline", "candidates_for"]


def _key(registration: Registration) -> dict[str, str]:
    event = registration.event
    return {"dataset_sha256": event.dataset.sha256, "seed_family": event.seeds.family}


def find_baseline(registry: Registry, candidate: Registration) -> str | None:
    """The baseline run a candidate is paired with, the same on every delivery.

    The rule: a pairing already recorded on the candidate (its ``runnotary.baseline_run`` tag,
    written when its gate status was logged) is honoured while that baseline run is live;
    otherwise the newest registered baseline (latest ``created_at``, i.e. run start time, ties
    broken by run id) with the candidate's dataset sha256 and seed family in the candidate's
    experiment. A first delivery has no recorded pairing, so only a redelivery pays the lookup
    of the candidate's tags.
    """
    if candidate.already_registered:
        tags = registry.run_tags(candidate.run_id) or {}
        recorded = tags.get(f"{TAG}baseline_run")
        if recorded and registry.run_tags(recorded) is not None:
            return recorded
    runs = registry.search({**_key(candidate), "role": "baseline"}, [candidate.experiment_id], max_results=1)
    return runs[0][0] if runs else None


def candidates_for(registry: Registry, baseline: Registration) -> list[str]:
    """Candidates of the baseline's dataset and seed family that have no baseline yet (it came late),
    or that were paired with this very baseline: a redelivered baseline event must publish their
    status again, in case the first delivery stopped before its events were acknowledged."""
    runs = registry.search({**_key(baseline), "role": "candidate"}, [baseline.experiment_id])
    return [run_id for run_id, tags in runs if tags.get(f"{TAG}baseline_run", baseline.run_id) == baseline.run_id]
