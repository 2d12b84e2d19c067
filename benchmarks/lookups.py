"""Lookup latency as the store grows: fill MLflow's PostgreSQL with runs shaped like the service's own.

The fill copies one run the service registered (its runs row, every tag, param and metric row) with
SQL, changing what differs between runs: run id, event id, candidate id, role, dataset hash, seed
family, name, start time. Runs come in groups of one baseline and five candidates per seed family; ten
dataset hashes are shared by all groups. The timed calls are the ``search_runs`` filters of
``registry/store.py`` and ``registry/pairing.py``, over HTTP through ``MlflowClient`` as the service
makes them: the event-id lookup over every experiment and scoped to the run's experiment (a miss: a
new event), and the baseline and candidates lookups of pairing (hits).
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
import hashlib
from pathlib import Path

__all__ = ["INDEX_SQL", "LookupFigures", "count_registered", "fill_to", "time_lookups", "tag_index"]

TAG = "runnotary."
INDEX_NAME = "runnotary_tags_lookup"
INDEX_SQL = (Path(__file__).resolve().parents[1] / "deploy" / "postgresql" / "runnotary_tag_index.sql")

_TAG_VALUE = f"""CASE t.key
    WHEN '{TAG}event_id' THEN md5('runnotary-fill-event-' || g)::uuid::text
    WHEN '{TAG}candidate_id' THEN 'fill-' || g
    WHEN 'mlflow.runName' THEN 'fill-' || g
    WHEN '{TAG}role' THEN CASE WHEN g % 6 = 0 THEN 'baseline' ELSE 'candidate' END
    WHEN '{TAG}dataset_sha256' THEN encode(sha256(('fill-dataset-' || (g / 6) % 10)::bytea), 'hex')
    WHEN '{TAG}seed_family' THEN 'fill-family-' || (g / 6)
    WHEN '{TAG}seed' THEN (g % 6)::text
    WHEN '{TAG}baseline_run' THEN md5('runnotary-fill-run-' || (g - g % 6))
    ELSE t.value END"""
_RUN_UUID = "md5('runnotary-fill-run-' || g)"


def _columns(cur: object, table: str) -> list[str]:
    cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = 'public' "  # type: ignore[attr-defined]
                "ORDER BY ordinal_position", (table,))
    return [r[0] for r in cur.fetchall()]  # type: ignore[attr-defined]


def _copy(cur: object, table: str, overrides: dict[str, str], span: dict[str, object], where: str = "") -> None:
    """INSERT one row per g in ``span`` for every row of the template run in ``table``, some columns overridden."""
    cols = _columns(cur, table)
    exprs = ", ".join(overrides.get(c, f"t.{c}") for c in cols).replace("%", "%%")
    where = where.replace("%", "%%")
    cur.execute(  # type: ignore[attr-defined]
        f"INSERT INTO {table} ({', '.join(cols)}) SELECT {exprs} FROM {table} t, generate_series(%(a)s::integer, %(b)s::integer) g "
        f"WHERE t.run_uuid = %(tpl)s {where}",
        span,
    )


def count_registered(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(f"SELECT count(*) FROM tags WHERE key = '{TAG}registered' AND value = 'true'").fetchone()
    return int(row[0]) if row else 0


def fill_to(dsn: str, template_run: str, experiment_id: str, target: int) -> tuple[int, float]:
    """Add copies of ``template_run`` to ``experiment_id`` until ``target`` runs are registered.

    Returns the number of filled runs in the store and the seconds the fill took."""
    import psycopg

    started = time.perf_counter()
    have = count_registered(dsn)
    with psycopg.connect(dsn) as conn:
        first = int(conn.execute("SELECT count(*) FROM runs WHERE name LIKE 'fill-%'").fetchone()[0])  # type: ignore[index]
    if have >= target:
        return first, 0.0
    with psycopg.connect(dsn) as conn:
        span = {"a": first, "b": first + target - have - 1, "tpl": template_run}
        with conn.cursor() as cur:
            _copy(cur, "runs", {
                "run_uuid": _RUN_UUID, "name": "'fill-' || g", "experiment_id": f"'{int(experiment_id)}'::integer",
                "start_time": "t.start_time - 1000 * g", "end_time": "t.end_time - 1000 * g",
                "artifact_uri": f"replace(t.artifact_uri, t.run_uuid, {_RUN_UUID})",
            }, span)
            _copy(cur, "tags", {"run_uuid": _RUN_UUID, "value": _TAG_VALUE}, span,
                  where=f"AND NOT (g % 6 = 0 AND t.key IN ('{TAG}baseline_run', '{TAG}gate_overall'))")
            for table in ("params", "latest_metrics", "metrics"):
                _copy(cur, table, {"run_uuid": _RUN_UUID}, span)
        conn.commit()
    # A store in steady state is vacuumed and checkpointed: left to autovacuum and the checkpointer, the
    # vacuum of ~30 tag rows per filled run and the write-out of the fill start during the timings and
    # take the CPU and disk they measure.
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in ("runs", "tags", "params", "latest_metrics", "metrics"):
            conn.execute(f"VACUUM (ANALYZE) {table}")
        conn.execute("CHECKPOINT")
    return first + target - have, time.perf_counter() - started


def tag_index(dsn: str, present: bool) -> None:
    """Create (from deploy/postgresql/runnotary_tag_index.sql) or drop the partial index on lookup tags."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        if present:
            conn.execute(INDEX_SQL.read_text())  # one statement: CONCURRENTLY refuses a transaction block
            conn.execute("ANALYZE tags")
        else:
            conn.execute(f"DROP INDEX IF EXISTS {INDEX_NAME}")


