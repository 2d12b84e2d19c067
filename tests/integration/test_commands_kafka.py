"""The five commands sent over Kafka to a running service, answered on commands.replies (real broker, real mlflow server)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.support import command_message, events_of, send, wait_committed
from runnotary.consumers.commands import command_key
from runnotary.contract import Command, RunCreated
from runnotary.registry.synthetic import generate


def _keyed(given: str, value: bytes) -> tuple[str, bytes]:
    """A command keyed as the contract says (a run's pairing key for register_run); a malformed one keeps ``given``."""
    try:
        return command_key(Command.model_validate(json.loads(value)["data"])), value
    except Exception:
        return given, value


def _send(settings: Any, *messages: tuple[str, bytes]) -> None:
    send(settings, "commands", [_keyed(given, value) for given, value in messages])


def _replies(seen: list[tuple[str, Any]]) -> dict[str, Any]:
    return {e.data.correlationid: e for e in events_of(seen, "commands.replies")}


def _experiment(settings: Any) -> str:
    return f"/tests/{settings.topic_prefix.rstrip('.')}"


def test_each_command_over_kafka_gets_a_reply_and_its_effects(running_service: Any) -> None:
    """register_run, pair_ab, compute_stats, gate_check and emit_bundle each answer once, correlated by the
    command id; pairing, gate check and bundle publish their usual events; a baseline on another dataset is refused."""
    svc = running_service()
    settings = svc.settings
    baseline, cand_a, cand_b = generate(Path(settings.artifact_root), experiment=_experiment(settings),
                                        n_queries=300, n_requests=2000, seed=21)
    other_data = baseline.model_dump(mode="json")
    other_data.update(candidate_id="retrieval-other-dataset", dataset={**other_data["dataset"], "sha256": "cd" * 32})
    other = RunCreated.model_validate(other_data)

    registers = [command_message({"command": "register_run", "run": r.model_dump(mode="json")}) for r in (baseline, cand_a, cand_b, other)]
    _send(settings, *registers)
    # Topics are read independently: wait for every expected event, not only for the replies.
    seen = svc.wait_for(lambda s: len(_replies(s)) == 4 and len(events_of(s, "gates.status")) >= 2, timeout=240)
    replies = _replies(seen)
    results = [replies[command_id].data for command_id, _ in registers]
    assert all(r.status == "ok" and r.command == "register_run" for r in results), [r.error for r in results]
    run_of = {r.result["candidate_id"]: r.result["run_id"] for r in results}
    assert results[1].result["gate_status"][0]["overall"] == "pass"  # cand_a paired on registration
    assert results[1].result["metrics"]["latency_p95_ms"]["status"] == "verified"
    assert all(replies[i].subject == i and replies[i].type == "io.runnotary.commands.replies.v1" for i, _ in registers)
    assert len(events_of(seen, "gates.status")) == 2
    assert not events_of(seen, "deadletter")

    pair_ok = command_message({"command": "pair_ab", "candidate_run_id": run_of[cand_a.candidate_id],
                        "baseline_selector": {"run_id": run_of[baseline.candidate_id]}})
    pair_bad = command_message({"command": "pair_ab", "candidate_run_id": run_of[cand_b.candidate_id],
                         "baseline_selector": {"run_id": run_of[other.candidate_id]}})
    stats_perm = command_message({"command": "compute_stats", "candidate_run_id": run_of[cand_a.candidate_id],
                           "baseline_run_id": run_of[baseline.candidate_id], "metrics": ["ndcg@10"],
                           "method": "permutation", "n_resamples": 500, "random_state": 7})
    stats_ci = command_message({"command": "compute_stats", "candidate_run_id": run_of[cand_a.candidate_id],
                         "baseline_run_id": run_of[baseline.candidate_id], "method": "percentile", "n_resamples": 1000})
    check = command_message({"command": "gate_check", "candidate_run_id": run_of[cand_b.candidate_id]})
    meeting_id = f"m-{uuid.uuid4().hex[:6]}"
    bundle = command_message({"command": "emit_bundle", "meeting_id": meeting_id, "candidates": [cand_a.candidate_id, cand_b.candidate_id]})
    commands = [pair_ok, pair_bad, stats_perm, stats_ci, check, bundle]
    _send(settings, *commands)
    seen = svc.wait_for(lambda s: len(_replies(s)) == 10 and len(events_of(s, "bundles.emitted")) == 1
                        and len(events_of(s, "gates.status")) >= 4
                        and any(e.data.kind == "dataset_hash_mismatch" for e in events_of(s, "alerts")), timeout=240)
    replies = {i: e.data for i, e in _replies(seen).items()}

    assert replies[pair_ok[0]].status == "ok"
    assert replies[pair_ok[0]].result["baseline_run"] == run_of[baseline.candidate_id]
    assert replies[pair_ok[0]].result["gate_status"]["overall"] == "pass"
    assert replies[pair_ok[0]].result["ab"]["metrics"]["ndcg@10"]["ci95"][0] > 0

    refused = replies[pair_bad[0]]
    assert refused.status == "error" and refused.error.code == "dataset_hash_mismatch"
    assert run_of[cand_b.candidate_id] in refused.error.message
    alert = next(e.data for e in events_of(seen, "alerts") if e.data.kind == "dataset_hash_mismatch")
    assert alert.severity == "critical" and alert.run_id == run_of[cand_b.candidate_id]

    perm = replies[stats_perm[0]].result
    assert (perm["method"], perm["n_resamples"], perm["random_state"]) == ("permutation", 500, 7)
    assert set(perm["metrics"]) == {"ndcg@10"} and 0 < perm["metrics"]["ndcg@10"]["pvalue"] <= 1
    assert "ci95" not in perm["metrics"]["ndcg@10"]
    ci = replies[stats_ci[0]].result
    assert set(ci["metrics"]) == {"ndcg@10", "compliance@1", "latency_p95_ms", "map"}  # every metric it compared
    low, high = ci["metrics"]["ndcg@10"]["ci95"]
    assert low < ci["metrics"]["ndcg@10"]["delta"] < high

    checked = replies[check[0]]
    assert checked.status == "ok" and checked.result["gate_status"]["overall"] == "fail"
    statuses = events_of(seen, "gates.status")
    # registration (2) + pair_ok + gate_check; compute_stats and the refused pairing publish none
    assert len(statuses) == 4
    assert statuses[-1].data.candidate_run == run_of[cand_b.candidate_id] and statuses[-1].data.overall == "fail"

    emitted = events_of(seen, "bundles.emitted")[0].data
    answer = replies[bundle[0]].result
    assert answer["meeting_id"] == emitted.meeting_id == meeting_id
    assert answer["candidates"] == emitted.candidates == {cand_a.candidate_id: "pass", cand_b.candidate_id: "fail"}
    assert answer["closing_line"].endswith("overall_gate_status=fail")
    assert (Path(emitted.location) / "decision_metrics.json").is_file()
    assert not events_of(seen, "deadletter")


def test_malformed_commands_are_answered_or_dead_lettered_and_replays_repeat_the_reply_id(running_service: Any) -> None:
    """Garbage goes to deadletter; an invalid command with an id and a command on an unknown run get error replies;
    the same command delivered twice is answered twice with one reply id and one bundles.emitted id; all committed."""
    svc = running_service()
    settings = svc.settings
    invalid_id = f"bad-{uuid.uuid4().hex[:8]}"
    invalid = json.dumps({
        "specversion": "1.0", "id": invalid_id, "source": "urn:test", "type": "io.runnotary.commands.v1",
        "time": "2026-11-26T12:00:00Z",
        "data": {"command": "compute_stats", "candidate_run_id": "c", "baseline_run_id": "b", "method": "t-test"},
    }).encode()
    unknown = command_message({"command": "gate_check", "candidate_run_id": uuid.uuid4().hex})
    meeting = command_message({"command": "emit_bundle", "meeting_id": "m-replay", "candidates": ["nobody-registered-this"]})
    _send(settings, ("junk", b"\x00not a command"), (invalid_id, invalid), unknown, meeting, meeting)

    seen = svc.wait_for(lambda s: len(events_of(s, "commands.replies")) == 4 and len(events_of(s, "deadletter")) == 1
                        and len(events_of(s, "bundles.emitted")) == 2, timeout=180)
    letter = events_of(seen, "deadletter")[0].data
    assert letter.source_topic == settings.topic("commands") and letter.key_b64 == "anVuaw=="  # base64 of b"junk"

    replies = events_of(seen, "commands.replies")
    by_id = {e.data.correlationid: e.data for e in replies}
    bad = by_id[invalid_id]
    assert (bad.status, bad.command, bad.error.code) == ("error", "compute_stats", "invalid_command")
    assert "method" in bad.error.message
    missing = by_id[unknown[0]]
    assert (missing.status, missing.error.code) == ("error", "unknown_run")

    replayed = [e for e in replies if e.data.correlationid == meeting[0]]
    assert len(replayed) == 2 and replayed[0].id == replayed[1].id
    first, again = (e.data.result for e in replayed)
    assert replayed[0].data.status == replayed[1].data.status == "ok"
    # The bundle is written afresh (its files carry their generation time); what it concludes is the same.
    assert {k: first[k] for k in ("meeting_id", "location", "candidates", "overall_gate_status", "closing_line")} == \
        {k: again[k] for k in ("meeting_id", "location", "candidates", "overall_gate_status", "closing_line")}
    emitted = events_of(seen, "bundles.emitted")
    assert len(emitted) == 2 and emitted[0].id == emitted[1].id

    wait_committed(settings, "commands", 5)
