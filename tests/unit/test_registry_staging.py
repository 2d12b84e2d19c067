"""Registration stages each artifact once: the bytes hashed are the bytes recomputed and uploaded."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from mlflow.tracking import MlflowClient

from runnotary.contract import RunCreated
from runnotary.registry import Registry


def _registry(tmp_path: Path, **overrides: Any) -> Registry:
    # No MLflow call happens while staging; the address is never contacted.
    return Registry(MlflowClient("http://127.0.0.1:9"), tmp_path / "root", tmp_path / "cache", **overrides)


def test_metrics_are_recomputed_from_the_hashed_copy(tmp_path: Path, run_event: dict[str, Any]) -> None:
    registry = _registry(tmp_path)
    source = registry.artifact_root / "r" / "per_query.csv"
    source.parent.mkdir(parents=True)
    source.write_text("query_id,ndcg@10\nq1,0.5\nq2,0.25\n")
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    run_event["metrics"][0]["value"] = 0.375
    staged = registry.staging.stage(RunCreated.model_validate(run_event))
    source.write_text("query_id,ndcg@10\nq1,0.9\nq2,0.9\n")  # the job rewrites its file afterwards
    (record,) = staged.artifacts
    copy = staged.folder / "evidence" / "r" / "per_query.csv"
    assert record.sha256 == digest == hashlib.sha256(copy.read_bytes()).hexdigest()
    (metric,) = staged.metrics
    assert (metric.value, metric.status, metric.source_sha256) == (0.375, "verified", digest)


def test_a_file_over_the_limit_is_an_alert_not_a_refusal(tmp_path: Path, run_event: dict[str, Any]) -> None:
    registry = _registry(tmp_path, max_artifact_bytes=10)
    source = registry.artifact_root / "r" / "per_query.csv"
    source.parent.mkdir(parents=True)
    source.write_text("query_id,ndcg@10\nq1,0.5\n")
    staged = registry.staging.stage(RunCreated.model_validate(run_event))
    kinds = {(a.kind, a.details.get("reason")) for a in staged.alerts}
    assert ("artifact_too_large", None) in kinds and ("metric_invalid", "missing_artifact") in kinds
    assert staged.artifacts == ()


def test_staging_left_by_a_killed_process_is_swept(tmp_path: Path, run_event: dict[str, Any]) -> None:
    registry = _registry(tmp_path)
    old = registry.cache_dir / "staging" / "left-behind"
    old.mkdir(parents=True)
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    fresh = registry.cache_dir / "staging" / "in-use"
    fresh.mkdir()
    registry.staging.stage(RunCreated.model_validate(run_event))
    assert not old.exists() and fresh.exists()
