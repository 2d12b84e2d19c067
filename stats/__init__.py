"""Pure numerics for runnotary's A/B evidence: resampling CIs, tests, effect sizes, drift, seeds x items.

The public functions validate their input once, run a numba kernel from
one of the private ``_…kernels`` modules and return a frozen result that records its method and
``random_state``, so every published number can be reproduced bit for bit.
This package does no I/O and imports nothing from the rest of runnotary.

Call :func:`warmup` at service start so JIT compilation stays off the hot path.
"""

from __future__ import annotations

from .bootstrap import paired_bootstrap
from .countmatrix import resample_counts
from .crossed import crossed_interval
from .drift import ks_test, psi
from .effects import effect_sizes
from .errors import InvalidInputError, StatsError
from .multiplicity import adjust_pvalues, benjamini_hochberg, holm
from .permutation import paired_permutation_test
from .power import difference_sd, paired_mde, paired_power, paired_sample_size
from .quantiles import quantile_delta
from .runswap import run_swap_permutation
from .srm import SRM_ALPHA, srm_test
from .twoway import two_way_bootstrap
from .warmup import warmup
from .wholeset import paired_set_bootstrap

# The functions other packages, users and tests call, and their errors; the result records they
# return live in the private ``_…results`` modules.
__all__ = [
    "SRM_ALPHA",
    "InvalidInputError",
    "StatsError",
    "adjust_pvalues",
    "benjamini_hochberg",
    "crossed_interval",
    "difference_sd",
    "effect_sizes",
    "holm",
    "ks_test",
    "paired_bootstrap",
    "paired_mde",
    "paired_permutation_test",
    "paired_set_bootstrap",
    "paired_power",
    "paired_sample_size",
    "psi",
    "quantile_delta",
    "resample_counts",
    "run_swap_permutation",
    "srm_test",
    "two_way_bootstrap",
    "warmup",
]
