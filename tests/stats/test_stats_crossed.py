"""crossed_interval: the seeds x items formulas by hand, invariances, one- and two-seed behaviour, MixedLM."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from runnotary import stats


def _arms(seed: int, s_b: int = 4, s_a: int = 3, n: int = 30, *, sigma_u: float = 0.3, sigma_w: float = 0.5):
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, 1.0, n)
    yb = 0.1 + rng.normal(0, sigma_u, (s_b, 1)) + v + rng.normal(0, sigma_w, n) + rng.normal(0, 1.0, (s_b, n))
    ya = rng.normal(0, sigma_u, (s_a, 1)) + v + rng.normal(0, sigma_w, n) + rng.normal(0, 1.0, (s_a, n))
    return yb, ya


def _by_hand(yb: np.ndarray, ya: np.ndarray) -> dict[str, float]:
    """The reference note's steps 1-6 written out with loops."""
    out: dict[str, float] = {}
    n = yb.shape[1]
    for name, y in (("b", yb), ("a", ya)):
        s = y.shape[0]
        run = [sum(y[k, i] for i in range(n)) / n for k in range(s)]
        item = [sum(y[k, i] for k in range(s)) / s for i in range(n)]
        grand = sum(run) / s
        out[f"s2_{name}"] = sum((r - grand) ** 2 for r in run) / (s - 1)
        out[f"ms_{name}"] = sum(
            (y[k, i] - run[k] - item[i] + grand) ** 2 for k in range(s) for i in range(n)
        ) / ((s - 1) * (n - 1))
        out[f"item_{name}"] = item  # type: ignore[assignment]
    d = [out["item_b"][i] - out["item_a"][i] for i in range(n)]  # type: ignore[index]
    delta = sum(d) / n
    s2_d = sum((x - delta) ** 2 for x in d) / (n - 1)
    s_b, s_a = yb.shape[0], ya.shape[0]
    v_b, v_a = out["s2_b"] / s_b, out["s2_a"] / s_a
    v_i = max(0.0, s2_d - out["ms_a"] / s_a - out["ms_b"] / s_b) / n
    v = v_a + v_b + v_i
    df = v**2 / (v_a**2 / (s_a - 1) + v_b**2 / (s_b - 1) + v_i**2 / (n - 1))
    return {"delta": delta, "s2_d": s2_d, "v": v, "v_i": v_i, "df": df, **{k: out[k] for k in ("s2_a", "s2_b", "ms_a", "ms_b")}}


def test_e3_interval_follows_the_reference_formulas_step_by_step():
    yb, ya = _arms(1)
    hand = _by_hand(yb, ya)
    r = stats.crossed_interval(yb, ya)
    assert r.estimand == "E3" and r.method == "crossed_satterthwaite" and r.warnings == ()
    assert r.delta == pytest.approx(hand["delta"], rel=1e-12)
    assert r.standard_error == pytest.approx(math.sqrt(hand["v"]), rel=1e-12)
    assert r.df == pytest.approx(hand["df"], rel=1e-12)
    assert (r.seed_variance_candidate, r.seed_variance_baseline) == pytest.approx((hand["s2_b"], hand["s2_a"]), rel=1e-12)
    assert (r.residual_ms_candidate, r.residual_ms_baseline) == pytest.approx((hand["ms_b"], hand["ms_a"]), rel=1e-12)
    assert r.difference_variance == pytest.approx(hand["s2_d"], rel=1e-12)
    assert r.variance_items == pytest.approx(hand["v_i"], rel=1e-12)
    assert r.variance_seeds + r.variance_items == pytest.approx(hand["v"], rel=1e-12)
    t = scipy_stats.t(hand["df"])
    half = t.ppf(0.975) * math.sqrt(hand["v"])
    assert (r.low, r.high) == pytest.approx((hand["delta"] - half, hand["delta"] + half), rel=1e-10)
    assert r.pvalue == pytest.approx(2 * t.sf(abs(hand["delta"]) / math.sqrt(hand["v"])), rel=1e-10)
    assert r.mde == pytest.approx((t.ppf(0.975) + t.ppf(0.8)) * math.sqrt(hand["v"]), rel=1e-10)
    means_b, means_a = yb.mean(axis=1), ya.mean(axis=1)
    wins = sum(float(b > a) + 0.5 * float(b == a) for b in means_b for a in means_a)
    assert r.prob_improvement == pytest.approx(wins / (len(means_b) * len(means_a)))
    assert r.run_means_candidate == pytest.approx(tuple(means_b), rel=1e-12)


