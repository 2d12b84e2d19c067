"""The seed's command grammar as subcommands (``register-run``, ``pair-ab``, ``compute-stats``, ``emit-bundle``,
``gate-check``, ``reconcile``), and ``status``, which shares their options and exit codes.

A command runs in-process with the service's own handlers (``consumers.app.build_handlers``) against
MLflow, publishes what it caused to Kafka like the service would, and prints the reply.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runnotary.consumers.rendering import render_reply, render_status

if TYPE_CHECKING:  # imported lazily at run time, so `runnotary --help` stays fast
    from runnotary.consumers.handlers import Outgoing
    from runnotary.consumers.settings import Settings
    from runnotary.contract import CloudEvent

__all__ = ["add_parsers"]

#: Exit codes of the command subcommands.
EXIT_OK, EXIT_GATE_FAIL, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3


def _progress(args: argparse.Namespace, text: str) -> None:
    print(f"runnotary {args.command}: {text}", file=sys.stderr, flush=True)


def _run_command(args: argparse.Namespace, body: dict[str, Any], publishes: bool) -> int:
    """Validate ``body`` as a command, carry it out in-process against MLflow, publish what it caused to
    Kafka like the service would, and print the reply (a table, or ``--json``)."""
    from pydantic import ValidationError

    from runnotary.contract import Command, envelope

    try:
        command = Command.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or '<command>'}: {e['msg']}" for e in exc.errors()[:10])
        print(f"runnotary {args.command}: bad input: {problems}", file=sys.stderr)
        return EXIT_BAD_INPUT
    event = envelope("commands", command, subject=str(body.get("candidate_run_id") or body.get("meeting_id") or "") or None)
    if getattr(args, "command_id", None):
        event = event.model_copy(update={"id": args.command_id})
    return _execute(args, event, publishes)


def _execute(args: argparse.Namespace, event: CloudEvent[Any], publishes: bool) -> int:
    from pydantic import ValidationError

    from runnotary.bundles import PolicyError
    from runnotary.consumers.app import build_handlers
    from runnotary.consumers.commands import Commands
    from runnotary.consumers.errors import DeliveryFailed
    from runnotary.consumers.logs import configure_logging
    from runnotary.consumers.settings import Settings
    from runnotary.errors import redact
    from runnotary.registry import TrackingUnavailable
    from runnotary.registry.catalog import CatalogError

    try:
        settings = Settings(**({"mlflow_tracking_uri": args.tracking_uri} if args.tracking_uri else {}))
    except ValidationError as exc:
        print(f"runnotary {args.command}: bad settings: {redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    publish = publishes and not args.no_publish
    if publish and not settings.kafka_bootstrap:
        print(f"runnotary {args.command}: set RUNNOTARY_KAFKA_BOOTSTRAP to publish what this command causes "
              "(or pass --no-publish)", file=sys.stderr)
        return EXIT_BAD_INPUT
    # stdout carries the answer only; the service's log lines go to stderr, warnings and up unless asked for.
    configure_logging(settings.log_level if "RUNNOTARY_LOG_LEVEL" in os.environ else "WARNING")
    _progress(args, f"MLflow at {redact(settings.tracking_uri())}")
    try:
        handlers = build_handlers(settings)
    except (CatalogError, PolicyError) as exc:  # the operator's metric catalog or gate policy does not validate
        print(f"runnotary {args.command}: bad settings: {redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    _progress(args, "working (registration, artifact hashing and resampling can take a while)")
    try:
        answer = Commands(handlers).execute(event)
    except TrackingUnavailable as exc:
        print(f"runnotary {args.command}: {redact(str(exc))}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if publish and answer.effects:
        _progress(args, f"publishing {len(answer.effects)} event(s) to Kafka")
        try:
            _publish(settings, answer.effects)
        except DeliveryFailed as exc:
            print(f"runnotary {args.command}: {redact(str(exc))}", file=sys.stderr)
            return EXIT_UNAVAILABLE
    reply = answer.reply
    if args.json:
        print(reply.model_dump_json(indent=2))
    elif reply.error is not None:
        print(f"error [{reply.error.code}]: {reply.error.message}")
    else:
        print(render_reply(reply.command or "", reply.result or {}))
    if reply.status == "error":
        return EXIT_BAD_INPUT
    return EXIT_GATE_FAIL if _gate_failed(reply.command or "", reply.result or {}) else EXIT_OK


def _publish(settings: Settings, effects: Sequence[Outgoing]) -> None:
    """Produce ``effects`` and wait for the broker's acknowledgement of each (the service's rule)."""
    from runnotary.consumers.errors import DeliveryFailed
    from runnotary.consumers.kafka import ensure_topics, make_producer
    from runnotary.contract import Outbound, produce_and_wait

    ensure_topics(settings, sorted({e.topic for e in effects}))
    messages = [Outbound(settings.topic(e.topic), e.key.encode(), e.value, e.headers, label=e.topic) for e in effects]
    deliveries = produce_and_wait(make_producer(settings), messages, 30)
    if not deliveries.ok:
        raise DeliveryFailed(deliveries.summary("publish(es)"))


def _gate_failed(command: str, result: dict[str, Any]) -> bool:
    if command in ("pair_ab", "gate_check"):
        return bool(result["gate_status"]["overall"] == "fail")
    if command == "emit_bundle":
        return result.get("overall_gate_status") == "fail"
    return False


def _register_run(args: argparse.Namespace) -> int:
    from runnotary.contract import InvalidEvent, decode

    try:
        raw = sys.stdin.buffer.read() if args.event == "-" else Path(args.event).read_bytes()
        doc = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"runnotary register-run: cannot read {args.event}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if isinstance(doc, dict) and "specversion" in doc:
        # A runs.created CloudEvent: its id keys the registration, as when the service consumes it.
        try:
            run_event = decode("runs.created", raw)
        except InvalidEvent as exc:
            print(f"runnotary register-run: bad input: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        args.command_id = run_event.id
        doc = run_event.data.model_dump(mode="json")
    return _run_command(args, {"command": "register_run", "run": doc}, publishes=True)


def _pair_ab(args: argparse.Namespace) -> int:
    if args.baseline_run_id:
        selector: dict[str, object] = {"run_id": args.baseline_run_id}
    elif args.dataset_sha256 or args.seed_family:
        selector = {"dataset_sha256": args.dataset_sha256, "seed_family": args.seed_family}
    else:
        selector = {"newest_matching": True}
    return _run_command(args, {"command": "pair_ab", "candidate_run_id": args.candidate_run_id,
                               "baseline_selector": {k: v for k, v in selector.items() if v is not None}}, publishes=True)


def _compute_stats(args: argparse.Namespace) -> int:
    body: dict[str, object] = {"command": "compute_stats", "candidate_run_id": args.candidate_run_id,
                               "baseline_run_id": args.baseline_run_id, "metrics": args.metric or [], "method": args.method}
    if args.n_resamples is not None:
        body["n_resamples"] = args.n_resamples
    if args.random_state is not None:
        body["random_state"] = args.random_state
    return _run_command(args, body, publishes=False)


def _emit_bundle(args: argparse.Namespace) -> int:
    return _run_command(args, {"command": "emit_bundle", "meeting_id": args.meeting_id, "candidates": args.candidates,
                               "requested_by": args.requested_by}, publishes=True)


def _gate_check(args: argparse.Namespace) -> int:
    return _run_command(args, {"command": "gate_check", "candidate_run_id": args.candidate_run_id}, publishes=True)


def _reconcile(args: argparse.Namespace) -> int:
    return _run_command(args, {"command": "reconcile", "max_runs": args.max_runs}, publishes=True)


def _command_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str,
                    publishes: bool) -> argparse.ArgumentParser:
    epilog = ("exit codes: 0 ok, 1 a gate failed, 2 bad input or refused command, 3 MLflow or Kafka unavailable. "
              "Settings from RUNNOTARY_* (MLflow store; Kafka cluster where it publishes).")
    p = sub.add_parser(name, help=help, description=help, epilog=epilog)
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: RUNNOTARY_MLFLOW_TRACKING_URI)")
    p.add_argument("--json", action="store_true", help="print the reply as JSON (what the service answers on commands.replies)")
    if publishes:
        p.add_argument("--no-publish", action="store_true", help="do not publish the events it causes to Kafka")
    else:
        p.set_defaults(no_publish=True)
    return p


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the seed's commands and ``status`` to the ``runnotary`` subcommands ``sub``."""
    p = _command_parser(sub, "register-run", "register a run from a runs.created payload or CloudEvent (JSON file or -)", True)
    p.add_argument("event", help="JSON file with the runs.created data (or a whole runs.created CloudEvent); - reads stdin")
    p.set_defaults(func=_register_run)

    p = _command_parser(sub, "pair-ab", "pair a candidate run with a baseline, evaluate its gates, publish gates.status", True)
    p.add_argument("candidate_run_id")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--baseline-run-id", help="this baseline run (its dataset hash must be the candidate's)")
    group.add_argument("--dataset-sha256", help="the newest baseline of this dataset hash (with --seed-family)")
    group.add_argument("--newest-matching", action="store_true", help="the newest baseline of the candidate's dataset and seed family (default)")
    p.add_argument("--seed-family", help="with --dataset-sha256")
    p.set_defaults(func=_pair_ab)

    p = _command_parser(sub, "compute-stats", "paired statistics of a candidate run against a baseline run (publishes nothing)", False)
    p.add_argument("candidate_run_id")
    p.add_argument("baseline_run_id")
    p.add_argument("--metric", action="append", help="any metric of the catalog (RUNNOTARY_METRIC_CATALOG included), by name or alias, "
                   "that both runs carry; repeat for several (default: every metric the comparison computed)")
    p.add_argument("--method", choices=("percentile", "bca", "permutation"), default="bca")
    p.add_argument("--n-resamples", type=int, default=None, help="default: RUNNOTARY_N_RESAMPLES")
    p.add_argument("--random-state", type=int, default=None, help="default: RUNNOTARY_RANDOM_STATE")
    p.set_defaults(func=_compute_stats)

    p = _command_parser(sub, "emit-bundle", "write a meeting's evidence bundle and publish bundles.emitted", True)
    p.add_argument("meeting_id")
    p.add_argument("candidates", nargs="+", help="candidate_ids the meeting decides on")
    p.add_argument("--requested-by", default="cli")
    p.set_defaults(func=_emit_bundle)

    p = _command_parser(sub, "status", "what the registry knows of a run: provenance, each metric claimed vs recomputed "
                                       "(or why quarantined), its baseline (or that it awaits one), gates, alerts", False)
    p.add_argument("id", metavar="CANDIDATE_ID|EVENT_ID|RUN_ID")
    p.set_defaults(func=_status)

    p = _command_parser(sub, "gate-check", "re-evaluate a candidate's gates with the current policy and publish gates.status", True)
    p.add_argument("candidate_run_id")
    p.set_defaults(func=_gate_check)

    p = _command_parser(sub, "reconcile", "pair every registered candidate whose baseline is registered but which has "
                        "no gate status (after a restore); publishes their gates.status", True)
    p.add_argument("--max-runs", type=int, default=10_000, help="candidates without a gate status to examine at most")
    p.set_defaults(func=_reconcile)


def _status(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from runnotary.bundles import PolicyError
    from runnotary.consumers.app import gate_policy, make_registry
    from runnotary.consumers.logs import configure_logging
    from runnotary.consumers.settings import Settings
    from runnotary.consumers.status import NotFound, run_status
    from runnotary.errors import redact
    from runnotary.registry import RegistryError, TrackingUnavailable
    from runnotary.registry.catalog import CatalogError

    try:
        settings = Settings(**({"mlflow_tracking_uri": args.tracking_uri} if args.tracking_uri else {}))
        policy = gate_policy(settings)
    except (ValidationError, CatalogError, PolicyError) as exc:
        print(f"runnotary status: bad settings: {redact(str(exc))}", file=sys.stderr)
        return EXIT_BAD_INPUT
    configure_logging(settings.log_level if "RUNNOTARY_LOG_LEVEL" in os.environ else "WARNING")
    try:
        answer = run_status(make_registry(settings), args.id, policy)
    except NotFound as exc:
        print(f"runnotary status: {exc} in MLflow at {redact(settings.tracking_uri())}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TrackingUnavailable, RegistryError) as exc:
        print(f"runnotary status: {redact(str(exc))}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(json.dumps(answer, indent=2) if args.json else render_status(answer))
    gates = answer.get("gates")
    return EXIT_GATE_FAIL if gates is not None and gates["overall"] == "fail" else EXIT_OK
