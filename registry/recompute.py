"""Recompute a metric from the artifact it cites: no number is real until it is reproduced.

Artifact formats (what a training job writes):

- ``per_query``: CSV with a header; a ``query_id`` column and one column per per-query metric.
- ``latency_log``: one request per line, ``<timestamp> <request_id> <latency_ms>``.
- ``ablation``: JSON ``{"metric": "ndcg@10", "full": x, "ablated": y}``; drop = (full - ablated) / full * 100.
- ``correlation``: JSON ``{"v1": [...], "v2": [...]}``; Pearson correlation of the two score vectors.
"""

from __future__ import annotations

import csv
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runnotary.registry.catalog import MetricSpec
from runnotary.registry.errors import ArtifactError

__all__ = ["PerQueryTable", "recompute", "read_per_query", "read_per_query_table", "read_latency_log"]


@dataclass(frozen=True)
class PerQueryTable:
    """A per-query CSV read once; columns are checked and converted when asked for."""

    name: str
    cells: dict[str, list[str]]

    def column(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(query_ids, values)`` of one column, sorted by query id."""
        if "query_id" not in self.cells or column not in self.cells:
            raise ArtifactError(f"{self.name}: a per-query CSV needs columns 'query_id' and {column!r}")
        values: list[float] = []
        for line, cell in enumerate(self.cells[column], start=2):
            try:
                values.append(float(cell))
            except (TypeError, ValueError) as exc:
                raise ArtifactError(f"{self.name}:{line}: {column!r} is not a number: {cell!r}") from exc
        query_ids = np.asarray(self.cells["query_id"])
        order = np.argsort(query_ids, kind="stable")
        out = np.asarray(values, dtype=np.float64)[order]
        if not np.all(np.isfinite(out)):
            raise ArtifactError(f"{self.name}: {column!r} holds NaN or inf")
        if len(np.unique(query_ids)) != len(query_ids):
            raise ArtifactError(f"{self.name}: query_id values repeat")
        return query_ids[order], out


def read_per_query_table(path: Path) -> PerQueryTable:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        cells: dict[str, list[str]] = {name: [] for name in header}
        for row in reader:
            for name, cell in zip(header, row):
                cells[name].append(cell)
    return PerQueryTable(path.name, cells)


def read_per_query(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(query_ids, values)`` of one column of a per-query CSV, sorted by query id."""
    return read_per_query_table(path).column(column)


def read_latency_log(path: Path) -> np.ndarray:
    """Return the latencies (ms) of a request log as a float64 array."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # an empty file is reported below, by name
            values = np.loadtxt(path, usecols=2, dtype=np.float64, ndmin=1)
    except (ValueError, IndexError) as exc:
        raise ArtifactError(f"{path.name}: not a latency log ('<timestamp> <request_id> <latency_ms>' per line): {exc}") from exc
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise ArtifactError(f"{path.name}: latency log is empty or holds NaN/inf")
    return values


def _read_json(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path.name}: not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ArtifactError(f"{path.name}: expected a JSON object")
    return data


def _number(data: dict[str, object], key: str, path: Path) -> float:
    value = data.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ArtifactError(f"{path.name}: field {key!r} must be a number")
    return float(value)


def recompute(spec: MetricSpec, path: Path) -> float:
    """Recompute ``spec``'s value from the artifact at ``path`` (already verified and local)."""
    if spec.extractor == "column_mean":
        _, values = read_per_query(path, str(spec.argument))
        if values.size == 0:
            raise ArtifactError(f"{path.name}: no rows")
        return float(values.mean())
    if spec.extractor == "log_quantile":
        # One quantile definition everywhere: the inverted CDF (Hyndman-Fan type 1), as stats.quantile_delta.
        return float(np.quantile(read_latency_log(path), float(spec.argument or 0.0), method="inverted_cdf"))
    data = _read_json(path)
    if spec.extractor == "ablation_drop_pct":
        full, ablated = _number(data, "full", path), _number(data, "ablated", path)
        if full == 0:
            raise ArtifactError(f"{path.name}: 'full' is 0, the drop is undefined")
        return (full - ablated) / full * 100.0
    if spec.extractor == "pearson":
        v1 = np.asarray(data.get("v1"), dtype=np.float64)
        v2 = np.asarray(data.get("v2"), dtype=np.float64)
        if v1.ndim != 1 or v1.shape != v2.shape or v1.size < 2:
            raise ArtifactError(f"{path.name}: 'v1' and 'v2' must be number lists of one length >= 2")
        if v1.std() == 0 or v2.std() == 0:
            raise ArtifactError(f"{path.name}: a constant score vector has no correlation")
        return float(np.corrcoef(v1, v2)[0, 1])
    raise AssertionError(f"unhandled extractor {spec.extractor}")
