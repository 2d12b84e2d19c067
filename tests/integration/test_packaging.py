"""runnotary installs and imports under one name, and its runtime needs nothing from the test extra.

The clean-venv test installs the package as a user would (`pip install -c constraints.txt .`, no
extras) into a new virtualenv, so a packaging mistake (a missing module, schema or dependency)
fails here rather than on a user's machine.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import runnotary

ROOT = Path(__file__).resolve().parents[2]
TEST_ONLY = ("pytest", "hypothesis", "psycopg", "testcontainers", "mypy", "benchmarks")
SHADOWS = ("stats", "registry", "consumers", "bundles")

# Imports every module of the installed package with the test-only names made unimportable.
_IMPORT_ALL = f"""
import importlib, pkgutil, sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {TEST_ONLY!r}:
            raise ImportError('runtime module imported test-only ' + name)
sys.meta_path.insert(0, Refuse())
import runnotary
names = [m.name for m in pkgutil.walk_packages(runnotary.__path__, 'runnotary.')]
for name in names:
    importlib.import_module(name)
from runnotary import stats
assert hasattr(stats, 'paired_bootstrap'), stats.__file__
print(len(names), runnotary.__file__)
"""


def _wheel(tmp_path: Path) -> Path:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-v", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=True, timeout=300,
    )
    assert "absent from the `packages` configuration" not in out.stdout + out.stderr
    return next(tmp_path.glob("runnotary-*.whl"))


def test_the_wheel_holds_one_top_level_name_with_its_schemas(tmp_path: Path) -> None:
    with zipfile.ZipFile(_wheel(tmp_path)) as wheel:
        names = wheel.namelist()
        top_level = next(n for n in names if n.endswith("top_level.txt"))
        assert wheel.read(top_level).decode().split() == ["runnotary"]
    assert {n.split("/")[0] for n in names} == {"runnotary", "runnotary-0.1.0.dist-info"}
    assert "runnotary/consumers/schemas/runs.created.json" in names
    assert "runnotary/stats/py.typed" in names
    assert not [n for n in names if "bench" in n or "devserver" in n]


def test_the_suite_imports_the_installed_package_not_the_checkout() -> None:
    import sysconfig

    assert Path(runnotary.__file__).resolve().is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())


def test_a_clean_venv_without_extras_runs_every_module_and_the_demo(tmp_path: Path) -> None:
    """Installed alone, runnotary imports no test tool, ignores a user's stats.py, and its demo works."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
                   check=True, timeout=900, cwd=tmp_path)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    installed = {p.name for p in Path(site).iterdir()}
    assert "runnotary" in installed
    assert not installed & set(SHADOWS), installed & set(SHADOWS)

    workdir = tmp_path / "user"
    workdir.mkdir()
    for name in SHADOWS:  # a training repo's own modules with the old top-level names
        (workdir / f"{name}.py").write_text("raise ImportError('the user module was imported')\n")
    result = subprocess.run([str(python), "-c", _IMPORT_ALL], cwd=workdir, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.split()[1]).is_relative_to(Path(site))

    demo = subprocess.run([str(env_dir / "bin" / "runnotary"), "demo"], cwd=workdir, capture_output=True, text=True,
                          timeout=600)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    assert "all metrics trace to artifacts via run_id" in demo.stdout.strip().splitlines()[-1]
