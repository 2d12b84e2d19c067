"""Hygiene checks on a run's own record: stale, seed reuse, split leaks, conflicting claims, and
the team's experiment conventions (seed 001).

Each finding is an alert naming its rule, never a refusal: a run that breaks a convention is
still registered, so the convention can be fixed without losing the evidence.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from runnotary.contract import Alert, RunCreated

__all__ = ["STALE_AFTER", "DEFAULT_HYGIENE", "HygieneSettings", "check_run"]

#: A run older than this is stale (at registration, as a baseline, in a meeting): the one default, which
#: ``RUNNOTARY_STALE_AFTER_SECONDS`` overrides where the service reads it.
STALE_AFTER = timedelta(days=7)

_TIMESTAMP = r"\d{8}_\d{4}"  # strftime("%Y%m%d_%H%M")


@dataclass(frozen=True)
class HygieneSettings:
    """What the hygiene checks expect; the defaults are seed 001's experiment conventions.

    ``activities`` lists each activity with the suffix its experiment's name ends with and the pattern
    its run names follow: ``*_development`` holds ``dev_{feature}_{timestamp}`` runs,
    ``*_evaluation`` holds ``eval_{domain}_{timestamp}``, ``*_deployment`` holds
    ``pre_deploy_validation_{timestamp}``. ``domains`` and ``evaluation_types`` are the standard
    tags' vocabularies; ``dataset_types`` are checked by the contract itself. ``conventions=False``
    turns the seed-001 rules off (the stale/seed/split/claim checks stay).
    """

    stale_after: timedelta = STALE_AFTER
    conventions: bool = True
    activities: tuple[tuple[str, str, str], ...] = (
        ("development", "_development", rf"^dev_[A-Za-z0-9_-]+_{_TIMESTAMP}$"),
        ("evaluation", "_evaluation", rf"^eval_[A-Za-z0-9_-]+_{_TIMESTAMP}$"),
        ("deployment", "_deployment", rf"^pre_deploy_validation_{_TIMESTAMP}$"),
    )
    domains: frozenset[str] = frozenset({"cost", "security", "performance", "reliability", "quality", "all"})
    evaluation_types: frozenset[str] = frozenset(
        {"comprehensive", "domain_specific", "smoke", "regression", "pre_deploy_validation", "none"}
    )

    def activity_of(self, experiment: str) -> str | None:
        """The activity an experiment name declares by its suffix, if any."""
        return next((a for a, suffix, _ in self.activities if experiment.endswith(suffix)), None)

    def run_name_patterns(self, activity: str | None) -> list[str]:
        """The run-name patterns of ``activity``, or of every activity when it is unknown."""
        return [p for a, _, p in self.activities if activity is None or a == activity]


DEFAULT_HYGIENE = HygieneSettings()


def check_run(event: RunCreated, run_id: str | None, now: datetime | None = None,
              settings: HygieneSettings = DEFAULT_HYGIENE) -> list[Alert]:
    """Findings about one run that need nothing but its own event."""
    now = now or datetime.now(timezone.utc)
    found: list[Alert] = []

    def alert(kind: str, severity: str, message: str, **details: object) -> None:
        found.append(
            Alert(kind=kind, severity=severity, run_id=run_id, candidate_id=event.candidate_id,  # type: ignore[arg-type]
                  message=message, details=details)
        )

    age = now - event.created_at
    if age > settings.stale_after:
        alert("stale_run", "warning", f"run was created {age.days} days ago (stale after {settings.stale_after.days})",
              age_days=age.days)
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
    if settings.conventions:
        for kind, message, details in _conventions(event, settings):
            alert(kind, "warning", message, **details)
    return found


def _conventions(event: RunCreated, settings: HygieneSettings) -> list[tuple[str, str, dict[str, object]]]:
    """Seed 001's rules: activity-specific experiments, run names, standard tags, the dataset as input."""
    out: list[tuple[str, str, dict[str, object]]] = []
    activity = settings.activity_of(event.experiment)
    if activity is None:
        suffixes = [suffix for _, suffix, _ in settings.activities]
        out.append(("experiment_activity", f"experiment {event.experiment!r} names no activity (its name ends with none of "
                    f"{suffixes}); development, evaluation and deployment runs belong in separate experiments",
                    {"rule": "experiment_activity", "experiment": event.experiment}))
    patterns = settings.run_name_patterns(activity)
    if not any(re.match(p, event.run_name) for p in patterns):
        out.append(("run_name_pattern", f"run name {event.run_name!r} does not follow the pattern of "
                    f"{activity or 'any activity'} runs ({' or '.join(patterns)})",
                    {"rule": "run_name_pattern", "run_name": event.run_name, "activity": activity}))
    tags = event.tags
    wrong = {}
    if tags.domain not in settings.domains:
        wrong["domain"] = tags.domain
    if tags.evaluation_type not in settings.evaluation_types:
        wrong["evaluation_type"] = tags.evaluation_type
    if activity == "deployment" and tags.evaluation_type != "pre_deploy_validation":
        wrong["evaluation_type"] = tags.evaluation_type
    if wrong:
        out.append(("standard_tags", f"standard tags outside the team's vocabulary: {wrong}",
                    {"rule": "standard_tags", "tags": wrong}))
    if activity == "evaluation" and tags.dataset_type == "none":
        out.append(("dataset_input", "an evaluation run must reference the data set it evaluated (dataset_type is 'none')",
                    {"rule": "dataset_input"}))
    return out
