"""The ``runnotary`` command: the service's subcommands, the seed's commands and the training job's.

Each group lives with what it runs (``consumers.service_commands``, ``consumers.seed_commands``,
``client.commands``) and imports the service's dependencies only when a subcommand runs, so the
light install (no ``service`` extra) runs the client's subcommands and ``--help``.
"""

from __future__ import annotations

import argparse
import sys

from runnotary.client import commands as client_commands
from runnotary.consumers import seed_commands, service_commands

__all__ = ["main"]


def _version() -> str:
    from runnotary import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="runnotary", description="ML experiment provenance and A/B evidence on Kafka and MLflow.")
    parser.add_argument("--version", action="version", version=f"runnotary {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    service_commands.add_parsers(sub)
    seed_commands.add_parsers(sub)
    client_commands.add_parsers(sub)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except service_commands.MissingExtra as exc:
        print(f"runnotary: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
