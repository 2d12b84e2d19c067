"""Shared fixtures for the stats tests; registers the ``slow`` marker until pyproject does."""

from __future__ import annotations

import numpy as np
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long simulation test (still run in CI)")


def _distributions(n: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Paired (candidate, baseline) samples of the four shapes the evaluations produce."""
    rng = np.random.default_rng(seed)
    base_normal = rng.normal(0.0, 1.0, n)
    base_logn = rng.lognormal(0.0, 0.75, n)
    base_heavy = rng.standard_t(3, n)
    base_ndcg = rng.beta(2.0, 5.0, n)
    return {
        "normal": (base_normal + rng.normal(0.1, 1.0, n), base_normal),
        "lognormal": (base_logn * rng.lognormal(0.05, 0.5, n), base_logn),
        "heavy_tailed": (base_heavy + rng.standard_t(3, n) + 0.1, base_heavy),
        "ndcg_like": (np.clip(base_ndcg + rng.normal(0.02, 0.1, n), 0.0, 1.0), base_ndcg),
    }


@pytest.fixture(scope="session")
def paired_samples() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Four paired data sets of 300 examples each."""
    return _distributions(300, seed=7)
