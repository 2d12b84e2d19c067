"""Classification metrics reproduced from per-example predictions and labels.

A ``predictions`` artifact is a CSV with a header, or JSON lines, one example each:
``example_id``, ``label``, and ``prediction`` (the predicted label) and/or ``score`` (the predicted
probability of the positive class, binary tasks). Example ids must not repeat.

- ``accuracy`` / ``error_rate``: mean of (prediction == label) / its complement; without a
  ``prediction`` column the prediction is ``score >= threshold`` (binary);
- ``log_loss``: mean of −[y·log p + (1−y)·log(1−p)], p clipped to [eps, 1−eps] (float64 eps, as
  scikit-learn); ``brier``: mean of (p − y)²; y = 1 for the positive label;
- ``f1`` (binary, the positive label) and ``roc_auc`` (binary, from the scores; ties count half):
  statistics of the whole set, not means of per-example values.

The per-example values of the four mean measures are what the paired statistics compare, paired by
example id; F1 and ROC AUC are compared by a paired bootstrap that resamples the examples both runs
scored and recomputes the statistic on each resample (``stats.paired_set_bootstrap``), from the
0/1 labels and the predictions or scores :func:`set_inputs` lays out.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.stats import rankdata

from runnotary.registry.errors import ArtifactError, ArtifactTooLarge

__all__ = ["MEAN_MEASURES", "SET_MEASURES", "ClassificationMeasure", "Predictions", "per_example", "read_predictions",
           "set_inputs", "statistic"]

ClassificationMeasure = Literal["accuracy", "error_rate", "log_loss", "brier", "f1", "roc_auc"]
MEAN_MEASURES: tuple[str, ...] = ("accuracy", "error_rate", "log_loss", "brier")
#: Statistics of the whole set: compared by resampling examples and recomputing them.
SET_MEASURES: tuple[str, ...] = ("f1", "roc_auc")
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Predictions:
    """One row per example, sorted by example id."""

    name: str
    example_ids: np.ndarray  # str
    labels: np.ndarray  # str
    predictions: np.ndarray | None  # str
    scores: np.ndarray | None  # float64


def read_predictions(path: Path, max_bytes: int) -> Predictions:
    """Parse a predictions CSV or JSONL (recognised from its first character)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ArtifactTooLarge(f"{path.name}: {size} bytes, over the parse limit of {max_bytes}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path.name}: not UTF-8 text") from exc
    except OSError as exc:
        raise ArtifactError(f"{path.name}: cannot be read: {exc.strerror or exc.__class__.__name__}") from exc
    columns = _jsonl(text, path.name) if text.lstrip().startswith("{") else _csv(text, path.name)
    return _validate(columns, path.name)


def _csv(text: str, name: str) -> dict[str, list[str]]:
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as exc:
        raise ArtifactError(f"{name}: not a valid CSV: {exc}") from exc
    if not rows:
        raise ArtifactError(f"{name}: empty predictions file")
    header = rows[0]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise ArtifactError(f"{name}:{number}: row has {len(row)} cells, the header has {len(header)}")
    return {column: [row[i] for row in rows[1:]] for i, column in enumerate(header)}


def _jsonl(text: str, name: str) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    records = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ArtifactError(f"{name}:{number}: not a JSON object") from exc
        if not isinstance(record, dict):
            raise ArtifactError(f"{name}:{number}: not a JSON object")
        for key in set(columns) | set(record):
            if key in columns and key not in record or key not in columns and records:
                raise ArtifactError(f"{name}:{number}: every line needs the same fields ({key!r} differs)")
            columns.setdefault(key, []).append("" if record.get(key) is None else str(record[key]))
        records += 1
    return columns


def _validate(columns: dict[str, list[str]], name: str) -> Predictions:
    missing = [c for c in ("example_id", "label") if c not in columns]
    if missing or not ("prediction" in columns or "score" in columns):
        raise ArtifactError(f"{name}: a predictions file needs 'example_id', 'label' and 'prediction' and/or 'score'")
    ids = np.asarray(columns["example_id"], dtype=str)
    if ids.size == 0:
        raise ArtifactError(f"{name}: no examples")
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    if np.any(ids[1:] == ids[:-1]):
        raise ArtifactError(f"{name}: example_id {str(ids[1:][ids[1:] == ids[:-1]][0])!r} repeats")
    scores = None
    if "score" in columns:
        try:
            scores = np.asarray(columns["score"], dtype=np.float64)[order]
        except ValueError as exc:
            raise ArtifactError(f"{name}: a score is not a number") from exc
        if not np.all((scores >= 0) & (scores <= 1)):
            raise ArtifactError(f"{name}: scores must be probabilities in [0, 1]")
    labels = _labels(columns["label"])[order]
    predictions = _labels(columns["prediction"])[order] if "prediction" in columns else None
    return Predictions(name, ids, labels, predictions, scores)


