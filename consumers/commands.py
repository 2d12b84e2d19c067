"""The seed's command grammar: every command event gets one reply on ``commands.replies``.

The verbs reuse what the service does with its other inputs (``Handlers``): ``register_run`` is
a runs.created, ``emit_bundle`` a meetings.requested, ``pair_ab`` and ``gate_check`` evaluate a
pair through ``Handlers.pair`` and publish gates.status, ``compute_stats`` only answers. A
command that cannot be carried out (unknown run, dataset hash mismatch, no baseline) gets an
error reply that names what was wrong; an unreachable MLflow is raised so the caller retries.
The reply id is derived from the command id, so a replayed command answers with the same id.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from runnotary.bundles import Comparison, closing_line, compare, evaluate, status_dict
from runnotary.consumers.handlers import AB_RESULT_PATH, Handlers, Outgoing
from runnotary.contract import (
    COMMAND_NAMES, TOPICS, Alert, CloudEvent, Command, CommandError, CommandReply, ComputeStats, EmitBundle, GateCheck,
    InvalidEvent, MeetingRequested, PairAB, Reconcile, RegisterRun, decode, envelope, pairing_key,
)
from runnotary.errors import redact
from runnotary.registry import Registration, RegistryError, TrackingUnavailable, UnknownMetric, find_baseline, spec_for
from runnotary.registry.records import TAG

__all__ = ["Answer", "CommandRefused", "Commands", "LATENCY_METRIC", "command_key", "invalid_command_reply", "reply_message"]

#: The latency comparison compute_stats offers besides the paired per-query metrics.
LATENCY_METRIC = "latency_p95_ms"

log = structlog.get_logger("runnotary")


class CommandRefused(RegistryError):
    """A command that cannot be carried out as asked; ``alerts`` are published with its error reply."""

    def __init__(self, code: str, message: str, alerts: Sequence[Alert] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.alerts = tuple(alerts)


@dataclass(frozen=True)
class Answer:
    """What one command produced: its reply and the events it caused (published before the reply)."""

    command_id: str
    reply: CommandReply
    effects: list[Outgoing] = field(default_factory=list)

    @property
    def message(self) -> Outgoing:
        return reply_message(self.reply)

    def outgoing(self) -> list[Outgoing]:
        return [*self.effects, self.message]


def command_key(command: Command) -> str:
    """The Kafka key a command should be published with: ``register_run`` takes its run's pairing key
    (like runs.created, so it is ordered with the candidates and baselines it may pair with); the other
    verbs the candidate run or meeting they are about."""
    body = command.root
    if isinstance(body, RegisterRun):
        return pairing_key(body.run)
    if isinstance(body, Reconcile):
        return "reconcile"
    return str(getattr(body, "candidate_run_id", None) or getattr(body, "meeting_id", ""))


def reply_message(reply: CommandReply) -> Outgoing:
    """The reply as a message: keyed and caused by the command id, so replays repeat its id."""
    event = envelope("commands.replies", reply, subject=reply.correlationid, caused_by=reply.correlationid)
    return Outgoing.of("commands.replies", reply.correlationid, event)


def invalid_command_reply(raw: bytes | None, problem: InvalidEvent) -> CommandReply | None:
    """An error reply to a command that does not validate, or ``None`` when not even its id can be read
    (then only the dead-letter topic can keep it)."""
    try:
        doc = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    event_id = doc.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 256:
        return None
    data = doc.get("data")
    verb = data.get("command") if isinstance(data, dict) else None
    return CommandReply(
        correlationid=event_id, command=verb if verb in COMMAND_NAMES else None, status="error",
        error=CommandError(code="invalid_command", message=redact(str(problem))[:10_000]),
    )


@dataclass
class Commands:
    """Carries out commands with the service's handlers (the same code paths as the other inputs)."""

    handlers: Handlers

    def handle_message(self, raw: bytes | None, headers: Any = None) -> list[Outgoing]:
        """Decode one message of ``commands`` and answer it; ``InvalidEvent`` when its id is unreadable."""
        try:
            event = decode("commands", raw, headers)
        except InvalidEvent as exc:
            reply = invalid_command_reply(raw, exc)
            if reply is None:
                raise
            log.warning("command_invalid", command_id=reply.correlationid, error=reply.error.message[:500] if reply.error else "")
            return [reply_message(reply)]
        return self.execute(event).outgoing()

    def execute(self, event: CloudEvent[Command]) -> Answer:
        """Carry out one command. MLflow being down (``TrackingUnavailable``) is raised, not answered."""
        body = event.data.root
        verbs: dict[str, Callable[[Any, CloudEvent[Command]], tuple[dict[str, Any], list[Outgoing]]]] = {
            "register_run": self._register_run, "pair_ab": self._pair_ab, "compute_stats": self._compute_stats,
            "emit_bundle": self._emit_bundle, "gate_check": self._gate_check, "reconcile": self._reconcile,
        }
        try:
            result, effects = verbs[body.command](body, event)
        except CommandRefused as exc:
            log.info("command_refused", command=body.command, command_id=event.id, code=exc.code, error=str(exc))
            error = CommandError(code=exc.code, message=redact(str(exc)))
            reply = CommandReply(correlationid=event.id, command=body.command, status="error", error=error)
            return Answer(event.id, reply, self.handlers.alerts(list(exc.alerts), event))
        except RegistryError as exc:  # the run or its evidence is not what the command needs (ArtifactError, ...)
            log.warning("command_failed", command=body.command, command_id=event.id, error=str(exc)[:500])
            error = CommandError(code="registry_error", message=redact(str(exc))[:10_000])
            reply = CommandReply(correlationid=event.id, command=body.command, status="error", error=error)
            return Answer(event.id, reply)
        log.info("command_done", command=body.command, command_id=event.id, effects=len(effects))
        return Answer(event.id, CommandReply(correlationid=event.id, command=body.command, status="ok", result=result), effects)

    # -- verbs --------------------------------------------------------------------------------

    def _register_run(self, body: RegisterRun, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        as_input = _as_input(event, "runs.created", body.run, body.run.candidate_id)
        registration, effects = self.handlers.register_run(as_input)
        result = {
            "run_id": registration.run_id,
            "experiment_id": registration.experiment_id,
            "candidate_id": registration.event.candidate_id,
            "role": registration.event.role,
            "metrics": {m.name: {"value": m.value, "claimed": m.claimed, "unit": m.unit, "status": m.status}
                        for m in registration.metrics},
            "alerts": [{"kind": a.kind, "severity": a.severity, "message": a.message} for a in registration.alerts],
            "gate_status": _published(effects, "gates.status"),
        }
        return result, effects

    def _pair_ab(self, body: PairAB, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        candidate, _ = self._candidate(body.candidate_run_id)
        selector = body.baseline_selector
        if selector.run_id is not None:
            baseline, _ = self._registered(selector.run_id, "baseline_selector.run_id")
            if baseline.event.role != "baseline":
                raise CommandRefused("not_a_baseline", f"baseline_selector.run_id {baseline.run_id} is a "
                                     f"{baseline.event.role} run, not a baseline")
            self._same_dataset(candidate, baseline.event.dataset.sha256, f"baseline run {baseline.run_id}")
            self._same_seed_family(candidate, baseline.event.seeds.family, f"baseline run {baseline.run_id}")
        else:
            if selector.dataset_sha256 is not None and selector.seed_family is not None:
                self._same_dataset(candidate, selector.dataset_sha256, "baseline_selector.dataset_sha256")
                self._same_seed_family(candidate, selector.seed_family, "baseline_selector.seed_family")
            baseline_id = find_baseline(self.handlers.registry, candidate)
            if baseline_id is None:
                raise CommandRefused("no_baseline", f"no baseline run with dataset_sha256 {candidate.event.dataset.sha256} "
                                     f"and seed_family {candidate.event.seeds.family!r} in experiment "
                                     f"{candidate.event.experiment!r}")
            baseline = self.handlers.registry.load(baseline_id)
        effects = self.handlers.pair(candidate, baseline, event)
        return self._pair_result(candidate, baseline, effects), effects

    def _compute_stats(self, body: ComputeStats, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        asked = []
        for name in body.metrics:  # any catalog metric, by name or alias (an operator's catalog included)
            try:
                asked.append(spec_for(name).name)
            except UnknownMetric as exc:
                raise CommandRefused("unknown_metric", f"compute_stats: {exc}") from exc
        candidate, _ = self._registered(body.candidate_run_id, "candidate_run_id")
        baseline, _ = self._registered(body.baseline_run_id, "baseline_run_id")
        if candidate.event.dataset.sha256 != baseline.event.dataset.sha256:
            raise CommandRefused("dataset_hash_mismatch", _mismatch_text(candidate, baseline.event.dataset.sha256,
                                                                       f"baseline run {baseline.run_id}"))
        defaults = self.handlers.settings
        # compare() always runs a bootstrap too; for a permutation request it is the cheaper percentile one.
        bootstrap = body.method if body.method != "permutation" else "percentile"
        settings = replace(defaults, method=bootstrap, n_resamples=body.n_resamples or defaults.n_resamples,
                           random_state=defaults.random_state if body.random_state is None else body.random_state)
        comparison = compare(self.handlers.registry, candidate, baseline, settings)
        computed = [*comparison.metrics, *([comparison.latency.metric] if comparison.latency is not None else [])]
        wanted = list(dict.fromkeys(asked)) or computed
        result = {
            "candidate_run": candidate.run_id,
            "baseline_run": baseline.run_id,
            "candidate_id": candidate.event.candidate_id,
            "method": body.method,
            "n_resamples": settings.n_resamples,
            "random_state": settings.random_state,
            "confidence_level": settings.confidence_level,
            "metrics": _stats_of(comparison, wanted, body.method),
            "not_computed": {name: comparison.failed.get(name, _NOT_COMPARED) for name in wanted if name not in computed},
            "notes": list(comparison.notes),
        }
        return result, []

    def _emit_bundle(self, body: EmitBundle, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        meeting = MeetingRequested(meeting_id=body.meeting_id, candidates=body.candidates, requested_by=body.requested_by)
        effects = self.handlers.meeting_requested(_as_input(event, "meetings.requested", meeting, meeting.meeting_id))
        emitted = _published(effects, "bundles.emitted")[0]
        return {**emitted, "closing_line": closing_line(body.meeting_id, emitted["overall_gate_status"])}, effects

    def _gate_check(self, body: GateCheck, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        candidate, tags = self._candidate(body.candidate_run_id)
        baseline_id = tags.get(f"{TAG}baseline_run") or find_baseline(self.handlers.registry, candidate)
        if baseline_id is not None:
            baseline = self.handlers.registry.load(baseline_id)
            effects = self.handlers.pair(candidate, baseline, event)
            return self._pair_result(candidate, baseline, effects), effects
        # No baseline yet: the gates that need one have no observation and fail; the status still goes out.
        status = evaluate(candidate, None, self.handlers.policy)
        self.handlers.metrics.gates.labels(status.overall).inc()
        effects = [self.handlers.outgoing("gates.status", status, candidate.event.candidate_id, event)]
        return {"candidate_run": candidate.run_id, "baseline_run": None, "candidate_id": candidate.event.candidate_id,
                "gate_status": status_dict(status), "ab": None}, effects

    def _reconcile(self, body: Reconcile, event: CloudEvent[Command]) -> tuple[dict[str, Any], list[Outgoing]]:
        """Pass over every candidate without a gate status (up to ``max_runs``), pairing those whose baseline is registered."""
        examined, awaiting = 0, 0
        paired: list[str] = []
        effects: list[Outgoing] = []
        token: str | None = None
        while examined < body.max_runs:
            done = self.handlers.reconcile(max_runs=min(1000, body.max_runs - examined), page_token=token)
            examined += done.examined
            paired += done.paired
            awaiting += len(done.awaiting)
            effects += done.outgoing
            token = done.next_page
            if token is None:
                break
        return {"examined": examined, "paired": paired, "awaiting_baseline": awaiting, "complete": token is None}, effects

    # -- helpers ------------------------------------------------------------------------------

    def _registered(self, run_id: str, field_name: str) -> tuple[Registration, dict[str, str]]:
        """The registration of ``run_id`` and its tags; refused when runnotary never registered it."""
        try:
            tags = self.handlers.registry.run_tags(run_id)  # the registry's one classifier: an outage is raised
        except TrackingUnavailable:
            raise
        except RegistryError as exc:  # e.g. a malformed run id: MLflow refuses the lookup
            raise CommandRefused("unknown_run", f"{field_name} {run_id!r}: {exc}") from exc
        if tags is None:
            raise CommandRefused("unknown_run", f"{field_name} {run_id!r}: no such MLflow run")
        if tags.get(f"{TAG}registered") != "true":
            raise CommandRefused("unregistered_run", f"{field_name} {run_id!r} is an MLflow run runnotary has not registered")
        return self.handlers.registry.load(run_id), tags

    def _candidate(self, run_id: str) -> tuple[Registration, dict[str, str]]:
        candidate, tags = self._registered(run_id, "candidate_run_id")
        if candidate.event.role != "candidate":
            raise CommandRefused("not_a_candidate", f"candidate_run_id {run_id} is a {candidate.event.role} run, not a candidate")
        return candidate, tags

    def _same_dataset(self, candidate: Registration, sha256: str, what: str) -> None:
        """A baseline on another dataset is never paired: refused, with a critical alert."""
        if sha256 == candidate.event.dataset.sha256:
            return
        message = _mismatch_text(candidate, sha256, what)
        alert = Alert(kind="dataset_hash_mismatch", severity="critical", run_id=candidate.run_id,
                      candidate_id=candidate.event.candidate_id, message=f"{message}; not paired",
                      details={"candidate_dataset_sha256": candidate.event.dataset.sha256, "baseline_dataset_sha256": sha256,
                               "baseline": what})
        raise CommandRefused("dataset_hash_mismatch", message, [alert])

    @staticmethod
    def _same_seed_family(candidate: Registration, family: str, what: str) -> None:
        if family != candidate.event.seeds.family:
            raise CommandRefused("seed_family_mismatch", f"{what} has seed family {family!r} but candidate run "
                                 f"{candidate.run_id} has {candidate.event.seeds.family!r}")

    def _pair_result(self, candidate: Registration, baseline: Registration, effects: list[Outgoing]) -> dict[str, Any]:
        status = _published(effects, "gates.status")[0]
        # Seed-run arms record their comparison on the candidate arm's newest run, the status's candidate_run.
        recorded = self.handlers.registry.read_json(status["candidate_run"], AB_RESULT_PATH)
        ab = None
        if recorded is not None:
            comparison = Comparison.from_dict(recorded)
            ab = {"metrics": _stats_of(comparison, [*comparison.metrics, LATENCY_METRIC], comparison.settings.method),
                  "notes": list(comparison.notes)}
        return {"candidate_run": candidate.run_id, "baseline_run": baseline.run_id,
                "candidate_id": candidate.event.candidate_id, "gate_status": status, "ab": ab}


def _as_input(event: CloudEvent[Command], topic: str, data: Any, subject: str) -> CloudEvent[Any]:
    """The command as the input event of ``topic`` it stands for, with the command's id (idempotency key)."""
    model: type[CloudEvent[Any]] = CloudEvent[type(data)]  # type: ignore[misc,assignment]
    return model(specversion="1.0", id=event.id, source=event.source, type=TOPICS[topic].event_type, time=event.time,
                 subject=subject, data=data)


def _published(effects: Sequence[Outgoing], topic: str) -> list[dict[str, Any]]:
    """The data of the events published on ``topic``."""
    return [json.loads(o.value)["data"] for o in effects if o.topic == topic]


def _mismatch_text(candidate: Registration, sha256: str, what: str) -> str:
    return (f"{what} has dataset sha256 {sha256[:12]}… but candidate run {candidate.run_id} has "
            f"{candidate.event.dataset.sha256[:12]}…")


_NOT_COMPARED = "not compared: the two runs do not both carry it (a per-query column or a recipe's raw logs)"


def _stats_of(comparison: Comparison, wanted: Sequence[str], method: str) -> dict[str, Any]:
    """The statistics of ``wanted`` metrics, in the shape of ``method``: a CI for the bootstraps, a p-value for
    the permutation test (none for F1 or ROC AUC, whose comparison is a bootstrap only). A metric ``compare``
    could not compute is absent (its reason is in ``not_computed`` and the notes)."""
    out: dict[str, Any] = {}
    for name in wanted:
        latency = comparison.latency
        if latency is not None and name == latency.metric:
            out[name] = {"delta_ms": latency.delta, "ci95": list(latency.ci95), "method": "bootstrap of the p95 difference",
                         "evidence": list(latency.evidence)}
            continue
        m = comparison.metrics.get(name)
        if m is None:
            continue
        if m.arms:  # seed-run arms: the crossed-design interval, the run-swap test beside it
            out[name] = {"n": m.n, "delta": m.delta, "ci95": list(m.ci95), "estimand": m.estimand, "pvalue": m.pvalue,
                         "pvalue_holm": m.pvalue_holm, "crossed": m.statistics["crossed"],
                         "run_swap": m.statistics["run_swap"], "evidence": list(m.evidence)}
            continue
        common = {"n": m.n, "delta": m.delta, "effect_sizes": m.statistics.get("effect_sizes"), "evidence": list(m.evidence)}
        if method == "permutation":
            out[name] = {**common, "pvalue": m.pvalue, "pvalue_holm": m.pvalue_holm, "permutation": m.statistics.get("permutation")}
        else:
            out[name] = {**common, "ci95": list(m.ci95), "significance_pass": m.significance_pass, "pvalue": m.pvalue,
                         "bootstrap": m.statistics["bootstrap"]}
    return out
