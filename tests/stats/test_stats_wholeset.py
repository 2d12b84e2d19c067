"""paired_set_bootstrap: F1 and ROC AUC recomputed on each paired resample, checked against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score

from runnotary import stats


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(np.int8)
    # Scores on a coarse grid: many ties within and across classes.
    cand = np.round(np.clip(0.3 * labels + rng.random(n) * 0.7, 0, 1), 1)
    base = np.round(np.clip(0.15 * labels + rng.random(n) * 0.85, 0, 1), 1)
    return labels, cand, base


def _resamples(n: int, n_resamples: int, seed: int) -> list[np.ndarray]:
    counts = stats.resample_counts(n, n_resamples, seed)
    return [np.repeat(np.arange(n), row.astype(np.int64)) for row in counts]


@pytest.mark.parametrize("statistic", ["f1", "roc_auc"])
def test_each_resample_is_scikit_learn_on_the_resampled_examples(statistic):
    labels, cand_scores, base_scores = _data(60, 7)
    if statistic == "f1":
        cand, base = (cand_scores >= 0.5).astype(np.int8), (base_scores >= 0.5).astype(np.int8)
        oracle = lambda y, v: f1_score(y, v, zero_division=0)  # noqa: E731
    else:
        cand, base = cand_scores, base_scores
        oracle = roc_auc_score
    result = stats.paired_set_bootstrap(cand, base, labels, statistic=statistic, n_resamples=300, method="bca",
                                        random_state=11, return_distribution=True)
    assert result.estimate == pytest.approx(oracle(labels, cand) - oracle(labels, base), abs=1e-12)
    checked = 0
    for b, idx in enumerate(_resamples(60, 300, 11)):
        y = labels[idx]
        if statistic == "roc_auc" and y.min() == y.max():
            assert np.isnan(result.distribution[b])
            continue
        assert result.distribution[b] == pytest.approx(oracle(y, cand[idx]) - oracle(y, base[idx]), abs=1e-12)
        checked += 1
    assert checked >= 290
    assert result.method == "bca" and result.statistic == statistic and result.resampling == "pairs"
    assert result.low <= result.estimate <= result.high


@pytest.mark.parametrize("statistic", ["f1", "roc_auc"])
def test_bca_acceleration_is_the_jackknife_of_scikit_learn(statistic):
    """The O(n) leave-one-out values equal scikit-learn on the set without each example."""
    from runnotary.stats.wholeset import _Arm

    labels, scores, _ = _data(40, 3)
    values = (scores >= 0.5).astype(np.int8) if statistic == "f1" else scores
    oracle = (lambda y, v: f1_score(y, v, zero_division=0)) if statistic == "f1" else roc_auc_score
    loo = _Arm(statistic, labels, values).leave_one_out()
    expected = [oracle(np.delete(labels, i), np.delete(values, i)) for i in range(40)]
    np.testing.assert_allclose(loo, expected, rtol=0, atol=1e-12)


def test_swapping_arms_mirrors_the_interval_and_the_seed_reproduces_it():
    labels, cand, base = _data(80, 5)
    forward = stats.paired_set_bootstrap(cand, base, labels, statistic="roc_auc", n_resamples=500, random_state=3)
    again = stats.paired_set_bootstrap(cand, base, labels, statistic="roc_auc", n_resamples=500, random_state=3)
    swapped = stats.paired_set_bootstrap(base, cand, labels, statistic="roc_auc", n_resamples=500, random_state=3)
    assert forward == again
    assert swapped.estimate == pytest.approx(-forward.estimate)
    assert (swapped.low, swapped.high) == pytest.approx((-forward.high, -forward.low))


def test_auc_jackknife_undefined_with_one_positive_falls_back_to_percentile():
    labels = np.zeros(30, dtype=np.int8)
    labels[0] = 1
    rng = np.random.default_rng(1)
    result = stats.paired_set_bootstrap(rng.random(30), rng.random(30), labels, statistic="roc_auc",
                                        n_resamples=200, method="bca", random_state=0)
    assert result.method == "percentile"
    assert result.reason is not None and result.reason.startswith("bca_undefined; one_class_resamples=")


def test_identical_arms_collapse_and_bad_input_is_named():
    labels, cand, _ = _data(20, 2)
    same = stats.paired_set_bootstrap(cand, cand, labels, statistic="roc_auc", n_resamples=50, random_state=0)
    assert (same.estimate, same.low, same.high, same.reason) == (0.0, 0.0, 0.0, "zero_variance")
    with pytest.raises(stats.InvalidInputError, match="labels must hold 0 or 1"):
        stats.paired_set_bootstrap(cand, cand, labels + 1, statistic="roc_auc", random_state=0)
    with pytest.raises(stats.InvalidInputError, match="candidate must hold 0 or 1"):
        stats.paired_set_bootstrap(cand, cand, labels, statistic="f1", random_state=0)
    with pytest.raises(stats.InvalidInputError, match="both classes"):
        stats.paired_set_bootstrap(cand, cand, np.ones(20), statistic="roc_auc", random_state=0)
    with pytest.raises(stats.InvalidInputError, match="length mismatch"):
        stats.paired_set_bootstrap(cand, cand[:-1], labels, statistic="roc_auc", random_state=0)


@pytest.mark.parametrize("statistic", ["f1", "roc_auc"])
def test_the_result_does_not_depend_on_threads_or_blocks_of_resamples(statistic, monkeypatch):
    import numba

    from runnotary.stats import countmatrix

    labels, cand, base = _data(120, 9)
    if statistic == "f1":
        cand, base = (cand >= 0.5).astype(np.int8), (base >= 0.5).astype(np.int8)
    kwargs = dict(statistic=statistic, n_resamples=700, method="bca", random_state=21, return_distribution=True)
    whole = stats.paired_set_bootstrap(cand, base, labels, **kwargs)
    monkeypatch.setattr(countmatrix, "CACHE_BYTES", 1000)  # streamed in blocks of 1000 // 120 resamples
    monkeypatch.setattr(countmatrix, "BLOCK_BYTES", 1000)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        blocked = stats.paired_set_bootstrap(cand, base, labels, **kwargs)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(whole.distribution, blocked.distribution)
    assert whole == blocked
