"""The end-to-end benchmark's runs: groups of one baseline and five candidates, each run with its own files.

Files come from ``runnotary.registry.synthetic.generate`` (one call writes a baseline and two candidates of
one query set). A group takes two calls: the second call's baseline becomes a sixth candidate, so a group
is 1 baseline + 5 candidates, every run with files of its own (nothing a cache keyed by content could
share). Each group gets a seed family of its own, hence a pairing key (and Kafka message key) of its own.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runnotary.registry.models import RunCreated, pairing_key
from runnotary.registry.synthetic import generate

__all__ = ["GROUP", "Run", "Workload", "make_workload", "message_key"]

GROUP = 6  # 1 baseline + 5 candidates share a pairing key


@dataclass(frozen=True)
class Run:
    """One run's event template: files under the workload root, identity filled in per phase."""

    group: int
    index: int  # 0 is the group's baseline
    data: dict[str, Any]  # RunCreated as JSON, paths relative to the workload root

    def event(self, phase: str) -> RunCreated:
        """The run's event for one phase: own experiment, seed family and candidate id, same files."""
        family = f"bench-{phase}-g{self.group:04d}"
        name = f"{family}-{'baseline' if self.index == 0 else f'cand{self.index}'}"
        data = {
            **self.data,
            "experiment": f"/runnotary-bench/{phase}",
            "run_name": name,
            "candidate_id": name,
            "role": "baseline" if self.index == 0 else "candidate",
            "seeds": {**self.data["seeds"], "family": family, "value": 1000 * self.group + self.index},
        }
        return RunCreated.model_validate(data)


@dataclass(frozen=True)
class Workload:
    root: Path  # RUNNOTARY_ARTIFACT_ROOT
    runs: tuple[Run, ...]  # group by group, the baseline first

    def events(self, phase: str, start: int = 0, count: int | None = None) -> list[RunCreated]:
        chosen = self.runs[start : None if count is None else start + count]
        return [run.event(phase) for run in chosen]


def _prefixed(event: RunCreated, prefix: str) -> dict[str, Any]:
    data = event.model_dump(mode="json")
    for artifact in data["artifacts"]:
        artifact["path"] = f"{prefix}/{artifact['path']}"
    for metric in data["metrics"]:
        metric["source"] = f"{prefix}/{metric['source']}"
    return data


def _write_half(root: Path, group: int, half: int, n_queries: int, n_requests: int) -> list[dict[str, Any]]:
    prefix = f"g{group:04d}-{half}"
    events = generate(root / prefix, n_queries=n_queries, n_requests=n_requests, seed=1 + 2 * group + half)
    return [_prefixed(e, prefix) for e in events]  # baseline, cand-a, cand-b


def make_workload(root: Path, runs: int, *, n_queries: int = 5000, n_requests: int = 20000, workers: int = 2) -> Workload:
    """Write ``runs`` runs' files (rounded up to whole groups) under ``root``."""
    groups = -(-runs // GROUP)
    jobs = [(root, g, h, n_queries, n_requests) for g in range(groups) for h in (0, 1)]
    with ProcessPoolExecutor(workers) as pool:
        halves = list(pool.map(_write_half, *zip(*jobs)))
    out: list[Run] = []
    for g in range(groups):
        first, second = halves[2 * g], halves[2 * g + 1]
        for index, data in enumerate([first[0], first[1], first[2], second[0], second[1], second[2]]):
            out.append(Run(g, index, data))
    return Workload(root, tuple(out[:runs]))


def message_key(event: RunCreated) -> bytes:
    return pairing_key(event).encode()
