"""Pairing under any interleaving of a candidate's and its baseline's registration, and the reconciliation."""

from __future__ import annotations

import threading
from datetime import timedelta
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import decoded, events_of, register, run_created_event
from runnotary.consumers.handlers import Handlers, Outgoing
from runnotary.contract import RunCreated
from runnotary.registry import Prepared, Registration, Registry
from runnotary.registry.records import TAG
from runnotary.registry.synthetic import generate


def _events(root: Path) -> tuple[RunCreated, RunCreated]:
    baseline, cand_a, _ = generate(root, n_queries=60, n_requests=300, seed=3, experiment="/Shared/pairing_phases")
    return baseline, cand_a


@pytest.fixture
def local(tmp_path: Path, local_registry: Callable[..., Registry],
          local_handlers: Callable[[Registry], Handlers]) -> tuple[Registry, Handlers, RunCreated, RunCreated]:
    """A local registry, its handlers, and a baseline and a candidate of one pairing key."""
    registry = local_registry()
    return registry, local_handlers(registry), *_events(tmp_path / "jobs")


def _gate_statuses(out: list[Outgoing]) -> list[Any]:
    return [e.data for e in events_of(decoded(out), "gates.status")]


def _alert_kinds(out: list[Outgoing]) -> list[str]:
    return [e.data.kind for e in events_of(decoded(out), "alerts")]


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

    def deliver(run: RunCreated) -> None:
        try:
            results[run.role] = register(handlers, run)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)
        finally:
            if run.role == "baseline":
                registry.baseline_done.set()

    threads = [threading.Thread(target=deliver, args=(run,)) for run in (candidate, baseline)]
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
    local: tuple[Registry, Handlers, RunCreated, RunCreated],
) -> None:
    """The common path: one look before the mark, the pairing recorded with the mark, no awaiting alert."""
    _, handlers, baseline, candidate = local
    base, _ = register(handlers, baseline)
    cand, out = register(handlers, candidate)
    assert [(s.candidate_run, s.baseline_run) for s in _gate_statuses(out)] == [(cand.run_id, base.run_id)]
    assert "awaiting_baseline" not in _alert_kinds(out)


def test_reconciliation_pairs_a_candidate_whose_gate_status_was_lost_and_a_second_pass_adds_nothing(
    local: tuple[Registry, Handlers, RunCreated, RunCreated],
) -> None:
    registry, handlers, baseline, candidate = local
    cand, first = register(handlers, candidate)
    assert _alert_kinds(first).count("awaiting_baseline") == 1
    waiting = handlers.reconcile()
    assert (waiting.examined, waiting.paired, len(waiting.awaiting), waiting.outgoing) == (1, (), 1, [])

    base, from_baseline = register(handlers, baseline)
    [published] = _gate_statuses(from_baseline)
    assert handlers.reconcile().examined == 0  # every candidate has its gate status

    for key in ("gate_overall", "baseline_run"):  # the pairing lost, as after restoring an older store
        registry.client.delete_tag(cand.run_id, f"{TAG}{key}")
    done = handlers.reconcile()
    assert (done.examined, done.paired, done.awaiting) == (1, (cand.run_id,), ())
    [again] = _gate_statuses(done.outgoing)
    assert (again.candidate_run, again.baseline_run, again.overall) == (cand.run_id, base.run_id, published.overall)
    status_ids = {e.id for e in events_of(decoded(done.outgoing + from_baseline), "gates.status")}
    assert len(status_ids) == 1, "the same pair and content keeps one gate-status id, whoever computes it"
    second = handlers.reconcile()
    assert (second.examined, second.outgoing) == (0, [])


@pytest.mark.parametrize("order", ["candidate_first", "baseline_first"])
def test_sequential_registrations_in_either_order_pair_exactly_once(
    order: str, local: tuple[Registry, Handlers, RunCreated, RunCreated],
) -> None:
    _, handlers, baseline, candidate = local
    runs = [candidate, baseline] if order == "candidate_first" else [baseline, candidate]
    outs = [register(handlers, r)[1] for r in runs]
    statuses = [s for out in outs for s in _gate_statuses(out)]
    assert len(statuses) == 1