def _labels(values: list[str]) -> np.ndarray:
    """Labels as strings; numeric labels in one spelling (``1``, ``1.0`` and ``1.00`` are one class)."""
    out = np.asarray([v.strip() for v in values], dtype=str)
    try:
        numbers = out.astype(np.float64)
    except ValueError:
        return out
    return np.asarray([repr(float(v)) for v in numbers.tolist()], dtype=str)


def _positive(data: Predictions, positive_label: str) -> str:
    return _labels([positive_label])[0]


def _predicted(data: Predictions, positive_label: str, threshold: float) -> np.ndarray:
    if data.predictions is not None:
        return data.predictions
    assert data.scores is not None
    negatives = data.labels[data.labels != _positive(data, positive_label)]
    negative = negatives[0] if negatives.size else "not " + positive_label
    return np.where(data.scores >= threshold, _positive(data, positive_label), negative)


def _binary(data: Predictions, positive_label: str, measure: str) -> tuple[np.ndarray, np.ndarray]:
    if data.scores is None:
        raise ArtifactError(f"{data.name}: {measure} needs a 'score' column (probability of the positive class)")
    classes = np.unique(data.labels)
    if classes.size > 2:
        raise ArtifactError(f"{data.name}: {measure} is defined here for two classes; the labels hold {classes.size}")
    return (data.labels == _positive(data, positive_label)).astype(np.float64), data.scores


def per_example(data: Predictions, measure: str, *, positive_label: str = "1", threshold: float = 0.5) -> np.ndarray:
    """The per-example values whose mean is ``measure`` (accuracy, error_rate, log_loss or brier)."""
    if measure in ("accuracy", "error_rate"):
        correct = (_predicted(data, positive_label, threshold) == data.labels).astype(np.float64)
        return correct if measure == "accuracy" else 1.0 - correct
    if measure in ("log_loss", "brier"):
        y, p = _binary(data, positive_label, measure)
        if measure == "brier":
            return (p - y) ** 2
        clipped = np.clip(p, _EPS, 1 - _EPS)
        return -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
    raise ValueError(f"{measure} is not a mean of per-example values")


def set_inputs(data: Predictions, measure: str, *, positive_label: str = "1", threshold: float = 0.5
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(labels, values)`` of F1 or ROC AUC, one per example in id order: the label 1 for the positive
    class else 0, and the predicted label the same way (F1) or the score (ROC AUC)."""
    positive = _positive(data, positive_label)
    if measure == "f1":
        predicted = _predicted(data, positive_label, threshold) == positive
        return (data.labels == positive).astype(np.int8), predicted.astype(np.int8)
    if measure == "roc_auc":
        y, p = _binary(data, positive_label, measure)
        return y.astype(np.int8), p
    raise ValueError(f"{measure} is not a statistic of the whole set")


def statistic(data: Predictions, measure: str, *, positive_label: str = "1", threshold: float = 0.5) -> float:
    """The value of ``measure`` over the whole set."""
    if measure in MEAN_MEASURES:
        return float(per_example(data, measure, positive_label=positive_label, threshold=threshold).mean())
    positive = _positive(data, positive_label)
    if measure == "f1":
        predicted = _predicted(data, positive_label, threshold) == positive
        actual = data.labels == positive
        tp = float(np.sum(predicted & actual))
        denominator = float(np.sum(predicted) + np.sum(actual))
        return 2 * tp / denominator if denominator else 0.0
    if measure == "roc_auc":
        y, p = _binary(data, positive_label, measure)
        n_pos, n_neg = int(y.sum()), int((1 - y).sum())
        if n_pos == 0 or n_neg == 0:
            raise ArtifactError(f"{data.name}: ROC AUC needs both classes among the labels")
        ranks = rankdata(p)  # ties share their average rank: a tie counts half
        return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    raise ValueError(f"unknown classification measure {measure!r}")
