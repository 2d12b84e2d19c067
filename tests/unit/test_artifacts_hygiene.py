"""Artifact paths are untrusted; hashing is exact; hygiene flags what the seed asks for."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from runnotary.contract import RunCreated
from runnotary.registry import ArtifactError, sha256_file
from runnotary.registry.artifacts import resolve_under
from runnotary.registry.errors import UnsafeArtifactPath
from runnotary.registry.hygiene import check_run


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret").write_text("x")
    (root / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(UnsafeArtifactPath, match="outside the artifact root"):
        resolve_under(root, "link")


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="'a/b.json' is missing"):
        resolve_under(tmp_path, "a/b.json")


def test_sha256_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB, several read chunks
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == (hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def run_event(run_event: dict[str, Any]) -> dict[str, Any]:
    """The shared event, in an experiment that follows the activity convention."""
    run_event["experiment"] = "/Shared/unit_evaluation"
    return run_event


def _kinds(alerts: list[Any]) -> set[str]:
    return {a.kind for a in alerts}


def test_clean_run_has_no_findings(run_event: dict[str, Any]) -> None:
    assert check_run(RunCreated.model_validate(run_event), "r1") == []


def test_stale_run_after_seven_days(run_event: dict[str, Any]) -> None:
    run_event["created_at"] = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    assert _kinds(check_run(RunCreated.model_validate(run_event), "r1")) == {"stale_run"}


def test_seed_reuse_and_split_leak(run_event: dict[str, Any]) -> None:
    run_event["seeds"]["test_split_seed"] = run_event["seeds"]["train_split_seed"]
    run_event["dataset"]["splits"]["test"] = run_event["dataset"]["splits"]["train"]
    assert _kinds(check_run(RunCreated.model_validate(run_event), "r1")) == {"seed_reuse", "split_leak"}


def test_same_metric_uuid_with_two_values_is_a_conflict(run_event: dict[str, Any]) -> None:
    twin = dict(run_event["metrics"][0], value=0.9)
    run_event["metrics"].append(twin)
    alerts = check_run(RunCreated.model_validate(run_event), "r1")
    assert _kinds(alerts) == {"conflicting_metric"} and alerts[0].severity == "critical"


@pytest.mark.parametrize(
    ("experiment", "run_name", "tags", "expected"),
    [
        ("/Shared/agent", "eval_cost_20260107_1445", {}, {"experiment_activity"}),
        ("/Shared/agent_evaluation", "my-run", {}, {"run_name_pattern"}),
        ("/Shared/agent_evaluation", "dev_model_registration_20260107_1430", {}, {"run_name_pattern"}),
        ("/Shared/agent_development", "dev_model_registration_20260107_1430", {}, set()),
        ("/Shared/agent_deployment", "pre_deploy_validation_20260107_1530", {}, {"standard_tags"}),
        ("/Shared/agent_deployment", "pre_deploy_validation_20260107_1530", {"evaluation_type": "pre_deploy_validation"}, set()),
        ("/Shared/agent_evaluation", "eval_cost_20260107_1445", {"domain": "marketing"}, {"standard_tags"}),
        ("/Shared/agent_evaluation", "eval_cost_20260107_1445", {"dataset_type": "none"}, {"dataset_input"}),
    ],
)
def test_seed_001_conventions_are_alerts_naming_the_rule(
    run_event: dict[str, Any], experiment: str, run_name: str, tags: dict[str, str], expected: set[str]
) -> None:
    run_event.update(experiment=experiment, run_name=run_name)
    run_event["tags"].update(tags)
    alerts = check_run(RunCreated.model_validate(run_event), "r1")
    assert _kinds(alerts) == expected
    assert all(a.details["rule"] == a.kind and a.severity == "warning" for a in alerts)


def test_conventions_can_be_turned_off(run_event: dict[str, Any]) -> None:
    from runnotary.registry import HygieneSettings

    run_event.update(experiment="/Shared/whatever", run_name="x")
    event = RunCreated.model_validate(run_event)
    assert _kinds(check_run(event, "r1")) == {"experiment_activity", "run_name_pattern"}
    assert check_run(event, "r1", settings=HygieneSettings(conventions=False)) == []