class LookWatched(Registry):
    """Records the looks at a pairing key, and holds a candidate's ``prepare`` until its look has started."""

    key_looks: list[str]
    looked: threading.Event
    looked_during_prepare: list[bool]

    def search(self, filters: dict[str, str], experiment_ids: list[str] | None = None,
               max_results: int = 1000) -> list[tuple[str, dict[str, str]]]:
        if set(filters) == {"dataset_sha256", "seed_family"}:
            self.key_looks.append(threading.current_thread().name)
            self.looked.set()
        return super().search(filters, experiment_ids, max_results)

    def prepare(self, event: RunCreated, event_id: str) -> Prepared | Registration:
        if event.role == "candidate":
            self.looked_during_prepare.append(self.looked.wait(30))
        return super().prepare(event, event_id)


def test_a_candidates_look_for_its_baseline_runs_beside_its_registration(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """The look before the mark starts with the registration (not after its staging, run and uploads) and
    is the one the pairing uses: the candidate looks at its key twice in all, before and after its mark."""
    registry = local_registry(LookWatched)
    assert isinstance(registry, LookWatched)
    registry.key_looks, registry.looked, registry.looked_during_prepare = [], threading.Event(), []
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    base, _ = register(handlers, baseline)
    registry.key_looks.clear()
    registry.looked.clear()
    cand, out = register(handlers, candidate)
    assert registry.looked_during_prepare == [True], "the candidate's look waited for its registration"
    assert [(s.candidate_run, s.baseline_run) for s in _gate_statuses(out)] == [(cand.run_id, base.run_id)]
    assert len(registry.key_looks) == 2 and registry.key_looks[0].startswith("runnotary-look"), registry.key_looks


def test_a_candidate_whose_event_already_has_an_older_run_is_paired_on_that_run(
    local: tuple[Registry, Handlers, RunCreated, RunCreated],
) -> None:
    """The look that converges on one run per event runs while the candidate is paired. When it keeps an
    older run of the event (left by a crashed delivery), the pairing made on the new run is dropped, and the
    kept run is marked, paired and published instead: the gate status names the run that stays."""
    registry, handlers, baseline, candidate = local
    base, _ = register(handlers, baseline)
    cloud = run_created_event(candidate)
    experiment_id = registry.experiment_id(candidate.experiment)
    started = int(candidate.created_at.timestamp() * 1000) - 60_000  # earlier: every racer keeps it
    older = registry.client.create_run(experiment_id, start_time=started, tags={f"{TAG}event_id": cloud.id}).info.run_id
    created: list[str] = []
    original = registry.writer.create

    def create(event: RunCreated, event_id: str, experiment: str) -> tuple[str, str]:
        created.append(original(event, event_id, experiment)[0])
        return created[-1], registry.client.get_run(created[-1]).info.artifact_uri

    registry.writer.create = create  # type: ignore[method-assign]
    cand, out = handlers.register_run(cloud)
    assert cand.run_id == older and created and created[0] != older
    assert [(s.candidate_run, s.baseline_run) for s in _gate_statuses(out)] == [(older, base.run_id)]
    tags = registry.run_tags(older) or {}
    assert tags[f"{TAG}registered"] == "true" and tags[f"{TAG}baseline_run"] == base.run_id
    assert registry.run_tags(created[0]) is None, "the new run of the event was not deleted"
    stored = {a.path for a in registry.client.list_artifacts(older, "runnotary")}
    assert {"runnotary/ab_result.json", "runnotary/gate_status.json", "runnotary/provenance.json"} <= stored


def test_a_redelivered_candidate_keeps_its_recorded_pairing_when_a_newer_baseline_came_since(
    local: tuple[Registry, Handlers, RunCreated, RunCreated],
) -> None:
    """A candidate paired with one baseline, then a newer baseline of another recipe with the same key,
    then the candidate's event again (a replay after a crash): the replay publishes the recorded pairing
    and leaves it on the run. Its look before the mark sees the event's registered run and does not pair."""
    registry, handlers, baseline, candidate = local
    first, _ = register(handlers, baseline)
    cloud = run_created_event(candidate)
    cand, _ = handlers.register_run(cloud)
    newer = baseline.model_copy(update={"candidate_id": "another-baseline-recipe",
                                        "created_at": baseline.created_at + timedelta(hours=1)})
    register(handlers, newer)
    for _ in range(4):  # the replay's run and the first share seed and start: either may head the arm
        again, out = handlers.register_run(cloud)
        assert again.already_registered and again.run_id == cand.run_id
        assert [(s.candidate_run, s.baseline_run) for s in _gate_statuses(out)] == [(cand.run_id, first.run_id)]
        assert (registry.run_tags(cand.run_id) or {})[f"{TAG}baseline_run"] == first.run_id
