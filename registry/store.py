"""The tracking store as the registry reads and writes it: search, run tags, downloads, uploads, tags.

A run's artifact repository is built from its artifact URI (kept from the searches and reads that
saw the run), so a download or an upload costs no ``runs/get``; a download is one GET.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Run
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

from runnotary.registry.errors import RegistryError, TrackingUnavailable
from runnotary.registry.mlflow_access import MlflowAccess, http_status, is_not_found
from runnotary.registry.records import PROVENANCE_PATH, TAG, Registration

__all__ = ["EXPERIMENT_PAGE", "TrackingStore", "qualified"]

#: Experiments listed per request when every experiment of the store is searched.
EXPERIMENT_PAGE = 1000


def qualified(tags: dict[str, str]) -> dict[str, str]:
    """Result tags under ``runnotary.``; MLflow's own (``mlflow.note.content``, …) keep their names."""
    return {k if k.startswith("mlflow.") else f"{TAG}{k}": v for k, v in tags.items()}


@dataclass
class TrackingStore:
    """Reads and writes of registered runs through ``mlflow``; downloads and temporary files under ``cache_dir``."""

    mlflow: MlflowAccess
    cache_dir: Path
    _artifact_uris: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _repos: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    # -- lookups ------------------------------------------------------------------------

    def search(
        self, filters: dict[str, str], experiment_ids: list[str] | None = None, max_results: int = 1000
    ) -> list[tuple[str, dict[str, str]]]:
        """``(run_id, tags)`` of registered runs whose ``runnotary.*`` tags equal ``filters``, newest first.

        ``experiment_ids`` defaults to every experiment of the store.
        """
        return self.search_page(filters, experiment_ids, max_results)[0]

    def search_page(
        self, filters: dict[str, str], experiment_ids: list[str] | None = None, max_results: int = 1000, *,
        without: tuple[str, ...] = (), oldest_first: bool = False, page_token: str | None = None,
    ) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
        """One page of ``search``, and the token of the next page (``None`` after the last).

        ``without`` names ``runnotary.*`` tags the runs must not carry (``IS NULL``).
        """
        clauses = [f"tags.`{TAG}registered` = 'true'"]
        clauses += [f"tags.`{TAG}{key}` = '{_quote(value)}'" for key, value in filters.items()]
        clauses += [f"tags.`{TAG}{key}` IS NULL" for key in without]
        ids = experiment_ids if experiment_ids is not None else self.experiment_ids()
        if not ids:
            return [], None
        order = "ASC" if oldest_first else "DESC"
        with self.mlflow.operation("search runs"):
            runs = self.mlflow.client.search_runs(
                ids, " AND ".join(clauses), max_results=max_results,
                order_by=[f"attributes.start_time {order}"], page_token=page_token,
            )
        self.remember(runs)
        return [(r.info.run_id, dict(r.data.tags)) for r in runs], runs.token or None

    def experiment_ids(self) -> list[str]:
        """Every active experiment of the store, paged through (correct past 1,000 experiments)."""
        ids: list[str] = []
        token: str | None = None
        while True:
            with self.mlflow.operation("list experiments"):
                page = self.mlflow.client.search_experiments(max_results=EXPERIMENT_PAGE, page_token=token)
            ids += [e.experiment_id for e in page]
            token = page.token
            if not token:
                return ids

    def event_runs(self, experiment_id: str, event_id: str) -> list[Run]:
        """The live runs tagged with ``event_id``, in the event's experiment only."""
        with self.mlflow.operation("look up the event"):
            runs = self.mlflow.client.search_runs(
                [experiment_id], f"tags.`{TAG}event_id` = '{_quote(event_id)}'", max_results=50)
        self.remember(runs)
        return list(runs)

    def run_tags(self, run_id: str) -> dict[str, str] | None:
        """The tags of a live run, or ``None`` when the run does not exist or is deleted."""
        try:
            with self.mlflow.operation("get a run"):
                run = self.mlflow.client.get_run(run_id)
        except RegistryError as exc:
            if exc.__cause__ is not None and http_status(exc.__cause__) == 404:
                return None
            raise
        if run.info.lifecycle_stage != "active":
            return None
        self.remember([run])
        return dict(run.data.tags)

    # -- documents ----------------------------------------------------------------------

    def load(self, run_id: str) -> Registration:
        """Return the registration recorded on ``run_id``."""
        path = self.download(run_id, PROVENANCE_PATH)
        registration = Registration.from_dict(json.loads(path.read_text()))
        if registration.artifact_uri:
            self.remember_uri(run_id, registration.artifact_uri)
        return registration

    def read_json(self, run_id: str, artifact_path: str) -> dict[str, Any] | None:
        """A JSON document runnotary logged on a run, or ``None`` only if the run has no such artifact.

        Any other failure (401/403, an outage) raises: a refused read is not an absent document.
        """
        folder = self.cache_dir / "staging" / uuid.uuid4().hex
        try:
            try:
                path = self.download(run_id, artifact_path, cache=False, target=folder / Path(artifact_path).name)
            except (RegistryError, TrackingUnavailable) as exc:
                if exc.__cause__ is not None and is_not_found(exc.__cause__):
                    return None
                raise
            data: dict[str, Any] = json.loads(path.read_text())
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return data

    def log_json(self, run_id: str, artifact_path: str, data: dict[str, Any]) -> None:
        """Upload ``data`` as the run's JSON artifact ``artifact_path``."""
        self.log_jsons(run_id, {artifact_path: data})

    def log_jsons(self, run_id: str, documents: dict[str, dict[str, Any]]) -> None:
        """Upload each document as the run's JSON artifact at its path, all at once."""
        folder = self.cache_dir / "staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        artifact_uri = self.artifact_uri(run_id)

        def upload(index: int, artifact_path: str, data: dict[str, Any]) -> Callable[[], None]:
            local = folder / str(index) / Path(artifact_path).name
            local.parent.mkdir()
            local.write_text(json.dumps(data, indent=2))
            parent = artifact_path.rsplit("/", 1)[0] if "/" in artifact_path else None
            return self.upload(run_id, artifact_uri, local, parent, "log a result")

        try:
            self.mlflow.together([upload(i, path, data) for i, (path, data) in enumerate(documents.items())])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Set ``runnotary.<key>`` tags on a run, in one request."""
        if tags:
            with self.mlflow.operation("tag a result"):
                self.mlflow.log_batch(run_id, tags=qualified(tags))

    # -- artifact files -----------------------------------------------------------------

    def upload(self, run_id: str, artifact_uri: str, local: Path, folder: str | None, operation: str) -> Callable[[], None]:
        """The call that uploads ``local`` into the run's artifact ``folder`` (for ``MlflowAccess.together``)."""
        repo = self._repo(run_id, artifact_uri)

        def run() -> None:
            with self.mlflow.operation(operation):
                repo.log_artifact(str(local), folder)
        return run

    def download(self, run_id: str, artifact_path: str, cache: bool = True, target: Path | None = None) -> Path:
        """A local copy of a run's artifact, fetched with one GET; ``cache`` only for files that never change."""
        target = target or self.cache_dir / run_id / artifact_path
        if cache and target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        repo = self._repo(run_id, self.artifact_uri(run_id))
        try:
            with self.mlflow.operation(f"download {artifact_path}"):
                repo._download_file(artifact_path, str(partial))  # one GET (download_artifacts lists first)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def remember(self, runs: list[Run]) -> None:
        """Keep the artifact URIs of runs just seen, so their files are reached without a ``runs/get``."""
        for run in runs:
            self.remember_uri(run.info.run_id, run.info.artifact_uri)

    def remember_uri(self, run_id: str, artifact_uri: str) -> None:
        """Keep the artifact URI of ``run_id`` (a run's URI never changes)."""
        with self._lock:
            if len(self._artifact_uris) > 100_000:
                self._artifact_uris.clear()
            self._artifact_uris[run_id] = artifact_uri

    def artifact_uri(self, run_id: str) -> str:
        """The run's artifact URI: the one kept, else one ``runs/get``."""
        with self._lock:
            known = self._artifact_uris.get(run_id)
        if known:
            return known
        with self.mlflow.operation("get a run"):
            uri: str = self.mlflow.client.get_run(run_id).info.artifact_uri
        self.remember_uri(run_id, uri)
        return uri

    def _repo(self, run_id: str, artifact_uri: str) -> Any:
        """The run's artifact repository, built from its artifact URI (no ``runs/get``) and kept."""
        with self._lock:
            repo = self._repos.get(run_id)
        if repo is None:
            repo = get_artifact_repository(artifact_uri, tracking_uri=self.mlflow.client.tracking_uri)
            with self._lock:
                if len(self._repos) >= 256:
                    self._repos.pop(next(iter(self._repos)))
                self._repos[run_id] = repo
        return repo


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")
