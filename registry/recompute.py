"""Recompute a metric from the artifact it cites: no number is real until it is reproduced.

Artifact formats (what a training job writes):

- ``per_query``: CSV with a header; a ``query_id`` column and one column per per-query metric.
- ``latency_log``: one request per line, ``<timestamp> <request_id> <latency_ms>``.
- ``ablation``: JSON ``{"metric": "ndcg@10", "full": x, "ablated": y}``; drop = (full - ablated) / full * 100.
- ``correlation``: JSON ``{"v1": [...], "v2": [...]}``; Pearson correlation of the two score vectors.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from runnotary.registry import classification, loadlogs
from runnotary.registry.catalog import MetricSpec, Recipe
from runnotary.registry.errors import ArtifactError, ArtifactTooLarge

__all__ = [
    "MAX_PARSE_BYTES",
    "PerQueryTable",
    "parse_artifact",
    "recompute",
    "recompute_from",
    "read_per_query",
    "read_per_query_table",
    "read_latency_log",
]

#: Default ceiling on a file parsed as CSV, latency log or JSON.
MAX_PARSE_BYTES = 64 << 20


@dataclass(frozen=True)
class PerQueryTable:
    """A per-query CSV read once; columns are checked and converted when first asked for, then kept.

    The table is shared by every reader of its content (the registry caches it by sha256), so the
    arrays it returns are read-only.
    """

    name: str
    cells: dict[str, list[str]]
    _columns: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def column(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(query_ids, values)`` of one column, sorted by query id (read-only arrays)."""
        known = self._columns.get(column)
        if known is not None:
            return known
        if "query_id" not in self.cells or column not in self.cells:
            raise ArtifactError(f"{self.name}: a per-query CSV needs columns 'query_id' and {column!r}")
        query_ids, order = self._sorted_ids
        out = _floats(self.name, column, self.cells[column])[order]
        if not np.all(np.isfinite(out)):
            raise ArtifactError(f"{self.name}: {column!r} holds NaN or inf")
        out.setflags(write=False)
        self._columns[column] = (query_ids, out)  # two threads may both compute it: same arrays either way
        return query_ids, out

    @cached_property
    def _sorted_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """The query ids in sorted order (read-only) and the order that sorts the rows; computed once."""
        query_ids = np.asarray(self.cells["query_id"])
        order = np.argsort(query_ids, kind="stable")
        query_ids = query_ids[order]
        if np.any(query_ids[1:] == query_ids[:-1]):
            raise ArtifactError(f"{self.name}: query_id values repeat")
        query_ids.setflags(write=False)
        return query_ids, order


def _floats(name: str, column: str, cells: list[str]) -> np.ndarray:
    """The cells as float64; the first that is not a number is named with its line."""
    try:
        return np.array(cells, dtype=np.float64)
    except (TypeError, ValueError):
        pass
    for line, cell in enumerate(cells, start=2):
        try:
            float(cell)
        except (TypeError, ValueError) as exc:
            raise ArtifactError(f"{name}:{line}: {column!r} is not a number: {cell[:40]!r}") from exc
    raise ArtifactError(f"{name}: {column!r} is not a column of numbers")


def _read_text(path: Path, max_bytes: int) -> str:
    """The file as UTF-8 text, refusing files over ``max_bytes`` before reading them."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArtifactTooLarge(f"{path.name}: {size} bytes, over the parse limit of {max_bytes}")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path.name}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise ArtifactError(f"{path.name}: cannot be read: {exc.strerror or exc.__class__.__name__}") from exc


def read_per_query_table(path: Path, max_bytes: int = MAX_PARSE_BYTES) -> PerQueryTable:
    """Parse a per-query CSV; every row must have exactly the header's cells."""
    text = _read_text(path, max_bytes)
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader, [])
        if not header:
            raise ArtifactError(f"{path.name}: empty CSV (no header)")
        if len(set(header)) != len(header):
            raise ArtifactError(f"{path.name}: the header repeats a column name")
        rows = [row for row in reader if row]  # blank lines are skipped
        if any(len(row) != len(header) for row in rows):
            _raise_ragged(path.name, text, len(header))
    except csv.Error as exc:
        raise ArtifactError(f"{path.name}: not a valid CSV: {exc}") from exc
    columns = [list(column) for column in zip(*rows)] if rows else [[] for _ in header]
    cells = dict(zip(header, columns))
    return PerQueryTable(path.name, cells)


def _raise_ragged(name: str, text: str, width: int) -> None:
    """Name the first row whose cell count differs from the header's, with its line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader, None)
    for row in reader:
        if row and len(row) != width:
            raise ArtifactError(f"{name}:{reader.line_num}: row has {len(row)} cells, the header has {width}")


def read_per_query(path: Path, column: str, max_bytes: int = MAX_PARSE_BYTES) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(query_ids, values)`` of one column of a per-query CSV, sorted by query id."""
    return read_per_query_table(path, max_bytes).column(column)


