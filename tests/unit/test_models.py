"""The runs.created contract refuses bad input with an error that names the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from runnotary.registry import RunCreated
from runnotary.registry.models import safe_relative_path


def test_valid_event_parses(run_event: dict[str, Any]) -> None:
    event = RunCreated.model_validate(run_event)
    assert event.dataset.sha256 == run_event["dataset"]["sha256"]
    assert event.metrics[0].source == "r/per_query.csv"


@pytest.mark.parametrize(
    ("path", "breakage", "named"),
    [
        (("dataset", "sha256"), "not-a-hash", "sha256"),
        (("role",), "champion", "role"),
        (("owners",), [], "owners"),
        (("code", "git_commit"), "xyz", "git_commit"),
        (("created_at",), "2026-11-23T10:00:00", "time zone"),
        (("seeds", "family"), "x' OR '1'='1", "family"),
        (("candidate_id",), "a b", "candidate_id"),
    ],
)
def test_invalid_field_is_named(run_event: dict[str, Any], path: tuple[str, ...], breakage: object, named: str) -> None:
    target = run_event
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = breakage
    with pytest.raises(ValidationError, match=named):
        RunCreated.model_validate(run_event)


def test_unknown_field_is_refused(run_event: dict[str, Any]) -> None:
    run_event["seeds"]["sede"] = 3
    with pytest.raises(ValidationError, match="sede"):
        RunCreated.model_validate(run_event)


def test_metric_must_cite_a_listed_artifact(run_event: dict[str, Any]) -> None:
    run_event["metrics"][0]["source"] = "r/elsewhere.csv"
    with pytest.raises(ValidationError, match="not among the artifacts"):
        RunCreated.model_validate(run_event)


def test_non_finite_metric_value_is_refused(run_event: dict[str, Any]) -> None:
    run_event["metrics"][0]["value"] = float("nan")
    with pytest.raises(ValidationError, match="non-finite"):
        RunCreated.model_validate(run_event)


@pytest.mark.parametrize("path", ["/etc/passwd", "../secrets", "a/../../b", "a\\b", "C:/x", "", "a/\x00b", "."])
def test_unsafe_artifact_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        safe_relative_path(path)


def test_artifact_path_is_normalised() -> None:
    assert safe_relative_path("a/./b//c.json") == "a/b/c.json"
