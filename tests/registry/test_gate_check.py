"""The gate_check command evaluates the service's gate policy, with or without a baseline."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from runnotary.bundles import GatePolicy, GateRule, GateSpec
from runnotary.consumers.commands import Commands
from runnotary.consumers.handlers import Handlers
from runnotary.contract import Command, decode, envelope
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate

FLOOR = GatePolicy(gates=(
    GateSpec(name="ndcg_floor", rules=(GateRule(source="metric", metric="ndcg@10", op=">=", threshold=0.1),)),
    GateSpec(name="ndcg_up", rules=(GateRule(source="delta_ci95_lower", metric="ndcg@10", op=">", threshold=0.0),)),
))


def test_gate_check_without_a_baseline_evaluates_the_configured_policy_not_the_default(
    tmp_path: Path, local_registry: Callable[..., Registry], local_handlers: Callable[[Registry], Handlers],
) -> None:
    """A candidate with no baseline yet: the reply and the gates.status event carry the policy's own gates."""
    handlers = local_handlers(local_registry())
    handlers.policy = FLOOR
    events = generate(tmp_path / "jobs", n_queries=40, n_requests=100, seed=3, experiment="/Shared/gate-check")
    event = next(e for e in events if e.role == "candidate")
    candidate, _ = handlers.register_run(envelope("runs.created", event, subject=event.candidate_id))
    command = Command.model_validate({"command": "gate_check", "candidate_run_id": candidate.run_id})
    answer = Commands(handlers).execute(envelope("commands", command, subject=candidate.run_id))
    reply = decode("commands.replies", answer.outgoing()[-1].value).data
    assert reply.status == "ok", reply.error
    gates = reply.result["gate_status"]["gates"]
    assert list(gates) == ["ndcg_floor", "ndcg_up"]
    assert gates["ndcg_floor"]["pass"] is True and gates["ndcg_up"]["reason"] == "no_baseline"
    [published] = [decode("gates.status", o.value).data for o in answer.effects if o.topic == "gates.status"]
    assert list(published.gates) == ["ndcg_floor", "ndcg_up"] and published.overall == "fail"