def test_e2_drops_the_item_term_and_e1_is_the_paired_t_of_item_means():
    yb, ya = _arms(2)
    hand = _by_hand(yb, ya)
    e2 = stats.crossed_interval(yb, ya, estimand="E2")
    v2 = hand["s2_a"] / 3 + hand["s2_b"] / 4
    assert e2.estimand == "E2" and e2.variance_items == 0.0
    assert e2.standard_error == pytest.approx(math.sqrt(v2), rel=1e-12)
    assert e2.df == pytest.approx(v2**2 / ((hand["s2_a"] / 3) ** 2 / 2 + (hand["s2_b"] / 4) ** 2 / 3), rel=1e-12)
    e1 = stats.crossed_interval(yb, ya, estimand="E1")
    ref = scipy_stats.ttest_rel(yb.mean(axis=0), ya.mean(axis=0))
    assert e1.estimand == "E1" and e1.method == "paired_t" and e1.df == 29
    assert e1.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert (e1.low, e1.high) == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-10)
    assert e1.warnings == ("retraining_variance_not_covered",)


def test_one_run_on_either_side_gives_todays_paired_test_labelled_e1_with_a_warning():
    yb, ya = _arms(3, s_b=1, s_a=4)
    r = stats.crossed_interval(yb[0], ya)  # a 1-d candidate is one run
    assert (r.estimand, r.requested_estimand) == ("E1", "E3")
    assert r.warnings == ("retraining_variance_not_covered",)
    assert r.seed_variance_candidate is None and r.residual_ms_candidate is None and r.item_arm_variance is None
    ref = scipy_stats.ttest_rel(yb[0], ya.mean(axis=0))
    assert r.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    one = stats.crossed_interval(yb[:1], ya[:1])
    assert one.pvalue == pytest.approx(scipy_stats.ttest_rel(yb[0], ya[0]).pvalue, rel=1e-10)


def test_two_seeds_are_computed_and_flagged_few_seeds():
    yb, ya = _arms(4, s_b=2, s_a=5)
    r = stats.crossed_interval(yb, ya)
    assert r.estimand == "E3" and r.warnings == ("few_seeds",)
    assert r.pvalue is not None and r.low < r.delta < r.high
    assert stats.crossed_interval(*_arms(4, s_b=3, s_a=3)).warnings == ()


def test_matched_seeds_use_the_run_differences():
    yb, ya = _arms(5, s_b=4, s_a=4)
    r = stats.crossed_interval(yb, ya, matched=True)
    e = yb - ya
    d_runs = e.mean(axis=1)
    d_items = e.mean(axis=0)
    resid = e - d_runs[:, None] - d_items[None, :] + e.mean()
    ms_e = float((resid**2).sum() / (3 * 29))
    v_s = float(np.var(d_runs, ddof=1)) / 4
    v_i = max(0.0, float(np.var(d_items, ddof=1)) - ms_e / 4) / 30
    assert r.method == "matched_satterthwaite" and r.matched
    assert r.residual_ms_difference == pytest.approx(ms_e, rel=1e-12)
    assert r.standard_error == pytest.approx(math.sqrt(v_s + v_i), rel=1e-12)
    assert r.df == pytest.approx((v_s + v_i) ** 2 / (v_s**2 / 3 + v_i**2 / 29), rel=1e-12)
    with pytest.raises(stats.InvalidInputError, match="matched seeds need as many"):
        stats.crossed_interval(yb, ya[:3], matched=True)


def test_margin_and_one_sided_alternatives():
    yb, ya = _arms(6)
    r = stats.crossed_interval(yb, ya, alternative="greater", margin=-0.05)
    t = (r.delta + 0.05) / r.standard_error
    assert r.pvalue == pytest.approx(scipy_stats.t(r.df).sf(t), rel=1e-10)
    less = stats.crossed_interval(yb, ya, alternative="less", margin=-0.05)
    assert r.pvalue + less.pvalue == pytest.approx(1.0)


def test_identical_runs_give_zero_variance_as_data():
    y = np.tile(np.arange(5.0), (3, 1))
    r = stats.crossed_interval(y, y)
    assert r.reason == "zero_variance" and r.pvalue is None and r.df is None and r.mde is None
    assert r.low == r.high == r.delta == 0.0
    assert json.loads(json.dumps(r.to_dict())) == r.to_dict()


def test_result_serialises_to_plain_json_and_records_its_inputs():
    r = stats.crossed_interval(*_arms(7), confidence_level=0.9)
    payload = r.to_dict()
    assert json.loads(json.dumps(payload)) == payload
    assert {k: payload[k] for k in ("estimand", "seeds_candidate", "seeds_baseline", "n_items", "confidence_level",
                                    "matched", "n_resamples", "random_state")} == {
        "estimand": "E3", "seeds_candidate": 4, "seeds_baseline": 3, "n_items": 30, "confidence_level": 0.9,
        "matched": False, "n_resamples": 0, "random_state": None}
    assert r.ci == (r.low, r.high)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"candidate": np.ones((2, 3)), "baseline": np.ones((2, 4))}, "item count mismatch"),
        ({"candidate": np.ones((2, 1)), "baseline": np.ones((2, 1))}, "at least 2 are required"),
        ({"candidate": np.ones((2, 3, 1)), "baseline": np.ones((2, 3))}, "2-dimensional"),
        ({"candidate": [[1.0, np.nan]], "baseline": [[1.0, 2.0]]}, "NaN"),
        ({"estimand": "E4"}, "estimand"),
        ({"alternative": "bigger"}, "alternative"),
        ({"margin": float("inf")}, "margin"),
        ({"matched": "yes"}, "matched"),
    ],
)
def test_bad_input_is_rejected_with_a_message_naming_it(kwargs, fragment):
    args = {"candidate": np.eye(3), "baseline": np.eye(3), **kwargs}
    with pytest.raises(stats.InvalidInputError, match=fragment):
        stats.crossed_interval(args.pop("candidate"), args.pop("baseline"), **args)


