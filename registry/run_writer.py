"""What a registration writes on its run: the tags, the evidence and provenance uploads, the data set,
the ``registered`` mark, and a refusal's reason."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mlflow.entities import Dataset as MlflowDataset
from mlflow.entities import DatasetInput, InputTag

from runnotary.contract import MLFLOW_TAG_VALUE_MAX, RunCreated
from runnotary.errors import redact
from runnotary.registry.catalog import spec_for
from runnotary.registry.errors import RegistryError, TrackingUnavailable
from runnotary.registry.mlflow_access import InFlight, MlflowAccess
from runnotary.registry.records import EVIDENCE_DIR, PROVENANCE_PATH, TAG, Registration, Staged
from runnotary.registry.store import TrackingStore, qualified

__all__ = ["FAILURE_TAG", "RunWriter", "job_name"]

#: MLflow's answer when two runs create one data set row at the same moment (PostgreSQL, MySQL, SQLite wording).
_DATASET_RACE = re.compile(r"dataset_pk|duplicate key value|UNIQUE constraint failed: datasets|Duplicate entry", re.IGNORECASE)
#: Where a permanently refused run keeps MLflow's (redacted) reason.
FAILURE_TAG = f"{TAG}failure_reason"
#: MLflow stores a dataset digest in a 36-character column (mlflow.utils.validation.MAX_DATASET_DIGEST_SIZE).
DATASET_DIGEST_CHARS = 36


@dataclass
class RunWriter:
    """Writes registrations on runs through ``mlflow`` and ``store``; ``owner`` is recorded as ``runnotary.group``."""

    mlflow: MlflowAccess
    store: TrackingStore
    owner: str | None = None

    def tags(self, event: RunCreated, event_id: str) -> dict[str, str]:
        """Every tag of the event's run: provenance under ``runnotary.``, MLflow's source and user, the event's own."""
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

    def create(self, event: RunCreated, event_id: str, experiment_id: str) -> tuple[str, str]:
        """A new run of the event, with every tag from its first instant: ``(run_id, artifact_uri)``."""
        with self.mlflow.operation("create the run"):
            run = self.mlflow.client.create_run(  # every tag, the event id included, from the run's first instant
                experiment_id,
                start_time=int(event.created_at.timestamp() * 1000),
                tags=self.tags(event, event_id),
                run_name=event.run_name,
            )
        return run.info.run_id, run.info.artifact_uri

    def write(
        self, event: RunCreated, event_id: str, experiment_id: str, run_id: str, artifact_uri: str, staged: Staged,
    ) -> tuple[Registration, InFlight]:
        """Start uploading the staged copies and the provenance record, and linking the data set (all
        idempotent): the registration they record, and the calls in flight (read the staged files until done)."""
        artifacts = tuple(replace(a, run_id=run_id) for a in staged.artifacts)
        alerts = tuple(a.model_copy(update={"run_id": run_id}) for a in staged.alerts)
        registration = Registration(run_id, experiment_id, event_id, event, artifacts, staged.metrics, alerts,
                                    artifact_uri=artifact_uri)
        provenance = staged.folder / PROVENANCE_PATH
        provenance.parent.mkdir(parents=True, exist_ok=True)
        provenance.write_text(json.dumps(registration.to_dict(), indent=2))
        uploads: list[Callable[[], None]] = [
            self.store.upload(run_id, artifact_uri, staged.folder / EVIDENCE_DIR / r.path, _artifact_dir(r.path),
                              "upload an artifact") for r in artifacts
        ]
        uploads.append(self.store.upload(run_id, artifact_uri, provenance, "runnotary", "record the provenance"))
        return registration, self.mlflow.start([*uploads, lambda: self._link_dataset(run_id, event)])

    def _link_dataset(self, run_id: str, event: RunCreated) -> None:
        """Log the data set as the run's input. MLflow creates a data set row per experiment on first
        use without a lock, so two runs of one data set linked at once can collide on its key; the
        loser's retry finds the row and links it."""
        for attempt in (1, 2):
            try:
                with self.mlflow.operation("link the dataset"):
                    self.mlflow.client.log_inputs(run_id, datasets=[_dataset_input(event)])
                return
            except RegistryError as exc:
                if attempt == 2 or not _DATASET_RACE.search(str(exc)):
                    raise

    def finish(self, registration: Registration, resumed_tags: dict[str, Any], results: dict[str, str]) -> None:
        """One log_batch with params, metrics, the ``results`` tags and the ``registered`` tag, then the run ends FINISHED."""
        event = registration.event
        timestamp = int(event.created_at.timestamp() * 1000)
        metrics = {spec_for(m.name).mlflow_key: m.value for m in registration.metrics if m.value is not None}
        params = {**{k: str(v) for k, v in event.params.items()}, "seed": str(event.seeds.value)}
        tags = {**qualified(results),
                f"{TAG}registered": "true", f"{TAG}alerts": str(len(registration.alerts))}
        if resumed_tags.get(f"{TAG}event_id") is not None and f"{TAG}dataset_sha256" not in resumed_tags:
            tags = {**self.tags(event, registration.event_id), "mlflow.runName": event.run_name, **tags}
        with self.mlflow.operation("record params, metrics and the registration"):
            self.mlflow.log_batch(registration.run_id, params=params, metrics=metrics, tags=tags, timestamp=timestamp)
        with self.mlflow.operation("finish the run"):
            if FAILURE_TAG in resumed_tags:
                self.mlflow.client.delete_tag(registration.run_id, FAILURE_TAG)
            self.mlflow.client.set_terminated(registration.run_id, "FINISHED")

    def mark_failed(self, run_id: str, exc: Exception) -> None:
        """Leave a permanently refused run FAILED with its (redacted) reason; best effort."""
        reason = redact(str(exc))[: MLFLOW_TAG_VALUE_MAX - 1]
        try:
            with self.mlflow.operation("mark the run failed"):
                self.mlflow.client.set_tag(run_id, FAILURE_TAG, reason)
                self.mlflow.client.set_terminated(run_id, "FAILED")
        except (RegistryError, TrackingUnavailable):
            pass  # the refusal is what the caller needs to hear about


def job_name(event: RunCreated) -> str:
    """What MLflow shows as the run's Source: the training code and commit that produced it."""
    return f"{event.code.repository or event.run_name}@{event.code.git_commit[:12]}"


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


def _artifact_dir(path: str) -> str:
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    return f"{EVIDENCE_DIR}/{parent}" if parent else EVIDENCE_DIR
