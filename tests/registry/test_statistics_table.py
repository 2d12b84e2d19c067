"""One table of statistics serves compare and verify-bundle: a statistic added to it is computed, recorded and
recomputed with no other change."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from runnotary.bundles import ComparisonSettings, compare, evaluate, recipes
from runnotary.bundles.evidence import write_bundle
from runnotary.bundles.tables import CandidateEvidence
from runnotary.bundles.verify import verify_bundle
from runnotary.registry import Registry
from runnotary.registry.synthetic import generate


def _median_difference(cand: np.ndarray, base: np.ndarray, *, scale: float) -> dict[str, Any]:
    return {"median": float(np.median(cand - base)) * scale, "scale": scale}


def test_a_statistic_added_to_the_table_is_recomputed_and_checked_by_verify_bundle(
    tmp_path: Path, local_registry: Callable[..., Registry], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(recipes.STATISTICS["paired"], "median_difference", recipes.Statistic(
        _median_difference, lambda settings, seed: {"scale": 1.0}, lambda entry: {"scale": entry["median_difference"]["scale"]}))
    registry = local_registry()
    events = generate(tmp_path / "jobs", n_queries=60, n_requests=200, seed=3, experiment="/Shared/table")
    by = {e.candidate_id.removeprefix("retrieval-"): e for e in events}
    candidate, baseline = (registry.register(by[name], f"e-{name}") for name in ("cand-a", "baseline"))
    comparison = compare(registry, candidate, baseline, ComparisonSettings(n_resamples=200))
    assert "median_difference" in comparison.metrics["ndcg@10"].statistics
    evidence = CandidateEvidence(candidate, baseline, comparison, evaluate(candidate, comparison))
    write_bundle(registry, tmp_path / "bundles", "m-table", [evidence])
    folder = tmp_path / "bundles" / "m-table"
    uri = registry.client.tracking_uri
    report = verify_bundle(folder, uri)
    assert report.findings == [], report.findings

    doc = json.loads((folder / "decision_metrics.json").read_text())
    doc["candidates"][0]["ab"]["metrics"]["ndcg@10"]["median_difference"]["median"] += 0.5
    (folder / "decision_metrics.json").write_text(json.dumps(doc))
    items = [f.item for f in verify_bundle(folder, uri).findings]
    assert items == ["candidates[0](retrieval-cand-a).ab.metrics[ndcg@10].median_difference.median"]
