"""The (S, n) matrices of two arms: columns are the query ids every run scored; what each run loses is counted."""

from __future__ import annotations

import numpy as np

from types import SimpleNamespace

from runnotary.bundles.arms import matrices, seed_points


def test_matrices_keep_the_ids_every_run_scored_in_id_order_and_count_what_each_run_dropped() -> None:
    ids = np.array(["q1", "q2", "q3", "q4"])
    columns = [
        (ids, np.array([1.0, 2.0, 3.0, 4.0])),
        (ids[1:], np.array([20.0, 30.0, 40.0])),  # misses q1
        (ids, np.array([0.1, 0.2, 0.3, 0.4])),
        (ids[[0, 1, 3]], np.array([5.0, 6.0, 8.0])),  # misses q3
    ]
    cand, base, common, dropped = matrices(columns, 2)
    assert common.tolist() == ["q2", "q4"]
    assert cand.tolist() == [[2.0, 4.0], [20.0, 40.0]]
    assert base.tolist() == [[0.2, 0.4], [6.0, 8.0]]
    assert dropped == [2, 1, 2, 1]


def test_seed_points_place_each_run_against_the_baseline_arms_mean_and_none_for_a_one_run_entry() -> None:
    entry = SimpleNamespace(per_run=({"arm": "candidate", "mean": 0.6}, {"arm": "baseline", "mean": 0.5},
                                     {"arm": "baseline", "mean": 0.7}))
    assert seed_points(entry) == [("candidate", 0.6 - 0.6), ("baseline", 0.5 - 0.6), ("baseline", 0.7 - 0.6)]  # type: ignore[arg-type]
    assert seed_points(SimpleNamespace(per_run=())) == []  # type: ignore[arg-type]