@dataclass(frozen=True)
class LookupFigures:
    """p50 / p95 in ms of each lookup."""

    event_all: tuple[float, float]  # event id, every experiment (before ``TrackingStore.event_runs`` was scoped to one)
    event_scoped: tuple[float, float]  # event id, the run's experiment only
    baseline: tuple[float, float]  # pairing.find_baseline
    candidates: tuple[float, float]  # pairing.candidates_for


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * s for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def _timed(call: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(3):
        call()
    walls = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        walls.append(time.perf_counter() - start)
    return _quantiles(walls)


def time_lookups(client: object, experiment_id: str, n: int, families: int, seed: int = 0) -> LookupFigures:
    """Time the registry's search filters ``n`` times each; pairing keys are drawn from ``families`` groups."""
    rng = random.Random(seed)
    search = client.search_runs  # type: ignore[attr-defined]
    all_ids = [e.experiment_id for e in client.search_experiments()]  # type: ignore[attr-defined]

    def by_event(ids: list[str]) -> Callable[[], object]:
        return lambda: search(ids, f"tags.`{TAG}event_id` = '{uuid.uuid4()}'", max_results=1)

    def pairing(role: str, max_results: int) -> Callable[[], object]:
        def call() -> object:
            group = rng.randrange(families)
            dataset = hashlib.sha256(f"fill-dataset-{group % 10}".encode()).hexdigest()
            clauses = [f"tags.`{TAG}registered` = 'true'", f"tags.`{TAG}dataset_sha256` = '{dataset}'",
                       f"tags.`{TAG}seed_family` = 'fill-family-{group}'", f"tags.`{TAG}role` = '{role}'"]
            found = search([experiment_id], " AND ".join(clauses), max_results=max_results,
                           order_by=["attributes.start_time DESC"])
            if not found:
                raise RuntimeError(f"the fill has no {role} of fill-family-{group}: the lookup would time a miss")
            return found
        return call

    return LookupFigures(
        _timed(by_event(all_ids), n), _timed(by_event([experiment_id]), n),
        _timed(pairing("baseline", 1), n), _timed(pairing("candidate", 1000), n),
    )
