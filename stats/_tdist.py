"""Student and noncentral t tail functions at ufunc speed, for root finders that call them hundreds of times.

``scipy.stats.nct.sf`` and ``t.ppf`` spend ~70 µs per scalar call on argument handling around the
ufunc that does the work; power and effect-size intervals call them hundreds of times per metric.
These evaluate the same ufuncs directly (results identical to ``scipy.stats``, which a test checks).
"""

from __future__ import annotations

import numpy as np
from scipy.special import stdtrit
from scipy.stats import nct

try:  # the Boost ufunc behind scipy.stats.nct.sf; private, so the public path stays the fallback
    from scipy.special._ufuncs import _nct_sf as _boost_nct_sf
except ImportError:  # pragma: no cover - a SciPy without it
    _boost_nct_sf = None

__all__ = ["nct_sf", "t_ppf"]


def nct_sf(x: float, df: float, nc: float) -> float:
    """P(T > x) for T noncentral t with ``df`` degrees of freedom and noncentrality ``nc``."""
    if _boost_nct_sf is None:
        return float(nct.sf(x, df, nc))
    with np.errstate(over="ignore"):
        value = float(_boost_nct_sf(x, df, nc))
    return value if value != value else min(1.0, max(0.0, value))  # clipped like nct.sf; NaN stays NaN


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (what ``scipy.stats.t.ppf`` returns)."""
    return float(stdtrit(df, q))
