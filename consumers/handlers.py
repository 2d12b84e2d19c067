"""What the service does with each input event; returns the events to publish (no Kafka here)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from pydantic import BaseModel

from runnotary.bundles import (
    DEFAULT_POLICY, CandidateEvidence, Comparison, ComparisonSettings, GatePolicy, closing_line, evaluate,
    gate_alerts, log_bundle, meeting_flags, status_dict, write_bundle,
)
from runnotary.bundles.arms import Arm, arm_of, compare_arms
from runnotary.bundles.description import NOTE_TAG, decision_note
from runnotary.bundles.hygiene import STALE_AFTER, quarantined_names
from runnotary.consumers.metrics import ServiceMetrics
from runnotary.contract import (
    Alert, BundleEmitted, CloudEvent, Headers, MeetingRequested, RunCreated, encode, envelope, kafka_headers,
)
from runnotary.errors import redact
from runnotary.registry import (
    Registration, Registry, RegistryError, TrackingUnavailable, arm_from, awaiting_candidates, candidates_for,
    find_baseline, key_runs, key_runs_of, newest_baseline,
)
from runnotary.registry.records import TAG

__all__ = ["Outgoing", "Handled", "Handlers", "Reconciled", "AB_RESULT_PATH", "GATE_STATUS_PATH"]

AB_RESULT_PATH = "runnotary/ab_result.json"
GATE_STATUS_PATH = "runnotary/gate_status.json"

log = structlog.get_logger("runnotary")

_BUNDLE_LOCK = threading.Lock()


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


@dataclass(frozen=True)
class Handled:
    """What handling one input gives: the events decided now, and the step that follows once they are
    acknowledged (``then``, e.g. a look after a registration's mark; ``None`` when there is none). The
    input is committed only after the last step's events."""

    outgoing: list[Outgoing]
    then: Callable[[], list[Outgoing]] | None = None


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation pass did: candidates examined, those it paired, the creation times of
    those still awaiting a baseline, the events to publish, and where the next pass continues."""

    examined: int
    paired: tuple[str, ...]
    awaiting: tuple[datetime, ...]
    outgoing: list[Outgoing]
    next_page: str | None


def _fingerprint(alert: Alert) -> str:
    """A short stable hash of what an alert says (its message and details)."""
    content = json.dumps([alert.message, alert.details], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(content.encode()).hexdigest()[:16]


@dataclass
class Handlers:
    registry: Registry
    settings: ComparisonSettings
    bundle_root: Path
    metrics: ServiceMetrics
    policy: GatePolicy = DEFAULT_POLICY
    stale_after: timedelta = STALE_AFTER
    mlflow_ui_url: str | None = None  # links the bundle page's run ids to the MLflow UI

    # -- outgoing events (the steps every input and command ends with) -------------------------

    def outgoing(self, topic: str, data: BaseModel, subject: str, cause: CloudEvent[Any] | str) -> Outgoing:
        """``data`` as the event to publish on ``topic``, keyed by ``subject`` and caused by ``cause`` (an event or an id)."""
        caused_by = cause if isinstance(cause, str) else cause.id
        return Outgoing.of(topic, subject, envelope(topic, data, subject=subject, caused_by=caused_by))

    def alerts(self, alerts: tuple[Alert, ...] | list[Alert], cause: CloudEvent[Any] | str) -> list[Outgoing]:
        """``alerts`` as events to publish on ``alerts``, each counted by kind and severity."""
        out = []
        for alert in alerts:
            self.metrics.alerts.labels(alert.kind, alert.severity).inc()
            # Keyed by run so one run's alerts stay on one partition, in order; the subject (and so
            # the event id) comes from the alert's content, not its position in the list.
            owner = alert.run_id or alert.candidate_id or ""
            subject = f"{owner}:{alert.kind}:{_fingerprint(alert)}"
            caused_by = cause if isinstance(cause, str) else cause.id
            out.append(Outgoing.of("alerts", owner, envelope("alerts", alert, subject=subject, caused_by=caused_by)))
        return out

    # -- runs.created ---------------------------------------------------------------------

    def run_created(self, event: CloudEvent[RunCreated]) -> Handled:
        """Register and pair the event's run: the events decided by its mark, then the look after it."""
        _, out, after = self._register(event)
        return Handled(out, after)

    def register_run(self, event: CloudEvent[RunCreated]) -> tuple[Registration, list[Outgoing]]:
        """Register the event's run and pair it, the look after the mark included: the registration and
        every event to publish."""
        registration, out, after = self._register(event)
        return registration, out + (after() if after is not None else [])

    def _register(self, event: CloudEvent[RunCreated]
                  ) -> tuple[Registration, list[Outgoing], Callable[[], list[Outgoing]] | None]:
        """Register the event's run: the registration, the events decided by its mark, and the look that
        must follow the mark.

        The registration's phases, in order: ``prepare`` (the run created, its evidence uploading, not
        yet marked), the pairing a new candidate can record with its mark (its lookups and statistics run
        while the uploads are in flight), ``finish`` (the uploads waited for, then the ``registered`` mark),
        then the looks that must follow the mark. Each side writes before it looks, whatever the key,
        partition or instance the two events came with (``registry.pairing``):

        - a new candidate looks for its baseline before its mark (the look starts with the registration and
          runs beside its staging), so a found pairing (baseline run, gate status) reaches MLflow in the
          mark's request; when it found none it looks once more after the mark, which sees any baseline
          marked meanwhile;
        - a baseline is marked, then pairs every candidate of its key still waiting for it;
        - a redelivered run is paired again after the fact (a recorded pairing wins).

        A comparison is of arms (``bundles.arms``): the candidate's seed runs against the seed runs
        of its baseline's recipe. A candidate paired before its mark looks at both arms again after
        it, and compares again when either gained a run meanwhile (another seed racing it); a
        baseline pairs, after its mark, every candidate arm paired with a run of its own arm.
        """
        candidate = event.data.role == "candidate"
        ahead = self._look_ahead(event.data) if candidate else None
        try:
            prepared = self.registry.prepare(event.data, event.id)
        except BaseException:
            if ahead is not None:
                ahead.cancel()
            raise
        out: list[Outgoing] = []
        paired = False
        compared: tuple[Arm, Arm] | None = None
        if isinstance(prepared, Registration):
            registration = prepared
        elif candidate:
            try:
                out, tags, compared = self._pair_before_mark(prepared.registration, event, ahead)
            except TrackingUnavailable:
                self.registry.abandon(prepared)
                raise  # the event is retried: nothing to keep
            except Exception:
                self.registry.finish(prepared)  # the registration stands; the pairing's failure is raised
                raise
            paired = bool(tags)
            registration = self.registry.finish(prepared, tags)
            if registration.already_registered or registration.run_id != prepared.run_id:
                out, paired = [], False  # another racer's run is the event's: it is paired after the mark
        else:
            registration = self.registry.finish(prepared)
        if not registration.already_registered:
            self.metrics.runs.labels(registration.event.role).inc()
        self.metrics.observe_run(registration.event.candidate_id, registration.event.role, registration.event.created_at)
        log.info("run_registered", run_id=registration.run_id, candidate_id=registration.event.candidate_id,
                 role=registration.event.role, event_id=event.id, alerts=len(registration.alerts),
                 again=registration.already_registered)
        out = self.alerts(registration.alerts, event) + out
        if candidate and not paired:
            return registration, out, lambda: self.pair_candidate(registration, event)
        if candidate and compared is not None:
            cand_arm, base_arm = compared
            return registration, out, lambda: (self.pair(registration, base_arm.head, event)
                                               if self._arms_grew(registration, cand_arm, base_arm) else [])
        if not candidate:
            return registration, out, lambda: self._pair_waiting(registration, event)
        return registration, out, None

    def _pair_waiting(self, baseline: Registration, cause: CloudEvent[Any]) -> list[Outgoing]:
        """Pair, after a baseline's mark, every candidate arm still waiting for it or paired with its arm."""
        arms: dict[str, list[str]] = {}  # candidate_id -> its runs to pair: one comparison per arm
        for run_id, candidate_id in candidates_for(self.registry, baseline):
            arms.setdefault(candidate_id, []).append(run_id)
        out: list[Outgoing] = []
        for run_ids in arms.values():
            runs = [self.registry.load(run_id) for run_id in run_ids]
            out += self.pair(runs[0], baseline, cause, also=runs[1:])
        return out

    def _look_ahead(self, event: RunCreated) -> Future[list[tuple[str, dict[str, str]]]] | None:
        """A new candidate's look at its pairing key, started beside its registration (a run it names
        gives its experiment only once read: that look waits for ``prepare``)."""
        if event.run_id is not None:
            return None
        experiment_id = self.registry.experiment_id(event.experiment)
        return self.registry.look(partial(key_runs_of, self.registry, event, experiment_id))

    def _arms_grew(self, candidate: Registration, cand_arm: Arm, base_arm: Arm) -> bool:
        """Whether either arm has a registered run the comparison of ``cand_arm`` and ``base_arm`` did not use."""
        runs = key_runs(self.registry, candidate)
        used = {r.run_id for r in cand_arm.runs + base_arm.runs} | {candidate.run_id}
        now = arm_from(runs, cand_arm.candidate_id, "candidate") + arm_from(runs, base_arm.candidate_id, "baseline")
        return not set(now) <= used

    def pair_candidate(self, candidate: Registration, cause: CloudEvent[Any] | str) -> list[Outgoing]:
        """Pair a registered candidate with its baseline, or say that it waits for one."""
        baseline_id = find_baseline(self.registry, candidate)
        if baseline_id is None:
            return self._awaiting(candidate, cause)
        return self.pair(candidate, self.registry.load(baseline_id), cause)

    def _pair_before_mark(self, candidate: Registration, cause: CloudEvent[Any],
                          ahead: Future[list[tuple[str, dict[str, str]]]] | None = None,
                          ) -> tuple[list[Outgoing], dict[str, str], tuple[Arm, Arm] | None]:
        """Pair a candidate whose run is not marked registered yet: the events, the tags that record the
        pairing, and the arms compared.

        No baseline yet: nothing (the look after the mark decides, and says it waits). A new candidate has no
        recorded pairing, so its baseline is the newest of its key: one lookup of the key (``ahead``, when it
        was started beside the registration) gives it and both arms."""
        if ahead is not None and candidate.experiment_id == self.registry.experiment_id(candidate.event.experiment):
            runs = ahead.result()
        else:
            runs = key_runs(self.registry, candidate)
        if any(tags.get(f"{TAG}event_id") == candidate.event_id for _, tags in runs):
            return [], {}, None  # a redelivery of a registered event: its recorded pairing counts, after the mark
        baseline_id = newest_baseline(runs)
        if baseline_id is None:
            return [], {}, None
        return self._compare(candidate, self.registry.load(baseline_id), cause, runs)

    def _awaiting(self, candidate: Registration, cause: CloudEvent[Any] | str) -> list[Outgoing]:
        return self.alerts([Alert(
            kind="awaiting_baseline", severity="info", run_id=candidate.run_id,
            candidate_id=candidate.event.candidate_id,
            message="no baseline with this dataset hash and seed family yet; pairing waits for it",
            details={"dataset_sha256": candidate.event.dataset.sha256, "seed_family": candidate.event.seeds.family},
        )], cause)

    def pair(self, candidate: Registration, baseline: Registration, cause: CloudEvent[Any] | str, *,
             also: list[Registration] | None = None) -> list[Outgoing]:
        """Pair a registered candidate's arm: its results are uploaded and the pairing tagged on its run
        (and on the runs of ``also``, more runs of its arm to mark paired)."""
        out, tags, _ = self._compare(candidate, baseline, cause)
        for run_id in dict.fromkeys([candidate.run_id] + [r.run_id for r in also or ()]):
            self.registry.tag(run_id, tags)
        return out

    def _arms(self, candidate: Registration, baseline: Registration,
              runs: list[tuple[str, dict[str, str]]] | None = None) -> tuple[Arm, Arm]:
        """The candidate's arm and the baseline's, from one lookup of their pairing key (``runs``, when made
        already); each holds the run it is built around even before that run is marked registered (the
        newest run of a seed wins)."""
        runs = key_runs(self.registry, candidate) if runs is None else runs
        arms = []
        for member, role in ((candidate, "candidate"), (baseline, "baseline")):
            others = [r for r in arm_from(runs, member.event.candidate_id, role) if r != member.run_id]
            arms.append(arm_of([member] + [self.registry.load(r) for r in others]))
        return arms[0], arms[1]

    def _compare(self, candidate: Registration, baseline: Registration, cause: CloudEvent[Any] | str,
                 runs: list[tuple[str, dict[str, str]]] | None = None) -> tuple[list[Outgoing], dict[str, str], tuple[Arm, Arm]]:
        """Compare the arms, evaluate the gates and upload both results on the candidate arm's newest run;
        the events, the tags that record the pairing and the arms compared."""
        cand_arm, base_arm = self._arms(candidate, baseline, runs)
        comparison = compare_arms(self.registry, cand_arm, base_arm, self.settings)
        record, baseline = cand_arm.head, base_arm.head  # one run a side: the two runs themselves
        members = list(cand_arm.runs) + list(base_arm.runs)
        quarantined, flags = meeting_flags(members, candidate.event.candidate_id, stale_after=None)
        status = evaluate(record, comparison, self.policy, quarantined=quarantined_names(record, quarantined))
        recorded = status_dict(status)
        self.registry.log_jsons(record.run_id, {AB_RESULT_PATH: comparison.to_dict(), GATE_STATUS_PATH: recorded})
        self.metrics.gates.labels(status.overall).inc()
        self.metrics.observe_comparison(record.event.candidate_id, comparison,
                                        candidate_created_at=record.event.created_at,
                                        baseline_created_at=baseline.event.created_at)
        log.info("gates_evaluated", candidate_run=record.run_id, baseline_run=baseline.run_id, overall=status.overall,
                 seeds=[len(cand_arm.runs), len(base_arm.runs)])
        tags = {"baseline_run": baseline.run_id, "gate_overall": status.overall,
                # The run page's Description: the decision in words, for a reviewer who opens MLflow first.
                NOTE_TAG: decision_note(record, baseline, comparison, status, GATE_STATUS_PATH, AB_RESULT_PATH)}
        if record.run_id != candidate.run_id:  # a seed older than its arm's newest run: the record is on the newest
            self.registry.tag(record.run_id, tags)
        # Keyed by the pair (the arms) and what decided it, not by the input: whichever event (re)evaluates
        # it publishes the same id for the same result, and a changed result gets a new id.
        # (Hashed as gate_status.json lays it out, as the ids have always been.)
        decided = hashlib.sha256(json.dumps(recorded, sort_keys=True, default=str).encode()).hexdigest()[:16]
        if comparison.arms is None:
            pair = f"pair:{record.run_id}:{baseline.run_id}:{decided}"
        else:
            arm_ids = json.dumps([[r.run_id for r in cand_arm.runs], [r.run_id for r in base_arm.runs]])
            pair = f"arms:{hashlib.sha256(arm_ids.encode()).hexdigest()[:16]}:{decided}"
        out = [self.outgoing("gates.status", status, record.event.candidate_id, pair)]
        notes = [Alert(kind="comparison_note", severity="warning", run_id=record.run_id,
                       candidate_id=record.event.candidate_id, message=note) for note in comparison.notes]
        return out + self.alerts(flags + gate_alerts(record, status) + notes, cause), tags, (cand_arm, base_arm)

    # -- reconciliation ------------------------------------------------------------------------

    def reconcile(self, *, max_runs: int = 200, page_token: str | None = None) -> Reconciled:
        """One bounded pass over registered candidates without a gate status, oldest first.

        Each one whose baseline is registered is paired (the events of its gate status, which carry
        the same ids whichever instance or pass computes them); one still without a baseline is
        counted as awaiting and left alone (its ``awaiting_baseline`` alert was published when it
        was registered). ``page_token`` continues a previous pass where it stopped.
        """
        page, token = awaiting_candidates(self.registry, max_results=max_runs, page_token=page_token)
        out: list[Outgoing] = []
        paired: list[str] = []
        awaiting: list[datetime] = []
        baselines: dict[tuple[str, str, str], str | None] = {}  # one lookup per experiment and pairing key
        arms: dict[tuple[str, str, str, str], list[Registration]] = {}  # one comparison per candidate arm
        for run_id, _ in page:
            candidate = self.registry.load(run_id)
            key = (candidate.experiment_id, candidate.event.dataset.sha256, candidate.event.seeds.family)
            arms.setdefault((*key, candidate.event.candidate_id), []).append(candidate)
        for (experiment_id, sha256, family, _), runs in arms.items():
            first = runs[0]
            experiment_key = (experiment_id, sha256, family)
            if experiment_key not in baselines:
                baselines[experiment_key] = find_baseline(self.registry, first)
            baseline_id = baselines[experiment_key]
            if baseline_id is None:
                awaiting += [c.event.created_at for c in runs]
                continue
            out += self.pair(first, self.registry.load(baseline_id), f"reconcile:{first.run_id}", also=runs[1:])
            paired += [c.run_id for c in runs]
        if paired:
            log.info("candidates_reconciled", paired=paired, examined=len(page))
        return Reconciled(examined=len(page), paired=tuple(paired), awaiting=tuple(awaiting), outgoing=out,
                          next_page=token)

    # -- meetings.requested -----------------------------------------------------------------

    def meeting_requested(self, event: CloudEvent[MeetingRequested]) -> list[Outgoing]:
        with _BUNDLE_LOCK:  # bundles draw with matplotlib, which is not safe across threads
            return self._meeting(event)

    def _meeting(self, event: CloudEvent[MeetingRequested]) -> list[Outgoing]:
        meeting = event.data
        found: list[tuple[Registration, Registration | None, Comparison | None]] = []
        unknown: dict[str, str] = {}  # candidate_id -> why the meeting could not evaluate it
        missing: list[Alert] = []
        experiments = self.registry.experiment_ids()
        for candidate_id in meeting.candidates:
            runs = self.registry.search({"candidate_id": candidate_id, "role": "candidate"}, experiments, max_results=1)
            if not runs:
                unknown[candidate_id] = "unknown_candidate: no registered run"
                missing.append(Alert(kind="unknown_candidate", severity="critical", candidate_id=candidate_id,
                                     message=f"meeting {meeting.meeting_id} asks for {candidate_id!r}, which has no registered run",
                                     details={"meeting_id": meeting.meeting_id}))
                continue
            try:
                found.append(self._paired_with(self.registry.load(runs[0][0])))
            except RegistryError as exc:  # this candidate's evidence, not the meeting: a row with the reason
                reason = f"evidence_unavailable: {redact(str(exc))}"
                unknown[candidate_id] = reason
                missing.append(Alert(kind="candidate_not_evaluated", severity="critical", run_id=runs[0][0],
                                     candidate_id=candidate_id,
                                     message=f"meeting {meeting.meeting_id} could not evaluate {candidate_id!r}: {reason}",
                                     details={"meeting_id": meeting.meeting_id, "reason": reason}))
        # Hygiene across every run the decision uses: quarantine conflicting metric uuids, flag stale runs again.
        used = list({r.run_id: r for c, b, _ in found for r in (b, c) if r is not None}.values())
        quarantined, flags = meeting_flags(used, None, stale_after=self.stale_after)
        evidence = [self._evidence(c, b, comparison, quarantined, flags) for c, b, comparison in found]
        bundle = write_bundle(self.registry, self.bundle_root, meeting.meeting_id, evidence, unknown, self.policy,
                              ui_url=self.mlflow_ui_url)
        # MLflow not answering: TrackingUnavailable, retried; refusing (403, 400): RegistryError, dead-lettered with the reason
        mlflow_run = log_bundle(self.registry, bundle)
        self.metrics.bundles.inc()
        self.metrics.observe_meeting([e.candidate.event.created_at for e in evidence]
                                     + [e.baseline.event.created_at for e in evidence if e.baseline is not None])
        log.info("bundle_emitted", meeting_id=meeting.meeting_id, location=str(bundle.path), overall=bundle.overall,
                 mlflow_run=mlflow_run, line=closing_line(meeting.meeting_id, bundle.overall))
        emitted = BundleEmitted(meeting_id=meeting.meeting_id, location=str(bundle.path), overall_gate_status=bundle.overall,
                                candidates=bundle.candidates, files=bundle.files)
        return self.alerts(missing + flags, event) + [self.outgoing("bundles.emitted", emitted, meeting.meeting_id, event)]

    def _paired_with(self, candidate: Registration) -> tuple[Registration, Registration | None, Comparison | None]:
        """The candidate with its recorded baseline and comparison; ``RegistryError`` when they cannot be read."""
        try:
            recorded = self.registry.read_json(candidate.run_id, AB_RESULT_PATH)
            comparison = Comparison.from_dict(recorded) if recorded is not None else None
        except (KeyError, TypeError, ValueError) as exc:  # a document that is not a comparison
            raise RegistryError(f"run {candidate.run_id}: {AB_RESULT_PATH} is not a comparison ({exc!r})") from exc
        if comparison is None:
            return candidate, None, None
        return candidate, self.registry.load(comparison.baseline_run), comparison

    def _evidence(self, candidate: Registration, baseline: Registration | None, comparison: Comparison | None,
                  quarantined: frozenset[str], flags: list[Alert]) -> CandidateEvidence:
        """Gates are evaluated again under the current policy and the meeting's quarantine."""
        status = evaluate(candidate, comparison, self.policy, quarantined=quarantined_names(candidate, quarantined))
        runs = {candidate.run_id} | ({baseline.run_id} if baseline is not None else set())
        mine = tuple(a for a in flags if a.run_id in runs)
        return CandidateEvidence(candidate, baseline, comparison, status, quarantined, mine)