_design = st.tuples(st.integers(2, 5), st.integers(2, 5), st.integers(3, 25), st.integers(0, 2**32 - 1))


@settings(max_examples=40, deadline=None)
@given(_design, st.floats(-50, 50), st.booleans())
def test_per_item_constants_and_reorderings_change_nothing(design, shift, matched):
    s_b, s_a, n, seed = design
    s_a = s_b if matched else s_a
    yb, ya = _arms(seed, s_b, s_a, n)
    rng = np.random.default_rng(seed)
    base = stats.crossed_interval(yb, ya, matched=matched)
    c = rng.normal(0, 1, n) * shift
    shifted = stats.crossed_interval(yb + c, ya + c, matched=matched)
    items = rng.permutation(n)
    seeds = rng.permutation(s_b)
    reordered = stats.crossed_interval(
        yb[seeds][:, items], (ya[seeds] if matched else ya[rng.permutation(s_a)])[:, items], matched=matched
    )
    for other in (shifted, reordered):
        assert other.delta == pytest.approx(base.delta, rel=1e-9, abs=1e-9)
        assert other.standard_error == pytest.approx(base.standard_error, rel=1e-7, abs=1e-12)
        assert other.df == pytest.approx(base.df, rel=1e-6)
        assert other.pvalue == pytest.approx(base.pvalue, rel=1e-6, abs=1e-12)
    assert reordered.prob_improvement == base.prob_improvement


@settings(max_examples=40, deadline=None)
@given(_design, st.booleans())
def test_swapping_arms_negates_delta_and_mirrors_the_interval(design, matched):
    s_b, s_a, n, seed = design
    s_a = s_b if matched else s_a
    yb, ya = _arms(seed, s_b, s_a, n)
    forward = stats.crossed_interval(yb, ya, matched=matched)
    backward = stats.crossed_interval(ya, yb, matched=matched)
    assert backward.delta == pytest.approx(-forward.delta, rel=1e-12, abs=1e-15)
    assert (backward.low, backward.high) == pytest.approx((-forward.high, -forward.low), rel=1e-9, abs=1e-12)
    assert backward.pvalue == pytest.approx(forward.pvalue, rel=1e-9)
    assert backward.prob_improvement == pytest.approx(1.0 - forward.prob_improvement)


def _mixedlm_se(yb: np.ndarray, ya: np.ndarray) -> tuple[float, bool]:
    """Standard error of the arm effect from statsmodels MixedLM, REML, components seed, item, item:arm."""
    import pandas as pd
    import statsmodels.formula.api as smf

    frames = []
    for arm, y in (("A", ya), ("B", yb)):
        s, n = y.shape
        frames.append(pd.DataFrame({
            "arm": arm, "seed": np.repeat([f"{arm}{k}" for k in range(s)], n),
            "item": np.tile(np.arange(n), s), "y": y.ravel(),
        }))
    data = pd.concat(frames, ignore_index=True)
    data["all"] = 1
    components = {"seed": "0 + C(seed)", "item": "0 + C(item)", "item_arm": "0 + C(item):C(arm)"}
    model = smf.mixedlm("y ~ C(arm)", data, groups="all", vc_formula=components, re_formula="0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = model.fit(reml=True, method="lbfgs", gtol=1e-12)
    return float(fit.bse_fe.iloc[1]), bool(fit.converged)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "n", "s"), [(0, 60, 4), (2, 80, 5), (3, 40, 3)])
def test_e3_variance_agrees_with_a_reml_mixed_model(seed, n, s):
    """Balanced designs away from the zero-variance boundary: REML equals the moment estimates, so V agrees.

    (With unequal seed counts MixedLM pools one seed variance over the arms, while the interval keeps
    one per arm, Welch-style; they then differ by design.)
    """
    yb, ya = _arms(seed, s, s, n, sigma_u=0.3, sigma_w=0.5)
    r = stats.crossed_interval(yb, ya)
    assert r.item_arm_variance > 0.05
    se, converged = _mixedlm_se(yb, ya)
    assert converged
    assert r.standard_error == pytest.approx(se, rel=2e-4)
