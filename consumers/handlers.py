"""What the service does with each input event; returns the events to publish (no Kafka here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from pydantic import BaseModel

from runnotary.bundles import CandidateEvidence, Comparison, ComparisonSettings, closing_line, compare, evaluate, write_bundle
from runnotary.consumers.events import (
    BundleEmitted, CloudEvent, GateStatus, Headers, MeetingRequested, encode, envelope, kafka_headers,
)
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.registry import Alert, Registration, Registry, RunCreated, find_baseline, candidates_for

__all__ = ["Outgoing", "Handlers", "AB_RESULT_PATH", "GATE_STATUS_PATH"]

AB_RESULT_PATH = "runnotary/ab_result.json"
GATE_STATUS_PATH = "runnotary/gate_status.json"

log = structlog.get_logger("runnotary")


@dataclass(frozen=True)
class Outgoing:
    """One message to produce: logical topic (e.g. "gates.status"), key, value and Kafka headers."""

    topic: str
    key: str
    value: bytes
    headers: Headers = field(default_factory=list)

    @classmethod
    def of(cls, topic: str, key: str, event: CloudEvent[Any]) -> Outgoing:
        return cls(topic, key, encode(event), kafka_headers(event))


@dataclass
class Handlers:
    registry: Registry
    settings: ComparisonSettings
    bundle_root: Path
    metrics: ServiceMetrics

    def _out(self, topic: str, data: BaseModel, subject: str, cause: CloudEvent[Any] | str) -> Outgoing:
        caused_by = cause if isinstance(cause, str) else cause.id
        return Outgoing.of(topic, subject, envelope(topic, data, subject=subject, caused_by=caused_by))

    def _alerts(self, alerts: tuple[Alert, ...] | list[Alert], cause: CloudEvent[Any]) -> list[Outgoing]:
        out = []
        for i, alert in enumerate(alerts):
            self.metrics.alerts.labels(alert.kind, alert.severity).inc()
            out.append(self._out("alerts", alert, f"{alert.run_id or alert.candidate_id}:{alert.kind}:{i}", cause))
        return out

    # -- runs.created ---------------------------------------------------------------------

    def run_created(self, event: CloudEvent[RunCreated]) -> list[Outgoing]:
        registration = self.registry.register(event.data, event.id)
        if not registration.already_registered:
            self.metrics.runs.labels(registration.event.role).inc()
        self.metrics.observe_run(registration.event.candidate_id, registration.event.role, registration.event.created_at)
        log.info("run_registered", run_id=registration.run_id, candidate_id=registration.event.candidate_id,
                 role=registration.event.role, event_id=event.id, alerts=len(registration.alerts),
                 again=registration.already_registered)
        out = self._alerts(registration.alerts, event)
        if registration.event.role == "candidate":
            baseline_id = find_baseline(self.registry, registration)
            if baseline_id is None:
                out += self._alerts([Alert(
                    kind="awaiting_baseline", severity="info", run_id=registration.run_id,
                    candidate_id=registration.event.candidate_id,
                    message="no baseline with this dataset hash and seed family yet; pairing waits for it",
                    details={"dataset_sha256": registration.event.dataset.sha256, "seed_family": registration.event.seeds.family},
                )], event)
            else:
                out += self._pair(registration, self.registry.load(baseline_id), event)
        else:
            for candidate_id in candidates_for(self.registry, registration):
                out += self._pair(self.registry.load(candidate_id), registration, event)
        return out

    def _pair(self, candidate: Registration, baseline: Registration, cause: CloudEvent[Any]) -> list[Outgoing]:
        comparison = compare(self.registry, candidate, baseline, self.settings)
        status = evaluate(candidate, comparison)
        self.registry.log_json(candidate.run_id, AB_RESULT_PATH, comparison.to_dict())
        self.registry.log_json(candidate.run_id, GATE_STATUS_PATH, status,
                               tags={"baseline_run": baseline.run_id, "gate_overall": status["overall"]})
        self.metrics.gates.labels(status["overall"]).inc()
        self.metrics.observe_comparison(candidate.event.candidate_id, comparison.to_dict(),
                                        candidate_created_at=candidate.event.created_at,
                                        baseline_created_at=baseline.event.created_at)
        log.info("gates_evaluated", candidate_run=candidate.run_id, baseline_run=baseline.run_id, overall=status["overall"])
        # Keyed by the pair, not the input: whichever event (re)evaluates this pair publishes the same id.
        pair = f"pair:{candidate.run_id}:{baseline.run_id}"
        out = [self._out("gates.status", GateStatus.model_validate(status), candidate.event.candidate_id, pair)]
        notes = [Alert(kind="comparison_note", severity="warning", run_id=candidate.run_id,
                       candidate_id=candidate.event.candidate_id, message=note) for note in comparison.notes]
        return out + self._alerts(notes, cause)

    # -- meetings.requested -----------------------------------------------------------------

    def meeting_requested(self, event: CloudEvent[MeetingRequested]) -> list[Outgoing]:
        meeting = event.data
        evidence: list[CandidateEvidence] = []
        missing: list[Alert] = []
        experiments = self.registry.experiment_ids()
        for candidate_id in meeting.candidates:
            runs = self.registry.search({"candidate_id": candidate_id, "role": "candidate"}, experiments, max_results=1)
            if not runs:
                missing.append(Alert(kind="unknown_candidate", severity="critical", candidate_id=candidate_id,
                                     message=f"meeting {meeting.meeting_id} asks for {candidate_id!r}, which has no registered run",
                                     details={"meeting_id": meeting.meeting_id}))
                continue
            evidence.append(self._evidence(self.registry.load(runs[0][0])))
        bundle = write_bundle(self.registry, self.bundle_root, meeting.meeting_id, evidence)
        overall: Literal["pass", "fail"] = "fail" if missing or bundle.overall == "fail" else "pass"
        self.metrics.bundles.inc()
        self.metrics.observe_meeting([e.candidate.event.created_at for e in evidence]
                                     + [e.baseline.event.created_at for e in evidence if e.baseline is not None])
        log.info("bundle_emitted", meeting_id=meeting.meeting_id, location=str(bundle.path), overall=overall,
                 line=closing_line(meeting.meeting_id, overall))
        statuses = {e.candidate.event.candidate_id: e.gate_status["overall"] for e in evidence}
        statuses.update({a.candidate_id: "fail" for a in missing if a.candidate_id})
        emitted = BundleEmitted(meeting_id=meeting.meeting_id, location=str(bundle.path), overall_gate_status=overall,
                                candidates=statuses, files=bundle.files)
        return self._alerts(missing, event) + [self._out("bundles.emitted", emitted, meeting.meeting_id, event)]

    def _evidence(self, candidate: Registration) -> CandidateEvidence:
        recorded = self.registry.read_json(candidate.run_id, AB_RESULT_PATH)
        if recorded is None:
            return CandidateEvidence(candidate, None, None, evaluate(candidate, None))
        comparison = Comparison.from_dict(recorded)
        status = self.registry.read_json(candidate.run_id, GATE_STATUS_PATH) or evaluate(candidate, comparison)
        return CandidateEvidence(candidate, self.registry.load(comparison.baseline_run), comparison, status)

