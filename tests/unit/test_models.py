"""The runs.created contract refuses bad input with an error that names the field."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from runnotary.contract import RunCreated, safe_relative_path


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


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"lr@x": 1}, "may only contain"),
        ({"a/../b": 1}, "normalises to another name"),
        ({"k" * 251: 1}, "longer than MLflow's 250"),
        ({"notes": "x" * 6001}, "longer than MLflow's 6000"),
    ],
)
def test_params_mlflow_would_refuse_are_refused_before_a_run_exists(
    run_event: dict[str, Any], params: dict[str, object], named: str
) -> None:
    """Before: MLflow refused the key after the run was opened, leaving a half-registered run."""
    run_event["params"] = params
    with pytest.raises(ValidationError, match=named):
        RunCreated.model_validate(run_event)


def test_params_mlflow_accepts_pass(run_event: dict[str, Any]) -> None:
    run_event["params"] = {"optimizer/lr": 0.1, "model name": "bert:base", "notes": "x" * 6000}
    assert RunCreated.model_validate(run_event).params["model name"] == "bert:base"


def test_repository_and_dataset_source_are_optional_and_bounded(run_event: dict[str, Any]) -> None:
    run_event["code"]["repository"] = "https://git.example.org/team/model"
    run_event["dataset"]["source"] = "s3://bucket/queries.parquet"
    event = RunCreated.model_validate(run_event)
    assert event.code.repository and event.dataset.source
    run_event["code"]["repository"] = "x" * 2001
    with pytest.raises(ValidationError, match="repository"):
        RunCreated.model_validate(run_event)
