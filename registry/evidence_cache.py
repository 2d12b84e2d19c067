"""The evidence cache: verified local copies of runs' artifacts, and their parsed forms, keyed by content.

A registration links the copies it hashed into ``cache_dir/<run id>/evidence/`` (``keep``), so the
service never downloads what it hashed; any other copy is fetched with one GET and verified
against its recorded sha256. The verified copies are bounded (``max_cache_bytes``: the oldest runs'
copies are dropped first, and fetched again if asked for). A baseline's per-query table, latency log
or predictions are parsed once (``ParsedCache``, keyed by the file's verified digest, so a hit can
never be stale) and reused for every candidate paired with it.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import sys
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from runnotary.digests import sha256_file
from runnotary.registry.artifacts import ArtifactRecord
from runnotary.registry.catalog import Recipe, spec_for
from runnotary.registry.classification import MEAN_MEASURES, Predictions, per_example, read_predictions
from runnotary.registry.errors import ArtifactError
from runnotary.registry.ranking import Judged, PerQuery, evaluate, judge
from runnotary.registry.ranking_files import read_qrels, read_run
from runnotary.registry.recompute import PerQueryTable, read_latency_log, read_per_query_table
from runnotary.registry.records import EVIDENCE_DIR, PROVENANCE_PATH, MetricRecord, Registration, Staged

if TYPE_CHECKING:
    from runnotary.registry.store import TrackingStore

__all__ = ["EvidenceCache", "ParsedCache", "footprint", "frozen", "judged", "recipe_values"]

T = TypeVar("T")


class ParsedCache:
    """Parsed files, least recently used evicted first; thread-safe.

    Bounded by ``max_bytes``, the parsed values' estimated memory (``footprint``), and by ``max_entries``.
    A value larger than ``max_bytes`` on its own is returned but not kept.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 512 << 20) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError(f"max_entries and max_bytes must be at least 1, not {max_entries} and {max_bytes}")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[str, str], tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get_or_parse(self, kind: str, sha256: str, parse: Callable[[], T]) -> T:
        """The cached value of ``(kind, sha256)``, or ``parse()``'s result, stored."""
        key = (kind, sha256)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key][0]  # type: ignore[return-value]
            self.misses += 1
        value = parse()  # outside the lock: parsing may take a while; a racing parse just stores the same value
        size = footprint(value)
        if size > self.max_bytes:
            return value
        with self._lock:
            if key in self._items:
                self.bytes -= self._items[key][1]
            self._items[key] = (value, size)
            self._items.move_to_end(key)
            self.bytes += size
            while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
                self.bytes -= self._items.popitem(last=False)[1][1]
        return value

    def __len__(self) -> int:
        return len(self._items)


_SAMPLE = 64  # a long container is estimated from its first items
_DEPTH = 16  # below this depth an item counts its own object only


def footprint(value: object, depth: int = 0) -> int:
    """The bytes a parsed value holds, estimated: arrays' buffers, strings, and the items of containers
    and dataclasses (a long container by its first items; what a value computes later, such as a table's
    converted columns, is not counted)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    own = sys.getsizeof(value)
    if depth >= _DEPTH:
        return own
    if isinstance(value, dict):
        pairs = list(itertools.islice(value.items(), _SAMPLE))
        sampled = sum(footprint(k, depth + 1) + footprint(v, depth + 1) for k, v in pairs)
        return own + sampled * len(value) // max(len(pairs), 1)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(itertools.islice(value, _SAMPLE))
        return own + sum(footprint(item, depth + 1) for item in items) * len(value) // max(len(items), 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return own + sum(footprint(getattr(value, f.name, None), depth + 1) for f in dataclasses.fields(value))
    return own


def frozen(value: Any) -> Any:
    """``value`` made read-only when it is an array: a cached value is shared by every reader."""
    if isinstance(value, np.ndarray):
        value.setflags(write=False)
    return value


def judged(parsed: ParsedCache, run: ArtifactRecord, qrels: ArtifactRecord, local: Callable[[str], Path],
           max_bytes: int) -> Judged:
    """A run ordered and joined with its qrels, built once per pair of contents (``local`` finds each file)."""
    def build() -> Judged:
        return judge(read_run(local(run.path), max_bytes), read_qrels(local(qrels.path), max_bytes))
    return parsed.get_or_parse("judged", f"{run.sha256}:{qrels.sha256}", build)


def recipe_values(judged: Judged, recipe: Recipe) -> PerQuery:
    """The per-query values of a ranking recipe's measure."""
    return evaluate(judged, recipe.measure, recipe.k, relevance_level=recipe.relevance_level,  # type: ignore[arg-type]
                    complete=recipe.complete)


