"""Seed-run arms in the service: each seed run of either arm recomputes the arm comparison and publishes its gate status."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.support import decoded, events_of, meeting_requested_event, register, run_created_event
from runnotary import stats
from runnotary.bundles import GatePolicy, GateRule, GateSpec
from runnotary.bundles.verify import verify_bundle
from runnotary.consumers.commands import Commands
from runnotary.consumers.handlers import AB_RESULT_PATH, Handlers, Outgoing
from runnotary.contract import Command, MeetingRequested, RunCreated, decode, envelope
from runnotary.digests import sha256_file
from runnotary.registry import Prepared, Registration, Registry
from runnotary.registry.synthetic import generate

EXPERIMENT = "/Shared/arms"


def _events(root: Path, seeds: int = 3) -> dict[str, list[RunCreated]]:
    """The synthetic experiment's runs by profile, ``seeds`` seed runs each."""
    events = generate(root, n_queries=80, n_requests=400, seed=5, experiment=EXPERIMENT, seeds_per_arm=seeds)
    by: dict[str, list[RunCreated]] = {}
    for event in events:
        by.setdefault(event.candidate_id.removeprefix("retrieval-"), []).append(event)
    return by


def _statuses(out: list[Outgoing]) -> list[tuple[str, Any]]:
    """``(cloudevent id, gate status)`` of each gates.status in ``out``."""
    return [(e.id, e.data) for e in events_of(decoded(out), "gates.status")]


def _matrix(root: Path, events: list[RunCreated], column: str) -> np.ndarray:
    """The runs' per-query column read straight from the files the jobs wrote, rows in seed order."""
    rows = []
    for event in sorted(events, key=lambda e: e.seeds.value):
        path = next(a.path for a in event.artifacts if a.kind == "per_query")
        with (root / path).open() as fh:
            table = sorted((r["query_id"], float(r[column])) for r in csv.DictReader(fh))
        rows.append([v for _, v in table])
    return np.array(rows)


