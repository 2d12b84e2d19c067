"""Describe a run as a run-created event: the job says what it did, the client computes the provenance."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from runnotary.client.dataset import hash_dataset
from runnotary.client.environment import current_environment, git_code
from runnotary.client.errors import InvalidRun, ProvenanceError
from runnotary.client.publisher import Published, publish_event
from runnotary.client.settings import ClientSettings
from runnotary.contract import RunCreated
from runnotary.digests import sha256_file

__all__ = ["Artifact", "Metric", "build_run_event", "publish_run"]

PathLike = str | os.PathLike[str]
_PLACEHOLDER = "0" * 64


@dataclass(frozen=True)
class Metric:
    """A number the job claims, the artifact file it comes from, and its unit when not the catalog's."""

    name: str
    value: float
    source: str
    unit: str | None = None
    qrels: str | None = None  # a metric from a trec_run: its trec_qrels artifact, when the run ships several


@dataclass(frozen=True)
class Artifact:
    """A file the job wrote, relative to the artifact root the service reads."""

    kind: str
    path: str


def build_run_event(
    *,
    experiment: str,
    run_name: str,
    candidate_id: str,
    role: str,
    owners: Sequence[str],
    dataset: PathLike | Sequence[PathLike],
    seed: int,
    seed_family: str,
    tags: Mapping[str, str],
    metrics: Sequence[Metric | Mapping[str, Any]] = (),
    artifacts: Sequence[Artifact | Mapping[str, Any]] = (),
    params: Mapping[str, str | int | float | bool] | None = None,
    dataset_name: str | None = None,
    splits: Mapping[str, PathLike | Sequence[PathLike]] | None = None,
    train_split_seed: int | None = None,
    test_split_seed: int | None = None,
    artifact_root: PathLike = ".",
    repo: PathLike = ".",
    git_commit: str | None = None,
    dirty: bool | None = None,
    repository: str | None = None,
    cuda_version: str | None = None,
    run_id: str | None = None,
    progress: bool | None = None,
    progress_stream: IO[str] | None = None,
) -> RunCreated:
    """The validated run-created event of a run, with every hash computed here.

    What the job states is checked against the contract first, so a typo fails before the data
    set is hashed; a ``InvalidRun`` names the field. Artifact paths are relative to
    ``artifact_root`` and must stay below it; their SHA-256 is computed from the files.
    """
    metric_claims = [_metric(m) for m in metrics]
    artifact_refs = [_artifact(a) for a in artifacts]
    data_paths = [dataset] if isinstance(dataset, (str, os.PathLike)) else list(dataset)
    stated: dict[str, Any] = {
        "run_id": run_id,
        "experiment": experiment,
        "run_name": run_name,
        "candidate_id": candidate_id,
        "role": role,
        "owners": list(owners),
        "dataset": {"sha256": _PLACEHOLDER, "name": dataset_name or (Path(data_paths[0]).name if data_paths else ""),
                    "splits": {name: _PLACEHOLDER for name in (splits or {})}},
        "seeds": {"value": seed, "family": seed_family, "train_split_seed": train_split_seed,
                  "test_split_seed": test_split_seed},
        "code": {"git_commit": git_commit or "0" * 40, "dirty": bool(dirty), "repository": repository},
        "environment": {"env_hash": _PLACEHOLDER, "python_version": "3.0", "requirements_hash": _PLACEHOLDER},
        "params": dict(params or {}),
        "metrics": [{"uuid": str(uuid.uuid4()), **m} for m in metric_claims],
        "artifacts": [{**a, "sha256": None} for a in artifact_refs],
        "tags": dict(tags),
        "created_at": datetime.now(timezone.utc),
    }
    _validate(stated)  # the job's own statements, before any hashing

    root = Path(artifact_root)
    for index, ref in enumerate(stated["artifacts"]):
        ref["sha256"] = _artifact_sha256(root, ref["path"], index)
    stated["dataset"]["sha256"] = hash_dataset(data_paths, progress=progress, stream=progress_stream).sha256
    for name, paths in (splits or {}).items():
        stated["dataset"]["splits"][name] = hash_dataset(paths, progress=progress, stream=progress_stream).sha256
    stated["code"] = git_code(repo, git_commit=git_commit, dirty=dirty, repository=repository).model_dump()
    stated["environment"] = current_environment(cuda_version).model_dump()
    return _validate(stated)


def publish_run(*, settings: ClientSettings | None = None, source: str | None = None, **run: Any) -> Published:
    """Build the run's event (``build_run_event``'s arguments), validate it and publish it.

    Returns once the broker acknowledged it, or once it is safe in the spool when the broker did not
    answer within ``settings.delivery_timeout_s`` (``Published.status`` says which).
    """
    return publish_event(build_run_event(**run), settings, source=source)


def _metric(metric: Metric | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(metric, Metric):
        out = {"name": metric.name, "value": metric.value, "unit": metric.unit, "source": metric.source}
        return {**out, "qrels": metric.qrels} if metric.qrels is not None else out
    return dict(metric)


def _artifact(artifact: Artifact | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(artifact, Artifact):
        return {"kind": artifact.kind, "path": artifact.path}
    return dict(artifact)


def _artifact_sha256(root: Path, path: str, index: int) -> str:
    """The SHA-256 of an artifact the job cites. Its path already passed the contract's lexical rule
    (``_validate``); a link must not lead it out of the root either, or the service would refuse it."""
    where = f"artifacts.{index}.path"
    try:
        real_root = root.resolve()
        file = (real_root / path).resolve()
        if not file.is_relative_to(real_root):
            raise InvalidRun(f"{where}: artifact path {path!r} resolves outside the artifact root (artifact root {str(root)!r})")
        if not file.exists():
            raise InvalidRun(f"{where}: artifact {path!r} is missing (no file under the artifact root {str(root)!r})")
        if not file.is_file():
            raise InvalidRun(f"{where}: artifact {path!r} is not a regular file (artifact root {str(root)!r})")
        return sha256_file(file)[0]
    except (RuntimeError, OSError) as exc:  # a symlink loop raises RuntimeError on Python < 3.13
        raise ProvenanceError(f"{where}: cannot read {path!r}: {getattr(exc, 'strerror', None) or exc}") from exc


def _validate(stated: Mapping[str, Any]) -> RunCreated:
    try:
        return RunCreated.model_validate(stated)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'event'}: {e['msg']}" for e in exc.errors()[:10])
        raise InvalidRun(f"the run does not satisfy the runs.created contract: {problems}") from exc

