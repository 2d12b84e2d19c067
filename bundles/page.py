"""``index.html``: the meeting bundle as one page a reviewer opens in a browser, prints or saves as PDF.

The page is rendered with Jinja2 (autoescaping on: every string in it comes from events and files a
publisher controls) from the same ``decision_metrics.json`` data the bundle writes, so it cannot say
anything the JSON does not. It loads nothing: styles are inline and the plots are embedded as
``data:`` URIs. Every number carries its file, sha256 and run id, with a link to the run in the MLflow
UI when ``ui_url`` (``RUNNOTARY_MLFLOW_UI_URL``) is set. Nothing on it depends on the wall clock.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runnotary.bundles.description import estimand, number_text, run_route
from runnotary.bundles.tables import CandidateEvidence, distinct_runs

__all__ = ["PAGE", "render_page"]

PAGE = "index.html"


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(loader=PackageLoader("runnotary.bundles", "templates"), autoescape=select_autoescape(["html", "j2"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    return env


def _num(value: Any, digits: int = 6) -> str:
    return number_text(value, digits)


def _plots(directory: Path) -> list[dict[str, str]]:
    return [{"name": p.name, "src": "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode()}
            for p in sorted(directory.glob("*.png"))]


def _cites(*sides: Any) -> list[dict[str, Any]]:
    """The cited inputs of a statistic: one per run, or one per seed run of an arm (a list a side)."""
    return [c for side in sides for c in (side if isinstance(side, list) else [side])]


def render_page(decision: dict[str, Any], evidence: Sequence[CandidateEvidence], plots: Path, closing: str,
                ui_url: str | None = None) -> str:
    """The page's HTML, from the bundle's decision data and the runs behind it."""
    experiments = {r.run_id: r.experiment_id for r in distinct_runs(evidence)}

    def run_link(run_id: str) -> str | None:
        if not ui_url or run_id not in experiments:
            return None
        return f"{ui_url.rstrip('/')}/{run_route(experiments[run_id], run_id)}"

    runs = [{"run_id": r.run_id, "candidate_id": r.event.candidate_id, "role": r.event.role, "run_name": r.event.run_name,
             "experiment": r.event.experiment, "dataset_sha256": r.event.dataset.sha256, "seed_family": r.event.seeds.family,
             "seed": r.event.seeds.value, "git_commit": r.event.code.git_commit, "dirty": r.event.code.dirty,
             "created_at": r.event.created_at.isoformat()} for r in distinct_runs(evidence)]
    ab_rows = []
    for c in decision["candidates"]:
        ab = c["ab"]
        if ab is None:
            continue
        for name, entry in ab["metrics"].items():
            ab_rows.append({"candidate_id": c["candidate_id"], "metric": name, "entry": entry,
                            "estimand": estimand(entry.get("bootstrap") or {}), "inputs": _cites(entry["inputs"]["candidate"], entry["inputs"]["baseline"])})
        if ab.get("latency"):
            lat = ab["latency"]
            ab_rows.append({"candidate_id": c["candidate_id"], "metric": lat["metric"], "entry": lat,
                            "estimand": estimand(lat.get("bootstrap") or {}, lat["q"]), "inputs": _cites(lat["inputs"]["candidate"], lat["inputs"]["baseline"])})
        for name, why in ab.get("failed", {}).items():
            ab_rows.append({"candidate_id": c["candidate_id"], "metric": name, "entry": None, "estimand": f"not computed: {why}",
                            "inputs": []})
    return str(_environment().get_template("index.html.j2").render(
        d=decision, runs=runs, ab_rows=ab_rows, plots=_plots(plots), closing=closing, run_link=run_link,
    ))
