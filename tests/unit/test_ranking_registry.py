"""A metric claimed from a TREC run is reproduced from the run and the event's qrels by the real Registry
(a local SQLite MLflow store): a job's nDCG@10 with exponential gain, or with an ideal DCG over the
retrieved documents only, is a critical mismatch with the reproduced value beside the claimed one."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from runnotary.bundles import ComparisonSettings, compare
from runnotary.bundles.evidence import write_bundle
from runnotary.bundles.tables import CandidateEvidence
from runnotary.bundles.verify import verify_bundle
from runnotary.contract import RunCreated
from runnotary.registry import Registry

pytrec_eval = pytest.importorskip("pytrec_eval")


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    tmp_path = tmp_path_factory.mktemp("store")  # one SQLite store for the module: creating one takes seconds
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    return Registry(client, tmp_path / "root", tmp_path / "cache", artifact_location=(tmp_path / "mlruns").as_uri())


def _files(root: Path, name: str, seed: int) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, int]]]:
    """A run of 300 queries x 30 documents (tied scores included) and graded qrels, written as TREC files."""
    rng = np.random.default_rng(seed)
    run: dict[str, dict[str, float]] = {}
    qrels: dict[str, dict[str, int]] = {}
    for q in range(300):
        docs = rng.choice(200, size=30, replace=False)
        run[f"q{q}"] = {f"d{d}": float(s) for d, s in zip(docs, np.round(rng.normal(size=30), 1))}
        judged = rng.choice(200, size=40, replace=False)
        qrels[f"q{q}"] = {f"d{d}": int(g) for d, g in zip(judged, rng.choice([0, 0, 1, 2, 3], 40))}
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "run.trec").write_text("".join(f"{q} Q0 {d} {i} {s} {name}\n" for q, docs in run.items()
                                             for i, (d, s) in enumerate(docs.items(), start=1)))
    (folder / "qrels.txt").write_text("".join(f"{q} 0 {d} {g}\n" for q, docs in qrels.items() for d, g in docs.items()))
    return run, qrels


def _ordered(docs: dict[str, float]) -> list[str]:
    """trec_eval's order, written out plainly for the wrong implementations below."""
    by_docno = sorted(docs, key=str.encode, reverse=True)
    return sorted(by_docno, key=lambda d: -np.float32(docs[d]))  # stable: equal scores keep docno descending


def _wrong_ndcg(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]], *, exponential: bool,
                retrieved_only: bool) -> float:
    values = []
    for q, docs in run.items():
        ranked = _ordered(docs)[:10]
        gain = [(2 ** qrels[q].get(d, 0) - 1) if exponential else max(qrels[q].get(d, 0), 0) for d in ranked]
        dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gain))
        pool = [max(qrels[q].get(d, 0), 0) for d in docs] if retrieved_only else list(qrels[q].values())
        ideal_gains = sorted(((2 ** g - 1) if exponential else g for g in pool if g > 0), reverse=True)[:10]
        ideal = sum(g / np.log2(i + 2) for i, g in enumerate(ideal_gains))
        values.append(dcg / ideal if ideal > 0 else 0.0)
    return float(np.mean(values))


def _event(run_event: dict[str, Any], name: str, claims: dict[str, float], role: str = "candidate") -> RunCreated:
    event = dict(run_event)
    event.update({
        "run_name": f"eval_{name}", "candidate_id": name, "role": role,
        "metrics": [{"uuid": str(uuid.uuid4()), "name": metric, "value": value, "source": f"{name}/run.trec"}
                    for metric, value in claims.items()],
        "artifacts": [{"kind": "trec_run", "path": f"{name}/run.trec"}, {"kind": "trec_qrels", "path": f"{name}/qrels.txt"}],
    })
    return RunCreated.model_validate(event)


def test_a_correct_claim_is_verified_and_records_its_recipe(registry: Registry, run_event: dict[str, Any]) -> None:
    run, qrels = _files(registry.artifact_root, "good", seed=1)
    oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.100", "map"}).evaluate(run)
    truth = {name: float(np.mean([v[key] for v in oracle.values()]))
             for name, key in (("ndcg@10", "ndcg_cut_10"), ("recall@100", "recall_100"), ("map", "map"))}
    registration = registry.register(_event(run_event, "good", truth), "event-good")
    for name, value in truth.items():
        record = registration.metric(name)
        assert record is not None and record.status == "verified" and record.value == pytest.approx(value, rel=1e-12)
        assert record.recipe is not None and record.recipe["from"] == "raw_logs"
        assert record.recipe["qrels"] == "good/qrels.txt" and len(record.recipe["qrels_sha256"]) == 64
    assert registration.metric("ndcg@10").recipe["k"] == 10  # type: ignore[union-attr]
    again = registry.load(registration.run_id)  # the recipe is part of the provenance record on MLflow
    assert again.metric("ndcg@10").recipe == registration.metric("ndcg@10").recipe  # type: ignore[union-attr]


@pytest.mark.parametrize(("exponential", "retrieved_only"), [(True, False), (False, True)])
def test_a_wrongly_computed_ndcg_is_a_critical_mismatch(registry: Registry, run_event: dict[str, Any],
                                                         exponential: bool, retrieved_only: bool) -> None:
    run, qrels = _files(registry.artifact_root, "wrong", seed=2)
    truth = float(np.mean([v["ndcg_cut_10"] for v in
                           pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run).values()]))
    claimed = _wrong_ndcg(run, qrels, exponential=exponential, retrieved_only=retrieved_only)
    assert abs(claimed - truth) > 1e-3
    assert _wrong_ndcg(run, qrels, exponential=False, retrieved_only=False) == pytest.approx(truth, rel=1e-9)
    registration = registry.register(_event(run_event, "wrong", {"ndcg@10": claimed}), f"event-{exponential}")
    record = registration.metric("ndcg@10")
    assert record is not None and record.status == "mismatch"
    assert (record.claimed, record.value) == (pytest.approx(claimed), pytest.approx(truth, rel=1e-12))
    (alert,) = [a for a in registration.alerts if a.kind == "metric_mismatch"]
    assert alert.severity == "critical" and f"{truth:.6g}" in alert.message and f"{claimed:.6g}" in alert.message


