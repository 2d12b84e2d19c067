"""The registry against a real `mlflow server` on PostgreSQL: conventions, bad files, races, refusals, fetches."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from mlflow.tracking import MlflowClient

from tests.support import sha256_text
from runnotary.contract import RunCreated
from runnotary.registry import Registry, RegistryError, TrackingUnavailable
from runnotary.registry.pairing import find_baseline
from runnotary.registry.records import TAG


def write_run(root: Path, name: str, *, role: str = "candidate", experiment: str, shift: float = 0.0,
              created_at: datetime | None = None, **data: Any) -> RunCreated:
    """Files a training job would leave under ``root/name`` and the event that cites them."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    ndcg = np.clip(rng.beta(4, 3, size=200) + shift, 0, 1).round(6)
    (folder / "per_query.csv").write_text("query_id,ndcg@10\n" + "".join(f"q{i:04d},{v}\n" for i, v in enumerate(ndcg)))
    latency = rng.lognormal(3.0, 0.3, size=500).round(3)
    (folder / "latency.log").write_text("".join(f"t{i} r{i} {v}\n" for i, v in enumerate(latency)))
    event = {
        "experiment": experiment,
        "run_name": f"eval_{name}_20261126_1200",
        "candidate_id": f"{name}-{uuid.uuid4().hex[:6]}",
        "role": role,
        "owners": ["alice@example.org", "bob@example.org"],
        "dataset": {"sha256": sha256_text(experiment), "name": "queries", "splits": {"test": sha256_text("test")},
                    "source": "s3://bucket/queries.parquet"},
        "seeds": {"value": 1, "family": "fam"},
        "code": {"git_commit": "b" * 40, "repository": "https://git.example.org/team/model"},
        "environment": {"env_hash": sha256_text("env"), "python_version": "3.11.7", "requirements_hash": sha256_text("req")},
        "params": {"lr": 0.1},
        "metrics": [
            {"uuid": str(uuid.uuid4()), "name": "ndcg@10", "value": float(ndcg.mean()), "source": f"{name}/per_query.csv"},
            {"uuid": str(uuid.uuid4()), "name": "latency_p95_ms", "value": float(np.quantile(latency, 0.95)),
             "unit": "ms", "source": f"{name}/latency.log"},
        ],
        "artifacts": [{"kind": "per_query", "path": f"{name}/per_query.csv"},
                      {"kind": "latency_log", "path": f"{name}/latency.log"}],
        "tags": {"domain": "quality", "agent_version": "v4.0", "dataset_type": "evaluation", "evaluation_type": "smoke"},
        "created_at": (created_at or datetime.now(timezone.utc).replace(microsecond=0)).isoformat(),
    }
    event.update(data)
    return RunCreated.model_validate(event)


class HttpCalls:
    """Counts the HTTP requests this process sends (a wrapper around the real transport, not a fake)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self._send = requests.Session.send

    def __enter__(self) -> HttpCalls:
        calls, send = self.calls, self._send

        def counted(session: requests.Session, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            calls.append((str(request.method), str(request.url).split("?")[0]))
            return send(session, request, **kwargs)

        requests.Session.send = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        requests.Session.send = self._send  # type: ignore[method-assign]


@pytest.fixture
def experiment() -> str:
    return f"/tests/registry_{uuid.uuid4().hex[:10]}_evaluation"


@pytest.fixture
def make_registry(mlflow_server: str, tmp_path: Path) -> Iterator[Callable[..., Registry]]:
    (tmp_path / "artifacts").mkdir()

    def make(**overrides: Any) -> Registry:
        values: dict[str, Any] = dict(client=MlflowClient(mlflow_server), artifact_root=tmp_path / "artifacts",
                                      cache_dir=tmp_path / f"cache-{uuid.uuid4().hex[:6]}")
        values.update(overrides)
        return Registry(**values)

    yield make


def _live_runs(client: MlflowClient, experiment: str, event_id: str) -> list[Any]:
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`{TAG}event_id` = '{event_id}'")


def test_registered_run_follows_mlflow_conventions(make_registry: Callable[..., Registry], experiment: str) -> None:
    """FINISHED with an end time, the owner as user, git tags, metrics at the event's time, the dataset as input."""
    registry = make_registry()
    event = write_run(registry.artifact_root, "conv", experiment=experiment)
    registration = registry.register(event, str(uuid.uuid4()))
    client = registry.client
    run = client.get_run(registration.run_id)
    assert (run.info.status, run.info.end_time is not None) == ("FINISHED", True)
    assert run.info.user_id == "alice@example.org"
    assert run.data.tags["mlflow.source.git.repoURL"] == "https://git.example.org/team/model"
    assert run.data.tags["mlflow.source.git.commit"] == "b" * 40
    assert run.data.tags["mlflow.runName"] == event.run_name
    assert run.data.tags[f"{TAG}registered"] == "true"
    history = client.get_metric_history(registration.run_id, "ndcg_at_10")
    assert [m.timestamp for m in history] == [int(event.created_at.timestamp() * 1000)]
    (dataset_input,) = run.inputs.dataset_inputs
    dataset = dataset_input.dataset
    assert dataset.name == "queries" and event.dataset.sha256.startswith(dataset.digest) and len(dataset.digest) == 36
    assert json.loads(dataset.profile) == {"sha256": event.dataset.sha256, "splits": event.dataset.splits}
    assert dataset.source == "s3://bucket/queries.parquet"
    found = client.search_runs([registration.experiment_id], f"dataset.digest = '{dataset.digest}'")
    assert [r.info.run_id for r in found] == [registration.run_id]


