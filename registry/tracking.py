"""Provenance on MLflow: register a run, find it again, fetch its verified artifacts.

Every fact runnotary derives is written back to the run it belongs to, so MLflow stays the
single source of truth: provenance as ``runnotary.*`` tags (searchable), recomputed metrics
as metrics, the data set as a dataset input, and the full record as ``runnotary/provenance.json``.

A registration copies each artifact once into a staging folder, hashes the copy, recomputes
from it and uploads it; the verified copy then stays in ``cache_dir`` so nothing the service
hashed is ever downloaded again. MLflow failures are classified by status code and exception
type: 5xx, 408/429, connection errors and timeouts are ``TrackingUnavailable`` (retry later),
any other 4xx a ``RegistryError`` naming the reason. Every error text is redacted.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import requests
from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag, Metric, Param, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient

from runnotary.contract import MLFLOW_TAG_VALUE_MAX, Alert, RunCreated
from runnotary.errors import redact
from runnotary.registry.artifacts import MAX_ARTIFACT_BYTES, ArtifactRecord, copy_hashed, sha256_file, viewer_for
from runnotary.registry.cache import ParsedCache
from runnotary.registry.catalog import MetricSpec, Recipe, UnknownMetric, normalize, spec_for
from runnotary.registry.classification import MEAN_MEASURES, Predictions, per_example, read_predictions
from runnotary.registry.errors import ArtifactError, RegistryError, TrackingUnavailable
from runnotary.registry.hygiene import DEFAULT_HYGIENE, HygieneSettings, check_run
from runnotary.registry.ranking import Judged, PerQuery, evaluate, judge, read_qrels, read_run
from runnotary.registry.recompute import (
    MAX_PARSE_BYTES, PerQueryTable, parse_artifact, read_latency_log, read_per_query_table, recompute_from,
)

#: MLflow's answer when two runs create one data set row at the same moment (PostgreSQL, MySQL, SQLite wording).
_DATASET_RACE = re.compile(r"dataset_pk|duplicate key value|UNIQUE constraint failed: datasets|Duplicate entry", re.IGNORECASE)
#: MLflow's answer when two racers of one event write the same param (or tag) row of the kept run at once.
_WRITE_RACE = re.compile(r"param_pk|tag_pk|duplicate key value|UNIQUE constraint failed|Duplicate entry", re.IGNORECASE)

__all__ = [
    "MetricRecord", "MLFLOW_ERRORS", "Observer", "Prepared", "Registration", "Registry", "TAG", "PROVENANCE_PATH",
    "classify", "configure_mlflow_http", "tracking_error",
]

TAG = "runnotary."
#: Tags of the experiments runnotary creates: MLflow 3's UI opens a ``custom_model_development``
#: experiment on its runs (without the tag it may open on the GenAI overview); older servers just keep the tag.
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
PROVENANCE_PATH = "runnotary/provenance.json"
FAILURE_TAG = f"{TAG}failure_reason"
_EVIDENCE_DIR = "evidence"
#: MLflow stores a dataset digest in a 36-character column (mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE).
DATASET_DIGEST_CHARS = 36
_STATUS_IN_TEXT = re.compile(r"failed with error code (\d{3})")
_ERROR_TEXT_MAX = 600
_EXPERIMENT_PAGE = 1000

#: Called once per MLflow operation with (operation, seconds, None or "unavailable"/"refused"/"error").
Observer = Callable[[str, float, "str | None"], None]


def configure_mlflow_http(max_retries: int = 0, timeout_s: float = 10.0) -> None:
    """Bound MLflow's own HTTP retries and timeout, so the caller's backoff is the one that runs.

    Sets MLflow's documented environment variables (``mlflow.environment_variables``):
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and ``MLFLOW_HTTP_REQUEST_TIMEOUT`` (whole seconds, at
    least 1). Unless already set, it also turns off the proxied multipart-download probe (one
    ``/server-info`` call per run) and the run URL MLflow prints to stdout when a run ends (one
    ``runs/get`` per run). MLflow reads these per request, so calling this at service start is enough.
    """
    if max_retries < 0:
        raise ValueError(f"max_retries must be >= 0, not {max_retries}")
    if not timeout_s > 0:
        raise ValueError(f"timeout_s must be > 0, not {timeout_s}")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = str(max_retries)
    os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(timeout_s)))
    os.environ.setdefault("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    _remember_absent_modules(_DATABRICKS_PROBES)


#: Modules MLflow's request-header providers try to import on every HTTP call to detect a Databricks
#: notebook, job or cluster (mlflow.utils.databricks_utils).
_DATABRICKS_PROBES = ("dbruntime", "pyspark", "IPython")


def _remember_absent_modules(names: tuple[str, ...]) -> None:
    """Make the import of a module that is not installed fail at once instead of searching ``sys.path``.

    Python caches successful imports only: a missing module is searched for again, on every path
    entry, at every ``import``. MLflow probes for a Databricks runtime that way several times per
    HTTP request (about 2.4 ms of CPU per request here, a tenth of the service's). A ``None`` entry
    in ``sys.modules`` is Python's own way to say "not importable" (``ModuleNotFoundError`` at once);
    it is set only for modules that are not installed, so nothing that exists is hidden.
    """
    import importlib.util
    import sys

    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            sys.modules[name] = None  # type: ignore[assignment]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, requests.HTTPError):
        return exc.response.status_code if exc.response is not None else None
    if isinstance(exc, MlflowException):
        # A non-JSON error page (a proxy's 403/413) keeps its real status only in the text.
        found = _STATUS_IN_TEXT.search(exc.message)
        return int(found.group(1)) if found else exc.get_http_status_code()
    return None


def classify(exc: BaseException) -> str | None:
    """``"unavailable"`` (transient), ``"refused"`` (permanent) or ``None`` (not a tracking-store failure).

    Connection errors and timeouts anywhere in the exception's chain, 5xx, 408 and 429 are
    transient; every other HTTP status is a refusal.
    """
    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.RetryError, ConnectionError, TimeoutError)
    if any(isinstance(e, transient) for e in _chain(exc)):
        return "unavailable"
    status = _status(exc)
    if status is None:
        return None
    return "unavailable" if status >= 500 or status in (408, 429) else "refused"


#: What a failed MLflow call raises (its client, its HTTP layer, the socket); ``tracking_error`` says what it means.
MLFLOW_ERRORS = (MlflowException, requests.RequestException, ConnectionError, TimeoutError)


def tracking_error(exc: BaseException, operation: str) -> TrackingUnavailable | RegistryError:
    """What a failed MLflow call becomes, by ``classify``: ``TrackingUnavailable`` (retry later) or
    ``RegistryError`` (refused for good, with MLflow's redacted reason). Raise it ``from exc``."""
    kind = classify(exc)
    text = _error_text(exc)
    if kind == "unavailable":
        return TrackingUnavailable(f"MLflow did not answer while trying to {operation}: {text}")
    if kind == "refused":
        return RegistryError(f"MLflow refused to {operation}: {text}")
    return RegistryError(f"MLflow failed to {operation}: {text}")


def _is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, FileNotFoundError) or _status(exc) == 404


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > _ERROR_TEXT_MAX:
        text = text[:_ERROR_TEXT_MAX] + "…"
    return redact(text)


@dataclass(frozen=True)
class MetricRecord:
    """A claimed metric after normalisation and recomputation.

    ``value`` is the recomputed number (``None`` when it could not be recomputed);
    ``status`` is ``verified``, ``mismatch`` (recomputed, but the claim differs) or ``invalid``.
    """

    uuid: str
    name: str
    unit: str
    claimed: float
    value: float | None
    status: str
    source: str
    source_sha256: str | None
    reason: str | None = None
    #: How the value was reproduced: the recipe's parameters, ``from`` (``raw_logs`` or
    #: ``job_reported_per_item``/``job_reported_summary``) and, for a ranking recipe, the qrels and their sha256.
    recipe: dict[str, Any] | None = None


@dataclass(frozen=True)
class Registration:
    """What the registry knows of a run once it is registered."""

    run_id: str
    experiment_id: str
    event_id: str
    event: RunCreated
    artifacts: tuple[ArtifactRecord, ...]
    metrics: tuple[MetricRecord, ...]
    alerts: tuple[Alert, ...] = ()
    already_registered: bool = False
    artifact_uri: str | None = None

    def metric(self, name: str) -> MetricRecord | None:
        return next((m for m in self.metrics if m.name == name), None)

    def artifact(self, path: str) -> ArtifactRecord | None:
        return next((a for a in self.artifacts if a.path == path), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "event_id": self.event_id,
            "event": self.event.model_dump(mode="json"),
            "artifacts": [a.to_dict() for a in self.artifacts],
            "metrics": [m.__dict__ for m in self.metrics],
            "alerts": [a.model_dump(mode="json") for a in self.alerts],
            "artifact_uri": self.artifact_uri,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Registration:
        return cls(
            run_id=data["run_id"],
            experiment_id=data["experiment_id"],
            event_id=data["event_id"],
            event=RunCreated.model_validate(data["event"]),
            artifacts=tuple(ArtifactRecord(**a) for a in data["artifacts"]),
            metrics=tuple(MetricRecord(**m) for m in data["metrics"]),
            alerts=tuple(Alert.model_validate(a) for a in data["alerts"]),
            already_registered=True,
            artifact_uri=data.get("artifact_uri"),
        )


@dataclass(frozen=True)
class _Staged:
    """The registration's work done before MLflow is touched: verified copies, metrics, alerts."""

    folder: Path
    artifacts: tuple[ArtifactRecord, ...]
    metrics: tuple[MetricRecord, ...]
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Prepared:
    """A registration written to its run and kept, but not yet marked registered (``Registry.finish``)."""

    registration: Registration
    resumed_tags: dict[str, Any]
    staged: _Staged

    @property
    def run_id(self) -> str:
        return self.registration.run_id


def _registered(run: Run) -> bool:
    return run.data.tags.get(f"{TAG}registered") == "true"


def _qualified(tags: dict[str, str]) -> dict[str, str]:
    """Result tags under ``runnotary.``; MLflow's own (``mlflow.note.content``, …) keep their names."""
    return {k if k.startswith("mlflow.") else f"{TAG}{k}": v for k, v in tags.items()}


def job_name(event: RunCreated) -> str:
    """What MLflow shows as the run's Source: the training code and commit that produced it."""
    return f"{event.code.repository or event.run_name}@{event.code.git_commit[:12]}"


def _winner(runs: list[Run]) -> Run | None:
    """The run every racer keeps: a registered one first, then the earliest start, then the smallest id."""
    if not runs:
        return None
    return min(runs, key=lambda r: (not _registered(r), r.info.start_time or 0, r.info.run_id))


@dataclass
class Registry:
    """Registers runs on an MLflow tracking store.

    ``artifact_root`` is where training jobs leave the files their events cite; ``cache_dir``
    holds the verified copies of artifacts (per run) and the per-event staging folders.
    ``max_artifact_bytes`` bounds a file the registry copies and uploads; ``max_parse_bytes`` a
    file it parses; ``max_cache_bytes`` the verified copies it keeps (the oldest runs' copies are
    dropped first, and fetched again with one GET if asked for). ``observer`` (optional) is called once per MLflow operation with the
    operation's name, its duration in seconds and ``None`` or the error kind; it must not raise.
    ``io_threads`` bounds the uploads of one registration that run at once (shared by every thread).
    ``owner`` names the deployment that registers (the service's consumer group): recorded on every run
    as ``runnotary.group``, it scopes the reconciliation to the runs this deployment registered.
    """

    client: MlflowClient
    artifact_root: Path
    cache_dir: Path
    artifact_location: str | None = None
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES
    max_parse_bytes: int = MAX_PARSE_BYTES
    parsed_cache_entries: int = 32
    max_cache_bytes: int = 2 << 30
    hygiene: HygieneSettings = DEFAULT_HYGIENE
    observer: Observer | None = None
    io_threads: int = 4
    owner: str | None = None
    _experiments: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _artifact_uris: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _verified: dict[Path, tuple[int, int, str]] = field(default_factory=dict, init=False, repr=False)
    _repos: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    _kept: OrderedDict[str, int] = field(default_factory=OrderedDict, init=False, repr=False)
    _parsed: ParsedCache = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _swept: bool = field(default=False, init=False, repr=False)
    _io: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_artifact_bytes < 1 or self.max_parse_bytes < 1:
            raise ValueError("max_artifact_bytes and max_parse_bytes must be positive")
        self._parsed = ParsedCache(self.parsed_cache_entries)

    # -- MLflow calls ---------------------------------------------------------------------

    @contextmanager
    def _tracking(self, operation: str) -> Iterator[None]:
        """Run one MLflow operation: classify its failure, redact its text, tell the observer."""
        started = time.perf_counter()
        kind: str | None = None
        try:
            yield
        except MLFLOW_ERRORS as exc:
            kind = classify(exc) or "error"
            raise tracking_error(exc, operation) from exc
        except BaseException:
            kind = "error"
            raise
        finally:
            if self.observer is not None:
                self.observer(operation, time.perf_counter() - started, kind)

    # -- registration -------------------------------------------------------------------

    def register(self, event: RunCreated, event_id: str) -> Registration:
        """Register ``event`` exactly once and return its registration: ``prepare`` then ``finish``.

        For a caller that records nothing of its own with the ``registered`` mark.
        """
        prepared = self.prepare(event, event_id)
        return prepared if isinstance(prepared, Registration) else self.finish(prepared)

    def prepare(self, event: RunCreated, event_id: str) -> Prepared | Registration:
        """Phase one of a registration: the event's run written and kept, not yet marked registered.

        A new event's run is created at once, with every tag, and its evidence written; only then are
        the event's runs looked up, and every racer keeps the same one (``_converge``). So a first
        delivery costs no lookup before the run exists; a redelivery of a registered event makes a
        run that the lookup deletes again and gets the first registration back (a ``Registration``
        with ``already_registered``, nothing left to finish); a run left half-registered by a crash is
        resumed or replaced. The caller may then look at other runs (to pair) and calls ``finish``
        with the tags to record beside the ``registered`` mark, or ``abandon`` to drop the staged files.

        An event MLflow refuses for good leaves its run FAILED with the reason in
        ``runnotary.failure_reason`` and raises ``RegistryError``; an outage raises
        ``TrackingUnavailable`` and leaves the run unregistered, for the redelivery to complete or replace.
        """
        if event.run_id is not None:
            experiment_id, existing = self._adopted_run(event, event_id)
            if _registered(existing):
                return self._registered_again(existing)
        else:
            experiment_id, existing = self.experiment_id(event.experiment), None
        staged = self._stage(event)
        try:
            if existing is None:
                run_id, artifact_uri = self._create_run(event, event_id, experiment_id)
                resumed_tags: dict[str, Any] = {}
            else:
                run_id, artifact_uri = existing.info.run_id, existing.info.artifact_uri
                resumed_tags = dict(existing.data.tags)
            kept = self._write_kept(event, event_id, experiment_id, run_id, artifact_uri, staged, resumed_tags)
        except BaseException:
            shutil.rmtree(staged.folder, ignore_errors=True)
            raise
        if isinstance(kept, Registration):
            shutil.rmtree(staged.folder, ignore_errors=True)
        return kept

    def finish(self, prepared: Prepared, tags: dict[str, str] | None = None) -> Registration:
        """Phase two: mark the prepared run registered, with ``tags`` (``runnotary.*`` without the prefix)
        in the same request, and end it FINISHED. If MLflow refuses, the run another racer kept is
        returned when there is one; otherwise the run is marked FAILED and the refusal raised."""
        registration = prepared.registration
        try:
            for _ in range(4):
                try:
                    self._finish(registration, prepared.resumed_tags, tags or {})
                    return registration
                except RegistryError as exc:
                    if _WRITE_RACE.search(str(exc)):  # another racer wrote the same row of this run first: look again
                        raced = self._converge(registration.experiment_id, registration.event_id, registration.run_id)
                        if raced is not None and _registered(raced):
                            return self._registered_again(raced)
                        continue
                    winner = self._refused(registration.experiment_id, registration.event_id, registration.run_id, exc)
                if _registered(winner):
                    return self._registered_again(winner)
                kept = self._write_kept(registration.event, registration.event_id, registration.experiment_id,
                                        winner.info.run_id, winner.info.artifact_uri, prepared.staged,
                                        dict(winner.data.tags))
                if isinstance(kept, Registration):
                    return kept
                prepared, registration = kept, kept.registration
            raise RegistryError(f"event {registration.event_id}: concurrent registrations did not converge on one run")
        finally:
            self.abandon(prepared)

    @staticmethod
    def abandon(prepared: Prepared) -> None:
        """Drop a prepared registration's staged files (its run stays unregistered, for a redelivery)."""
        shutil.rmtree(prepared.staged.folder, ignore_errors=True)

    def _adopted_run(self, event: RunCreated, event_id: str) -> tuple[str, Run]:
        """The run an event names (``run_id``), with the event id on it before anything else is written."""
        assert event.run_id is not None
        with self._tracking("get the event's run"):
            run = self.client.get_run(event.run_id)
        owner = run.data.tags.get(f"{TAG}event_id")
        if owner is not None and owner != event_id:
            raise RegistryError(f"run {event.run_id} belongs to event {owner}, not to {event_id}")
        if run.info.lifecycle_stage != "active":
            raise RegistryError(f"run {event.run_id} is deleted; it cannot be registered")
        if owner is None:  # adopt it
            with self._tracking("tag the adopted run"):
                self.client.set_tag(run.info.run_id, f"{TAG}event_id", event_id)
            run.data.tags[f"{TAG}event_id"] = event_id
        return run.info.experiment_id, run

    def _registered_again(self, run: Run) -> Registration:
        registration = self.load(run.info.run_id)
        if run.info.status == "RUNNING":  # a crash between the commit and the end of the run
            with self._tracking("finish the run"):
                self.client.set_terminated(run.info.run_id, "FINISHED")
        return registration

    def _tags(self, event: RunCreated, event_id: str) -> dict[str, str]:
        tags = {
            f"{TAG}event_id": event_id,
            f"{TAG}candidate_id": event.candidate_id,
            f"{TAG}role": event.role,
            f"{TAG}dataset_sha256": event.dataset.sha256,
            f"{TAG}seed_family": event.seeds.family,
            f"{TAG}seed": str(event.seeds.value),
            f"{TAG}git_commit": event.code.git_commit,
            f"{TAG}env_hash": event.environment.env_hash,
            f"{TAG}python_version": event.environment.python_version,
            f"{TAG}cuda_version": event.environment.cuda_version or "none",
            f"{TAG}requirements_hash": event.environment.requirements_hash,
            f"{TAG}owners": ",".join(event.owners),
            f"{TAG}created_at": event.created_at.isoformat(),
            **({f"{TAG}group": self.owner} if self.owner else {}),
            "mlflow.source.git.commit": event.code.git_commit,
            "mlflow.source.name": job_name(event),
            "mlflow.source.type": "JOB",
            "mlflow.user": event.owners[0],
            **event.tags.model_dump(),
        }
        if event.code.repository:
            tags["mlflow.source.git.repoURL"] = event.code.repository
        return tags

    def _create_run(self, event: RunCreated, event_id: str, experiment_id: str) -> tuple[str, str]:
        with self._tracking("create the run"):
            run = self.client.create_run(  # every tag, the event id included, from the run's first instant
                experiment_id,
                start_time=int(event.created_at.timestamp() * 1000),
                tags=self._tags(event, event_id),
                run_name=event.run_name,
            )
        return run.info.run_id, run.info.artifact_uri

    def _write_kept(
        self, event: RunCreated, event_id: str, experiment_id: str, run_id: str, artifact_uri: str,
        staged: _Staged, resumed_tags: dict[str, Any],
    ) -> Prepared | Registration:
        """Write the staged registration to its run, converging with any concurrent registration.

        Exactly one run per event: after the (idempotent) uploads, the runs tagged with the
        event id are listed; every racer keeps the same one (``_winner``: a registered run, else
        the earliest start, else the smallest run id) and deletes the others. Only the kept run
        is ever marked registered (``finish``), so a run once registered stays the winner.
        """
        for _ in range(4):
            try:
                registration = self._write(event, event_id, experiment_id, run_id, artifact_uri, staged, resumed_tags)
                winner = self._converge(experiment_id, event_id, run_id)
            except RegistryError as exc:
                winner = self._refused(experiment_id, event_id, run_id, exc)
            else:
                if winner is None or winner.info.run_id == run_id:
                    self._keep(registration, staged)  # the verified copies, for pairing and later reads
                    return Prepared(registration, resumed_tags, staged)
            assert winner is not None  # _refused raises when the run is the event's own
            if _registered(winner):
                return self._registered_again(winner)
            run_id, artifact_uri, resumed_tags = winner.info.run_id, winner.info.artifact_uri, dict(winner.data.tags)
        raise RegistryError(f"event {event_id}: concurrent registrations did not converge on one run")

    def _refused(self, experiment_id: str, event_id: str, run_id: str, exc: RegistryError) -> Run:
        """After a refusal: the run another racer keeps, or (a real refusal) the run marked FAILED and ``exc`` raised."""
        winner = self._converge(experiment_id, event_id, run_id)
        if winner is None or winner.info.run_id == run_id:
            self._mark_failed(run_id, exc)
            raise exc
        return winner

    def _converge(self, experiment_id: str, event_id: str, mine: str) -> Run | None:
        runs = self._event_runs(experiment_id, event_id)
        winner = _winner(runs)
        for run in runs:
            if winner is not None and run.info.run_id != winner.info.run_id and not _registered(run):
                try:
                    with self._tracking("delete a duplicate run"):
                        self.client.delete_run(run.info.run_id)
                except RegistryError:
                    pass  # already deleted by the other racer
        return winner

    def _write(
        self, event: RunCreated, event_id: str, experiment_id: str, run_id: str, artifact_uri: str, staged: _Staged,
        resumed_tags: dict[str, Any],
    ) -> Registration:
        """Upload the staged copies and the provenance record, and link the data set (all idempotent)."""
        artifacts = tuple(replace(a, run_id=run_id) for a in staged.artifacts)
        alerts = tuple(a.model_copy(update={"run_id": run_id}) for a in staged.alerts)
        registration = Registration(run_id, experiment_id, event_id, event, artifacts, staged.metrics, alerts,
                                    artifact_uri=artifact_uri)
        repo = self._repo(run_id, artifact_uri)
        provenance = staged.folder / PROVENANCE_PATH
        provenance.parent.mkdir(parents=True, exist_ok=True)
        provenance.write_text(json.dumps(registration.to_dict(), indent=2))

        def upload(local: Path, folder: str, operation: str) -> Callable[[], None]:
            def run() -> None:
                with self._tracking(operation):
                    repo.log_artifact(str(local), folder)
            return run

        self._together(
            [upload(staged.folder / _EVIDENCE_DIR / r.path, _artifact_dir(r.path), "upload an artifact") for r in artifacts]
            + [upload(provenance, "runnotary", "record the provenance"), lambda: self._link_dataset(run_id, event)]
        )
        return registration

    def _together(self, calls: list[Callable[[], None]]) -> None:
        """Run independent MLflow calls on the registry's I/O threads and wait for all of them.

        If any failed, an outage is raised before a refusal (the event is then retried, not refused).
        """
        with self._lock:
            if self._io is None:
                self._io = ThreadPoolExecutor(self.io_threads, thread_name_prefix="runnotary-mlflow")
            pool = self._io
        errors = [f.exception() for f in [pool.submit(call) for call in calls]]
        failed = [e for e in errors if e is not None]
        if failed:
            raise next((e for e in failed if isinstance(e, TrackingUnavailable)), failed[0])

    def _link_dataset(self, run_id: str, event: RunCreated) -> None:
        """Log the data set as the run's input. MLflow creates a data set row per experiment on first
        use without a lock, so two runs of one data set linked at once can collide on its key; the
        loser's retry finds the row and links it."""
        for attempt in (1, 2):
            try:
                with self._tracking("link the dataset"):
                    self.client.log_inputs(run_id, datasets=[_dataset_input(event)])
                return
            except RegistryError as exc:
                if attempt == 2 or not _DATASET_RACE.search(str(exc)):
                    raise

    def _finish(self, registration: Registration, resumed_tags: dict[str, Any], results: dict[str, str]) -> None:
        """One log_batch with params, metrics, the ``results`` tags and the ``registered`` tag, then the run ends FINISHED."""
        event = registration.event
        timestamp = int(event.created_at.timestamp() * 1000)
        metrics = {spec_for(m.name).mlflow_key: m.value for m in registration.metrics if m.value is not None}
        params = {**{k: str(v) for k, v in event.params.items()}, "seed": str(event.seeds.value)}
        tags = {**_qualified(results),
                f"{TAG}registered": "true", f"{TAG}alerts": str(len(registration.alerts))}
        if resumed_tags.get(f"{TAG}event_id") is not None and f"{TAG}dataset_sha256" not in resumed_tags:
            tags = {**self._tags(event, registration.event_id), "mlflow.runName": event.run_name, **tags}
        with self._tracking("record params, metrics and the registration"):
            self._log_batch(registration.run_id, params=params, metrics=metrics, tags=tags, timestamp=timestamp)
        with self._tracking("finish the run"):
            if FAILURE_TAG in resumed_tags:
                self.client.delete_tag(registration.run_id, FAILURE_TAG)
            self.client.set_terminated(registration.run_id, "FINISHED")

    def _mark_failed(self, run_id: str, exc: Exception) -> None:
        """Leave a permanently refused run FAILED with its (redacted) reason; best effort."""
        reason = redact(str(exc))[: MLFLOW_TAG_VALUE_MAX - 1]
        try:
            with self._tracking("mark the run failed"):
                self.client.set_tag(run_id, FAILURE_TAG, reason)
                self.client.set_terminated(run_id, "FAILED")
        except (RegistryError, TrackingUnavailable):
            pass  # the refusal is what the caller needs to hear about

    # -- staging: copy once, hash, recompute --------------------------------------------

    def _stage(self, event: RunCreated) -> _Staged:
        if not self._swept:
            self._sweep_staging()
        folder = self.cache_dir / "staging" / uuid.uuid4().hex
        folder.mkdir(parents=True)
        try:
            artifacts, alerts = self._copy_artifacts(event, folder)
            metrics, metric_alerts = self._recompute_metrics(event, artifacts, folder)
            alerts += metric_alerts + check_run(event, None, settings=self.hygiene)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return _Staged(folder, tuple(artifacts), tuple(metrics), tuple(alerts))

    def _sweep_staging(self) -> None:
        """Remove staging folders a killed process left behind (older than an hour: not in use)."""
        self._swept = True
        cutoff = time.time() - 3600
        try:
            leftovers = [p for p in (self.cache_dir / "staging").iterdir() if p.stat().st_mtime < cutoff]
        except OSError:
            return
        for folder in leftovers:
            shutil.rmtree(folder, ignore_errors=True)

    def _copy_artifacts(self, event: RunCreated, folder: Path) -> tuple[list[ArtifactRecord], list[Alert]]:
        records: list[ArtifactRecord] = []
        alerts: list[Alert] = []
        for ref in event.artifacts:
            try:
                digest, size = copy_hashed(self.artifact_root, ref.path, folder / _EVIDENCE_DIR / ref.path,
                                           self.max_artifact_bytes)
            except ArtifactError as exc:
                severity = "critical" if exc.reason == "unsafe_artifact_path" else "warning"
                alerts.append(_alert(exc.reason, severity, event, redact(str(exc)), path=ref.path))
                continue
            if ref.sha256 is not None and ref.sha256 != digest:
                alerts.append(_alert(
                    "artifact_hash_mismatch", "critical", event,
                    f"{ref.path}: claimed sha256 {ref.sha256[:12]}… but the file hashes to {digest[:12]}…",
                    path=ref.path, claimed=ref.sha256, actual=digest,
                ))
            records.append(ArtifactRecord("", ref.kind, ref.path, digest, size, viewer_for(ref.path), ref.sha256))
        return records, alerts

    def _recompute_metrics(
        self, event: RunCreated, artifacts: list[ArtifactRecord], folder: Path
    ) -> tuple[list[MetricRecord], list[Alert]]:
        by_path = {a.path: a for a in artifacts}
        records: list[MetricRecord] = []
        alerts: list[Alert] = []
        for claim in event.metrics:
            try:
                spec, claimed = normalize(claim.name, claim.value, claim.unit)
            except UnknownMetric as exc:
                alerts.append(_alert("unknown_metric", "warning", event, str(exc), metric=claim.name))
                continue
            qrels = event.qrels_for(claim)
            record, code = self._recompute_one(spec, claim.uuid.hex, claimed, claim.source, by_path.get(claim.source), folder,
                                               by_path.get(qrels) if qrels is not None else None)
            if record.status != "verified":
                severity = "critical" if record.status == "mismatch" else "warning"
                alerts.append(_alert(f"metric_{record.status}", severity, event, record.reason or "", metric=spec.name,
                                     reason=code, path=claim.source))
            records.append(record)
        return records, alerts

    def _recompute_one(
        self, spec: MetricSpec, uuid_hex: str, claimed: float, path: str, source: ArtifactRecord | None, folder: Path,
        qrels: ArtifactRecord | None = None,
    ) -> tuple[MetricRecord, str | None]:
        recipe = spec.recipe_for(source.kind) if source is not None else None
        parameters = _recipe_record(recipe, qrels)

        def invalid(reason: str, code: str) -> tuple[MetricRecord, str]:
            return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, None, "invalid", path, None, redact(reason),
                                parameters), code

        if source is None:
            return invalid(f"{spec.name}: its source {path!r} was not hashed (missing or unreadable)", "missing_artifact")
        if recipe is None:
            kinds = " or ".join(repr(k) for k in spec.kinds)
            return invalid(f"{spec.name} is recomputed from a {kinds} artifact, not {source.kind!r}", "wrong_artifact_kind")
        if recipe.extractor == "ranking" and qrels is None:
            return invalid(f"{spec.name}: the qrels of {path!r} were not hashed (missing or unreadable)", "missing_artifact")
        local = folder / _EVIDENCE_DIR / path
        try:
            if recipe.extractor == "ranking":
                assert qrels is not None
                judged = self._judged(source, qrels, lambda p: folder / _EVIDENCE_DIR / p)
                value = _ranking(judged, recipe).mean
            else:
                parsed = self._parsed.get_or_parse(
                    _parse_kind(recipe), source.sha256, lambda: _frozen(parse_artifact(recipe, local, self.max_parse_bytes))
                )
                value = recompute_from(recipe, parsed, Path(path).name)
        except ArtifactError as exc:
            code = "artifact_too_large" if exc.reason == "artifact_too_large" else "artifact_invalid"
            return invalid(f"{spec.name}: {exc}", code)
        except Exception as exc:  # noqa: BLE001 - untrusted file contents: no parser failure may sink the event
            return invalid(f"{spec.name}: {path} could not be parsed ({exc.__class__.__name__})", "artifact_invalid")
        if not math.isfinite(value):
            return invalid(f"{spec.name}: {path} gives a non-finite value", "artifact_invalid")
        if abs(value - claimed) > spec.tolerance * max(1.0, abs(value)):
            reason = f"{spec.name}: claimed {claimed:.6g} but {path} gives {value:.6g}"
            return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, value, "mismatch", path, source.sha256, reason,
                                parameters), None
        return MetricRecord(uuid_hex, spec.name, spec.unit, claimed, value, "verified", path, source.sha256, None,
                            parameters), None

    def _judged(self, run: ArtifactRecord, qrels: ArtifactRecord, local: Callable[[str], Path]) -> Judged:
        """A run ordered and joined with its qrels, built once per pair of contents (``local`` finds each file)."""
        def build() -> Judged:
            return judge(read_run(local(run.path), self.max_parse_bytes), read_qrels(local(qrels.path), self.max_parse_bytes))
        return self._parsed.get_or_parse("judged", f"{run.sha256}:{qrels.sha256}", build)

    def per_item(self, registration: Registration, record: MetricRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(item ids, values)`` the paired statistics compare for a metric reproduced from raw logs: the
        per-query values of a ranking recipe, or the per-example values of a classification mean."""
        recipe = record.recipe or {}
        if recipe.get("extractor") == "ranking":
            ranked = self.ranked(registration, record)
            return ranked.query_ids, ranked.values
        if recipe.get("extractor") == "classification" and recipe.get("measure") in MEAN_MEASURES:
            data = self.predictions(registration, record)
            return data.example_ids, per_example(data, str(recipe["measure"]), positive_label=str(recipe["positive_label"]),
                                                 threshold=float(recipe["threshold"]))
        raise ArtifactError(f"{record.name} of run {registration.run_id} has no per-item values from raw logs")

    def predictions(self, registration: Registration, record: MetricRecord) -> Predictions:
        """The predictions file a classification metric was reproduced from, verified and parsed once."""
        source = self._record(registration, record.source)
        return self._parsed.get_or_parse("predictions", source.sha256, lambda: read_predictions(
            self.fetch(registration, record.source), self.max_parse_bytes))

    def ranked(self, registration: Registration, record: MetricRecord) -> PerQuery:
        """The per-query values of a metric reproduced from a run and qrels, from the verified files."""
        run_record = self._record(registration, record.source)
        recipe = spec_for(record.name).recipe_for(run_record.kind)
        qrels = (record.recipe or {}).get("qrels")
        if recipe is None or recipe.extractor != "ranking" or qrels is None:
            raise ArtifactError(f"{record.name} of run {registration.run_id} was not reproduced from a run and qrels")
        qrels_record = self._record(registration, qrels)
        return _ranking(self._judged(run_record, qrels_record, lambda p: self.fetch(registration, p)), recipe)

    def _keep(self, registration: Registration, staged: _Staged) -> None:
        """Link the verified copies into the run's cache folder: ``fetch`` then never downloads them.

        Linked, not moved: the staged copies stay for a retry of the write until ``register`` ends.
        """
        run_dir = self.cache_dir / registration.run_id
        for record in registration.artifacts:
            target = run_dir / _EVIDENCE_DIR / record.path
            _link(staged.folder / _EVIDENCE_DIR / record.path, target)
            info = target.stat()
            with self._lock:
                self._verified[target] = (info.st_size, info.st_mtime_ns, record.sha256)
        _link(staged.folder / PROVENANCE_PATH, run_dir / PROVENANCE_PATH)
        kept = sum(a.size for a in registration.artifacts)
        with self._lock:
            self._artifact_uris[registration.run_id] = registration.artifact_uri or ""
            self._kept[registration.run_id] = kept
            self._kept.move_to_end(registration.run_id)
            dropped = []
            while sum(self._kept.values()) > self.max_cache_bytes and len(self._kept) > 1:
                dropped.append(self._kept.popitem(last=False)[0])
            for run_id in dropped:
                folder = self.cache_dir / run_id
                self._verified = {p: v for p, v in self._verified.items() if folder not in p.parents}
        for run_id in dropped:
            shutil.rmtree(self.cache_dir / run_id / _EVIDENCE_DIR, ignore_errors=True)

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
        with self._tracking("search runs"):
            runs = self.client.search_runs(
                ids, " AND ".join(clauses), max_results=max_results,
                order_by=[f"attributes.start_time {order}"], page_token=page_token,
            )
        self._remember(runs)
        return [(r.info.run_id, dict(r.data.tags)) for r in runs], runs.token or None

    def experiment_ids(self) -> list[str]:
        """Every active experiment of the store, paged through (correct past 1,000 experiments)."""
        ids: list[str] = []
        token: str | None = None
        while True:
            with self._tracking("list experiments"):
                page = self.client.search_experiments(max_results=_EXPERIMENT_PAGE, page_token=token)
            ids += [e.experiment_id for e in page]
            token = page.token
            if not token:
                return ids

    def run_tags(self, run_id: str) -> dict[str, str] | None:
        """The tags of a live run, or ``None`` when the run does not exist or is deleted."""
        try:
            with self._tracking("get a run"):
                run = self.client.get_run(run_id)
        except RegistryError as exc:
            if exc.__cause__ is not None and _status(exc.__cause__) == 404:
                return None
            raise
        if run.info.lifecycle_stage != "active":
            return None
        self._remember([run])
        return dict(run.data.tags)

    def load(self, run_id: str) -> Registration:
        """Return the registration recorded on ``run_id``."""
        path = self._download(run_id, PROVENANCE_PATH)
        registration = Registration.from_dict(json.loads(path.read_text()))
        if registration.artifact_uri:
            with self._lock:
                self._artifact_uris.setdefault(run_id, registration.artifact_uri)
        return registration

    def read_json(self, run_id: str, artifact_path: str) -> dict[str, Any] | None:
        """A JSON document runnotary logged on a run, or ``None`` only if the run has no such artifact.

        Any other failure (401/403, an outage) raises: a refused read is not an absent document.
        """
        folder = self.cache_dir / "staging" / uuid.uuid4().hex
        try:
            try:
                path = self._download(run_id, artifact_path, cache=False, target=folder / Path(artifact_path).name)
            except (RegistryError, TrackingUnavailable) as exc:
                if exc.__cause__ is not None and _is_not_found(exc.__cause__):
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
        repo = self._repo(run_id, self._artifact_uri(run_id))

        def upload(index: int, artifact_path: str, data: dict[str, Any]) -> Callable[[], None]:
            local = folder / str(index) / Path(artifact_path).name
            local.parent.mkdir()
            local.write_text(json.dumps(data, indent=2))
            parent = artifact_path.rsplit("/", 1)[0] if "/" in artifact_path else None

            def run() -> None:
                with self._tracking("log a result"):
                    repo.log_artifact(str(local), parent)
            return run

        try:
            self._together([upload(i, path, data) for i, (path, data) in enumerate(documents.items())])
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Set ``runnotary.<key>`` tags on a run, in one request."""
        if tags:
            with self._tracking("tag a result"):
                self._log_batch(run_id, tags=_qualified(tags))

    def fetch(self, registration: Registration, path: str) -> Path:
        """A local copy of one of the run's evidence artifacts, verified against its recorded hash.

        The copy the service hashed at registration is used as is; otherwise the file is
        downloaded with one GET, verified, and kept.
        """
        record = registration.artifact(path)
        if record is None:
            raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
        if registration.artifact_uri:
            with self._lock:
                self._artifact_uris.setdefault(registration.run_id, registration.artifact_uri)
        local = self.cache_dir / registration.run_id / _EVIDENCE_DIR / record.path
        if self._verified_copy(local, record.sha256):
            return local
        local = self._download(registration.run_id, f"{_EVIDENCE_DIR}/{record.path}", cache=False, target=local)
        digest, _ = sha256_file(local)
        if digest != record.sha256:
            local.unlink(missing_ok=True)
            raise ArtifactError(f"{path} of run {registration.run_id} no longer hashes to {record.sha256[:12]}…")
        info = local.stat()
        with self._lock:
            self._verified[local] = (info.st_size, info.st_mtime_ns, digest)
        return local

    def per_query_table(self, registration: Registration, path: str) -> PerQueryTable:
        """The run's per-query CSV ``path``, parsed once per content and verified (shared: do not mutate)."""
        record = self._record(registration, path)
        return self._parsed.get_or_parse(
            "per_query", record.sha256, lambda: read_per_query_table(self.fetch(registration, path), self.max_parse_bytes)
        )

    def latency_log(self, registration: Registration, path: str) -> np.ndarray:
        """The run's latency log ``path`` as a read-only float64 array, parsed once per content and verified."""
        record = self._record(registration, path)
        return self._parsed.get_or_parse(
            "latency_log", record.sha256,
            lambda: _frozen(read_latency_log(self.fetch(registration, path), self.max_parse_bytes)),
        )

    @staticmethod
    def _record(registration: Registration, path: str) -> ArtifactRecord:
        record = registration.artifact(path)
        if record is None:
            raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
        return record

    def _verified_copy(self, local: Path, sha256: str) -> bool:
        try:
            info = local.stat()
        except OSError:
            return False
        with self._lock:
            known = self._verified.get(local)
        if known == (info.st_size, info.st_mtime_ns, sha256):
            return True
        digest, _ = sha256_file(local)
        if digest != sha256:
            return False
        with self._lock:
            self._verified[local] = (info.st_size, info.st_mtime_ns, sha256)
        return True

    def _event_runs(self, experiment_id: str, event_id: str) -> list[Run]:
        """The live runs tagged with ``event_id``, in the event's experiment only."""
        with self._tracking("look up the event"):
            runs = self.client.search_runs([experiment_id], f"tags.`{TAG}event_id` = '{_quote(event_id)}'", max_results=50)
        self._remember(runs)
        return list(runs)

    def _remember(self, runs: list[Run]) -> None:
        with self._lock:
            for run in runs:
                if len(self._artifact_uris) > 100_000:
                    self._artifact_uris.clear()
                self._artifact_uris[run.info.run_id] = run.info.artifact_uri

    def _artifact_uri(self, run_id: str) -> str:
        with self._lock:
            known = self._artifact_uris.get(run_id)
        if known:
            return known
        with self._tracking("get a run"):
            uri: str = self.client.get_run(run_id).info.artifact_uri
        with self._lock:
            self._artifact_uris[run_id] = uri
        return uri

    def _repo(self, run_id: str, artifact_uri: str) -> Any:
        """The run's artifact repository, built from its artifact URI (no ``runs/get``) and kept."""
        with self._lock:
            repo = self._repos.get(run_id)
        if repo is None:
            repo = get_artifact_repository(artifact_uri, tracking_uri=self.client.tracking_uri)
            with self._lock:
                if len(self._repos) >= 256:
                    self._repos.pop(next(iter(self._repos)))
                self._repos[run_id] = repo
        return repo

    def _download(self, run_id: str, artifact_path: str, cache: bool = True, target: Path | None = None) -> Path:
        """A local copy of a run's artifact, fetched with one GET; ``cache`` only for files that never change."""
        target = target or self.cache_dir / run_id / artifact_path
        if cache and target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
        repo = self._repo(run_id, self._artifact_uri(run_id))
        try:
            with self._tracking(f"download {artifact_path}"):
                repo._download_file(artifact_path, str(partial))  # one GET (download_artifacts lists first)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return target

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created if absent; another worker creating it at the same moment is
        not an error (its experiment is used). Kept for the registry's lifetime."""
        with self._lock:
            known = self._experiments.get(name)
        if known is not None:
            return known
        with self._tracking("find the experiment"):
            found = self.client.get_experiment_by_name(name)
        if found is not None:
            experiment_id: str = found.experiment_id
        else:
            location = f"{self.artifact_location.rstrip('/')}/{_slug(name)}" if self.artifact_location else None
            try:
                with self._tracking("create the experiment"):
                    experiment_id = self.client.create_experiment(name, artifact_location=location, tags=EXPERIMENT_TAGS)
            except RegistryError:
                with self._tracking("find the experiment"):
                    found = self.client.get_experiment_by_name(name)  # another worker created it first
                if found is None:
                    raise
                experiment_id = found.experiment_id
        with self._lock:
            self._experiments[name] = experiment_id
        return experiment_id

    def _log_batch(
        self, run_id: str, *, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None, timestamp: int = 0,
    ) -> None:
        # MLflow caps one batch at 100 params, 100 tags and 1000 metrics; the tags go in the last
        # batch, so a ``registered`` tag is written only with (after) everything else.
        p = [Param(k, v) for k, v in (params or {}).items()]
        t = [RunTag(k, v) for k, v in (tags or {}).items()]
        m = [Metric(k, v, timestamp, 0) for k, v in (metrics or {}).items()]
        batches = max(-(-len(p) // 100), -(-len(t) // 100), -(-len(m) // 1000), 1)
        tag_batches = max(-(-len(t) // 100), 1)
        first_tags = batches - tag_batches
        for i in range(batches):
            j = i - first_tags
            self.client.log_batch(
                run_id, metrics=m[i * 1000 : (i + 1) * 1000], params=p[i * 100 : (i + 1) * 100],
                tags=t[j * 100 : (j + 1) * 100] if j >= 0 else [],
            )


def _link(source: Path, target: Path) -> None:
    """``target`` becomes the same file as ``source`` (a hard link; a copy where links are refused), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        try:
            os.link(source, partial)
        except OSError:
            shutil.copy2(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _alert(kind: str, severity: str, event: RunCreated, message: str, **details: object) -> Alert:
    """An alert on the run being registered; its run id is filled in once the run exists."""
    return Alert(kind=kind, severity=severity, run_id=None, candidate_id=event.candidate_id,  # type: ignore[arg-type]
                 message=message, details=details)


def _dataset_input(event: RunCreated) -> DatasetInput:
    """The event's data set as an MLflow dataset input.

    MLflow keeps a digest in 36 characters, so the digest is the sha256's first 36 hex digits
    (searchable as ``dataset.digest``); the full sha256 and the splits are in the profile, and
    the full sha256 is also the run's ``runnotary.dataset_sha256`` tag.
    """
    dataset = event.dataset
    profile = json.dumps({"sha256": dataset.sha256, "splits": dataset.splits}, sort_keys=True)
    entity = MlflowDataset(
        name=dataset.name,
        digest=dataset.sha256[:DATASET_DIGEST_CHARS],
        source_type="uri" if dataset.source else "sha256",
        source=dataset.source or f"sha256:{dataset.sha256}",
        profile=profile,
    )
    return DatasetInput(entity, tags=[InputTag("mlflow.data.context", "eval")])


def _recipe_record(recipe: Recipe | None, qrels: ArtifactRecord | None) -> dict[str, Any] | None:
    if recipe is None:
        return None
    out = recipe.parameters()
    if recipe.extractor == "ranking" and qrels is not None:
        out.update({"qrels": qrels.path, "qrels_sha256": qrels.sha256})
    return out


def _ranking(judged: Judged, recipe: Recipe) -> PerQuery:
    return evaluate(judged, recipe.measure, recipe.k, relevance_level=recipe.relevance_level,  # type: ignore[arg-type]
                    complete=recipe.complete)


def _parse_kind(spec: MetricSpec | Recipe) -> str:
    return {"column_mean": "per_query", "log_quantile": "latency_log", "classification": "predictions"}.get(
        spec.extractor, "json")


def _frozen(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    return value


def _artifact_dir(path: str) -> str:
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    return f"{_EVIDENCE_DIR}/{parent}" if parent else _EVIDENCE_DIR


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _slug(name: str) -> str:
    """A single, safe path component for an experiment's artifact folder.

    Anything but letters, digits, ``.``, ``_`` and ``-`` becomes ``_`` (slashes included), and
    leading/trailing dots, dashes and underscores are stripped, so no slug is ``.``, ``..`` or
    hidden, and none leaves the artifact root.
    """
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    return slug or "experiment"
