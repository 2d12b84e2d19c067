"""Paired bootstrap of a statistic of the whole set that is not a mean of per-example values (F1, ROC AUC)."""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from . import _wholeset_kernels as kernels
from ._paired_results import BootstrapResult
from ._validation import (
    _validate_choice,
    _validate_n_resamples,
    _validate_open_unit,
    _validate_random_state,
    _validate_sample,
)
from .bootstrap import _bca_levels, _standard_error
from .countmatrix import _count_blocks
from .errors import InvalidInputError

__all__ = ["paired_set_bootstrap"]

SetStatistic = Literal["f1", "roc_auc"]


def paired_set_bootstrap(
    candidate: ArrayLike,
    baseline: ArrayLike,
    labels: ArrayLike,
    *,
    statistic: SetStatistic,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    method: Literal["percentile", "bca"] = "percentile",
    random_state: int,
    return_distribution: bool = False,
) -> BootstrapResult:
    """Bootstrap CI of ``statistic(candidate) - statistic(baseline)``, examples resampled in pairs.

    Each resample draws ``n`` examples with replacement (the same examples for both arms) and
    recomputes the statistic of each arm on it: F1 is not a mean of per-example values, so the
    difference of means the paired bootstrap of :func:`paired_bootstrap` takes does not apply.

    Parameters
    ----------
    candidate, baseline : array_like, shape (n,)
        ``"f1"``: each arm's predicted label, 1 for the positive class, else 0. ``"roc_auc"``: each
        arm's score (higher means more likely positive; equal scores tie and count half).
    labels : array_like of {0, 1}, shape (n,)
        The true label of each example, 1 for the positive class.
    statistic : {"f1", "roc_auc"}
        F1 of the positive class (0 when there is no positive label and no positive prediction,
        scikit-learn's ``zero_division=0``), or the area under the ROC curve.
    n_resamples, confidence_level, random_state
        As :func:`paired_bootstrap`. Resample ``b`` is row ``b`` of :func:`resample_counts` for
        ``(n, n_resamples, random_state)``, the very resamples the mean's bootstrap uses.
    method : {"percentile", "bca"}
        BCa takes its acceleration from the leave-one-out jackknife of the difference, computed in
        O(n). The jackknife of ROC AUC is defined only with at least two examples of each class;
        without them, or when BCa's correction is undefined, the percentile interval is returned with
        ``method="percentile"`` and ``reason="bca_undefined"``.
    return_distribution : bool
        Attach the bootstrap differences as ``result.distribution`` (NaN for a resample that holds one
        class only, whose ROC AUC is undefined).

    Returns
    -------
    BootstrapResult
        ``statistic`` is ``"f1"`` or ``"roc_auc"``. ROC AUC resamples that hold one class only are
        left out of the interval; ``reason`` then says how many (``"one_class_resamples=K"``). When
        both arms are identical the interval collapses to 0 with ``reason="zero_variance"``.

    Raises
    ------
    InvalidInputError
        Lengths differ, fewer than 2 examples, labels or F1 predictions not in {0, 1}, non-finite
        scores, ROC AUC without both classes among the labels, or every resample of one class.
    """
    statistic = _validate_choice(statistic, "statistic", ("f1", "roc_auc"))  # type: ignore[assignment]
    method = _validate_choice(method, "method", ("percentile", "bca"))  # type: ignore[assignment]
    n_resamples = _validate_n_resamples(n_resamples)
    confidence_level = _validate_open_unit(confidence_level, "confidence_level")
    seed = _validate_random_state(random_state)
    y = _validate_binary(labels, "labels")
    if statistic == "f1":
        cand, base = _validate_binary(candidate, "candidate"), _validate_binary(baseline, "baseline")
    else:
        cand, base = _validate_sample(candidate, "candidate"), _validate_sample(baseline, "baseline")
        if y.min() == y.max():
            raise InvalidInputError("ROC AUC needs both classes among the labels")
    if not cand.shape[0] == base.shape[0] == y.shape[0]:
        raise InvalidInputError(f"length mismatch: candidate {cand.shape[0]}, baseline {base.shape[0]}, "
                                f"labels {y.shape[0]}; paired data need one value per example in each")
    n = y.shape[0]
    common = {"statistic": statistic, "n": n, "n_resamples": n_resamples, "confidence_level": confidence_level,
              "random_state": seed, "resampling": "pairs"}
    arms = [_Arm(statistic, y, values) for values in (cand, base)]
    estimate = arms[0].value - arms[1].value
    if np.array_equal(cand, base):
        return BootstrapResult(estimate=estimate, low=estimate, high=estimate, method=method, standard_error=0.0,
                               reason="zero_variance",
                               distribution=np.full(n_resamples, estimate) if return_distribution else None,
                               **common)  # type: ignore[arg-type]
    distribution = np.empty(n_resamples)
    scratch = np.empty(n_resamples)
    for start, counts in _count_blocks(n, n_resamples, seed):
        stop = start + counts.shape[1]
        arms[0].resampled(counts, distribution[start:stop])
        arms[1].resampled(counts, scratch[start:stop])
    distribution -= scratch
    finite = distribution[np.isfinite(distribution)]
    reasons = []
    if finite.shape[0] < n_resamples:
        reasons.append(f"one_class_resamples={n_resamples - finite.shape[0]}")
    if finite.shape[0] == 0:
        raise InvalidInputError("every resample holds one class only: ROC AUC is undefined on all of them")
    alpha = (1.0 - confidence_level) / 2.0
    levels: tuple[float, float] = (alpha, 1.0 - alpha)
    if method == "bca":
        jackknife = _jackknife(arms)
        bca = None if jackknife is None else _bca_levels(finite, estimate, jackknife, alpha)
        if bca is None:
            method, reasons = "percentile", ["bca_undefined", *reasons]
        else:
            levels = bca
    low, high = np.quantile(finite, levels)
    return BootstrapResult(estimate=estimate, low=float(low), high=float(high), method=method,
                           standard_error=_standard_error(finite), reason="; ".join(reasons) or None,
                           distribution=distribution if return_distribution else None,
                           **common)  # type: ignore[arg-type]