def test_the_comparison_pairs_the_recipes_per_query_values(registry: Registry, run_event: dict[str, Any]) -> None:
    """Per-query nDCG@10 reproduced from each run's files is what the paired statistics compare."""
    values = {}
    regs = {}
    for name, seed, role in (("cand", 3, "candidate"), ("base", 4, "baseline")):
        run, qrels = _files(registry.artifact_root, name, seed)
        oracle = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10"}).evaluate(run)
        values[name] = np.array([oracle[q]["ndcg_cut_10"] for q in sorted(oracle)])
        regs[name] = registry.register(_event(run_event, name, {"ndcg@10": float(values[name].mean())}, role), f"e-{name}")
    comparison = compare(registry, regs["cand"], regs["base"], ComparisonSettings(n_resamples=2000))
    entry = comparison.metrics["ndcg@10"]
    assert entry["n"] == 300
    assert entry["delta"] == pytest.approx(float((values["cand"] - values["base"]).mean()), rel=1e-12)
    assert entry["inputs"]["candidate"]["recipe"]["from"] == "raw_logs"
    assert entry["inputs"]["candidate"]["recipe"]["qrels"] == "cand/qrels.txt"
    json.dumps(comparison.to_dict())


def test_the_bundle_cites_the_recipe_and_verify_bundle_rederives_it_from_the_files(
    registry: Registry, run_event: dict[str, Any], tmp_path: Path
) -> None:
    """decision_metrics.json records the ranking recipe with its qrels; verify-bundle recomputes the number and
    the paired statistics from the run and qrels files in MLflow, and a changed recipe parameter is a finding."""
    regs = {}
    for name, seed, role in (("vcand", 5, "candidate"), ("vbase", 6, "baseline")):
        run, qrels = _files(registry.artifact_root, name, seed)
        value = float(np.mean([v["map"] for v in pytrec_eval.RelevanceEvaluator(qrels, {"map"}).evaluate(run).values()]))
        regs[name] = registry.register(_event(run_event, name, {"map": value}, role), f"e-{name}")
    comparison = compare(registry, regs["vcand"], regs["vbase"], ComparisonSettings(n_resamples=500))
    from runnotary.bundles import evaluate

    evidence = CandidateEvidence(regs["vcand"], regs["vbase"], comparison, evaluate(regs["vcand"], comparison))
    bundle = write_bundle(registry, tmp_path / "bundles", "m-ranking", [evidence])
    folder = tmp_path / "bundles" / "m-ranking"
    doc = json.loads((folder / "decision_metrics.json").read_text())
    number = doc["candidates"][0]["metrics"][regs["vcand"].run_id]["map"]
    assert number["where"]["extractor"] == "ranking" and number["where"]["provenance"] == "raw_logs"
    assert number["where"]["qrels"] == "vcand/qrels.txt" and "trec_eval 9.0.8 map" in number["where"]["recipe"]
    assert doc["candidates"][0]["ab"]["metrics"]["map"]["inputs"]["candidate"]["recipe"]["measure"] == "map"
    summary = (folder / "ab_test_summary.md").read_text()
    assert "| raw logs | trec_eval 9.0.8 map of vcand/run.trec against vcand/qrels.txt |" in summary
    uri = registry.client.tracking_uri
    report = verify_bundle(folder, uri)
    assert report.findings == [] and report.numbers >= 2, report.findings
    number["where"]["k"] = 10  # map_cut_10 is another number: the recorded recipe must be the catalog's
    doc["candidates"][0]["ab"]["metrics"]["map"]["inputs"]["candidate"]["recipe"]["measure"] = "ndcg"
    doc["candidates"][0]["ab"]["metrics"]["map"]["inputs"]["candidate"]["recipe"]["k"] = 10
    (folder / "decision_metrics.json").write_text(json.dumps(doc))
    findings = {f.item for f in verify_bundle(folder, uri).findings}
    assert any("[map].where" in item for item in findings), sorted(findings)
    assert any(".ab.metrics[map]" in item for item in findings), findings
    assert bundle is not None


def test_a_run_claim_without_qrels_is_refused_at_the_edge(run_event: dict[str, Any]) -> None:
    event = dict(run_event)
    event.update({"metrics": [{"uuid": str(uuid.uuid4()), "name": "ndcg@10", "value": 0.5, "source": "r/run.trec"}],
                  "artifacts": [{"kind": "trec_run", "path": "r/run.trec"}]})
    with pytest.raises(ValidationError, match="needs the judgments: add a trec_qrels artifact"):
        RunCreated.model_validate(event)
    event["artifacts"] += [{"kind": "trec_qrels", "path": "r/a.qrels"}, {"kind": "trec_qrels", "path": "r/b.qrels"}]
    with pytest.raises(ValidationError, match="name one of"):
        RunCreated.model_validate(event)
    event["metrics"][0]["qrels"] = "r/run.trec"
    with pytest.raises(ValidationError, match="not a trec_qrels artifact"):
        RunCreated.model_validate(event)
    event["metrics"][0]["qrels"] = "r/b.qrels"
    assert RunCreated.model_validate(event).qrels_for(RunCreated.model_validate(event).metrics[0]) == "r/b.qrels"
