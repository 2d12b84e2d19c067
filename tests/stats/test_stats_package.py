"""Package surface: the public names, warmup and no I/O."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import numpy as np

from runnotary import stats

_PACKAGE = Path(stats.__file__).resolve().parent
_FORBIDDEN_IMPORTS = {"logging", "structlog", "confluent_kafka", "mlflow"}


def test_every_name_in_dunder_all_is_importable():
    for name in stats.__all__:
        assert getattr(stats, name) is not None


def test_warmup_compiles_every_kernel_and_returns_seconds():
    seconds = stats.warmup()
    assert isinstance(seconds, float) and seconds >= 0.0
    kernels = _kernels()
    assert len(kernels) >= 19  # the check must not pass vacuously
    for name, kernel in kernels.items():
        assert kernel.signatures, f"{name} was not compiled by warmup()"


def _kernels() -> dict:
    """Every numba kernel the public functions call, by module-qualified name: the public njit functions
    of the private ``_…kernels`` modules, leaving out the helpers inlined into them (never compiled alone)."""
    found = {}
    for path in sorted(_PACKAGE.glob("_*kernels.py")):
        module = importlib.import_module(f"runnotary.stats.{path.stem}")
        for name, value in vars(module).items():
            if (not name.startswith("_") and hasattr(value, "signatures")
                    and value.py_func.__module__ == module.__name__
                    and value.targetoptions.get("inline") != "always"):
                found[f"{path.stem}.{name}"] = value
    return found


def _library_modules():
    return [p for p in _PACKAGE.glob("*.py") if p.name != "bench.py"]


def test_library_modules_import_no_io_libraries():
    """No logging, Kafka or MLflow in stats (its runnotary imports: tests/unit/test_package_boundaries.py)."""
    for path in _library_modules():
        tree = ast.parse(path.read_text())
        modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        io = {m for m in modules if m.split(".")[0] in _FORBIDDEN_IMPORTS}
        assert not io, f"{path.name} imports {sorted(io)}"


def test_library_modules_do_no_file_io_or_printing():
    for path in _library_modules():
        tree = ast.parse(path.read_text())
        calls = {
            node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not calls & {"open", "print", "input"}, f"{path.name} calls {calls & {'open', 'print', 'input'}}"


def test_every_result_type_serialises_to_plain_json():
    rng = np.random.default_rng(0)
    b = rng.normal(size=30)
    c = b + rng.normal(0.2, 1.0, 30)
    results = [
        stats.paired_bootstrap(c, b, random_state=1, n_resamples=200),
        stats.paired_permutation_test(c, b, random_state=1, n_resamples=200),
        stats.quantile_delta(c, b, random_state=1, n_resamples=200),
        stats.effect_sizes(c, b),
        stats.holm([0.01, 0.2]),
        stats.srm_test([100, 110], [1, 1]),
        stats.psi(b, c),
        stats.ks_test(b, c),
        stats.paired_sample_size(0.2, sd_diff=1.0),
        stats.crossed_interval(np.vstack([c, c + 0.1, c - 0.2]), np.vstack([b, b + 0.3])),
        stats.run_swap_permutation(np.vstack([c, c + 0.1, c - 0.2]), np.vstack([b, b + 0.3]), random_state=1),
        stats.two_way_bootstrap(np.vstack([c, c + 0.1]), np.vstack([b, b + 0.3]), random_state=1, n_resamples=200),
    ]
    for result in results:
        payload = result.to_dict()
        assert json.loads(json.dumps(payload, allow_nan=False)) == payload


def test_after_warmup_the_seeds_by_items_statistics_compile_nothing_new():
    """warmup() uses the hot path's argument types (read-only item-major counts included)."""
    stats.warmup()
    kernels = _kernels()
    before = {name: len(kernel.signatures) for name, kernel in kernels.items()}
    rng = np.random.default_rng(1)
    yb, ya = rng.normal(size=(3, 40)), rng.normal(size=(4, 40))
    stats.paired_bootstrap(yb[0], ya[0], n_resamples=100, random_state=3)
    stats.two_way_bootstrap(yb, ya, n_resamples=100, random_state=3)
    stats.two_way_bootstrap(yb, ya, statistic=("quantile", 0.9), n_resamples=100, random_state=3)
    stats.two_way_bootstrap(yb, ya[:3], n_resamples=100, random_state=3, matched=True)
    stats.run_swap_permutation(yb, ya, random_state=3)
    stats.run_swap_permutation(yb, ya, random_state=3, n_resamples=10)
    after = {name: len(kernel.signatures) for name, kernel in kernels.items()}
    assert after == before