def _validate_binary(values: ArrayLike, name: str) -> np.ndarray:
    array = _validate_sample(values, name)
    if not np.all((array == 0) | (array == 1)):
        raise InvalidInputError(f"{name} must hold 0 or 1 only (1 for the positive class)")
    return array.astype(np.int8)


class _Arm:
    """One arm's data laid out for its statistic: the value on the whole set, on resamples, leave-one-out."""

    def __init__(self, statistic: str, labels: np.ndarray, values: np.ndarray) -> None:
        self.statistic, self.labels, self.values = statistic, labels, values
        if statistic == "f1":
            self.value = _f1(int(np.sum(labels & values)), int(np.sum(labels)) + int(np.sum(values)))
            return
        self.order = np.argsort(values, kind="stable")
        ordered = values[self.order]
        self.last_of_tie = np.append(ordered[1:] != ordered[:-1], True)
        _, self.group = np.unique(values, return_inverse=True)
        pos = np.bincount(self.group, weights=labels).astype(np.int64)
        neg = np.bincount(self.group, weights=1 - labels).astype(np.int64)
        self.neg_below, self.pos_above = np.cumsum(neg) - neg, pos.sum() - np.cumsum(pos)
        self.pos_tied, self.neg_tied = pos, neg
        self.n_pos, self.n_neg = int(pos.sum()), int(neg.sum())
        self.twice = int(np.sum(pos * (2 * self.neg_below + neg)))
        self.value = self.twice / (2.0 * self.n_pos * self.n_neg)

    def resampled(self, counts: np.ndarray, out: np.ndarray) -> None:
        if self.statistic == "f1":
            kernels.count_f1(counts, self.labels, self.values, out)
        else:
            kernels.count_auc(counts, self.order, self.last_of_tie, self.labels, out)

    def leave_one_out(self) -> np.ndarray | None:
        """The statistic without each example in turn (``None`` where that is undefined)."""
        y = self.labels.astype(np.int64)
        if self.statistic == "f1":
            v = self.values.astype(np.int64)
            tp, both = int(np.sum(y & v)), int(np.sum(y) + np.sum(v))
            tp_out, both_out = tp - (y & v), both - y - v
            return np.where(both_out > 0, 2.0 * tp_out / np.maximum(both_out, 1), 0.0)
        if self.n_pos < 2 or self.n_neg < 2:
            return None
        g = self.group
        # Removing a positive drops its pairs with the negatives below it and half those tied with it;
        # removing a negative, its pairs with the positives above it and half those tied.
        lost = np.where(y == 1, 2 * self.neg_below[g] + self.neg_tied[g], 2 * self.pos_above[g] + self.pos_tied[g])
        pos, neg = self.n_pos - y, self.n_neg - (1 - y)
        return (self.twice - lost) / (2.0 * pos * neg)


def _f1(tp: int, both: int) -> float:
    return 2.0 * tp / both if both else 0.0


def _jackknife(arms: list[_Arm]) -> np.ndarray | None:
    cand, base = arms[0].leave_one_out(), arms[1].leave_one_out()
    if cand is None or base is None:
        return None
    return cand - base
