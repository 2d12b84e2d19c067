"""The metric catalog is data: runnotary's YAML, extended or overridden by an operator's file, validated with
errors naming the entry and the field; an operator's metric is registered, compared and gated with no code change."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from jsonschema import Draft202012Validator
import yaml

from tests.support import RUNNOTARY
from runnotary.bundles import ComparisonSettings, compare, load_policy
from runnotary.bundles.gates import evaluate as evaluate_gates
from runnotary.contract import RunCreated
from runnotary.registry import Registry, UnknownMetric, spec_for
from runnotary.registry.catalog import CATALOG, CatalogError, catalog_schema, load_catalog, normalize, use_catalog

OPERATOR = """
version: 1
metrics:
  - name: ndcg@20
    aliases: [ndcg_at_20]
    units: {ratio: 1.0, "": 1.0}
    direction: higher
    tolerance: 1.0e-6
    recipes:
      - {kind: trec_run, extractor: ranking, measure: ndcg, k: 20, relevance_level: 1}
  - name: latency_p95_ms
    aliases: [latency_p95]
    units: {ms: 1.0, s: 1000.0}
    direction: lower
    tolerance: 0.01
    recipes:
      - {kind: latency_log, extractor: log_quantile, argument: 0.95}
"""


@pytest.fixture
def operator_catalog(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "catalog.yaml"
    path.write_text(OPERATOR)
    use_catalog(path)
    yield path
    use_catalog(None)


def test_the_shipped_catalog_holds_todays_metrics_and_the_ranking_ones() -> None:
    names = {s.name for s in CATALOG}
    assert {"ndcg@10", "compliance@1", "latency_p95_ms", "visual_ablation_drop_pct", "v1_v2_corr"} <= names
    assert {"recall@100", "mrr@10", "map", "p@10"} <= names
    assert spec_for("ndcg@10").kinds == ("per_query", "trec_run")
    assert spec_for("mrr_at_10").recipe_for("trec_run").measure == "recip_rank"  # type: ignore[union-attr]


def test_an_operator_file_adds_and_overrides_entries(operator_catalog: Path) -> None:
    assert spec_for("NDCG_at_20").name == "ndcg@20" and spec_for("ndcg@20").recipe_for("trec_run").k == 20  # type: ignore[union-attr]
    assert spec_for("latency_p95").tolerance == 0.01
    with pytest.raises(UnknownMetric, match="unit 'us'"):
        normalize("latency_p95_ms", 1.0, "us")  # the override's units replace ours
    assert spec_for("recall@100").name == "recall@100"  # the rest of runnotary's catalog stays


def test_unknown_metrics_are_refused_naming_the_known_ones(operator_catalog: Path) -> None:
    with pytest.raises(UnknownMetric, match=r"unknown metric 'bleu'.*ndcg@20"):
        spec_for("bleu")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"recipes": [{"kind": "trec_run", "extractor": "ranking", "measure": "ndcg"}]},
         r"metric entry 'bad@1' \(metrics\[0\]\), field recipes\[0\]: .*needs a cut-off k"),
        ({"recipes": [{"kind": "per_query", "extractor": "ranking", "measure": "map"}]},
         r"metric entry 'bad@1' \(metrics\[0\]\), field recipes\[0\]: .*reads a 'trec_run' artifact"),
        ({"direction": "up"}, r"metric entry 'bad@1' \(metrics\[0\]\), field direction"),
        ({"tolerance": 0}, r"field tolerance"),
        ({"colour": "red"}, r"field colour: Extra inputs"),
        ({"aliases": ["ndcg_at_10"]}, r"metric entry 'bad@1', field aliases: 'ndcg_at_10' already names 'ndcg@10'"),
        ({"recipes": [{"kind": "latency_log", "extractor": "log_quantile", "argument": 95}]},
         r"quantile strictly between 0 and 1"),
    ],
)
def test_a_malformed_entry_is_refused_naming_the_entry_and_field(tmp_path: Path, entry: dict[str, Any], message: str) -> None:
    good = {"name": "bad@1", "units": {"ratio": 1.0}, "direction": "higher", "tolerance": 1e-6,
            "recipes": [{"kind": "trec_run", "extractor": "ranking", "measure": "map"}]}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "metrics": [{**good, **entry}]}))
    with pytest.raises(CatalogError, match=message):
        use_catalog(path)
    assert spec_for("ndcg@10").name == "ndcg@10"  # the active catalog is left as it was


def test_the_catalog_schema_accepts_the_shipped_file_and_refuses_a_bad_one() -> None:
    from importlib import resources

    schema = catalog_schema()
    Draft202012Validator.check_schema(schema)
    shipped = yaml.safe_load(resources.files("runnotary.registry").joinpath("catalog.yaml").read_text())
    Draft202012Validator(schema).validate(shipped)
    assert list(Draft202012Validator(schema).iter_errors({"metrics": [{"name": "x"}]}))
    checked_in = Path(__file__).resolve().parents[2] / "consumers" / "schemas" / "metric_catalog.v1.json"
    assert json.loads(checked_in.read_text()) == json.loads(json.dumps(schema))


def test_serve_refuses_to_start_with_a_malformed_catalog(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("version: 1\nmetrics:\n  - {name: recall@5, units: {ratio: 1.0}, direction: higher, tolerance: 1.0e-6,"
                    " recipes: [{kind: trec_run, extractor: ranking, measure: recall}]}\n")
    env = {**os.environ, "RUNNOTARY_METRIC_CATALOG": str(path), "RUNNOTARY_STATE_DIR": str(tmp_path / "state")}
    done = subprocess.run([RUNNOTARY, "serve"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "metric entry 'recall@5' (metrics[0]), field recipes[0]" in done.stderr


# -- an operator's metric end to end: registered, reproduced, compared and gated ------------------


def test_an_operator_metric_is_registered_compared_and_gated(operator_catalog: Path, tmp_path: Path,
                                                            run_event: dict[str, Any]) -> None:
    pytrec_eval = pytest.importorskip("pytrec_eval")
    from mlflow.tracking import MlflowClient

    registry = Registry(MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}"), tmp_path / "root", tmp_path / "cache",
                        artifact_location=(tmp_path / "mlruns").as_uri())
    regs = {}
    for name, seed, role, boost in (("c20", 1, "candidate", 2), ("b20", 2, "baseline", 0)):
        rng = np.random.default_rng(seed)
        qrels = {f"q{q}": {f"d{d}": int(rng.integers(0, 3)) for d in range(30)} for q in range(200)}
        # The candidate ranks relevant documents higher: a real, positive difference.
        run = {q: {d: float(g * boost + rng.normal()) for d, g in docs.items()} for q, docs in qrels.items()}
        folder = registry.artifact_root / name
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps(run))
        (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
            f"{q}\t{d}\t{g}\n" for q, docs in qrels.items() for d, g in docs.items()))
        oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.20"}).evaluate(run)
        value = float(np.mean([v["ndcg_cut_20"] for v in oracle.values()]))
        event = {**run_event, "run_name": name, "candidate_id": name, "role": role,
                 "metrics": [{"uuid": str(uuid.uuid4()), "name": "ndcg_at_20", "value": value, "source": f"{name}/run.json"}],
                 "artifacts": [{"kind": "trec_run", "path": f"{name}/run.json"},
                               {"kind": "trec_qrels", "path": f"{name}/qrels.tsv"}]}
        regs[name] = registry.register(RunCreated.model_validate(event), f"e-{name}")
        assert regs[name].metric("ndcg@20").status == "verified"  # type: ignore[union-attr]
    comparison = compare(registry, regs["c20"], regs["b20"], ComparisonSettings(n_resamples=1000))
    assert comparison.metrics["ndcg@20"].n == 200 and comparison.metrics["ndcg@20"].ci95[0] > 0
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("version: 1\ngates:\n  - name: ndcg20_up\n    rules: [{source: delta_ci95_lower, metric: ndcg@20, "
                           "op: '>', threshold: 0.0}]\n  - name: ndcg20_floor\n    rules: [{source: metric, metric: ndcg_at_20, "
                           "op: '>=', threshold: 0.1}]\n")
    status = evaluate_gates(regs["c20"], comparison, load_policy(policy_file))
    assert status.gates["ndcg20_up"].pass_ and status.gates["ndcg20_floor"].pass_, status


def test_load_catalog_without_an_operator_file_is_the_shipped_one() -> None:
    assert load_catalog() == CATALOG
