"""Same random_state => bit-identical results whatever the thread count (subprocesses).

Covers the one-run statistics and the seeds x items ones (count matrix, two-way bootstrap, run swaps).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]

_SCRIPT = """
import numpy as np
from runnotary import stats
rng = np.random.default_rng(0)
b = rng.lognormal(size=1000)
c = b * rng.lognormal(0.02, 0.3, 1000)
x, y = rng.lognormal(size=5000), rng.lognormal(size=4000)
out = []
for method in ("percentile", "bca"):
    for statistic in ("mean", "median"):
        r = stats.paired_bootstrap(c, b, statistic=statistic, method=method, n_resamples=3001,
                                   random_state=12345, return_distribution=True)
        out += [r.low, r.high, float(r.distribution.sum()), float(r.distribution[-1])]
p = stats.paired_permutation_test(c, b, n_resamples=3001, random_state=12345, return_null_distribution=True)
out += [p.pvalue, float(p.null_distribution.sum())]
q = stats.quantile_delta(x, y, random_state=12345)
out += [q.low, q.high]
cb, cc = (rng.random(5000) < 0.9).astype(float), (rng.random(5000) < 0.92).astype(float)
r = stats.paired_bootstrap(cc, cb, method="bca", n_resamples=3001, random_state=12345, return_distribution=True)
assert r.resampling == "counts"
out += [r.low, r.high, float(r.distribution.sum()), float(r.distribution[-1])]
yb = rng.normal(0.0, 1.0, (5, 3000)) + rng.normal(0.0, 0.1, (5, 1))
ya = rng.normal(0.0, 1.0, (4, 3000)) + rng.normal(0.0, 0.1, (4, 1))
counts = stats.resample_counts(3000, 2001, 12345)
out += [int(counts.astype(np.int64).ravel().dot(np.arange(counts.size) % 7919))]
for statistic in ("mean", ("quantile", 0.9)):
    t = stats.two_way_bootstrap(yb, ya, statistic=statistic, n_resamples=2001, random_state=12345,
                                return_distribution=True)
    out += [t.low, t.high, float(t.distribution.sum()), float(t.distribution[-1])]
s = stats.run_swap_permutation(np.vstack([yb, yb]), np.vstack([ya, ya]), n_resamples=3001, random_state=12345)
out += [s.pvalue, s.statistic]
import numba
print(numba.get_num_threads(), repr(out))
"""


def _run(threads: int) -> tuple[str, str]:
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_REPO), env.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    used, values = done.stdout.strip().split(" ", 1)
    return used, values


def test_results_are_bit_identical_with_one_and_two_threads():
    used_one, one = _run(1)
    used_two, two = _run(2)
    assert (used_one, used_two) == ("1", "2")
    assert one == two


@pytest.mark.slow
def test_results_are_bit_identical_with_four_oversubscribed_threads():
    assert _run(4)[1] == _run(1)[1]
