"""Hygiene across runs, checked when runs are paired or a meeting uses them.

- One metric uuid claimed with two different values by different runs: both claims are
  quarantined (an alert, the bundle marks them, a gate reading them fails as ``quarantined``).
- A stale run (older than ``stale_after``) is flagged again whenever a meeting uses it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from runnotary.contract import Alert
from runnotary.registry import Registration
from runnotary.registry.hygiene import STALE_AFTER

__all__ = ["STALE_AFTER", "cross_run_conflicts", "meeting_flags", "quarantined_names"]


def cross_run_conflicts(runs: Sequence[Registration]) -> dict[str, list[tuple[str, str, float]]]:
    """metric uuid -> ``(run_id, metric, claimed value)`` of every claim, for uuids whose claims
    differ across runs (a difference inside one run is the registry's ``conflicting_metric``)."""
    seen: dict[str, dict[str, tuple[str, float]]] = defaultdict(dict)
    for run in runs:
        for m in run.metrics:
            seen[m.uuid].setdefault(run.run_id, (m.name, m.claimed))
    return {
        uuid: [(run_id, name, value) for run_id, (name, value) in claims.items()]
        for uuid, claims in seen.items()
        if len(claims) > 1 and len({value for _, value in claims.values()}) > 1
    }


def quarantined_names(run: Registration, quarantined: frozenset[str]) -> frozenset[str]:
    """The names of ``run``'s metrics whose uuid is quarantined."""
    return frozenset(m.name for m in run.metrics if m.uuid in quarantined)


def _quarantine_alerts(conflicts: dict[str, list[tuple[str, str, float]]], candidate_id: str | None) -> list[Alert]:
    return [
        Alert(kind="quarantined_metric", severity="critical", run_id=run_id, candidate_id=candidate_id,
              message=f"metric uuid {uuid} ({name}) is claimed with {len({v for *_, v in claims})} different values "
                      f"across runs; every claim of it is quarantined",
              details={"uuid": uuid, "metric": name, "claims": [{"run_id": r, "value": v} for r, _, v in claims]})
        for uuid, claims in conflicts.items()
        for run_id, name, _ in claims
    ]


def meeting_flags(
    runs: Sequence[Registration], candidate_id: str | None, *, now: datetime | None = None,
    stale_after: timedelta | None = STALE_AFTER,
) -> tuple[frozenset[str], list[Alert]]:
    """Quarantined metric uuids among ``runs`` and the alerts to raise (quarantine; stale runs
    unless ``stale_after`` is None)."""
    conflicts = cross_run_conflicts(runs)
    alerts = _quarantine_alerts(conflicts, candidate_id)
    if stale_after is None:
        return frozenset(conflicts), alerts
    now = now or datetime.now(timezone.utc)
    for run in runs:
        if now - run.event.created_at > stale_after:
            # No age in the text: a bundle that cites this alert stays byte-identical from one day to the next.
            created = run.event.created_at.isoformat()
            alerts.append(Alert(
                kind="stale_run", severity="warning", run_id=run.run_id, candidate_id=run.event.candidate_id,
                message=f"run {run.run_id} used by this decision was created at {created}, "
                        f"more than {stale_after / timedelta(days=1):g} days ago",
                details={"created_at": created, "stale_after_days": stale_after / timedelta(days=1)},
            ))
    return frozenset(conflicts), alerts
