"""The reviewer's side of a bundle: `runnotary demo` prints the command that verifies it, that command
needs no flag (the bundle records its store), and every kind of stated value is checked and named."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runnotary.bundles.verify import verify_bundle
from tests.integration.browser import load
from tests.support import RUNNOTARY


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo run in a fresh directory: the directory and its stdout."""
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")}
    done = subprocess.run([RUNNOTARY, "demo", "--timeout", "600"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return workdir, done.stdout


def test_demo_prints_a_verify_command_that_needs_no_flag(demo: tuple[Path, str]) -> None:
    workdir, stdout = demo
    [line] = [line for line in stdout.splitlines() if "verify it" in line]
    command = line.split(": ", 1)[1]
    assert command == "runnotary verify-bundle bundle/demo-review"
    assert stdout.strip().splitlines()[-1].startswith("runnotary: bundle emitted for meeting_id=demo-review")
    decision = json.loads((workdir / "bundle" / "demo-review" / "decision_metrics.json").read_text())
    source = decision["source"]
    assert source["mlflow_tracking_uri"] == f"sqlite:///{(workdir / '.runnotary' / 'demo' / 'mlflow.db').resolve()}"
    assert source["runnotary_version"] == subprocess.run([RUNNOTARY, "--version"], capture_output=True, text=True,
                                                         check=True).stdout.split()[1]

    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNNOTARY_")}
    done = subprocess.run([RUNNOTARY, *shlex.split(command)[1:]], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "bundle/demo-review reproduces" in done.stdout and source["mlflow_tracking_uri"] in done.stderr

    # A bundle that does not record its store, with none given, is refused rather than passed.
    older = workdir / "older"
    shutil.copytree(workdir / "bundle" / "demo-review", older)
    data = json.loads((older / "decision_metrics.json").read_text())
    del data["source"]
    (older / "decision_metrics.json").write_text(json.dumps(data))
    refused = subprocess.run([RUNNOTARY, "verify-bundle", str(older)], env=env, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "RUNNOTARY_MLFLOW_TRACKING_URI" in refused.stderr


def _cand_run(data: dict[str, Any]) -> str:
    return str(data["candidates"][0]["candidate_run"])


def _number(data: dict[str, Any]) -> dict[str, Any]:
    return data["candidates"][0]["metrics"][_cand_run(data)]["ndcg@10"]


def _first_baseline_input(data: dict[str, Any]) -> dict[str, Any]:
    """The first input the ndcg@10 statistic cites on the baseline side (one run, or the first seed run of an arm)."""
    inputs = data["candidates"][0]["ab"]["metrics"]["ndcg@10"]["inputs"]["baseline"]
    first: dict[str, Any] = inputs[0] if isinstance(inputs, list) else inputs
    return first


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Callable[[Any, dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        target = path(data)
        target[key] = value(target[key], data)
    return change


#: (kind of stated value, the change, what verify-bundle must name)
TAMPERING: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("number", _set(_number, "value", lambda v, d: v + 0.001), "[ndcg@10].value"),
    ("claimed value", _set(_number, "claimed", lambda v, d: v + 0.01), "[ndcg@10].claimed"),
    ("restated parameter", _set(lambda d: d["candidates"][0]["ab"], "random_state", lambda v, d: v + 1),
     "candidates[0](retrieval-cand-a).ab.random_state"),
    ("sha256", _set(_number, "sha256", lambda v, d: "0" * 64), "[ndcg@10].sha256"),
    ("run id", _set(lambda d: d["candidates"][0], "baseline_run", lambda v, d: d["candidates"][1]["candidate_run"]),
     "candidates[0](retrieval-cand-a).ab.baseline_run"),
    ("input run id", _set(_first_baseline_input, "run_id", lambda v, d: _cand_run(d)), "ab.metrics[ndcg@10].inputs"),
    ("gate threshold", _set(lambda d: d["candidates"][0]["gate_status"]["gates"]["latency_p95_ms"], "threshold",
                            lambda v, d: 40.0), "gate_status.gates[latency_p95_ms].threshold"),
    ("gate observation", _set(lambda d: d["candidates"][0]["gate_status"]["gates"]["visual_ablation_drop_pct"], "obs",
                              lambda v, d: v + 1.0), "gate_status.gates[visual_ablation_drop_pct].obs"),
    ("gate verdict", _set(lambda d: d["candidates"][1]["gate_status"], "overall", lambda v, d: "pass"),
     "candidates[1](retrieval-cand-b).gate_status.overall"),
]


@pytest.mark.parametrize(("kind", "change", "named"), TAMPERING, ids=[t[0] for t in TAMPERING])
def test_each_kind_of_stated_value_is_checked(demo: tuple[Path, str], tmp_path: Path, kind: str,
                                              change: Callable[[dict[str, Any]], None], named: str) -> None:
    workdir, _ = demo
    bundle = tmp_path / "bundle"
    shutil.copytree(workdir / "bundle" / "demo-review", bundle)
    path = bundle / "decision_metrics.json"
    original = json.loads(path.read_text())
    data = copy.deepcopy(original)
    change(data)
    assert data != original
    path.write_text(json.dumps(data, indent=2))
    report = verify_bundle(bundle, original["source"]["mlflow_tracking_uri"])
    found = [str(f) for f in report.findings]
    assert any(named in f for f in found), f"{kind}: {named!r} not named in {found}"


def test_index_html_opens_in_a_browser_with_no_error_and_no_request_out(demo: tuple[Path, str], tmp_path: Path) -> None:
    """Headless Chromium loads the demo's index.html from disk: no console error, no failed request, nothing
    fetched but the page itself and its inline plots; the page shows the decision, one row per candidate
    and the closing line."""
    workdir, stdout = demo
    page_path = workdir / "bundle" / "demo-review" / "index.html"
    page = load(page_path.as_uri(), tmp_path / "profile")
    assert page.console_errors == [] and page.failed_requests == []
    assert [u for u in page.requests if not u.startswith("data:")] == [page_path.as_uri()]

    shot = tmp_path / "index.png"
    shot.write_bytes(page.screenshot)
    assert shot.stat().st_size > 100_000 and page.screenshot[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", page.screenshot[16:24])
    assert width >= 1200 and height > 2000  # the whole page (less a scrollbar), plots included

    decision = json.loads((workdir / "bundle" / "demo-review" / "decision_metrics.json").read_text())
    overall = re.search(r'id="overall"[^>]*>(.*?)</p>', page.dom, re.S)
    assert overall is not None and f">{decision['overall_gate_status']}<" in overall.group(1)
    rows = re.findall(r'<tr class="candidate-row" data-candidate="([^"]+)"', page.dom)
    assert rows == [c["candidate_id"] for c in decision["candidates"]]
    closing = stdout.strip().splitlines()[-1]
    assert re.search(r'id="closing">(.*?)</p>', page.dom, re.S).group(1) == closing  # type: ignore[union-attr]
    for candidate in decision["candidates"]:
        number = candidate["metrics"][candidate["candidate_run"]]["ndcg@10"]
        assert number["sha256"] in page.dom and number["file"] in page.dom  # every number cites its source
    assert len(re.findall(r'<img src="data:image/png;base64,', page.dom)) == len(list((page_path.parent / "plots").glob("*.png")))
