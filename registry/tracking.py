"""Provenance on MLflow: register a run, find it again, fetch its verified artifacts.

Every fact runnotary derives is written back to the run it belongs to, so MLflow stays the
single source of truth: provenance as ``runnotary.*`` tags (searchable), recomputed metrics
as metrics, and the full record as ``runnotary/provenance.json``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from runnotary.registry.artifacts import ArtifactRecord, resolve_under, sha256_file, viewer_for
from runnotary.registry.catalog import MetricSpec, UnknownMetric, normalize, spec_for
from runnotary.registry.hygiene import check_run
from runnotary.registry.errors import ArtifactError, RegistryError, TrackingUnavailable, UnsafeArtifactPath
from runnotary.registry.models import Alert, RunCreated
from runnotary.registry.recompute import recompute

__all__ = ["MetricRecord", "Registration", "Registry", "TAG", "PROVENANCE_PATH"]

TAG = "runnotary."
PROVENANCE_PATH = "runnotary/provenance.json"
_EVIDENCE_DIR = "evidence"
_TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED"}


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
        )


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, MlflowException):
        if exc.error_code in _TRANSIENT_CODES:
            return True
        text = str(exc)
        return "Max retries exceeded" in text or "Connection refused" in text or "API request to" in text
    return isinstance(exc, (ConnectionError, TimeoutError))


@contextmanager
def _tracking(action: str) -> Iterator[None]:
    """Translate MLflow failures: an unreachable store is transient, anything else a RegistryError."""
    try:
        yield
    except (MlflowException, ConnectionError, TimeoutError) as exc:
        if _is_transient(exc):
            raise TrackingUnavailable(f"MLflow did not answer while trying to {action}: {exc}") from exc
        raise RegistryError(f"MLflow refused to {action}: {exc}") from exc


@dataclass
class Registry:
    """Registers runs on an MLflow tracking store.

    ``artifact_root`` is where training jobs leave the files their events cite;
    ``cache_dir`` holds artifacts fetched back from MLflow (verified against their hash).
    """

    client: MlflowClient
    artifact_root: Path
    cache_dir: Path
    artifact_location: str | None = None
    _experiments: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    # -- registration -------------------------------------------------------------------

    def register(self, event: RunCreated, event_id: str) -> Registration:
        """Register ``event`` once: a redelivered event returns the first registration."""
        run_id, registered = self._find_by_event(event_id)
        if run_id is not None and registered:
            return self.load(run_id)
        experiment_id = self._experiment_id(event.experiment)
        # A run left half-registered by a crash is resumed, not duplicated.
        run_id = self._open_run(event, event_id, experiment_id, resume=run_id)
        artifacts, alerts = self._hash_artifacts(run_id, event)
        metrics, metric_alerts = self._recompute_metrics(run_id, event, artifacts)
        alerts += metric_alerts + check_run(event, run_id)
        registration = Registration(run_id, experiment_id, event_id, event, tuple(artifacts), tuple(metrics), tuple(alerts))
        self._write_back(registration)
        return registration

    def _open_run(self, event: RunCreated, event_id: str, experiment_id: str, resume: str | None) -> str:
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
            "mlflow.source.git.commit": event.code.git_commit,
            "mlflow.user": event.owners[0],
            **event.tags.model_dump(),
        }
        with _tracking("open the run"):
            if resume is not None:
                run_id = resume
            elif event.run_id is not None:
                self.client.get_run(event.run_id)
                run_id = event.run_id
            else:
                run = self.client.create_run(  # the event id is on the run from its first instant
                    experiment_id,
                    start_time=int(event.created_at.timestamp() * 1000),
                    tags={f"{TAG}event_id": event_id},
                    run_name=event.run_name,
                )
                run_id = run.info.run_id
            params = {**{k: str(v) for k, v in event.params.items()}, "seed": str(event.seeds.value)}
            self._log_batch(run_id, params=params, tags=tags)
        return run_id

    def _hash_artifacts(self, run_id: str, event: RunCreated) -> tuple[list[ArtifactRecord], list[Alert]]:
        records: list[ArtifactRecord] = []
        alerts: list[Alert] = []
        for ref in event.artifacts:
            try:
                local = resolve_under(self.artifact_root, ref.path)
            except UnsafeArtifactPath as exc:
                alerts.append(self._alert("unsafe_artifact_path", "critical", run_id, event, str(exc), path=ref.path))
                continue
            except ArtifactError as exc:
                alerts.append(self._alert("missing_artifact", "warning", run_id, event, str(exc), path=ref.path))
                continue
            digest, size = sha256_file(local)
            if ref.sha256 is not None and ref.sha256 != digest:
                alerts.append(
                    self._alert(
                        "artifact_hash_mismatch", "critical", run_id, event,
                        f"{ref.path}: claimed sha256 {ref.sha256[:12]}… but the file hashes to {digest[:12]}…",
                        path=ref.path, claimed=ref.sha256, actual=digest,
                    )
                )
            with _tracking("upload an artifact"):
                self.client.log_artifact(run_id, str(local), _artifact_dir(ref.path))
            records.append(ArtifactRecord(run_id, ref.kind, ref.path, digest, size, viewer_for(ref.path), ref.sha256))
        return records, alerts

    def _recompute_metrics(
        self, run_id: str, event: RunCreated, artifacts: list[ArtifactRecord]
    ) -> tuple[list[MetricRecord], list[Alert]]:
        by_path = {a.path: a for a in artifacts}
        records: list[MetricRecord] = []
        alerts: list[Alert] = []
        for claim in event.metrics:
            try:
                spec, claimed = normalize(claim.name, claim.value, claim.unit)
            except UnknownMetric as exc:
                alerts.append(self._alert("unknown_metric", "warning", run_id, event, str(exc), metric=claim.name))
                continue
            source = by_path.get(claim.source)
            record = self._recompute_one(spec, claim.uuid.hex, claimed, claim.source, source)
            if record.status != "verified":
                severity = "critical" if record.status == "mismatch" else "warning"
                alerts.append(
                    self._alert(f"metric_{record.status}", severity, run_id, event, record.reason or "", metric=spec.name)
                )
            records.append(record)
        return records, alerts

    def _recompute_one(
        self, spec: MetricSpec, uuid: str, claimed: float, path: str, source: ArtifactRecord | None
    ) -> MetricRecord:
        def invalid(reason: str) -> MetricRecord:
            return MetricRecord(uuid, spec.name, spec.unit, claimed, None, "invalid", path, None, reason)

        if source is None:
            return invalid(f"{spec.name}: its source {path!r} was not hashed (missing or unreadable)")
        if source.kind != spec.artifact_kind:
            return invalid(f"{spec.name} is recomputed from a {spec.artifact_kind!r} artifact, not {source.kind!r}")
        try:
            value = recompute(spec, resolve_under(self.artifact_root, path))
        except ArtifactError as exc:
            return invalid(f"{spec.name}: {exc}")
        if abs(value - claimed) > spec.tolerance * max(1.0, abs(value)):
            reason = f"{spec.name}: claimed {claimed:.6g} but {path} gives {value:.6g}"
            return MetricRecord(uuid, spec.name, spec.unit, claimed, value, "mismatch", path, source.sha256, reason)
        return MetricRecord(uuid, spec.name, spec.unit, claimed, value, "verified", path, source.sha256)

    def _write_back(self, registration: Registration) -> None:
        metrics = {spec_for(m.name).mlflow_key: m.value for m in registration.metrics if m.value is not None}
        with _tracking("record the provenance"):
            self.client.log_dict(registration.run_id, registration.to_dict(), PROVENANCE_PATH)
            self._log_batch(
                registration.run_id,
                metrics=metrics,
                tags={f"{TAG}registered": "true", f"{TAG}alerts": str(len(registration.alerts))},
            )

    # -- lookups ------------------------------------------------------------------------

    def search(
        self, filters: dict[str, str], experiment_ids: list[str] | None = None, max_results: int = 1000
    ) -> list[tuple[str, dict[str, str]]]:
        """``(run_id, tags)`` of registered runs whose ``runnotary.*`` tags equal ``filters``, newest first.

        ``experiment_ids`` defaults to every experiment of the store.
        """
        clauses = [f"tags.`{TAG}registered` = 'true'"]
        clauses += [f"tags.`{TAG}{key}` = '{_quote(value)}'" for key, value in filters.items()]
        ids = experiment_ids if experiment_ids is not None else self.experiment_ids()
        with _tracking("search runs"):
            runs = self.client.search_runs(
                ids, " AND ".join(clauses), max_results=max_results, order_by=["attributes.start_time DESC"]
            )
        return [(r.info.run_id, dict(r.data.tags)) for r in runs]

    def experiment_ids(self) -> list[str]:
        with _tracking("list experiments"):
            return [e.experiment_id for e in self.client.search_experiments()]

    def load(self, run_id: str) -> Registration:
        """Return the registration recorded on ``run_id``."""
        path = self._download(run_id, PROVENANCE_PATH)
        return Registration.from_dict(json.loads(path.read_text()))

    def read_json(self, run_id: str, artifact_path: str) -> dict[str, Any] | None:
        """A JSON document runnotary logged on a run, or ``None`` if there is none."""
        try:
            path = self._download(run_id, artifact_path, cache=False)
        except (RegistryError, OSError):
            return None
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def log_json(self, run_id: str, artifact_path: str, data: dict[str, Any], tags: dict[str, str] | None = None) -> None:
        with _tracking("log a result"):
            self.client.log_dict(run_id, data, artifact_path)
            if tags:
                self._log_batch(run_id, tags={f"{TAG}{k}": v for k, v in tags.items()})

    def fetch(self, registration: Registration, path: str) -> Path:
        """A local copy of one of the run's evidence artifacts, verified against its recorded hash."""
        record = registration.artifact(path)
        if record is None:
            raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
        local = self._download(registration.run_id, f"{_EVIDENCE_DIR}/{path}")
        digest, _ = sha256_file(local)
        if digest != record.sha256:
            raise ArtifactError(f"{path} of run {registration.run_id} no longer hashes to {record.sha256[:12]}…")
        return local

    def _find_by_event(self, event_id: str) -> tuple[str | None, bool]:
        """The run an event already created, and whether its registration completed."""
        with _tracking("look up the event"):
            runs = self.client.search_runs(
                self.experiment_ids(), f"tags.`{TAG}event_id` = '{_quote(event_id)}'", max_results=1
            )
        if not runs:
            return None, False
        return runs[0].info.run_id, runs[0].data.tags.get(f"{TAG}registered") == "true"

    def _download(self, run_id: str, artifact_path: str, cache: bool = True) -> Path:
        """A local copy of a run's artifact; ``cache`` only for files that never change once logged."""
        target = self.cache_dir / run_id / artifact_path
        if cache and target.is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache_dir) as tmp, _tracking(f"download {artifact_path}"):
            local = Path(self.client.download_artifacts(run_id, artifact_path, tmp))
            os.replace(local, target)
        return target

    def _experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            with _tracking("find the experiment"):
                found = self.client.get_experiment_by_name(name)
                if found is None:
                    location = f"{self.artifact_location.rstrip('/')}/{_slug(name)}" if self.artifact_location else None
                    try:
                        self._experiments[name] = self.client.create_experiment(name, artifact_location=location)
                    except MlflowException:
                        found = self.client.get_experiment_by_name(name)  # another worker created it first
                        if found is None:
                            raise
                        self._experiments[name] = found.experiment_id
                else:
                    self._experiments[name] = found.experiment_id
        return self._experiments[name]

    def _log_batch(
        self, run_id: str, *, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        # MLflow caps one batch at 100 params, 100 tags and 1000 metrics.
        p = [Param(k, v) for k, v in (params or {}).items()]
        t = [RunTag(k, v) for k, v in (tags or {}).items()]
        m = [Metric(k, v, 0, 0) for k, v in (metrics or {}).items()]
        batches = max(-(-len(p) // 100), -(-len(t) // 100), -(-len(m) // 1000), 1)
        for i in range(batches):
            self.client.log_batch(
                run_id, metrics=m[i * 1000 : (i + 1) * 1000], params=p[i * 100 : (i + 1) * 100], tags=t[i * 100 : (i + 1) * 100]
            )

    @staticmethod
    def _alert(kind: str, severity: str, run_id: str, event: RunCreated, message: str, **details: object) -> Alert:
        return Alert(kind=kind, severity=severity, run_id=run_id, candidate_id=event.candidate_id, message=message, details=details)  # type: ignore[arg-type]


def _artifact_dir(path: str) -> str:
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    return f"{_EVIDENCE_DIR}/{parent}" if parent else _EVIDENCE_DIR


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "experiment"
