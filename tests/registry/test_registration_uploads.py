"""A registration's evidence uploads run while its candidate is paired; the mark waits for them, and a
failed upload fails the registration as a failed write always did."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from runnotary.consumers.handlers import Handlers, Outgoing
from runnotary.contract import RunCreated, decode, envelope
from runnotary.registry import Prepared, Registration, Registry, RegistryError, TrackingUnavailable
from runnotary.registry.records import TAG
from runnotary.registry.synthetic import generate

_EVIDENCE_UPLOADS = ("upload an artifact", "record the provenance")


def _events(root: Path) -> tuple[RunCreated, RunCreated]:
    baseline, cand_a, _ = generate(root, n_queries=60, n_requests=300, seed=5, experiment="/Shared/uploads")
    return baseline, cand_a


def _wrap_evidence_uploads(registry: Registry, around: Callable[[Callable[[], None]], None],
                           operations: tuple[str, ...] = _EVIDENCE_UPLOADS) -> None:
    """Run each upload of ``registry`` named by ``operations`` (by default the evidence, not the result
    documents) through ``around``."""
    original = registry.store.upload

    def upload(run_id: str, artifact_uri: str, local: Path, folder: str | None, operation: str) -> Callable[[], None]:
        call = original(run_id, artifact_uri, local, folder, operation)
        return (lambda: around(call)) if operation in operations else call

    registry.store.upload = upload  # type: ignore[method-assign]


def _event_runs(registry: Registry, event: RunCreated, event_id: str) -> list[tuple[str, str, dict[str, str]]]:
    runs = registry.store.event_runs(registry.experiment_id(event.experiment), event_id)
    return [(r.info.run_id, r.info.status, dict(r.data.tags)) for r in runs]


class Watched(Registry):
    """Records, at each ``finish``, whether the registration's uploads were all done yet, then lets them go."""

    release: threading.Event
    done_at_finish: list[bool]

    def finish(self, prepared: Prepared, tags: dict[str, str] | None = None) -> Registration:
        self.done_at_finish.append(all(f.done() for f in prepared.uploads.futures))
        self.release.set()
        return super().finish(prepared, tags)


def test_a_candidate_is_compared_while_its_evidence_uploads_and_marked_registered_only_after_them(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """The candidate's provenance upload is held until ``finish`` (one I/O thread, so the result documents
    still go out on the others): its pairing (lookup, statistics, results) ran before the upload ended,
    and the mark still finds every artifact stored."""
    registry = local_registry(Watched)
    assert isinstance(registry, Watched)
    registry.release, registry.done_at_finish = threading.Event(), []
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    handlers.register_run(envelope("runs.created", baseline, subject=baseline.candidate_id))
    registry.release.clear()

    def held(call: Callable[[], None]) -> None:
        assert registry.release.wait(30), "an upload was waited for before finish"
        call()

    _wrap_evidence_uploads(registry, held, ("record the provenance",))
    cand, out = handlers.register_run(envelope("runs.created", candidate, subject=candidate.candidate_id))
    assert registry.done_at_finish[-1] is False, "the uploads were done before the pairing: nothing overlapped"
    assert [decode("gates.status", o.value).data.candidate_run for o in out if o.topic == "gates.status"] == [cand.run_id]
    tags = registry.run_tags(cand.run_id) or {}
    assert tags[f"{TAG}registered"] == "true" and tags[f"{TAG}baseline_run"]
    stored = {a.path for a in registry.client.list_artifacts(cand.run_id, "runnotary")}
    assert {"runnotary/provenance.json", "runnotary/ab_result.json", "runnotary/gate_status.json"} <= stored
    evidence = [f.path for f in registry.client.list_artifacts(cand.run_id, "evidence")]
    assert evidence, "the evidence uploads were not stored before the mark"


def _register(handlers: Handlers, event: RunCreated, event_id: str) -> list[Outgoing]:
    cloud = envelope("runs.created", event, subject=event.candidate_id).model_copy(update={"id": event_id})
    return handlers.register_run(cloud)[1]


@pytest.mark.parametrize("failure", [RegistryError("MLflow refused to upload an artifact: 403 Forbidden"),
                                     TrackingUnavailable("MLflow did not answer while trying to upload an artifact")])
def test_a_failed_evidence_upload_fails_the_candidates_registration_as_a_failed_write_did(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
    failure: Exception,
) -> None:
    """A refusal leaves the run FAILED with its reason; an outage leaves it unregistered for the redelivery,
    which registers it. Either way no gate status is published and no staged file is left behind."""
    registry = local_registry()
    handlers = local_handlers(registry)
    baseline, candidate = _events(tmp_path / "jobs")
    _register(handlers, baseline, str(uuid.uuid4()))
    failing = True

    def fail_once(call: Callable[[], None]) -> None:
        if failing:
            raise failure
        call()

    _wrap_evidence_uploads(registry, fail_once)
    event_id = str(uuid.uuid4())
    with pytest.raises(type(failure)):
        _register(handlers, candidate, event_id)
    [(run_id, status, tags)] = _event_runs(registry, candidate, event_id)
    assert f"{TAG}registered" not in tags
    assert list((tmp_path / "cache" / "staging").iterdir()) == []
    if isinstance(failure, TrackingUnavailable):
        assert status == "RUNNING" and f"{TAG}failure_reason" not in tags
        failing = False
        out = _register(handlers, candidate, event_id)
        assert [o for o in out if o.topic == "gates.status"]
        [(run_id, status, tags)] = _event_runs(registry, candidate, event_id)
        assert (status, tags[f"{TAG}registered"]) == ("FINISHED", "true")
    else:
        assert status == "FAILED" and "403 Forbidden" in tags[f"{TAG}failure_reason"]
