"""Pairing under any interleaving of a candidate's and its baseline's registration, and the reconciliation."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runnotary.consumers.handlers import Handlers, Outgoing
from runnotary.contract import RunCreated, decode, envelope
from runnotary.registry import Prepared, Registration, Registry
from runnotary.registry.synthetic import generate
from runnotary.registry.records import TAG


def _events(root: Path) -> tuple[RunCreated, RunCreated]:
    baseline, cand_a, _ = generate(root, n_queries=60, n_requests=300, seed=3, experiment="/Shared/pairing_phases")
    return baseline, cand_a


def _gate_statuses(out: list[Outgoing]) -> list[Any]:
    return [decode("gates.status", o.value).data for o in out if o.topic == "gates.status"]


def _alert_kinds(out: list[Outgoing]) -> list[str]:
    return [decode("alerts", o.value).data.kind for o in out if o.topic == "alerts"]


class Choreographed(Registry):
    """Holds each registration at its ``registered`` mark until the other side reached a given point:
    the candidate looks (before its mark), the baseline marks, the baseline looks, the candidate marks."""

    candidate_looked: threading.Event
    baseline_done: threading.Event

    def finish(self, prepared: Prepared, tags: dict[str, str] | None = None) -> Registration:
        if prepared.registration.event.role == "candidate":
            self.candidate_looked.set()  # its look before the mark is behind it
            assert self.baseline_done.wait(60), "the baseline never finished"
        else:
            assert self.candidate_looked.wait(60), "the candidate never looked"
        return super().finish(prepared, tags)


def test_candidate_looks_baseline_marks_and_looks_candidate_marks_and_the_pair_is_gated(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """The lost wake-up: neither side's first look sees the other; the candidate's look after its mark does."""
    registry = local_registry(Choreographed)
    assert isinstance(registry, Choreographed)
    registry.candidate_looked, registry.baseline_done = threading.Event(), threading.Event()
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    results: dict[str, tuple[Registration, list[Outgoing]]] = {}
    errors: list[BaseException] = []

    def register(run: RunCreated) -> None:
        try:
            results[run.role] = handlers.register_run(envelope("runs.created", run, subject=run.candidate_id))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            if run.role == "baseline":
                registry.baseline_done.set()

    threads = [threading.Thread(target=register, args=(run,)) for run in (candidate, baseline)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    base_registration, base_out = results["baseline"]
    cand_registration, cand_out = results["candidate"]
    assert _gate_statuses(base_out) == [], "the baseline looked before the candidate was marked: it cannot see it"
    statuses = _gate_statuses(cand_out)
    assert [(s.candidate_run, s.baseline_run) for s in statuses] == [(cand_registration.run_id, base_registration.run_id)]
    assert "awaiting_baseline" not in _alert_kinds(cand_out)
    tags = registry.run_tags(cand_registration.run_id) or {}
    assert tags[f"{TAG}baseline_run"] == base_registration.run_id
    assert tags[f"{TAG}gate_overall"] == statuses[0].overall


def test_a_baseline_registered_first_pairs_the_candidate_in_its_registration_request(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """The common path: one look before the mark, the pairing recorded with the mark, no awaiting alert."""
    registry = local_registry()
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    base, _ = handlers.register_run(envelope("runs.created", baseline, subject=baseline.candidate_id))
    cand, out = handlers.register_run(envelope("runs.created", candidate, subject=candidate.candidate_id))
    assert [(s.candidate_run, s.baseline_run) for s in _gate_statuses(out)] == [(cand.run_id, base.run_id)]
    assert "awaiting_baseline" not in _alert_kinds(out)


def test_reconciliation_pairs_a_candidate_whose_gate_status_was_lost_and_a_second_pass_adds_nothing(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    registry = local_registry()
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    cand, first = handlers.register_run(envelope("runs.created", candidate, subject=candidate.candidate_id))
    assert _alert_kinds(first).count("awaiting_baseline") == 1
    waiting = handlers.reconcile()
    assert (waiting.examined, waiting.paired, len(waiting.awaiting), waiting.outgoing) == (1, (), 1, [])

    base, from_baseline = handlers.register_run(envelope("runs.created", baseline, subject=baseline.candidate_id))
    [published] = _gate_statuses(from_baseline)
    assert handlers.reconcile().examined == 0  # every candidate has its gate status

    for key in ("gate_overall", "baseline_run"):  # the pairing lost, as after restoring an older store
        registry.client.delete_tag(cand.run_id, f"{TAG}{key}")
    done = handlers.reconcile()
    assert (done.examined, done.paired, done.awaiting) == (1, (cand.run_id,), ())
    [again] = _gate_statuses(done.outgoing)
    assert (again.candidate_run, again.baseline_run, again.overall) == (cand.run_id, base.run_id, published.overall)
    status_ids = {decode("gates.status", o.value).id for o in done.outgoing + from_baseline if o.topic == "gates.status"}
    assert len(status_ids) == 1, "the same pair and content keeps one gate-status id, whoever computes it"
    second = handlers.reconcile()
    assert (second.examined, second.outgoing) == (0, [])


@pytest.mark.parametrize("order", ["candidate_first", "baseline_first"])
def test_sequential_registrations_in_either_order_pair_exactly_once(
    order: str, tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    registry = local_registry()
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    runs = [candidate, baseline] if order == "candidate_first" else [baseline, candidate]
    outs = [handlers.register_run(envelope("runs.created", r, subject=r.candidate_id))[1] for r in runs]
    statuses = [s for out in outs for s in _gate_statuses(out)]
    assert len(statuses) == 1