def read_latency_log(path: Path, max_bytes: int = MAX_PARSE_BYTES) -> np.ndarray:
    """Return the latencies (ms) of a request log as a float64 array: runnotary's own lines, or a
    k6 / vegeta / hey / JMeter per-request log (``registry.loadlogs``), converted to ms."""
    text = _read_text(path, max_bytes)
    if loadlogs.detect(text) != "runnotary":
        return loadlogs.latencies_ms(text, path.name)[1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below, by name
            values = np.loadtxt(io.StringIO(text), usecols=2, dtype=np.float64, ndmin=1)
    except (ValueError, IndexError, TypeError) as exc:
        raise ArtifactError(f"{path.name}: not a latency log ('<timestamp> <request_id> <latency_ms>' per line): {exc}") from exc
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ArtifactError(f"{path.name}: latency log is empty or holds NaN/inf")
    return values


def _read_json(path: Path, max_bytes: int = MAX_PARSE_BYTES) -> dict[str, Any]:
    text = _read_text(path, max_bytes)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ArtifactError(f"{path.name}: not valid JSON: {exc.__class__.__name__}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path.name}: expected a JSON object")
    return data


def _number(data: dict[str, Any], key: str, name: str) -> float:
    value = data.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ArtifactError(f"{name}: field {key!r} must be a number")
    return float(value)


def _numbers(data: dict[str, Any], key: str, name: str) -> np.ndarray:
    value = data.get(key)
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ArtifactError(f"{name}: {key!r} must be a list of numbers")
    out = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ArtifactError(f"{name}: {key!r} holds NaN or inf")
    return out


def _recipe(spec: MetricSpec | Recipe) -> Recipe:
    recipe = spec.recipes[0] if isinstance(spec, MetricSpec) else spec
    if recipe.extractor == "ranking":
        raise ValueError("a ranking recipe reads a run and its qrels: use registry.ranking")
    return recipe


def parse_artifact(
    spec: MetricSpec | Recipe, path: Path, max_bytes: int = MAX_PARSE_BYTES
) -> PerQueryTable | np.ndarray | dict[str, Any] | classification.Predictions:
    """Parse the file a recipe (a metric's default one) reproduces from: a table, a latency array or a JSON object."""
    spec = _recipe(spec)
    if spec.extractor == "classification":
        return classification.read_predictions(path, max_bytes)
    if spec.extractor == "column_mean":
        return read_per_query_table(path, max_bytes)
    if spec.extractor == "log_quantile":
        return read_latency_log(path, max_bytes)
    return _read_json(path, max_bytes)


def recompute_from(
    spec: MetricSpec | Recipe, parsed: PerQueryTable | np.ndarray | dict[str, Any] | classification.Predictions, name: str
) -> float:
    """Recompute a value from its parsed artifact (``name`` labels errors)."""
    spec = _recipe(spec)
    if spec.extractor == "classification":
        assert isinstance(parsed, classification.Predictions)
        return classification.statistic(parsed, str(spec.measure), positive_label=spec.positive_label,
                                        threshold=spec.threshold)
    if spec.extractor == "column_mean":
        assert isinstance(parsed, PerQueryTable)
        _, values = parsed.column(str(spec.argument))
        if values.size == 0:
            raise ArtifactError(f"{name}: no rows")
        return float(values.mean())
    if spec.extractor == "log_quantile":
        assert isinstance(parsed, np.ndarray)
        # One quantile definition everywhere: the inverted CDF (Hyndman-Fan type 1), as stats.quantile_delta.
        return float(np.quantile(parsed, float(spec.argument or 0.0), method="inverted_cdf"))
    assert isinstance(parsed, dict)
    if spec.extractor == "ablation_drop_pct":
        full, ablated = _number(parsed, "full", name), _number(parsed, "ablated", name)
        if full == 0:
            raise ArtifactError(f"{name}: 'full' is 0, the drop is undefined")
        return (full - ablated) / full * 100.0
    if spec.extractor == "pearson":
        v1, v2 = _numbers(parsed, "v1", name), _numbers(parsed, "v2", name)
        if v1.shape != v2.shape or v1.size < 2:
            raise ArtifactError(f"{name}: 'v1' and 'v2' must be number lists of one length >= 2")
        if v1.std() == 0 or v2.std() == 0:
            raise ArtifactError(f"{name}: a constant score vector has no correlation")
        return float(np.corrcoef(v1, v2)[0, 1])
    raise AssertionError(f"unhandled extractor {spec.extractor}")


def recompute(spec: MetricSpec | Recipe, path: Path, max_bytes: int = MAX_PARSE_BYTES) -> float:
    """Recompute ``spec``'s value from the artifact at ``path`` (already verified and local)."""
    return recompute_from(spec, parse_artifact(spec, path, max_bytes), path.name)
