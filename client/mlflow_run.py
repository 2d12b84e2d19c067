"""The MLflow-native path: publish the event of the active MLflow run in one call.

The run's id is adopted (the service registers onto it instead of creating a run), its params
and metrics are read from MLflow, and its artifacts are downloaded from MLflow into the artifact
root the service reads (``<artifact_root>/mlflow/<run_id>/<artifact path>``), so every claimed
metric is recomputed from exactly the bytes the run logged. mlflow is imported only when this is
called: the light client does not need it.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from runnotary.client.errors import ClientError, InvalidRun
from runnotary.client.publisher import Published, publish_event
from runnotary.client.run import Artifact, Metric, build_run_event
from runnotary.client.settings import ClientSettings

__all__ = ["publish_active_run", "STAGING_DIR"]

#: Folder under the artifact root that receives the artifacts of MLflow runs.
STAGING_DIR = "mlflow"
#: Folders runnotary itself writes to a registered run; never republished as the job's artifacts.
_OWN_FOLDERS = ("runnotary", "evidence")


def publish_active_run(
    *,
    candidate_id: str,
    role: str,
    owners: Sequence[str],
    dataset: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    seed: int,
    seed_family: str,
    tags: Mapping[str, str],
    metric_sources: Mapping[str, str],
    metric_units: Mapping[str, str] | None = None,
    artifact_kinds: Mapping[str, str] | None = None,
    artifact_root: str | os.PathLike[str] | None = None,
    settings: ClientSettings | None = None,
    source: str | None = None,
    **provenance: Any,
) -> Published:
    """Publish the run-created event of the active MLflow run.

    ``metric_sources`` maps each MLflow metric key to claim to the artifact (its MLflow path) it is
    computed from; metrics without a source are not claimed (runnotary claims only what it can
    recompute). ``artifact_kinds`` maps artifact paths or glob patterns to their kind (others are
    ``other``). ``artifact_root`` defaults to ``RUNNOTARY_ARTIFACT_ROOT``. ``provenance`` takes the
    remaining arguments of ``build_run_event`` (dataset_name, splits, repo, git_commit, ...).
    """
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError as exc:
        raise ClientError("publish_active_run needs mlflow in the job's environment (pip install mlflow)") from exc

    active = mlflow.active_run()
    if active is None:
        raise ClientError("no active MLflow run: call publish_active_run inside `with mlflow.start_run():`")
    settings = settings or ClientSettings()
    root = Path(artifact_root) if artifact_root is not None else Path(settings.artifact_root)
    client = MlflowClient()
    run = client.get_run(active.info.run_id)
    run_id = run.info.run_id
    experiment = client.get_experiment(run.info.experiment_id).name

    params = dict(run.data.params)
    if "seed" in params and params["seed"] != str(seed):
        raise InvalidRun(f"params.seed: the run logged seed={params['seed']!r} but the event says seed={seed}")

    prefix = f"{STAGING_DIR}/{run_id}"
    paths = _stage_artifacts(client, run_id, root / prefix)
    kinds = dict(artifact_kinds or {})
    for path in list(metric_sources.values()) + list(kinds):
        if path not in paths and not any(fnmatch.fnmatchcase(p, path) for p in paths):
            raise InvalidRun(f"artifacts: {path!r} is not among the artifacts of run {run_id} ({sorted(paths)})")
    artifacts = [Artifact(kind=_kind(path, kinds), path=f"{prefix}/{path}") for path in paths]

    metrics = []
    for key, path in metric_sources.items():
        if key not in run.data.metrics:
            raise InvalidRun(f"metrics: {key!r} was not logged to run {run_id} (logged: {sorted(run.data.metrics)})")
        metrics.append(Metric(name=key, value=run.data.metrics[key], source=f"{prefix}/{path}",
                              unit=(metric_units or {}).get(key)))

    event = build_run_event(
        experiment=experiment, run_name=run.info.run_name or run_id, candidate_id=candidate_id, role=role, owners=owners,
        dataset=dataset, seed=seed, seed_family=seed_family, tags=tags, metrics=metrics, artifacts=artifacts,
        params=params, artifact_root=root, run_id=run_id, **provenance,
    )
    return publish_event(event, settings, source=source)


def _stage_artifacts(client: Any, run_id: str, target: Path) -> list[str]:
    """Download the run's own artifacts under ``target``; return their MLflow paths, sorted."""
    files: list[str] = []
    pending = [""]
    while pending:
        folder = pending.pop()
        for info in client.list_artifacts(run_id, folder or None):
            if not folder and info.path in _OWN_FOLDERS:
                continue
            if info.is_dir:
                pending.append(info.path)
            else:
                files.append(info.path)
    for path in files:
        destination = (target / path).parent
        destination.mkdir(parents=True, exist_ok=True)
        client.download_artifacts(run_id, path, str(destination))  # a single file lands at destination/<its name>
    return sorted(files)


def _kind(path: str, kinds: Mapping[str, str]) -> str:
    if path in kinds:
        return kinds[path]
    return next((kind for pattern, kind in kinds.items() if fnmatch.fnmatchcase(path, pattern)), "other")
