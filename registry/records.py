"""What the registry records of a run, and where on the run it records it.

Provenance goes on the run as ``runnotary.*`` tags (searchable), the verified copies of its
evidence under ``evidence/``, and the full record as ``runnotary/provenance.json``.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnotary.contract import Alert, RunCreated
from runnotary.registry.artifacts import ArtifactRecord
from runnotary.registry.mlflow_access import InFlight

if TYPE_CHECKING:
    from mlflow.entities import Run

__all__ = ["EVIDENCE_DIR", "MetricRecord", "PROVENANCE_PATH", "Prepared", "Registration", "Staged", "TAG"]

#: The prefix of every tag runnotary writes on a run.
TAG = "runnotary."
#: Where the full registration record is logged on its run.
PROVENANCE_PATH = "runnotary/provenance.json"
#: The run's folder of verified evidence copies (in MLflow and in the local cache alike).
EVIDENCE_DIR = "evidence"


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
class Staged:
    """A registration's work done before MLflow is touched: verified copies under ``folder``, metrics, alerts.

    The copies are at ``folder / EVIDENCE_DIR / <artifact path>``; their run ids are filled in once the run exists.
    """

    folder: Path
    artifacts: tuple[ArtifactRecord, ...]
    metrics: tuple[MetricRecord, ...]
    alerts: tuple[Alert, ...]


@dataclass(frozen=True)
class Prepared:
    """A registration on its run, its evidence still being written (``uploads``) and the look at the
    event's runs that tells which run every racer keeps still going (``kept``: the winner, ``None`` when the
    event has no run yet; absent when already known); not yet marked registered (``Registry.finish`` waits
    for both, then marks the run when it is the one kept)."""

    registration: Registration
    resumed_tags: dict[str, Any]
    staged: Staged
    uploads: InFlight
    kept: Future[Run | None] | None = None

    @property
    def run_id(self) -> str:
        return self.registration.run_id