def test_bad_files_become_alerts_and_the_event_is_still_registered(make_registry: Callable[..., Registry], experiment: str) -> None:
    """Before: a short CSV row (IndexError), a string in a correlation list (ValueError) or a symlink loop
    (RuntimeError) escaped register() and left a half-registered run behind a dead-lettered event."""
    registry = make_registry(max_artifact_bytes=50_000)
    root = registry.artifact_root
    event = write_run(root, "bad", experiment=experiment)
    folder = root / "bad"
    (folder / "short.csv").write_text("query_id,ndcg@10\nq1,0.5\nq2\n")
    (folder / "corr.json").write_text(json.dumps({"v1": [1, "x", 3], "v2": [1, 2, 3]}))
    (folder / "loop").symlink_to(folder / "loop")
    (folder / "dir").mkdir()
    os.mkfifo(folder / "fifo")
    (folder / "huge.log").write_bytes(b"t r 1\n" * 20_000)
    data = event.model_dump(mode="json")
    data["artifacts"] += [{"kind": "per_query", "path": "bad/short.csv"}, {"kind": "correlation", "path": "bad/corr.json"},
                          {"kind": "other", "path": "bad/loop"}, {"kind": "other", "path": "bad/dir"},
                          {"kind": "other", "path": "bad/fifo"}, {"kind": "latency_log", "path": "bad/huge.log"},
                          {"kind": "other", "path": "bad/missing.json"}]
    data["metrics"] += [
        {"uuid": str(uuid.uuid4()), "name": "ndcg@10", "value": 0.5, "source": "bad/short.csv"},
        {"uuid": str(uuid.uuid4()), "name": "v1_v2_corr", "value": 0.5, "source": "bad/corr.json"},
        {"uuid": str(uuid.uuid4()), "name": "latency_p95_ms", "value": 1.0, "source": "bad/huge.log"},
    ]
    registration = registry.register(RunCreated.model_validate(data), str(uuid.uuid4()))
    by_path = {(a.kind, a.details.get("path")) for a in registration.alerts}
    assert {("artifact_unreadable", "bad/dir"), ("artifact_unreadable", "bad/fifo"),
            ("artifact_too_large", "bad/huge.log"), ("missing_artifact", "bad/missing.json")} <= by_path
    assert ("artifact_unreadable", "bad/loop") in by_path
    invalid = {a.details["path"]: a.details["reason"] for a in registration.alerts if a.kind == "metric_invalid"}
    assert invalid == {"bad/short.csv": "artifact_invalid", "bad/corr.json": "artifact_invalid",
                       "bad/huge.log": "missing_artifact"}
    assert all(a.run_id == registration.run_id for a in registration.alerts)
    run = registry.client.get_run(registration.run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["latency_p95_ms"] > 0


def test_parse_limit_is_an_alert_with_its_reason(make_registry: Callable[..., Registry], experiment: str) -> None:
    registry = make_registry(max_parse_bytes=1000)
    registration = registry.register(write_run(registry.artifact_root, "parse", experiment=experiment), str(uuid.uuid4()))
    reasons = {a.details["reason"] for a in registration.alerts if a.kind == "metric_invalid"}
    assert reasons == {"artifact_too_large"}


def test_concurrent_registrations_of_one_event_leave_exactly_one_live_run(
    make_registry: Callable[..., Registry], experiment: str
) -> None:
    """Before: lookup-then-create was not atomic, so two owners of a partition made two runs."""
    for attempt in range(4):
        registries = [make_registry(), make_registry()]
        event = write_run(registries[0].artifact_root, f"race{attempt}", experiment=experiment)
        event_id = str(uuid.uuid4())
        barrier = threading.Barrier(2)
        results: list[Any] = [None, None]

        def run(i: int) -> None:
            barrier.wait()
            try:
                results[i] = registries[i].register(event, event_id).run_id
            except BaseException as exc:  # reported below
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        live = _live_runs(registries[0].client, experiment, event_id)
        assert len(live) == 1, (attempt, results)
        assert results == [live[0].info.run_id] * 2
        assert live[0].data.tags[f"{TAG}registered"] == "true" and live[0].info.status == "FINISHED"


def test_permanent_refusal_leaves_the_run_failed_with_its_reason(make_registry: Callable[..., Registry], experiment: str) -> None:
    """Before: a refused event left a RUNNING run that looked like a live, half-done registration."""
    registry = make_registry()
    client = registry.client
    exp_id = client.create_experiment(experiment)
    existing = client.create_run(exp_id).info.run_id
    client.log_param(existing, "lr", "0.5")  # the event says 0.1: MLflow refuses to change a param
    event = write_run(registry.artifact_root, "refused", experiment=experiment, run_id=existing)
    with pytest.raises(RegistryError, match="refused"):
        registry.register(event, str(uuid.uuid4()))
    run = client.get_run(existing)
    assert run.info.status == "FAILED"
    assert "lr" in run.data.tags[f"{TAG}failure_reason"]
    assert f"{TAG}registered" not in run.data.tags


def test_adopting_a_run_of_another_event_is_refused(make_registry: Callable[..., Registry], experiment: str) -> None:
    """Before: an event naming any run_id attached to it and overwrote another event's registration."""
    registry = make_registry()
    first = registry.register(write_run(registry.artifact_root, "owner", experiment=experiment), "event-one")
    intruder = write_run(registry.artifact_root, "intruder", experiment=experiment, run_id=first.run_id)
    with pytest.raises(RegistryError, match=f"run {first.run_id} belongs to event event-one"):
        registry.register(intruder, "event-two")
    assert registry.client.get_run(first.run_id).data.tags[f"{TAG}candidate_id"] == first.event.candidate_id
    again = registry.register(write_run(registry.artifact_root, "owner2", experiment=experiment, run_id=first.run_id), "event-one")
    assert again.run_id == first.run_id and again.already_registered


def test_redelivery_returns_the_first_registration(make_registry: Callable[..., Registry], experiment: str) -> None:
    registry = make_registry()
    event = write_run(registry.artifact_root, "again", experiment=experiment)
    first = registry.register(event, "event-again")
    second = make_registry().register(event, "event-again")
    assert (second.run_id, second.already_registered) == (first.run_id, True)
    assert len(_live_runs(registry.client, experiment, "event-again")) == 1


def test_fetch_never_downloads_what_the_service_holds_and_otherwise_uses_one_get(
    make_registry: Callable[..., Registry], experiment: str
) -> None:
    """Before: every fetch went through download_artifacts: five HTTP calls per file, even for files just hashed."""
    registry = make_registry()
    event = write_run(registry.artifact_root, "fetch", experiment=experiment)
    registration = registry.register(event, str(uuid.uuid4()))
    path = "fetch/per_query.csv"
    with HttpCalls() as held:
        local = registry.fetch(registration, path)
        table = registry.per_query_table(registration, path)
        assert registry.per_query_table(registration, path) is table
        registry.latency_log(registration, "fetch/latency.log")
    assert held.calls == []
    assert local.read_bytes() == (registry.artifact_root / path).read_bytes()
    elsewhere = make_registry()  # another process: nothing cached
    loaded = elsewhere.load(registration.run_id)
    with HttpCalls() as fresh:
        elsewhere.fetch(loaded, path)
    assert [method for method, _ in fresh.calls] == ["GET"]
    assert fresh.calls[0][1].endswith(f"/evidence/{path}")


def test_per_query_table_is_parsed_once_per_content(make_registry: Callable[..., Registry], experiment: str) -> None:
    registry = make_registry()
    registration = registry.register(write_run(registry.artifact_root, "parsed", experiment=experiment), str(uuid.uuid4()))
    misses = registry.evidence.parsed.misses  # registration parsed the CSV and the log once each
    registry.per_query_table(registration, "parsed/per_query.csv")
    registry.latency_log(registration, "parsed/latency.log")
    assert registry.evidence.parsed.misses == misses
    with pytest.raises(ValueError):
        registry.latency_log(registration, "parsed/latency.log")[0] = 1.0  # shared: read-only


def test_read_json_is_none_only_for_a_missing_document(make_registry: Callable[..., Registry], experiment: str) -> None:
    """Before: read_json swallowed every error, so a refused or failed read looked like 'no baseline yet'."""
    registry = make_registry()
    registration = registry.register(write_run(registry.artifact_root, "json", experiment=experiment), str(uuid.uuid4()))
    registry.log_json(registration.run_id, "runnotary/ab_result.json", {"x": 1})
    assert registry.read_json(registration.run_id, "runnotary/ab_result.json") == {"x": 1}
    assert registry.read_json(registration.run_id, "runnotary/absent.json") is None
    down = make_registry(client=MlflowClient("http://127.0.0.1:9"))
    down.store.remember_uri(registration.run_id, "http://127.0.0.1:9/api/2.0/mlflow-artifacts/artifacts/x")
    with pytest.raises(TrackingUnavailable):
        down.read_json(registration.run_id, "runnotary/ab_result.json")


def test_pairing_honours_a_recorded_baseline_on_redelivery(make_registry: Callable[..., Registry], experiment: str) -> None:
    registry = make_registry()
    root = registry.artifact_root
    now = datetime.now(timezone.utc).replace(microsecond=0)
    old = registry.register(write_run(root, "base-old", role="baseline", experiment=experiment,
                                      created_at=now - timedelta(hours=2)), "b-old")
    candidate_event = write_run(root, "cand", experiment=experiment, created_at=now - timedelta(hours=1))
    candidate = registry.register(candidate_event, "c-1")
    assert find_baseline(registry, candidate) == old.run_id
    registry.tag(candidate.run_id, {"baseline_run": old.run_id})
    new = registry.register(write_run(root, "base-new", role="baseline", experiment=experiment, created_at=now), "b-new")
    redelivered = registry.register(candidate_event, "c-1")
    assert redelivered.already_registered
    assert find_baseline(registry, redelivered) == old.run_id  # the recorded pairing, not the newest baseline
    other = registry.register(write_run(root, "cand2", experiment=experiment), "c-2")
    assert find_baseline(registry, other) == new.run_id


def test_experiment_listing_pages_past_one_page(make_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: only the first page of experiments was searched (wrong past 1,000 experiments)."""
    import runnotary.registry.store as store

    registry = make_registry()
    for i in range(3):
        registry.client.create_experiment(f"/tests/page_{uuid.uuid4().hex[:8]}_{i}")
    everything = {e.experiment_id for e in registry.client.search_experiments(max_results=50_000)}
    monkeypatch.setattr(store, "EXPERIMENT_PAGE", 2)
    assert set(registry.experiment_ids()) == everything


def test_http_calls_of_one_registration(
    make_registry: Callable[..., Registry], experiment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Counted, not timed: the calls one new registration makes (printed for the README)."""
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # as configure_mlflow_http sets it
    registry = make_registry()
    registry.register(write_run(registry.artifact_root, "warm", experiment=experiment), str(uuid.uuid4()))  # experiment id cached
    event = write_run(registry.artifact_root, "count", experiment=experiment)
    with HttpCalls() as counted:
        registry.register(event, str(uuid.uuid4()))
    uploads = [c for c in counted.calls if c[0] == "PUT"]
    tracking_calls = [c for c in counted.calls if c[0] != "PUT"]
    print(f"\nHTTP calls per registration: {len(counted.calls)} ({len(tracking_calls)} tracking, {len(uploads)} uploads)")
    assert len(uploads) == len(event.artifacts) + 1  # the evidence files and the provenance record
    assert len(tracking_calls) == 5, tracking_calls  # create, link the dataset, look up the event, log_batch, end