@dataclass
class EvidenceCache:
    """Verified copies of runs' evidence under ``cache_dir``, fetched through ``store`` when absent."""

    store: TrackingStore
    cache_dir: Path
    max_parse_bytes: int
    max_cache_bytes: int = 2 << 30
    parsed: ParsedCache = field(default_factory=ParsedCache)
    _verified: dict[Path, tuple[int, int, str]] = field(default_factory=dict, init=False, repr=False)
    _kept: OrderedDict[str, int] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def keep(self, registration: Registration, staged: Staged) -> None:
        """Link the verified copies into the run's cache folder: ``fetch`` then never downloads them.

        Linked, not moved: the staged copies stay for a retry of the write until the registration ends.
        """
        run_dir = self.cache_dir / registration.run_id
        for record in registration.artifacts:
            target = run_dir / EVIDENCE_DIR / record.path
            _link(staged.folder / EVIDENCE_DIR / record.path, target)
            info = target.stat()
            with self._lock:
                self._verified[target] = (info.st_size, info.st_mtime_ns, record.sha256)
        _link(staged.folder / PROVENANCE_PATH, run_dir / PROVENANCE_PATH)
        kept = sum(a.size for a in registration.artifacts)
        self.store.remember_uri(registration.run_id, registration.artifact_uri or "")
        with self._lock:
            self._kept[registration.run_id] = kept
            self._kept.move_to_end(registration.run_id)
            dropped = []
            while sum(self._kept.values()) > self.max_cache_bytes and len(self._kept) > 1:
                dropped.append(self._kept.popitem(last=False)[0])
            for run_id in dropped:
                folder = self.cache_dir / run_id
                self._verified = {p: v for p, v in self._verified.items() if folder not in p.parents}
        for run_id in dropped:
            shutil.rmtree(self.cache_dir / run_id / EVIDENCE_DIR, ignore_errors=True)

    def fetch(self, registration: Registration, path: str) -> Path:
        """A local copy of one of the run's evidence artifacts, verified against its recorded hash.

        The copy the service hashed at registration is used as is; otherwise the file is
        downloaded with one GET, verified, and kept.
        """
        record = _record(registration, path)
        if registration.artifact_uri:
            self.store.remember_uri(registration.run_id, registration.artifact_uri)
        local = self.cache_dir / registration.run_id / EVIDENCE_DIR / record.path
        if self._verified_copy(local, record.sha256):
            return local
        local = self.store.download(registration.run_id, f"{EVIDENCE_DIR}/{record.path}", cache=False, target=local)
        digest, _ = sha256_file(local)
        if digest != record.sha256:
            local.unlink(missing_ok=True)
            raise ArtifactError(f"{path} of run {registration.run_id} no longer hashes to {record.sha256[:12]}…")
        info = local.stat()
        with self._lock:
            self._verified[local] = (info.st_size, info.st_mtime_ns, digest)
        return local

    def per_query_table(self, registration: Registration, path: str) -> PerQueryTable:
        """The run's per-query CSV ``path``, parsed once per content and verified (shared: do not mutate)."""
        record = _record(registration, path)
        return self.parsed.get_or_parse(
            "per_query", record.sha256, lambda: read_per_query_table(self.fetch(registration, path), self.max_parse_bytes)
        )

    def latency_log(self, registration: Registration, path: str) -> np.ndarray:
        """The run's latency log ``path`` as a read-only float64 array, parsed once per content and verified."""
        record = _record(registration, path)
        return self.parsed.get_or_parse(
            "latency_log", record.sha256,
            lambda: frozen(read_latency_log(self.fetch(registration, path), self.max_parse_bytes)),
        )

    def per_item(self, registration: Registration, record: MetricRecord) -> tuple[np.ndarray, np.ndarray]:
        """``(item ids, values)`` the paired statistics compare for a metric reproduced from raw logs: the
        per-query values of a ranking recipe, or the per-example values of a classification mean."""
        recipe = record.recipe or {}
        if recipe.get("extractor") == "ranking":
            ranked = self.ranked(registration, record)
            return ranked.query_ids, ranked.values
        if recipe.get("extractor") == "classification" and recipe.get("measure") in MEAN_MEASURES:
            data = self.predictions(registration, record)
            return data.example_ids, per_example(data, str(recipe["measure"]), positive_label=str(recipe["positive_label"]),
                                                 threshold=float(recipe["threshold"]))
        raise ArtifactError(f"{record.name} of run {registration.run_id} has no per-item values from raw logs")

    def predictions(self, registration: Registration, record: MetricRecord) -> Predictions:
        """The predictions file a classification metric was reproduced from, verified and parsed once."""
        source = _record(registration, record.source)
        return self.parsed.get_or_parse("predictions", source.sha256, lambda: read_predictions(
            self.fetch(registration, record.source), self.max_parse_bytes))

    def ranked(self, registration: Registration, record: MetricRecord) -> PerQuery:
        """The per-query values of a metric reproduced from a run and qrels, from the verified files."""
        run_record = _record(registration, record.source)
        recipe = spec_for(record.name).recipe_for(run_record.kind)
        qrels = (record.recipe or {}).get("qrels")
        if recipe is None or recipe.extractor != "ranking" or qrels is None:
            raise ArtifactError(f"{record.name} of run {registration.run_id} was not reproduced from a run and qrels")
        qrels_record = _record(registration, qrels)
        pair = judged(self.parsed, run_record, qrels_record, lambda p: self.fetch(registration, p), self.max_parse_bytes)
        return recipe_values(pair, recipe)

    def _verified_copy(self, local: Path, sha256: str) -> bool:
        try:
            info = local.stat()
        except OSError:
            return False
        with self._lock:
            known = self._verified.get(local)
        if known == (info.st_size, info.st_mtime_ns, sha256):
            return True
        digest, _ = sha256_file(local)
        if digest != sha256:
            return False
        with self._lock:
            self._verified[local] = (info.st_size, info.st_mtime_ns, sha256)
        return True


def _record(registration: Registration, path: str) -> ArtifactRecord:
    record = registration.artifact(path)
    if record is None:
        raise ArtifactError(f"run {registration.run_id} has no artifact {path!r}")
    return record


def _link(source: Path, target: Path) -> None:
    """``target`` becomes the same file as ``source`` (a hard link; a copy where links are refused), atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    try:
        try:
            os.link(source, partial)
        except OSError:
            shutil.copy2(source, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