def test_three_seed_runs_per_arm_give_a_gate_status_whose_e3_interval_is_the_crossed_interval(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """Candidates first, then baselines: the last baseline seed publishes the 3 + 3 comparison, E3 by default."""
    root = tmp_path / "jobs"
    runs = _events(root)
    handlers = local_handlers(local_registry())
    for event in runs["cand-a"]:
        register(handlers, event)
    published = []
    for event in runs["baseline"]:
        published.append(_statuses(register(handlers, event)[1]))
    seeds_seen = [[(len(s.arms.candidate.runs), len(s.arms.baseline.runs)) if s.arms else (1, 1) for _, s in p]
                  for p in published]
    assert seeds_seen == [[(3, 1)], [(3, 2)], [(3, 3)]], "each baseline seed re-evaluates the candidate arm once"
    status = published[-1][0][1]
    assert status.arms.estimand == "E3" and status.arms.metrics["ndcg@10"].estimand == "E3"
    expected = stats.crossed_interval(_matrix(root, runs["cand-a"], "ndcg@10"), _matrix(root, runs["baseline"], "ndcg@10"))
    got = status.arms.metrics["ndcg@10"]
    assert got.delta == pytest.approx(expected.delta, rel=1e-12)
    assert got.ci95 == pytest.approx([expected.low, expected.high], rel=1e-12)
    assert got.df == pytest.approx(expected.df, rel=1e-12)
    assert status.gates["ndcg10_ci95_lower"].obs == pytest.approx(expected.low, rel=1e-12)
    assert got.run_swap_pvalue == pytest.approx(
        stats.run_swap_permutation(_matrix(root, runs["cand-a"], "ndcg@10"), _matrix(root, runs["baseline"], "ndcg@10"),
                                   n_resamples=500, random_state=7).pvalue)
    assert got.run_swap_pvalue >= 0.1, "3 + 3 runs: the exact run-swap p-value cannot go below 2/20"
    # One-run arms of the first status: E1 with its warning, the same number as the one-run comparison.
    first = published[0][0][1]
    assert first.arms.estimand == "E1"
    assert "retraining_variance_not_covered" in first.arms.metrics["ndcg@10"].warnings
    # The record lives on the candidate arm's newest run and names every run of both arms.
    newest = max(runs["cand-a"], key=lambda e: e.created_at)
    head = handlers.registry.search({"candidate_id": "retrieval-cand-a", "role": "candidate"}, max_results=1)[0][0]
    record = handlers.registry.read_json(head, AB_RESULT_PATH)
    assert record is not None and status.candidate_run == head
    assert handlers.registry.load(head).event.seeds.value == newest.seeds.value
    assert record["arms"]["baseline"]["seeds"] == sorted(e.seeds.value for e in runs["baseline"])
    per_run = record["metrics"]["ndcg@10"]["per_run"]
    assert [p["arm"] for p in per_run] == ["candidate"] * 3 + ["baseline"] * 3
    assert record["metrics"]["ndcg@10"]["items"] == {"n_common": 80, "dropped": 0}
    assert len(record["metrics"]["ndcg@10"]["inputs"]["candidate"]) == 3


def test_a_candidate_seed_arriving_after_the_baselines_recomputes_its_arm_and_a_replay_republishes_the_same_id(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """Baselines first, then candidate seeds: each seed's status grows the candidate arm; redelivery keeps the id."""
    runs = _events(tmp_path / "jobs")
    handlers = local_handlers(local_registry())
    for event in runs["baseline"][:2]:
        register(handlers, event)
    sizes = []
    last: list[tuple[str, Any]] = []
    for event in runs["cand-a"]:
        delivered = run_created_event(event)
        last = _statuses(handlers.register_run(delivered)[1])
        sizes.append([(len(s.arms.candidate.runs), len(s.arms.baseline.runs)) for _, s in last])
    assert sizes == [[(1, 2)], [(2, 2)], [(3, 2)]]
    again = _statuses(handlers.register_run(delivered)[1])
    assert [i for i, _ in again] == [i for i, _ in last], "a replay republishes the same gate status id"


def test_a_duplicate_seed_keeps_the_newest_run_of_that_seed(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """A second run of seed s (a re-run, a new event) replaces the older run of s in its arm, not adds to it."""
    runs = _events(tmp_path / "jobs", seeds=2)
    handlers = local_handlers(local_registry())
    for event in runs["baseline"] + runs["cand-a"]:
        register(handlers, event)
    rerun = runs["cand-a"][0].model_copy(update={"run_name": "rerun", "created_at": runs["cand-a"][-1].created_at.replace(
        microsecond=0) + (runs["cand-a"][-1].created_at - runs["cand-a"][0].created_at) * 2})
    registration, out = register(handlers, rerun)
    (_, status), = _statuses(out)
    assert sorted(status.arms.candidate.seeds) == sorted(e.seeds.value for e in runs["cand-a"])
    assert registration.run_id in status.arms.candidate.runs
    assert len(status.arms.candidate.runs) == 2


def test_a_rule_naming_an_estimand_and_min_seeds_reads_that_interval_or_fails_with_too_few_seeds(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """``estimand: E2`` reads the E2 interval; ``min_seeds: 3`` fails a 2 + 2 comparison with too_few_seeds."""
    runs = _events(tmp_path / "jobs", seeds=2)
    handlers = local_handlers(local_registry())
    handlers.policy = GatePolicy(gates=(
        GateSpec(name="e2", rules=(GateRule(source="delta_ci95_lower", metric="ndcg@10", op=">", threshold=-1.0,
                                            estimand="E2"),)),
        GateSpec(name="three", rules=(GateRule(source="delta", metric="ndcg@10", op=">", threshold=-1.0, min_seeds=3),)),
        GateSpec(name="e1", rules=(GateRule(source="delta_ci95_lower", metric="ndcg@10", op=">", threshold=-1.0,
                                            estimand="E1"),)),
    ))
    for event in runs["baseline"]:
        register(handlers, event)
    out: list[Outgoing] = []
    for event in runs["cand-a"]:
        out = register(handlers, event)[1]
    (_, status), = _statuses(out)
    record = handlers.registry.read_json(status.candidate_run, AB_RESULT_PATH)
    assert record is not None
    intervals = record["metrics"]["ndcg@10"]["intervals"]
    assert status.gates["e2"].obs == intervals["E2"]["low"] and status.gates["e2"].pass_
    assert status.gates["e1"].obs == intervals["E1"]["low"]
    assert intervals["E2"]["low"] != intervals["E3"]["low"] != intervals["E1"]["low"]
    assert status.gates["three"].reason == "too_few_seeds" and not status.gates["three"].pass_
    assert status.gates["e2"].rule == "delta_ci95_lower(ndcg@10) > -1 [E2]"
    with pytest.raises(ValueError, match="per-query difference"):
        GateRule(source="delta_ci95_upper", metric="latency_p95_ms", op="<=", threshold=5.0, estimand="E3")


def test_a_meeting_bundle_of_seed_run_arms_shows_seeds_estimand_and_split_and_verify_bundle_recomputes_it(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """Table 3 shows 3/3 seeds, E3 and the variance split, and every per-seed run; verify-bundle redoes every
    statistic from every run's file and finds a changed interval."""
    runs = _events(tmp_path / "jobs")
    handlers = local_handlers(local_registry())
    for event in runs["baseline"] + runs["cand-a"]:
        register(handlers, event)
    meeting = MeetingRequested(meeting_id="m-arms", candidates=["retrieval-cand-a"], requested_by="review@example.org")
    handlers.meeting_requested(meeting_requested_event(meeting))
    bundle = tmp_path / "bundle" / "m-arms"
    text = (bundle / "ab_test_summary.md").read_text()
    seeds_table = text.split("#### Seeds per arm")[1].split("####")[0]
    row = next(line for line in seeds_table.splitlines() if "| ndcg@10 |" in line)
    assert "| 3/3 | E3 |" in row
    per_seed = text.split("#### Per-seed runs")[1].split("####")[0]
    for event in runs["cand-a"] + runs["baseline"]:
        assert f"| {event.seeds.value} |" in per_seed
    assert (bundle / "plots" / "forest_plot.png").stat().st_size > 0

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = verify_bundle(bundle, uri)
    assert report.ok, [str(f) for f in report.findings]
    assert report.statistics >= 2 * 4 + 2, "E1, E2, E3 and run-swap per metric, and the latency bootstrap"
    decision = json.loads((bundle / "decision_metrics.json").read_text())
    decision["candidates"][0]["ab"]["metrics"]["ndcg@10"]["intervals"]["E3"]["low"] += 1e-6
    (bundle / "decision_metrics.json").write_text(json.dumps(decision))
    report = verify_bundle(bundle, uri)
    assert any("intervals[E3].low" in f.item for f in report.findings), [str(f) for f in report.findings]


class TwoSeedsRacing(Registry):
    """Holds each candidate seed at its ``registered`` mark until the other one has looked before its own:
    neither seed's first comparison can see the other."""

    looked: dict[int, threading.Event]

    def finish(self, prepared: Prepared, tags: dict[str, str] | None = None) -> Registration:
        event = prepared.registration.event
        if event.role == "candidate":
            mine = event.seeds.value
            self.looked[mine].set()
            other = next(seed for seed in self.looked if seed != mine)
            assert self.looked[other].wait(60), "the other seed never looked"
        return super().finish(prepared, tags)


def test_two_seed_runs_of_one_candidate_registering_at_once_end_with_a_comparison_of_both(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """Each seed compares before its mark without the other; the look at its arm after the mark sees the other."""
    runs = _events(tmp_path / "jobs", seeds=2)
    registry = local_registry(TwoSeedsRacing)
    assert isinstance(registry, TwoSeedsRacing)
    handlers = local_handlers(registry)
    for event in runs["baseline"]:
        register(handlers, event)
    registry.looked = {e.seeds.value: threading.Event() for e in runs["cand-a"]}
    results: list[list[Outgoing]] = []
    errors: list[BaseException] = []

    def deliver(run: RunCreated) -> None:
        try:
            results.append(register(handlers, run)[1])
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    threads = [threading.Thread(target=deliver, args=(run,)) for run in runs["cand-a"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    statuses = [s for out in results for _, s in _statuses(out)]
    sizes = sorted(len(s.arms.candidate.runs) for s in statuses)
    assert sizes[:2] == [1, 1], "before its mark neither seed sees the other"
    assert sizes[-1] == 2, "after the marks, a look sees both seeds and compares them"


def test_pair_ab_on_a_seed_run_answers_with_its_arms_crossed_interval_read_from_the_arms_newest_run(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """The command names an older seed run: the answer is its arm's comparison, recorded on the arm's newest run."""
    runs = _events(tmp_path / "jobs", seeds=2)
    handlers = local_handlers(local_registry())
    registered = {e.seeds.value: register(handlers, e)[0] for e in runs["baseline"] + runs["cand-a"]}
    oldest = registered[min(e.seeds.value for e in runs["cand-a"])]
    command = Command.model_validate({"command": "pair_ab", "candidate_run_id": oldest.run_id,
                                      "baseline_selector": {"newest_matching": True}})
    answer = Commands(handlers).execute(envelope("commands", command, subject=oldest.run_id))
    reply = decode("commands.replies", answer.outgoing()[-1].value).data
    assert reply.status == "ok", reply.error
    ndcg = reply.result["ab"]["metrics"]["ndcg@10"]
    assert ndcg["estimand"] == "E3" and ndcg["crossed"]["seeds_candidate"] == 2
    assert reply.result["gate_status"]["candidate_run"] != oldest.run_id
    assert reply.result["gate_status"]["arms"]["metrics"]["ndcg@10"]["ci95"] == ndcg["ci95"]


def test_queries_a_seed_run_did_not_score_are_left_out_of_both_arms_and_reported(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """One candidate seed run lacks 5 queries: every run's matrix drops them, per_run and a note say so."""
    root = tmp_path / "jobs"
    runs = _events(root, seeds=2)
    short = runs["cand-a"][0]
    artifact = next(a for a in short.artifacts if a.kind == "per_query")
    lines = (root / artifact.path).read_text().splitlines(keepends=True)
    (root / artifact.path).write_text("".join(lines[:1] + lines[6:]))  # the header, then all but the first 5 queries
    artifacts = [a.model_copy(update={"sha256": sha256_file(root / a.path)[0]}) if a.kind == "per_query" else a
                 for a in short.artifacts]
    runs["cand-a"][0] = short.model_copy(update={"artifacts": artifacts})
    handlers = local_handlers(local_registry())
    for event in runs["baseline"] + runs["cand-a"]:
        out = register(handlers, event)[1]
    (_, status), = _statuses(out)
    record = handlers.registry.read_json(status.candidate_run, AB_RESULT_PATH)
    assert record is not None
    ndcg = record["metrics"]["ndcg@10"]
    assert ndcg["n"] == 75 and ndcg["items"] == {"n_common": 75, "dropped": 5 * 3}
    assert [r["dropped_items"] for r in ndcg["per_run"]] == [0, 5, 5, 5], "the short run lost none; the others 5 each"
    assert any("left out" in note and "seed" in note for note in record["notes"])
    cand = np.vstack([_matrix(root, runs["cand-a"][:1], "ndcg@10"), _matrix(root, runs["cand-a"][1:], "ndcg@10")[:, 5:]])
    expected = stats.crossed_interval(cand, _matrix(root, runs["baseline"], "ndcg@10")[:, 5:])
    assert (ndcg["delta"], ndcg["ci95"]) == (pytest.approx(expected.delta, rel=1e-12),
                                             pytest.approx([expected.low, expected.high], rel=1e-12))


def test_reconciliation_pairs_a_candidate_arm_whose_pairing_was_lost_with_one_comparison_for_all_its_runs(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """Three candidate seed runs without a gate status: one comparison of the arm, all three runs marked paired."""
    runs = _events(tmp_path / "jobs")
    registry = local_registry()
    handlers = local_handlers(registry)
    cands = [register(handlers, e)[0] for e in runs["cand-a"]]  # no baseline yet: they wait
    for i, event in enumerate(runs["baseline"]):  # registered without the service: nobody pairs them
        registry.register(event, f"restored-{i}")
    done = handlers.reconcile()
    assert (done.examined, sorted(done.paired)) == (3, sorted(c.run_id for c in cands))
    (_, status), = _statuses(done.outgoing)
    assert (len(status.arms.candidate.runs), len(status.arms.baseline.runs)) == (3, 3)
    assert handlers.reconcile().examined == 0, "every run of the arm carries the pairing now"
