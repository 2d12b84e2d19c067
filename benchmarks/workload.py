"""The end-to-end benchmark's runs: groups of one baseline and five candidates, each run with its own files.

Files come from ``runnotary.registry.synthetic.generate`` (one call writes a baseline and two candidates of
one query set). A group takes two calls: the second call's baseline becomes a sixth candidate, so a group
is 1 baseline + 5 candidates, every run with files of its own (nothing a cache keyed by content could
share). Each group gets a seed family of its own, hence a pairing key (and Kafka message key) of its own.

Two workloads: ``csv``, the runs as ``generate`` writes them (``ndcg@10`` and ``compliance@1`` from the job's
per-query CSV); ``trec``, where each run carries a TREC run of ``n_queries`` queries x 100 documents and the
group's qrels instead of the CSV, and claims ``ndcg@10`` and ``map`` from them (reproduced per query by the
ranking recipe, as trec_eval computes them).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from runnotary.contract import RunCreated, pairing_key
from runnotary.registry import ranking, ranking_files
from runnotary.registry.artifacts import sha256_file
from runnotary.registry.synthetic import generate

__all__ = ["GROUP", "WORKLOADS", "Run", "Workload", "make_workload", "message_key"]

GROUP = 6  # 1 baseline + 5 candidates share a pairing key
WORKLOADS = ("csv", "trec")
_DOCS = 100  # documents ranked per query in the trec workload


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


def _write_half(root: Path, group: int, half: int, n_queries: int, n_requests: int, workload: str) -> list[dict[str, Any]]:
    prefix = f"g{group:04d}-{half}"
    events = generate(root / prefix, n_queries=n_queries, n_requests=n_requests, seed=1 + 2 * group + half)
    data = [_prefixed(e, prefix) for e in events]  # baseline, cand-a, cand-b
    if workload == "trec":
        grades = np.random.default_rng([group]).random((n_queries, _DOCS))  # the group's judgments, shared by its runs
        grades = np.where(grades < 0.3, np.floor(grades / 0.3 * 5).clip(0, 4) - 1, -1).clip(-1, 3).astype(np.int64)
        data = [_trec_only(root, d, grades, np.random.default_rng([group, half, i])) for i, d in enumerate(data)]
    return data


def _trec_only(root: Path, data: dict[str, Any], grades: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """The run with a TREC run and qrels in place of its per-query CSV, claiming ndcg@10 and map from them."""
    run_path = next(a["path"] for a in data["artifacts"] if a["kind"] == "trec_run")
    qrels_path = next(a["path"] for a in data["artifacts"] if a["kind"] == "trec_qrels")
    n_queries, n_docs = grades.shape
    scores = np.round(np.clip(grades, 0, None) * rng.uniform(0.6, 1.0) + rng.normal(size=grades.shape), 3)
    order = np.argsort(-scores, axis=1, kind="stable")
    qids = [f"q{q:05d}" for q in range(n_queries)]
    (root / run_path).write_text("".join(
        f"{qids[q]} Q0 q{q}-d{d} {rank} {scores[q, d]:.3f} bench\n"
        for q in range(n_queries) for rank, d in enumerate(order[q].tolist(), start=1)))
    (root / qrels_path).write_text("".join(
        f"{qids[q]} 0 q{q}-d{d} {grades[q, d]}\n" for q, d in zip(*np.nonzero(grades >= 0))))
    judged = ranking.judge(ranking_files.read_run(root / run_path, 1 << 30), ranking_files.read_qrels(root / qrels_path, 1 << 30))
    claims = {"ndcg@10": ranking.evaluate(judged, "ndcg", 10).mean, "map": ranking.evaluate(judged, "map").mean}
    data["metrics"] = [m for m in data["metrics"] if not m["source"].endswith("per_query.csv") and m["name"] != "map"] + [
        {"uuid": str(uuid.uuid4()), "name": name, "value": value, "source": run_path} for name, value in claims.items()]
    data["artifacts"] = [a for a in data["artifacts"] if a["kind"] != "per_query"]
    for artifact in data["artifacts"]:
        if artifact["path"] in (run_path, qrels_path):
            artifact["sha256"] = sha256_file(root / artifact["path"])[0]
    return data


def make_workload(root: Path, runs: int, *, n_queries: int = 5000, n_requests: int = 20000, workers: int = 2,
                  workload: Literal["csv", "trec"] = "csv") -> Workload:
    """Write ``runs`` runs' files (rounded up to whole groups) under ``root``; ``workload`` as the module says."""
    groups = -(-runs // GROUP)
    jobs = [(root, g, h, n_queries, n_requests, workload) for g in range(groups) for h in (0, 1)]
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
