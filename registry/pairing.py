"""Pair a candidate with its baseline: same dataset SHA-256 and same seed family.

Pairing holds under any interleaving of the two registrations because each side writes before it
looks: a baseline is marked registered and then looks for its candidates; a candidate looks for its
baseline before its mark (so a found pairing rides in the mark's request) and, when it found none,
looks once more after the mark. Of two registrations racing, the later look always sees the other
side's mark, so at least one side pairs (both may: the gate status id is derived from the pair and
its content, so that is a duplicate, not a second decision). ``awaiting_candidates`` lists what is
still unpaired, for the reconciliation that repairs a pairing lost to anything else (a restore).

Arms: the registered runs of one ``candidate_id`` and role with one pairing key (dataset SHA-256 and
seed family) in one experiment are that recipe's seed runs, one per ``seeds.value`` (the newest run of
a seed wins, so a redelivered or re-run seed replaces the older one). A candidate is compared as its
arm against the arm of the baseline ``find_baseline`` picks (``arm_runs``); one run per arm is the
one-run comparison of before. Two seed runs of one arm registering at once also write before they
look: each looks at its arm after its mark, and the later look sees both.
"""

from __future__ import annotations

from runnotary.contract import RunCreated
from runnotary.registry.records import TAG, Registration
from runnotary.registry.registration import Registry

__all__ = ["arm_from", "arm_runs", "awaiting_candidates", "candidates_for", "find_baseline", "key_runs",
           "key_runs_of", "newest_baseline"]


def _key(event: RunCreated) -> dict[str, str]:
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
    runs = registry.search({**_key(candidate.event), "role": "baseline"}, [candidate.experiment_id], max_results=1)
    return runs[0][0] if runs else None


def key_runs(registry: Registry, member: Registration) -> list[tuple[str, dict[str, str]]]:
    """``(run_id, tags)`` of every registered run of ``member``'s pairing key in its experiment, newest
    first: one lookup from which both arms of a comparison are read (``arm_from``)."""
    return key_runs_of(registry, member.event, member.experiment_id)


def key_runs_of(registry: Registry, event: RunCreated, experiment_id: str) -> list[tuple[str, dict[str, str]]]:
    """``key_runs`` for an event not registered yet, in ``experiment_id``: a look that needs no run of its own."""
    return registry.search(_key(event), [experiment_id])


def arm_from(runs: list[tuple[str, dict[str, str]]], candidate_id: str, role: str) -> list[str]:
    """The run ids of one arm among ``runs`` (newest first): the first, i.e. newest, run of each seed value."""
    seen: set[str] = set()
    out: list[str] = []
    for run_id, tags in runs:
        if tags.get(f"{TAG}candidate_id") != candidate_id or tags.get(f"{TAG}role") != role:
            continue
        seed = tags.get(f"{TAG}seed", run_id)
        if seed not in seen:
            seen.add(seed)
            out.append(run_id)
    return out


def newest_baseline(runs: list[tuple[str, dict[str, str]]]) -> str | None:
    """The newest baseline run among ``key_runs``'s answer (newest first): ``find_baseline``'s rule for a
    candidate with no recorded pairing, read from a lookup already made."""
    return next((run_id for run_id, tags in runs if tags.get(f"{TAG}role") == "baseline"), None)


def arm_runs(registry: Registry, member: Registration) -> list[str]:
    """The run ids of ``member``'s arm, one per seed value (the newest run of each), newest first.

    The arm: registered runs with ``member``'s candidate id, role, dataset sha256 and seed family in
    its experiment. ``member`` itself is in the list only once it is marked registered.
    """
    return arm_from(key_runs(registry, member), member.event.candidate_id, member.event.role)


def candidates_for(registry: Registry, baseline: Registration) -> list[tuple[str, str]]:
    """``(run_id, candidate_id)`` of the candidates of the baseline's dataset and seed family that have no
    baseline yet (it came late), or that were paired with a run of this baseline's arm: a new seed run
    of the baseline recipe changes their comparison, and a redelivered baseline event must publish their
    status again, in case the first delivery stopped before its events were acknowledged."""
    runs = registry.search({**_key(baseline.event), "role": "candidate"}, [baseline.experiment_id])
    paired = [tags.get(f"{TAG}baseline_run") for _, tags in runs]
    arm = {baseline.run_id}
    if any(p is not None and p != baseline.run_id for p in paired):  # only then is the arm worth a lookup
        arm.update(arm_runs(registry, baseline))
    return [(run_id, tags.get(f"{TAG}candidate_id", "")) for (run_id, tags), recorded in zip(runs, paired)
            if recorded is None or recorded in arm]


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
