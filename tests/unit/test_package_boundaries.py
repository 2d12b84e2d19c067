"""The shape of the installed package: imports point inward, and no module grows past 500 lines.

``stats`` is pure numerics; the event contract is a leaf (the root error and the digests only); the
light client needs neither the service shell nor MLflow; the registry never reaches up into the
bundles or the shell; only the shell, ``consumers``, wires them all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import runnotary

_TOP = Path(runnotary.__file__).resolve().parent

#: Every module of the installed package, by full name.
MODULES: dict[str, Path] = {
    ".".join(path.relative_to(_TOP.parent).with_suffix("").parts).removesuffix(".__init__"): path
    for path in sorted(_TOP.rglob("*.py"))
}

#: What each package may import of runnotary besides itself, by the name after ``runnotary.``
#: (``runnotary`` alone is the root package, for its ``__version__``). ``consumers`` may import all.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "stats": frozenset(),
    "contract": frozenset({"errors", "digests"}),
    "client": frozenset({"contract", "errors", "digests", "exports"}),
    "registry": frozenset({"stats", "contract", "errors", "digests", "exports"}),
    "bundles": frozenset({"stats", "registry", "contract", "errors", "digests", "runnotary"}),
}

MAX_LINES = 500


def _part(module: str) -> str | None:
    """The part of runnotary a module belongs to (``runnotary.stats.rng`` → ``stats``), None outside runnotary."""
    names = module.split(".")
    if names[0] != "runnotary":
        return None
    return names[1] if len(names) > 1 else "runnotary"


def imported_modules(tree: ast.AST, module: str) -> set[str]:
    """Every module an import statement anywhere in ``tree`` (functions included) loads, by full name.

    Relative imports are resolved against ``module``; ``from a import b`` is ``a.b`` when that is a
    module and ``a`` when ``b`` is a name in it.
    """
    package = module if MODULES.get(module, Path()).name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            found |= {f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names}
    return found


def outward_imports(module: str, tree: ast.AST) -> set[str]:
    """The modules ``module`` imports that its package may not import."""
    own = _part(module)
    allowed = MAY_IMPORT.get(own or "")
    if allowed is None:
        return set()
    return {m for m in imported_modules(tree, module) if (part := _part(m)) not in (None, own) and part not in allowed}


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_each_package_imports_only_the_packages_inward_of_it(package: str) -> None:
    modules = {name: path for name, path in MODULES.items() if _part(name) == package}
    assert modules, f"no module of runnotary.{package} found under {_TOP}"
    leaving = {name: sorted(found) for name, path in modules.items()
               if (found := outward_imports(name, ast.parse(path.read_text())))}
    allowed = f"only {', '.join(sorted(MAY_IMPORT[package]))}" if MAY_IMPORT[package] else "nothing"
    assert not leaving, f"runnotary.{package} may import {allowed} of runnotary; found {leaving}"


@pytest.mark.parametrize(("module", "source"), [
    ("runnotary.stats.bootstrap", "from runnotary.registry import Registry"),
    ("runnotary.stats.bootstrap", "import runnotary.bundles.gates"),
    ("runnotary.stats.bootstrap", "from runnotary import consumers"),
    ("runnotary.stats.bootstrap", "from runnotary import __version__"),
    ("runnotary.stats.bootstrap", "from .. import registry"),
    ("runnotary.stats", "from ..client.dataset import x"),
    ("runnotary.stats.bootstrap", "def f():\n    from ..registry.errors import RegistryError"),
    ("runnotary.contract.run", "from runnotary.registry import errors"),
    ("runnotary.contract.run", "from ..stats import holm"),
    ("runnotary.client.run", "from runnotary.consumers.settings import Settings"),
    ("runnotary.client", "from ..registry import Registry"),
    ("runnotary.client.run", "from runnotary import bundles"),
    ("runnotary.registry.store", "from runnotary.bundles.gates import evaluate"),
    ("runnotary.registry.store", "from ..consumers import cli"),
    ("runnotary.bundles.gates", "import runnotary.consumers.metrics as metrics"),
])
def test_the_check_sees_every_spelling_of_an_outward_import(module: str, source: str) -> None:
    """Absolute, relative, package-level and function-level imports all count."""
    assert outward_imports(module, ast.parse(source)), source


@pytest.mark.parametrize(("module", "source"), [
    ("runnotary.stats.bootstrap", "from . import rng"),
    ("runnotary.stats.bootstrap", "from ._bootstrap_kernels import bootstrap_means"),
    ("runnotary.stats", "from .errors import StatsError"),
    ("runnotary.stats.bootstrap", "from runnotary.stats import rng"),
    ("runnotary.stats.bootstrap", "from runnotary import stats"),
    ("runnotary.contract.run", "from runnotary.errors import RunnotaryError"),
    ("runnotary.contract.run", "from ..digests import SHA256_PATTERN"),
    ("runnotary.client.run", "from runnotary.contract import RunCreated"),
    ("runnotary.registry.store", "from runnotary import stats"),
    ("runnotary.bundles.gates", "from runnotary.registry import Registration"),
    ("runnotary.consumers.app", "from runnotary.bundles import compare"),
])
def test_the_check_lets_inward_imports_pass(module: str, source: str) -> None:
    assert not outward_imports(module, ast.parse(source)), source


_LOADED = """
import sys
{statement}
print(" ".join(sys.modules))
"""


@pytest.mark.parametrize(("statement", "absent"), [
    # A training job's import, with every public name resolved (they load lazily) and the client's commands.
    ("import runnotary.client as client; [getattr(client, n) for n in client.__all__]; import runnotary.client.commands",
     ("runnotary.consumers", "runnotary.registry", "runnotary.bundles", "runnotary.stats", "mlflow", "numpy")),
    # What `runnotary --help` loads: the parsers, not the service's or the client's dependencies.
    ("import runnotary.consumers.cli",
     ("runnotary.contract", "runnotary.registry", "runnotary.bundles", "pydantic", "confluent_kafka", "mlflow", "numpy")),
])
def test_an_import_loads_nothing_of_the_service(statement: str, absent: tuple[str, ...]) -> None:
    out = subprocess.run([sys.executable, "-c", _LOADED.format(statement=statement)],
                         capture_output=True, text=True, check=True, timeout=120)
    loaded = [m for m in out.stdout.split() if m in absent or m.startswith(tuple(f"{a}." for a in absent))]
    assert not loaded, f"{statement} loaded {sorted(loaded)}"


def test_no_runtime_module_is_over_500_lines() -> None:
    long = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"
