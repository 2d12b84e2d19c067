"""Pair a candidate with its baseline: same dataset SHA-256 and same seed family.

Pairing holds under any interleaving of the two registrations because each side writes before it
looks: a baseline is marked registered and then looks for its candidates; a candidate looks for its
baseline before its mark (so a found pairing rides in the mark's request) and, when it found none,
looks once more after the mark. Of two registrations racing, the later look always sees the other
side's mark, so at least one side pairs (both may: the gate status id is derived from the pair and
its content, so that is a duplicate, not a second decision). ``awaiting_candidates`` lists what is
still unpaired, for the reconciliation that repairs a pairing lost to anything else (a restore).
"""

from __future__ import annotations

from runnotary.registry.tracking import TAG, Registration, Registry

__all__ = ["awaiting_candidates", "candidates_for", "find_baseline"]


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


def awaiting_candidates(
    registry: Registry, *, max_results: int = 200, page_token: str | None = None
) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
    """Registered candidates with no gate status (no ``runnotary.gate_overall`` tag), oldest first, one page.

    Only the runs of the registry's own deployment (``Registry.owner``, its ``runnotary.group`` tag)
    when it has one: two deployments sharing one MLflow store (staging and production, or tests)
    never pair and publish each other's runs. Returns the page's ``(run_id, tags)`` and the token of
    the next page (``None`` after the last).
    """
    mine = {"group": registry.owner} if registry.owner else {}
    return registry.search_page({"role": "candidate", **mine}, None, max_results, without=("gate_overall",),
                                oldest_first=True, page_token=page_token)
