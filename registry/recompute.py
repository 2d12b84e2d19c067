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
from pathlib import Path

import numpy as np

from registry.catalog import MetricSpec
from registry.errors import ArtifactError

__all__ = ["recompute", "read_per_query", "read_latency_log"]


def read_per_query(path: Path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(query_ids, values)`` of one column of a per-query CSV, sorted by query id."""
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or "query_id" not in reader.fieldnames or column not in reader.fieldnames:
            raise ArtifactError(f"{path.name}: a per-query CSV needs columns 'query_id' and {column!r}")
        ids: list[str] = []
        values: list[float] = []
        for line, row in enumerate(reader, start=2):
            try:
                values.append(float(row[column]))
            except (TypeError, ValueError) as exc:
                raise ArtifactError(f"{path.name}:{line}: {column!r} is not a number: {row[column]!r}") from exc
            ids.append(row["query_id"])
    query_ids = np.asarray(ids)
    order = np.argsort(query_ids, kind="stable")
    out = np.asarray(values, dtype=np.float64)[order]
    if not np.all(np.isfinite(out)):
        raise ArtifactError(f"{path.name}: {column!r} holds NaN or inf")
    if len(np.unique(query_ids)) != len(query_ids):
        raise ArtifactError(f"{path.name}: query_id values repeat")
    return query_ids[order], out


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
        return float(np.quantile(read_latency_log(path), float(spec.argument or 0.0)))
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
