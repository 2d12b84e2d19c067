"""The training job's subcommands: ``publish-run``, ``request-meeting`` and ``flush``.

They need the light install only (pydantic and confluent-kafka), never the service extra; the
``runnotary`` entry point adds them with ``add_parsers``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runnotary.client.publisher import Published
    from runnotary.client.settings import ClientSettings

__all__ = ["add_parsers"]


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


def _client_settings(args: argparse.Namespace) -> ClientSettings:
    from pydantic import ValidationError

    from runnotary.client.errors import ClientError
    from runnotary.client.settings import ClientSettings

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
    from runnotary.client.errors import ClientError
    from runnotary.client.publisher import publish_event
    from runnotary.client.run import Metric, build_run_event

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
    return _report(published, "event")


def _flush(args: argparse.Namespace) -> int:
    from runnotary.client.errors import ClientError
    from runnotary.client.publisher import flush

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
    from runnotary.client.errors import ClientError
    from runnotary.client.meeting import request_meeting

    try:
        requested = request_meeting(args.meeting_id, args.candidates, requested_by=args.requested_by,
                                    settings=_client_settings(args))
    except ClientError as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2
    return _report(requested, "request")


def _report(sent: Published, what: str) -> int:
    """Say what became of a publish: its id and status on stdout, a spooled one's way forward on stderr."""
    if sent.flushed:
        print(f"runnotary: also delivered {len(sent.flushed)} spooled event(s)", file=sys.stderr)
    if not sent.delivered:
        print(f"runnotary: broker did not acknowledge ({sent.error}); {what} spooled at {sent.spooled_at}, "
              "run `runnotary flush` once the broker is back", file=sys.stderr)
    print(f"{sent.event_id} {sent.status}")
    return 0


def _client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spool-dir", default=None, help="default: RUNNOTARY_SPOOL_DIR, else ~/.local/state/runnotary/spool")
    p.add_argument("--delivery-timeout", type=float, default=None,
                   help="seconds to wait for the broker's acknowledgement (default: RUNNOTARY_DELIVERY_TIMEOUT_S, else 15)")


def add_parsers(sub: Any) -> None:
    """Add ``publish-run``, ``request-meeting`` and ``flush`` to the ``runnotary`` subcommands ``sub``."""
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
