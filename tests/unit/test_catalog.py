"""Metric names and units normalise to the catalog; values are recomputed from artifact files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runnotary.registry import ArtifactError, UnknownMetric, spec_for
from runnotary.registry.catalog import normalize
from runnotary.registry.recompute import recompute


@pytest.mark.parametrize("alias", ["ndcg@10", "NDCG@10", "ndcg_at_10", "ndcg10", "ndcg-10"])
def test_aliases_resolve_to_the_canonical_name(alias: str) -> None:
    assert spec_for(alias).name == "ndcg@10"


def test_latency_in_seconds_is_converted_to_ms() -> None:
    spec, value = normalize("latency_p95", 0.0473, "s")
    assert (spec.name, value) == ("latency_p95_ms", pytest.approx(47.3))


def test_fraction_ablation_drop_is_converted_to_percent() -> None:
    assert normalize("visual_ablation_drop_pct", 0.064, "fraction")[1] == pytest.approx(6.4)


def test_unknown_metric_names_the_catalog() -> None:
    with pytest.raises(UnknownMetric, match="unknown metric 'bleu'.*ndcg@10"):
        normalize("bleu", 1.0, None)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(UnknownMetric, match="unit 'furlongs'"):
        normalize("latency_p95_ms", 1.0, "furlongs")


def test_mlflow_key_has_no_at_sign() -> None:
    assert spec_for("ndcg@10").mlflow_key == "ndcg_at_10"
    assert spec_for("ndcg_at_10").name == "ndcg@10"


def test_recompute_each_extractor(tmp_path: Path) -> None:
    (tmp_path / "pq.csv").write_text("query_id,ndcg@10\nq2,0.5\nq1,0.25\n")
    assert recompute(spec_for("ndcg@10"), tmp_path / "pq.csv") == pytest.approx(0.375)
    values = np.arange(1, 101, dtype=float)
    (tmp_path / "lat.log").write_text("".join(f"t r{i} {v}\n" for i, v in enumerate(values)))
    assert recompute(spec_for("latency_p95_ms"), tmp_path / "lat.log") == 95.0  # inverted CDF: an observed value
    (tmp_path / "abl.json").write_text(json.dumps({"full": 0.5, "ablated": 0.45}))
    assert recompute(spec_for("visual_ablation_drop_pct"), tmp_path / "abl.json") == pytest.approx(10.0)
    (tmp_path / "corr.json").write_text(json.dumps({"v1": [1, 2, 3, 4], "v2": [1, 2, 3, 5]}))
    assert recompute(spec_for("v1_v2_corr"), tmp_path / "corr.json") == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2, 3, 5])[0, 1])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ndcg@10", "query_id,other\nq1,1\n", "needs columns"),
        ("ndcg@10", "query_id,ndcg@10\nq1,abc\n", "not a number"),
        ("ndcg@10", "query_id,ndcg@10\nq1,0.1\nq1,0.2\n", "repeat"),
        ("visual_ablation_drop_pct", '{"full": 0, "ablated": 0}', "undefined"),
        ("visual_ablation_drop_pct", "[1, 2]", "JSON object"),
        ("v1_v2_corr", '{"v1": [1, 1], "v2": [1, 2]}', "constant"),
        ("latency_p95_ms", "", "empty"),
    ],
)
def test_bad_artifacts_raise_named_errors(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / "artifact"
    path.write_text(content)
    with pytest.raises(ArtifactError, match=message):
        recompute(spec_for(name), path)
