"""Hygiene checks on a run's own record: stale, seed reuse, split leaks, conflicting claims."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from runnotary.registry.models import Alert, RunCreated

__all__ = ["STALE_AFTER", "check_run"]

STALE_AFTER = timedelta(days=7)


def check_run(event: RunCreated, run_id: str | None, now: datetime | None = None) -> list[Alert]:
    """Findings about one run that need nothing but its own event."""
    now = now or datetime.now(timezone.utc)
    found: list[Alert] = []

    def alert(kind: str, severity: str, message: str, **details: object) -> None:
        found.append(
            Alert(kind=kind, severity=severity, run_id=run_id, candidate_id=event.candidate_id,  # type: ignore[arg-type]
                  message=message, details=details)
        )

    age = now - event.created_at
    if age > STALE_AFTER:
        alert("stale_run", "warning", f"run was created {age.days} days ago (stale after {STALE_AFTER.days})", age_days=age.days)
    seeds = event.seeds
    if seeds.train_split_seed is not None and seeds.train_split_seed == seeds.test_split_seed:
        alert("seed_reuse", "critical", f"train and test splits share seed {seeds.train_split_seed}", seed=seeds.train_split_seed)
    by_hash: dict[str, list[str]] = defaultdict(list)
    for split, digest in event.dataset.splits.items():
        by_hash[digest].append(split)
    for digest, splits in by_hash.items():
        if len(splits) > 1:
            alert("split_leak", "critical", f"splits {sorted(splits)} have the same SHA-256", splits=sorted(splits), sha256=digest)
    if event.code.dirty:
        alert("dirty_commit", "warning", f"run was trained from a dirty tree at {event.code.git_commit}")
    claims: dict[str, set[float]] = defaultdict(set)
    for claim in event.metrics:
        claims[str(claim.uuid)].add(claim.value)
    for uuid, values in claims.items():
        if len(values) > 1:
            alert("conflicting_metric", "critical", f"metric uuid {uuid} is claimed with {len(values)} different values",
                  uuid=uuid, values=sorted(values))
    return found
