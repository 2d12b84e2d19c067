"""Registration: a run-created event becomes exactly one registered MLflow run, in phases the caller runs.

``prepare`` stages the evidence (``staging``), creates the run, and starts its uploads (``writer``) and the
look that converges with any concurrent registration of the same event; the caller may then look at other
runs and compare (to pair) while they go on, and calls ``finish`` (which waits for them, then marks the
kept run ``registered``, with the caller's tags when it is the prepared one, in one request) or ``abandon``.
``Registry`` is the registry's one object: the phases, and the parts they are built from (``mlflow``,
``store``, ``evidence``, ``staging``, ``writer``), whose reads and writes it passes on for its callers.

Every fact runnotary derives is written back to the run it belongs to, so MLflow stays the single
source of truth: provenance as ``runnotary.*`` tags, recomputed metrics as metrics, the data set as a
dataset input, and the full record as ``runnotary/provenance.json``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from concurrent.futures import Future, wait
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from runnotary.contract import RunCreated
from runnotary.registry.artifacts import MAX_ARTIFACT_BYTES
from runnotary.registry.classification import Predictions
from runnotary.registry.errors import RegistryError
from runnotary.registry.evidence_cache import EvidenceCache, ParsedCache
from runnotary.registry.hygiene import DEFAULT_HYGIENE, HygieneSettings
from runnotary.registry.mlflow_access import InFlight, MlflowAccess, Observer
from runnotary.registry.ranking import PerQuery
from runnotary.registry.recompute import MAX_PARSE_BYTES, PerQueryTable
from runnotary.registry.records import TAG, MetricRecord, Prepared, Registration, Staged
from runnotary.registry.run_writer import RunWriter
from runnotary.registry.staging import Staging
from runnotary.registry.store import TrackingStore

__all__ = ["Registry"]

T = TypeVar("T")

#: MLflow's answer when two racers of one event write the same param (or tag) row of the kept run at once.
_WRITE_RACE = re.compile(r"param_pk|tag_pk|duplicate key value|UNIQUE constraint failed|Duplicate entry", re.IGNORECASE)


@dataclass
class Registry:
    """Registers runs on an MLflow tracking store, and reads them back.

    ``artifact_root`` is where training jobs leave the files their events cite; ``cache_dir``
    holds the verified copies of artifacts (per run) and the per-event staging folders.
    ``max_artifact_bytes`` bounds a file the registry copies and uploads; ``max_parse_bytes`` a
    file it parses; ``max_cache_bytes`` the verified copies it keeps (the oldest runs' copies are
    dropped first, and fetched again with one GET if asked for). ``observer`` (optional) is called once per
    MLflow operation with the operation's name, its duration in seconds and ``None`` or the error kind; it
    must not raise. ``io_threads`` bounds the uploads of one registration that run at once (shared by every
    thread); ``look_threads`` the lookups started in flight (``look``: a registration's convergence, a
    caller's look for a pairing). ``owner`` names the deployment that registers (the service's consumer
    group): recorded on every run as ``runnotary.group``, it scopes the reconciliation to the runs this
    deployment registered.
    """

    client: MlflowClient
    artifact_root: Path
    cache_dir: Path
    artifact_location: str | None = None
    max_artifact_bytes: int = MAX_ARTIFACT_BYTES
    max_parse_bytes: int = MAX_PARSE_BYTES
    parsed_cache_bytes: int = 512 << 20
    max_cache_bytes: int = 2 << 30
    hygiene: HygieneSettings = DEFAULT_HYGIENE
    observer: Observer | None = None
    io_threads: int = 4
    look_threads: int = 8
    owner: str | None = None
    mlflow: MlflowAccess = field(init=False, repr=False)
    store: TrackingStore = field(init=False, repr=False)
    evidence: EvidenceCache = field(init=False, repr=False)
    staging: Staging = field(init=False, repr=False)
    writer: RunWriter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_artifact_bytes < 1 or self.max_parse_bytes < 1:
            raise ValueError("max_artifact_bytes and max_parse_bytes must be positive")
        parsed = ParsedCache(max_bytes=self.parsed_cache_bytes)
        self.mlflow = MlflowAccess(self.client, self.artifact_location, self.observer, self.io_threads,
                                   self.look_threads)
        self.store = TrackingStore(self.mlflow, self.cache_dir)
        self.evidence = EvidenceCache(self.store, self.cache_dir, self.max_parse_bytes, self.max_cache_bytes, parsed)
        self.staging = Staging(self.artifact_root, self.cache_dir, self.max_artifact_bytes, self.max_parse_bytes,
                               self.hygiene, parsed)
        self.writer = RunWriter(self.mlflow, self.store, self.owner)

    # -- the phases ---------------------------------------------------------------------

    def register(self, event: RunCreated, event_id: str) -> Registration:
        """Register ``event`` exactly once and return its registration: ``prepare`` then ``finish``.

        For a caller that records nothing of its own with the ``registered`` mark.
        """
        prepared = self.prepare(event, event_id)
        return prepared if isinstance(prepared, Registration) else self.finish(prepared)

    def prepare(self, event: RunCreated, event_id: str) -> Prepared | Registration:
        """Phase one of a registration: the event's run created, its evidence uploading, not yet marked
        registered.

        A new event's run is created at once, with every tag, and the uploads of its evidence started, with the
        look at the event's runs that makes every racer keep the same one (``_converge``). Both go on after
        ``prepare`` returns (``Prepared.uploads``, ``Prepared.kept``): the caller's pairing reads the staged
        copies meanwhile, and ``finish`` waits for both before the mark. So a first delivery costs no lookup
        before the run exists nor before its pairing; a redelivery of a registered event makes a run that the
        look deletes again, and ``finish`` gives the first registration back (``already_registered``); a run
        left half-registered by a crash is resumed or replaced. The caller may look at other runs (to pair) and
        calls ``finish`` with the tags to record beside the ``registered`` mark, or ``abandon`` to drop the
        staged files.

        An event MLflow refuses for good leaves its run FAILED with the reason in
        ``runnotary.failure_reason`` and raises ``RegistryError``; an outage raises
        ``TrackingUnavailable`` and leaves the run unregistered, for the redelivery to complete or replace.
        A refused or failed upload of the kept run raises the same way, from ``finish``.
        """
        if event.run_id is not None:
            experiment_id, existing = self._adopted_run(event, event_id)
            if _registered(existing):
                return self._registered_again(existing)
        else:
            experiment_id, existing = self.mlflow.experiment_id(event.experiment), None
        staged = self.staging.stage(event)
        try:
            if existing is None:
                run_id, artifact_uri = self.writer.create(event, event_id, experiment_id)
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
        """Phase two: wait for the look at the event's runs and for the uploads; then, when the prepared run
        is the one every racer keeps, mark it registered, with ``tags`` (``runnotary.*`` without the prefix)
        in the same request, and end it FINISHED.

        When another racer's run is kept, that run is returned (registered by this call when it was not yet,
        without ``tags``: they were derived for the prepared run; a caller compares the run ids). If MLflow
        refuses an upload or the mark, the run another racer kept is returned when there is one; otherwise the
        run is marked FAILED and the refusal raised. An outage raises ``TrackingUnavailable``, the run unmarked."""
        registration = prepared.registration
        results = tags or {}
        try:
            for _ in range(4):
                try:
                    winner = _other_kept(prepared)
                    prepared.uploads.wait()  # a run is never marked registered before its evidence is stored
                    if winner is None:
                        try:
                            self.writer.finish(registration, prepared.resumed_tags, results)
                            return registration
                        except RegistryError as exc:
                            if not _WRITE_RACE.search(str(exc)):
                                raise
                            # another racer wrote the same row of this run first: look again
                            winner = self._converge(registration.experiment_id, registration.event_id, registration.run_id)
                            if winner is None or not _registered(winner):
                                continue
                except RegistryError as exc:
                    winner = self._refused(registration.experiment_id, registration.event_id, registration.run_id, exc)
                if _registered(winner):
                    return self._registered_again(winner)
                kept = self._write_kept(registration.event, registration.event_id, registration.experiment_id,
                                        winner.info.run_id, winner.info.artifact_uri, prepared.staged,
                                        dict(winner.data.tags))
                if isinstance(kept, Registration):
                    return kept
                prepared, registration, results = kept, kept.registration, {}  # the caller's tags were of another run
            raise RegistryError(f"event {registration.event_id}: concurrent registrations did not converge on one run")
        finally:
            self.abandon(prepared)

    @staticmethod
    def abandon(prepared: Prepared) -> None:
        """Drop a prepared registration's uploads not started yet, wait for the others and for its look, and
        remove its staged files (its run stays unregistered, for a redelivery)."""
        prepared.uploads.cancel()
        if prepared.kept is not None:
            wait([prepared.kept])
        shutil.rmtree(prepared.staged.folder, ignore_errors=True)

    # -- converging on one run per event ------------------------------------------------

    def _adopted_run(self, event: RunCreated, event_id: str) -> tuple[str, Run]:
        """The run an event names (``run_id``), with the event id on it before anything else is written."""
        assert event.run_id is not None
        with self.mlflow.operation("get the event's run"):
            run = self.client.get_run(event.run_id)
        owner = run.data.tags.get(f"{TAG}event_id")
        if owner is not None and owner != event_id:
            raise RegistryError(f"run {event.run_id} belongs to event {owner}, not to {event_id}")
        if run.info.lifecycle_stage != "active":
            raise RegistryError(f"run {event.run_id} is deleted; it cannot be registered")
        if owner is None:  # adopt it
            with self.mlflow.operation("tag the adopted run"):
                self.client.set_tag(run.info.run_id, f"{TAG}event_id", event_id)
            run.data.tags[f"{TAG}event_id"] = event_id
        return run.info.experiment_id, run

    def _registered_again(self, run: Run) -> Registration:
        registration = self.store.load(run.info.run_id)
        if run.info.status == "RUNNING":  # a crash between the commit and the end of the run
            with self.mlflow.operation("finish the run"):
                self.client.set_terminated(run.info.run_id, "FINISHED")
        return registration

    def _write_kept(
        self, event: RunCreated, event_id: str, experiment_id: str, run_id: str, artifact_uri: str,
        staged: Staged, resumed_tags: dict[str, Any],
    ) -> Prepared | Registration:
        """Start writing the staged registration to its run, and the look that converges with any
        concurrent registration of the event.

        Exactly one run per event: once the (idempotent) uploads are started, the runs tagged with the
        event id (from their creation) are listed; every racer keeps the same one (``_winner``: a registered
        run, else the earliest start, else the smallest run id) and deletes the others. The look runs while
        the caller pairs; ``finish`` waits for it and marks only the kept run registered (after its uploads),
        so a run once registered stays the winner. A run refused at once is resolved here, as ``finish`` does.
        """
        for _ in range(4):
            uploads = InFlight()
            try:
                registration, uploads = self.writer.write(event, event_id, experiment_id, run_id, artifact_uri, staged)
            except RegistryError as exc:
                uploads.cancel()
                winner = self._refused(experiment_id, event_id, run_id, exc)
            except BaseException:
                uploads.cancel()  # the staged files are removed once prepare raises
                raise
            else:
                self.evidence.keep(registration, staged)  # the verified copies, for pairing and later reads
                kept = self.look(partial(self._converge, experiment_id, event_id, run_id))
                return Prepared(registration, resumed_tags, staged, uploads, kept)
            if _registered(winner):
                return self._registered_again(winner)
            run_id, artifact_uri, resumed_tags = winner.info.run_id, winner.info.artifact_uri, dict(winner.data.tags)
        raise RegistryError(f"event {event_id}: concurrent registrations did not converge on one run")

    def _refused(self, experiment_id: str, event_id: str, run_id: str, exc: RegistryError) -> Run:
        """After a refusal: the run another racer keeps, or (a real refusal) the run marked FAILED and ``exc`` raised."""
        winner = self._converge(experiment_id, event_id, run_id)
        if winner is None or winner.info.run_id == run_id:
            self.writer.mark_failed(run_id, exc)
            raise exc
        return winner

    def _converge(self, experiment_id: str, event_id: str, mine: str) -> Run | None:
        runs = self.store.event_runs(experiment_id, event_id)
        winner = _winner(runs)
        for run in runs:
            if winner is not None and run.info.run_id != winner.info.run_id and not _registered(run):
                try:
                    with self.mlflow.operation("delete a duplicate run"):
                        self.client.delete_run(run.info.run_id)
                except RegistryError:
                    pass  # already deleted by the other racer
        return winner

    # -- reads and writes of registered runs (the store's and the evidence cache's) -----

    def look(self, call: Callable[[], T]) -> Future[T]:
        """Start a lookup in flight, on threads of its own (``MlflowAccess.look``)."""
        return self.mlflow.look(call)

    def experiment_id(self, name: str) -> str:
        """The id of experiment ``name``, created if absent (``MlflowAccess.experiment_id``)."""
        return self.mlflow.experiment_id(name)

    def experiment_ids(self) -> list[str]:
        """Every active experiment of the store (``TrackingStore.experiment_ids``)."""
        return self.store.experiment_ids()

    def search(
        self, filters: dict[str, str], experiment_ids: list[str] | None = None, max_results: int = 1000
    ) -> list[tuple[str, dict[str, str]]]:
        """``(run_id, tags)`` of registered runs whose ``runnotary.*`` tags equal ``filters`` (``TrackingStore.search``)."""
        return self.store.search(filters, experiment_ids, max_results)

    def search_page(
        self, filters: dict[str, str], experiment_ids: list[str] | None = None, max_results: int = 1000, *,
        without: tuple[str, ...] = (), oldest_first: bool = False, page_token: str | None = None,
    ) -> tuple[list[tuple[str, dict[str, str]]], str | None]:
        """One page of ``search`` and the next page's token (``TrackingStore.search_page``)."""
        return self.store.search_page(filters, experiment_ids, max_results, without=without,
                                      oldest_first=oldest_first, page_token=page_token)

    def run_tags(self, run_id: str) -> dict[str, str] | None:
        """The tags of a live run, or ``None`` (``TrackingStore.run_tags``)."""
        return self.store.run_tags(run_id)

    def load(self, run_id: str) -> Registration:
        """The registration recorded on ``run_id`` (``TrackingStore.load``)."""
        return self.store.load(run_id)

    def read_json(self, run_id: str, artifact_path: str) -> dict[str, Any] | None:
        """A JSON document logged on a run, ``None`` only when absent (``TrackingStore.read_json``)."""
        return self.store.read_json(run_id, artifact_path)

    def log_json(self, run_id: str, artifact_path: str, data: dict[str, Any]) -> None:
        """Upload ``data`` as the run's JSON artifact ``artifact_path``."""
        self.store.log_json(run_id, artifact_path, data)

    def log_jsons(self, run_id: str, documents: dict[str, dict[str, Any]]) -> None:
        """Upload each document as the run's JSON artifact at its path, all at once."""
        self.store.log_jsons(run_id, documents)

    def tag(self, run_id: str, tags: dict[str, str]) -> None:
        """Set ``runnotary.<key>`` tags on a run, in one request."""
        self.store.tag(run_id, tags)

    def fetch(self, registration: Registration, path: str) -> Path:
        """A verified local copy of one of the run's evidence artifacts (``EvidenceCache.fetch``)."""
        return self.evidence.fetch(registration, path)

    def per_query_table(self, registration: Registration, path: str) -> PerQueryTable:
        """The run's per-query CSV, verified and parsed once per content (shared: do not mutate)."""
        return self.evidence.per_query_table(registration, path)

    def latency_log(self, registration: Registration, path: str) -> np.ndarray:
        """The run's latency log as a read-only float64 array, verified and parsed once per content."""
        return self.evidence.latency_log(registration, path)

    def per_item(self, registration: Registration, record: MetricRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(item ids, values)`` of a metric reproduced from raw logs (``EvidenceCache.per_item``)."""
        return self.evidence.per_item(registration, record)

    def predictions(self, registration: Registration, record: MetricRecord) -> Predictions:
        """The predictions file a classification metric was reproduced from, verified and parsed once."""
        return self.evidence.predictions(registration, record)

    def ranked(self, registration: Registration, record: MetricRecord) -> PerQuery:
        """The per-query values of a metric reproduced from a run and qrels (``EvidenceCache.ranked``)."""
        return self.evidence.ranked(registration, record)


def _other_kept(prepared: Prepared) -> Run | None:
    """The run kept for the prepared registration's event when it is not the prepared one (``Prepared.kept``)."""
    winner = prepared.kept.result() if prepared.kept is not None else None
    return winner if winner is not None and winner.info.run_id != prepared.run_id else None


def _registered(run: Run) -> bool:
    return run.data.tags.get(f"{TAG}registered") == "true"


def _winner(runs: list[Run]) -> Run | None:
    """The run every racer keeps: a registered one first, then the earliest start, then the smallest id."""
    if not runs:
        return None
    return min(runs, key=lambda r: (not _registered(r), r.info.start_time or 0, r.info.run_id))
